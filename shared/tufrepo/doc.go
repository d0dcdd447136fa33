// Package tufrepo creates, signs and rotates the TUF repository that model
// releases are published in (github.com/theupdateframework/go-tuf/v2 does
// the metadata and signatures; this package decides the layout, the keys and
// the order of writes).
//
// A repository has two folders that must never be the same or nested:
//
//   - the repository folder (published as is: rig-cloud serves it, agents
//     verify it with the go-tuf updater): N.root.json for every root
//     version and root.json (the newest), N.targets.json and targets.json,
//     N.snapshot.json and snapshot.json, N.timestamp.json (not fetched by
//     clients) and timestamp.json, and the targets
//     under targets/ as <rig_type>/<sha256>.<bundle>-<version>.tar.gz
//     (consistent snapshots);
//   - the keys folder (mode 0700, never published): one ed25519 private key
//     per file, PKCS#8 PEM, mode 0600, named <role>-<keyid prefix>.pem.
//     Keys a rotation replaced are moved to retired/. A role is signed with
//     the keys in the folder that the current root lists for it, so the root
//     keys can live on an offline medium and be present only for Init and
//     root rotations. Init refuses an existing keys folder that group or
//     others may access; with Options.StrictKeyModes (rigctl) Open,
//     SignRelease and ResignTargets also refuse such a folder and a key
//     file they may read, as ssh does (rig-cloud's keys come from secret
//     mounts, often readable by all).
//
// Writes go in the order a client reads backwards: targets files, then
// N.targets.json, N.snapshot.json and last timestamp.json, so a client never
// sees a timestamp naming metadata that is not there yet. A crash between
// writes leaves the previous release in force.
//
// # Online signing
//
// When rig-cloud runs the repository it holds only the snapshot and
// timestamp keys (OfflineKeys reports a root or targets key next to them).
// The release manager signs the next targets metadata offline with
// SignRelease, over the current root and targets that go-tuf's updater
// verified; rig-cloud checks it with Publish (signed by the targets keys of
// the current root, next version, released targets unchanged, exactly one
// new target whose archive has the stated length and sha256) and signs
// snapshot and timestamp over it. Refresh and RefreshTimestamp re-sign the
// online roles before they expire. The online keys alone cannot add a
// target: Publish refuses targets metadata they signed.
//
// The caller owns the Repo: it is not safe for concurrent use, and two
// processes must not change one repository at the same time. Should they,
// a version is still written once: N.snapshot.json, N.timestamp.json and
// a publication's N.targets.json are put in place with a hard link that
// fails when the name is taken (ErrVersionTaken, unless the bytes are the
// same; on a file system without hard links, found by a probe in the
// folder at the first such write and logged, the file is created with
// O_EXCL instead, under the same rule), and a new snapshot or timestamp takes the version after every
// one on disk. Options.Guard is asked before each file is put in place
// (rig-cloud checks its lock there).
//
// A writer killed mid-write leaves its temporary file (.tmp-*) and, where
// the file is created in place, the versioned file cut short (empty or
// not complete JSON). Such a damaged file is ErrVersionTaken (it may be a
// write in progress) until it has gone unmodified for StaleWriteAge; the
// next write of that version then removes it (only that file, checked
// after an atomic rename aside) and writes the version. A Repo's first
// write removes the temporary files as old, and its first AddBundle the
// temporary archives (.release-*) under targets/ as old.
package tufrepo
