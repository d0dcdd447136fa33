package tufrepo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// ErrRefused is returned (wrapped) by Publish when the targets metadata or
// the archive offered is not a valid next release: not signed by the
// current root's targets threshold, not the next version, expired,
// changing or removing a released target, adding other than exactly one,
// or an archive whose length or hash differs from the new target's. The
// error says which.
var ErrRefused = errors.New("release refused")

// archive writes bundleDir as the tar.gz of rel to w and returns its
// target file (path, length, sha256, custom metadata).
func archive(w io.Writer, bundleDir string, rel *release.Target) (*metadata.TargetFiles, error) {
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	if err := tarball.Write(cw, bundleDir); err != nil {
		return nil, fmt.Errorf("archive bundle %s: %w", bundleDir, err)
	}
	tf := metadata.TargetFile()
	tf.Path = rel.Path()
	tf.Length = cw.n
	tf.Hashes["sha256"] = h.Sum(nil)
	if err := rel.Apply(tf); err != nil {
		return nil, err
	}
	return tf, nil
}

// checkNewPath refuses a target path already released (ErrExists).
func (r *Repo) checkNewPath(tf *metadata.TargetFiles) error {
	old, ok := r.targets.Signed.Targets[tf.Path]
	if !ok {
		return nil
	}
	if old.Length == tf.Length && slices.Equal(old.Hashes["sha256"], tf.Hashes["sha256"]) {
		return fmt.Errorf("%w: %s is already released with these bytes", ErrExists, tf.Path)
	}
	return fmt.Errorf("%w: %s is already released with other bytes; give the bundle a new version", ErrExists, tf.Path)
}

// rankedEqual returns an error naming a release in targets, other than
// rel's path, of rel's bundle and rig type whose version ranks equal to
// rel's (release.CompareVersions: semantic versions ignore +build, so
// 1.1.0+retrain2 and 1.1.0 rank equal), nil when there is none. An agent
// that installed one refuses the other as incompatible (not newer, and
// another bundle), so such a release could never replace the one it
// ranks equal to.
func rankedEqual(targets map[string]*metadata.TargetFiles, rel *release.Target) error {
	for p, tf := range targets {
		if p == rel.Path() {
			continue
		}
		old, err := release.FromTargetFile(tf)
		if err != nil || old.Bundle != rel.Bundle || old.RigType != rel.RigType {
			continue
		}
		if c, ok := release.CompareVersions(old.Version, rel.Version); ok && c == 0 {
			return fmt.Errorf("version %s of %s ranks equal to the released %s (%s): semantic versions ignore +build "+
				"metadata, so an agent that installed one refuses the other; give the bundle a higher patch version",
				rel.Version, rel.Bundle, old.Version, p)
		}
	}
	return nil
}

// targetFile is where tf's archive lives: targets/<dir>/<sha256>.<base>,
// the consistent-snapshot name clients request.
func (r *Repo) targetFile(tf *metadata.TargetFiles) string {
	return filepath.Join(r.dir, "targets", filepath.FromSlash(path.Dir(tf.Path)),
		hex.EncodeToString(tf.Hashes["sha256"])+"."+path.Base(tf.Path))
}

// Expires returns when role's current metadata expires (zero for an
// unknown role).
func (r *Repo) Expires(role string) time.Time {
	switch role {
	case metadata.ROOT:
		return r.root.Signed.Expires
	case metadata.TARGETS:
		return r.targets.Signed.Expires
	case metadata.SNAPSHOT:
		return r.snapshot.Signed.Expires
	case metadata.TIMESTAMP:
		return r.timestamp.Signed.Expires
	}
	return time.Time{}
}

// RefreshTimestamp re-signs the timestamp alone (new version and expiry)
// over the current snapshot: the routine re-signing between snapshot
// refreshes. It needs only the timestamp keys.
func (r *Repo) RefreshTimestamp() error { return r.signTimestamp() }

