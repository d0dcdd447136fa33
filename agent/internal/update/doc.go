// Package update is the rig agent's model-update state machine: it keeps
// the model bundle the agent serves current with the signed releases of a
// TUF repository (written by shared/tufrepo, served by rig-cloud), and
// never lets an unsigned, tampered, stale, older or unfit bundle replace a
// working one.
//
// # Basics
//
//	m, err := update.Open(update.Options{Dir: dataDir + "/update", URL: repoURL, TrustedRoot: root,
//		InstalledDir: cfg.Model.BundleDir, RigType: fw.RigType, ConfigDigest: fw.Digest(),
//		AgentVersion: version, Canary: canary, Activator: svc})
//	if err != nil { ... }        // Open applies the recovery table: call it before opening the model
//	model := open(m.Current())   // the bundle to serve
//	go m.Run(ctx)                // a cycle now, then every CheckInterval
//	m.Observe(elapsed, runErr)   // every run of the served model, for the post-commit watchdog
//	m.Kick()                     // a cycle now (tests, an operator's request)
//
// agent/internal/service wires it so (docs/agent.md, "Model updates"):
// the service is the Activator, its buffer and history feed ModelCanary,
// and its cloud forwarder is the Budget, so that downloads count against
// the link's one per-day byte budget (cloud.bandwidth_bytes_per_day).
//
// # States
//
// Each state is a type whose handler does one step and returns the next
// state; the state (with its data) is written to Dir/state.json, atomically
// and synced, before its handler runs, so after a crash Open knows which
// step was under way:
//
//	checking     refresh the TUF metadata with go-tuf's updater (root rotations followed, the newest
//	             root kept in Dir/metadata) and pick the newest release for this rig: same rig type and
//	             firmware-config digest, a hardware token of this machine, min_agent_version met, newer
//	             than the installed model, fewer than MaxAttempts failed attempts; with Offers, the
//	             offered release instead (below)
//	downloading  fetch the archive into Dir/download/<sha256>.part with HTTP Range from what is already
//	             there, never more than the signed length; not started, like each file of the
//	             extraction (checked as the archive unpacks, in one pass), with less free on Dir's
//	             file system than it writes plus DiskReserve (ErrDiskFull: no attempt counted, tried
//	             again at the next check)
//	verifying    the signed length and hashes checked over the whole file as it streams (as go-tuf's
//	             VerifyLengthHashes, without reading it into memory), then extraction from the file
//	             (shared/tarball, capped) into Dir/bundles beside the running bundle, model file
//	             digests, manifest digest against the signed custom metadata, rig type and
//	             firmware-config digest against this rig
//	staged       extracted and checked; waits here when the canary has no windows yet
//	canary       the Canary runs the staged model on recent windows (see ModelCanary)
//	committing   the metadata must not have expired since the check; Dir/current (a symlink) is
//	             switched atomically to the staged folder and the Activator makes the service serve it
//	committed    the new model serves; Previous is kept; for Watch.Window the watchdog fed by Observe
//	             rolls back when the error rate or the share of slow runs crosses its bounds
//	             (an offered rollback ends the watch only when a fresh check picks it: one it
//	             refuses leaves the watch running)
//	rolling_back Dir/current back to Previous, the release given up; after an explicit rollback
//	             (below) never back to the release being removed: to InstalledDir when it can
//	             serve and is neither, else the rollback's release keeps serving, the watch ended
//	failed       the attempt failed (Record.LastError); the installed model serves
//	incompatible the offered release does not fit this rig (ErrIncompatible, below): refused
//	             before any download, no attempt counted; the installed model serves
//	idle         nothing in progress
//
// Every refusal leaves the installed model serving and says why (see the
// sentinel errors). A failed attempt counts against the release; at
// MaxAttempts it is given up until a newer one appears, so a bad release
// or a crash loop cannot retry forever. A transient error (the repository
// unreachable, a download cut) is retried sooner than the next check,
// after Run's backoff (RetryMin doubling to RetryMax); a download that
// adds no byte counts at most one attempt per CheckInterval. A rolled-back release is given up
// at once. Installing requires fresh metadata: every cycle starts with a
// refresh, and offline the committed model simply keeps serving.
//
// # Offers and credentials
//
// With Options.Offers (the agent sets it when it has a cloud link; the
// forwarder hands it each check-in answer's offer) the Manager installs
// only the offered release (docs/agent-cloud-api.md, "Offers"): no offer,
// no install (the metadata is still refreshed; before the first answer
// since the start nothing is started or abandoned); the offered target must
// be in the fresh verified targets with the offered version (else
// ErrOffer) and pass every other check; an offer older than the installed
// model is an explicit rollback, accepted only when it is the agent's kept
// previous bundle (Record.Previous: same target path, or none for the
// bundle it was installed with, and same manifest digest), installed
// through the same verification and canary, and the only case an older
// release is ever accepted. An offer that does not fit this rig (rig type,
// firmware config, hardware, precision, agent version), an older one that
// is not the kept previous bundle (counted in Status.DowngradesRefused and
// logged once per offer), or another bundle at a version ranking equal to
// the installed one (semver ignores +build metadata) is refused with
// ErrOffer and ErrIncompatible, state Incompatible: no attempt counted,
// and the cloud's rollout leaves the agent out instead of counting a
// failure; an offer withdrawn before the commit abandons the attempt
// uncounted (ErrWithdrawn; the offer's change channel cancels a download
// or canary in progress, and wakes Run). Without Offers the newest
// eligible release is installed and an older one never.
//
// With Options.Credential every request to URL's scheme, host and port
// (go-tuf's metadata fetches through the fetcher interface, archive
// downloads and their Range resumes) carries "Authorization: Bearer";
// a 401 or 403 is ErrUnauthorized naming the URL.
//
// # Caveats
//
//   - The watch counters live in memory; a crash during the watch counts
//     as a strike instead (see Open's recovery table).
//
// # Crashes and clean stops
//
// Only a crash counts against a release: a start that finds the previous
// run ended without Close (killed, out of memory, a power cut) counts an
// attempt of the release whose verifying, canary or commit was under way,
// or a restart of the one under watch; so do the watchdog's bounds. An
// orderly stop counts nothing, even when it came mid-step: Close (the
// service calls it last in Stop) writes the clean-stop marker
// <dir>/stopped (a temporary file synced, renamed, the folder synced);
// Open reads it, stores the recovered state, then removes it and syncs
// the folder before the model is opened, so a crash of this run is never
// taken for a clean stop. A power cut before Close's write is complete
// counts as a crash; a folder without the marker (an agent that predates
// it) too.
//   - Only top-level targets are read: the repository has no delegations.
package update