// OfflineKeys returns the roles among root and targets of which the keys
// folder holds at least one key the current root lists. An online signer
// (rig-cloud) refuses to run with such a folder: with the targets key
// next to the online ones, stealing the server would be enough to ship a
// model.
func (r *Repo) OfflineKeys() []string {
	var out []string
	for _, role := range []string{metadata.ROOT, metadata.TARGETS} {
		for _, id := range r.root.Signed.Roles[role].KeyIDs {
			if _, ok := r.keys[id]; ok {
				out = append(out, role)
				break
			}
		}
	}
	return out
}

// MaxTargetsBytes caps the targets metadata Publish accepts: go-tuf's
// updater refuses larger targets metadata by default.
const MaxTargetsBytes = 5_000_000

// Publish adds a release signed offline: targets is the next targets
// metadata, signed by the release manager with the targets keys, and
// archivePath a file holding the archive of the one target it adds. It
// checks that targets is signed by the current root's targets threshold,
// is the next version and unexpired, keeps every released target as it
// is (so a released path is never reused), and adds exactly one target
// with valid release metadata whose version does not rank equal to a
// released one of its bundle and rig type, and that the archive has that target's
// length and sha256; anything else is refused (ErrRefused) with nothing
// written. Then it moves the archive into place, writes the targets
// metadata as given, and signs new snapshot and timestamp metadata. It
// needs only the snapshot and timestamp keys. On success the archive
// file is gone (renamed); it must be on the repository's file system.
//
// Targets that add no target, with archivePath "", are a re-signing of
// the targets (ResignTargets: a new expiry without a release); Publish
// then returns nil release and target file.
func (r *Repo) Publish(targets []byte, archivePath string) (*release.Target, *metadata.TargetFiles, error) {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
	}
	for _, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if _, err := r.signers(role, r.root); err != nil {
			return nil, nil, err
		}
	}
	if len(targets) > MaxTargetsBytes {
		return nil, nil, refuse("the targets metadata is %d bytes, more than %d", len(targets), MaxTargetsBytes)
	}
	md, err := metadata.Targets().FromBytes(targets)
	if err != nil {
		return nil, nil, refuse("the targets metadata does not decode: %v", err)
	}
	if err := r.root.VerifyDelegate(metadata.TARGETS, md); err != nil {
		return nil, nil, refuse("the targets metadata is not signed by the targets keys of root version %d (%v): sign it with the targets key", r.root.Signed.Version, err)
	}
	cur := r.targets.Signed
	if md.Signed.Version != cur.Version+1 {
		return nil, nil, refuse("targets version %d: the repository is at version %d, so the next is %d (sign again over the current targets)", md.Signed.Version, cur.Version, cur.Version+1)
	}
	if now := r.opt.now(); !md.Signed.Expires.After(now) {
		return nil, nil, refuse("the targets metadata expired at %s", md.Signed.Expires.Format(time.RFC3339))
	}
	if md.Signed.Delegations != nil {
		return nil, nil, refuse("the targets metadata delegates: delegations are not used by this repository")
	}
	for p, old := range cur.Targets {
		nt, ok := md.Signed.Targets[p]
		switch {
		case !ok:
			return nil, nil, refuse("target %s is released and missing from the new targets: a release never removes one", p)
		case !nt.Equal(*old) || !sameCustom(old.Custom, nt.Custom):
			return nil, nil, refuse("target %s is released and changed in the new targets: a release never changes one", p)
		}
	}
	var added []*metadata.TargetFiles
	for p, tf := range md.Signed.Targets {
		if _, ok := cur.Targets[p]; !ok {
			tf.Path = p
			added = append(added, tf)
		}
	}
	if err := r.versionFree(metadata.TARGETS, md.Signed.Version, targets); err != nil && !errors.Is(err, ErrVersionTaken) {
		return nil, nil, fmt.Errorf("publish targets version %d: %w", md.Signed.Version, err)
	} else if err != nil {
		return nil, nil, fmt.Errorf("%w: %w: another publication wrote targets version %d (send the same targets again, or sign over the repository's current targets)", ErrRefused, err, md.Signed.Version)
	}
	var rel *release.Target
	var tf *metadata.TargetFiles
	switch {
	case len(added) > 1:
		return nil, nil, refuse("the new targets add %d targets: publish one release at a time, with its archive", len(added))
	case len(added) == 0 && archivePath != "":
		return nil, nil, refuse("an archive was sent, but the new targets add no target")
	case len(added) == 1 && archivePath == "":
		return nil, nil, refuse("the new targets add %s: send its archive", added[0].Path)
	case len(added) == 1:
		tf = added[0]
		var err error
		if rel, err = release.FromTargetFile(tf); err != nil {
			return nil, nil, refuse("target %s: %v", tf.Path, err)
		}
		if rel.Path() != tf.Path {
			return nil, nil, refuse("target %s: its release metadata names the path %s", tf.Path, rel.Path())
		}
		if err := rankedEqual(r.targets.Signed.Targets, rel); err != nil {
			return nil, nil, refuse("target %s: %v", tf.Path, err)
		}
		sum := tf.Hashes["sha256"]
		if len(sum) != sha256.Size || len(tf.Hashes) != 1 {
			return nil, nil, refuse("target %s: want exactly one hash, sha256", tf.Path)
		}
		if err := checkArchive(archivePath, tf); err != nil {
			return nil, nil, refuse("target %s: %v", tf.Path, err)
		}
		dst := r.targetFile(tf)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, nil, err
		}
		if err := os.Chmod(archivePath, 0o644); err != nil {
			return nil, nil, err
		}
		if err := os.Rename(archivePath, dst); err != nil {
			return nil, nil, fmt.Errorf("move the archive into the repository: %w", err)
		}
	}
	prev := r.targets
	r.targets = md
	if err := r.writeVersioned(metadata.TARGETS, md.Signed.Version, targets, true); err != nil {
		r.targets = prev
		if errors.Is(err, ErrVersionTaken) {
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return nil, nil, err
	}
	if err := r.signSnapshotTimestamp(true); err != nil {
		return nil, nil, err
	}
	return rel, tf, nil
}

// versionFree returns an error wrapping ErrVersionTaken when
// N.<role>.json of version is on disk with other bytes than b (a damaged
// file left by a killed write is free once StaleWriteAge old: the write
// removes it).
func (r *Repo) versionFree(role string, version int64, b []byte) error {
	t, err := inspect(filepath.Join(r.dir, fmt.Sprintf("%d.%s.json", version, role)), b)
	if err != nil {
		return err
	}
	return t.err()
}

// ResignTargets is the release manager's routine re-signing of a
// repository rig-cloud runs, before the targets expire without a release:
// the next version of cur, with the same targets and a new expiry
// (opt.Expiry.Targets), signed with the targets keys in keysDir that root
// lists. Publish it without an archive.
func ResignTargets(root *metadata.Metadata[metadata.RootType], cur *metadata.Metadata[metadata.TargetsType], keysDir string, opt Options) ([]byte, error) {
	r, next, err := offline(root, cur, keysDir, opt)
	if err != nil {
		return nil, err
	}
	return r.signNext(next)
}

// offline is a Repo holding root, a copy of cur and the keys in keysDir,
// checked to hold the targets keys.
func offline(root *metadata.Metadata[metadata.RootType], cur *metadata.Metadata[metadata.TargetsType], keysDir string, opt Options) (*Repo, *metadata.Metadata[metadata.TargetsType], error) {
	keys, err := loadKeys(keysDir, opt.StrictKeyModes)
	if err != nil {
		return nil, nil, err
	}
	b, err := cur.ToBytes(false)
	if err != nil {
		return nil, nil, err
	}
	next, err := metadata.Targets().FromBytes(b)
	if err != nil {
		return nil, nil, err
	}
	r := &Repo{keysDir: keysDir, opt: opt, keys: keys, root: root, targets: next}
	if _, err := r.signers(metadata.TARGETS, root); err != nil {
		return nil, nil, err
	}
	return r, next, nil
}

// signNext bumps next's version and expiry and signs it with the targets
// keys.
func (r *Repo) signNext(next *metadata.Metadata[metadata.TargetsType]) ([]byte, error) {
	next.Signed.Version++
	next.Signed.Expires = r.opt.now().Add(r.opt.Expiry.of(metadata.TARGETS))
	next.ClearSignatures()
	if err := sign(r, metadata.TARGETS, r.root, next); err != nil {
		return nil, err
	}
	return next.ToBytes(true)
}

// checkArchive compares the file's length and sha256 with tf's.
func checkArchive(name string, tf *metadata.TargetFiles) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, tf.Length+1))
	if err != nil {
		return fmt.Errorf("read the archive: %w", err)
	}
	if n != tf.Length {
		return fmt.Errorf("the archive is %s bytes, the targets metadata says %d", lengthOf(n, tf.Length), tf.Length)
	}
	if got := h.Sum(nil); !bytes.Equal(got, tf.Hashes["sha256"]) {
		return fmt.Errorf("the archive's sha256 is %x, the targets metadata says %x", got, []byte(tf.Hashes["sha256"]))
	}
	return nil
}

func lengthOf(n, want int64) string {
	if n > want {
		return fmt.Sprintf("more than %d", want)
	}
	return fmt.Sprint(n)
}

func sameCustom(a, b *json.RawMessage) bool {
	if a == nil || b == nil {
		return a == b
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, *a) != nil || json.Compact(&cb, *b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// Signed is a release signed offline for a repository whose online roles
// someone else signs (rig-cloud): the next targets metadata and the
// release it adds.
type Signed struct {
	// Targets is the next targets metadata, signed.
	Targets []byte
	// Release and File are the added target's release metadata and target
	// file (path, length, hashes).
	Release *release.Target
	File    *metadata.TargetFiles
}

// SignRelease is the release manager's half of a release published to
// rig-cloud (Publish is the other): it loads the bundle in bundleDir,
// writes its archive to w, and signs, with the targets keys in keysDir
// that root lists, the next version of cur listing cur's targets and the
// new one. root and cur must be the repository's current, verified
// metadata (go-tuf's updater gives them). A path already in cur, or a
// version ranking equal to a release in cur of the same bundle and rig
// type (1.1.0+retrain2 over 1.1.0: agents would refuse it), is
// ErrExists. Only opt.Expiry.Targets and opt.Now are used.
func SignRelease(root *metadata.Metadata[metadata.RootType], cur *metadata.Metadata[metadata.TargetsType], keysDir, bundleDir string,
	hardware []string, w io.Writer, opt Options) (*Signed, error) {
	r, next, err := offline(root, cur, keysDir, opt)
	if err != nil {
		return nil, err
	}
	m, err := bundle.Load(bundleDir)
	if err != nil {
		return nil, err
	}
	rel, err := release.FromManifest(m, hardware)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", bundleDir, err)
	}
	if _, ok := next.Signed.Targets[rel.Path()]; ok {
		return nil, fmt.Errorf("%w: %s is already released; give the bundle a new version", ErrExists, rel.Path())
	}
	if err := rankedEqual(next.Signed.Targets, rel); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExists, err)
	}
	tf, err := archive(w, bundleDir, rel)
	if err != nil {
		return nil, err
	}
	next.Signed.Targets[tf.Path] = tf
	out, err := r.signNext(next)
	if err != nil {
		return nil, err
	}
	return &Signed{Targets: out, Release: rel, File: tf}, nil
}
