package tufrepo

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/durable"
	"github.com/hydrognn/hydrognn/shared/release"
)

// Roles are the top-level TUF roles, in the order Init creates them.
var Roles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// ErrKeys is returned (wrapped) when the keys folder lacks the keys a role
// needs, or is inside the repository folder.
var ErrKeys = errors.New("signing keys")

// ErrExists is returned (wrapped) by Init when the repository or keys folder
// already holds a repository or keys, and by AddBundle and SignRelease
// when the release's path is already taken by another archive or its
// version ranks equal to a released one of the same bundle and rig type.
var ErrExists = errors.New("already exists")

// ErrVersionTaken is returned (wrapped) when the metadata file of the
// version being written (N.snapshot.json, N.timestamp.json, or
// N.targets.json of a publication) is on disk already with other bytes:
// another writer signed that version, two processes changing the
// repository at once (a rig-cloud replica that lost its lock while
// writing, say), or cut short by a writer killed mid-write less than
// StaleWriteAge ago (see writeFile). The file on disk is kept and nothing
// more is written.
var ErrVersionTaken = errors.New("metadata version already written by another writer")

// Expiry is how long each role's metadata stays valid after it is signed.
// A zero field means its default (DefaultExpiry).
type Expiry struct {
	Root, Targets, Snapshot, Timestamp time.Duration
}

// DefaultExpiry: root a year (an offline ceremony), targets 90 days (a
// release manager re-signs at least that often), snapshot a week and
// timestamp a day (online keys: short, so a frozen repository is noticed).
var DefaultExpiry = Expiry{Root: 365 * 24 * time.Hour, Targets: 90 * 24 * time.Hour,
	Snapshot: 7 * 24 * time.Hour, Timestamp: 24 * time.Hour}

func (e Expiry) of(role string) time.Duration {
	d := map[string][2]time.Duration{
		metadata.ROOT:      {e.Root, DefaultExpiry.Root},
		metadata.TARGETS:   {e.Targets, DefaultExpiry.Targets},
		metadata.SNAPSHOT:  {e.Snapshot, DefaultExpiry.Snapshot},
		metadata.TIMESTAMP: {e.Timestamp, DefaultExpiry.Timestamp},
	}[role]
	if d[0] > 0 {
		return d[0]
	}
	return d[1]
}

// Options configure Init and Open.
type Options struct {
	// RootThreshold is how many root keys must sign a root (zero: 1).
	RootThreshold int
	// RootKeys is how many root keys Init creates (zero: RootThreshold);
	// at least RootThreshold.
	RootKeys int
	// Expiry of each role's metadata (zero fields: DefaultExpiry).
	Expiry Expiry
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Guard, when set, is called immediately before each metadata file
	// is put in place (its temporary file written and synced); an error
	// stops the write and is returned, wrapped. rig-cloud checks there
	// that it still holds the lock serialising its replicas.
	Guard func() error
	// StrictKeyModes makes Open, ResignTargets and SignRelease refuse a
	// keys folder that group or others may access, or a key file
	// (*.pem) they may read, as ssh does (rigctl sets it). rig-cloud
	// leaves it unset: its online keys come from secret mounts, which
	// are often readable by all (Docker's are 0444). Init refuses such
	// an existing keys folder whatever it says.
	StrictKeyModes bool
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

// Repo is an open repository and the keys found for it.
type Repo struct {
	dir, keysDir string
	opt          Options
	root         *metadata.Metadata[metadata.RootType]
	targets      *metadata.Metadata[metadata.TargetsType]
	snapshot     *metadata.Metadata[metadata.SnapshotType]
	timestamp    *metadata.Metadata[metadata.TimestampType]
	// keys maps key ids to the private keys present in keysDir.
	keys map[string]ed25519.PrivateKey
	// swept is set by the first write (writeFile sweeps stale temporary
	// files then).
	swept bool
	// sweptReleases is set by the first AddBundle (it sweeps stale
	// archives of killed AddBundles from targets/ then).
	sweptReleases bool
}

// checkDirs refuses a keys folder inside (or equal to) the repository.
func checkDirs(dir, keysDir string) error {
	in, err := Inside(keysDir, dir)
	if err != nil {
		return fmt.Errorf("check the keys folder is outside the repository: %w", err)
	}
	if in {
		return fmt.Errorf("%w: the keys folder %s is inside the repository folder %s, which is published; keep keys elsewhere", ErrKeys, keysDir, dir)
	}
	return nil
}

// Inside reports whether dir is base or inside it, as the file system
// will resolve them: both are made absolute and the symbolic links of
// their longest existing ancestors resolved (a folder not made yet is
// judged by where it will be made). A name that merely starts with ".."
// ("..keys") is inside; only ".." itself or a "../" prefix of the
// relative path leaves base.
func Inside(dir, base string) (bool, error) {
	d, err := resolvePath(dir)
	if err != nil {
		return false, err
	}
	b, err := resolvePath(base)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(b, d)
	if err != nil {
		return false, nil // another volume: not inside
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)), nil
}

// resolvePath makes p absolute and resolves the symbolic links of its
// longest existing ancestor (p itself when it exists), keeping the rest.
func resolvePath(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for {
		r, err := filepath.EvalSymlinks(a)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(a)
		if parent == a {
			return filepath.Join(a, rest), nil
		}
		rest = filepath.Join(filepath.Base(a), rest)
		a = parent
	}
}

// Init creates a repository in dir (created if missing, and must hold no
// metadata) and its keys in keysDir (created 0700; must hold no keys, and
// an existing one must be private: group and others without access):
// opt.RootKeys root keys with threshold opt.RootThreshold, and one key each
// for targets, snapshot and timestamp; then signs version 1 of every role.
func Init(dir, keysDir string, opt Options) (*Repo, error) {
	if opt.RootThreshold == 0 {
		opt.RootThreshold = 1
	}
	if opt.RootKeys == 0 {
		opt.RootKeys = opt.RootThreshold
	}
	if opt.RootThreshold < 1 || opt.RootKeys < opt.RootThreshold {
		return nil, fmt.Errorf("root threshold %d with %d root keys: want 1 <= threshold <= keys", opt.RootThreshold, opt.RootKeys)
	}
	if err := checkDirs(dir, keysDir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "root.json")); err == nil {
		return nil, fmt.Errorf("%w: %s holds a repository (root.json)", ErrExists, dir)
	}
	if pems, _ := filepath.Glob(filepath.Join(keysDir, "*.pem")); len(pems) > 0 {
		return nil, fmt.Errorf("%w: %s holds keys (%s); use a new keys folder", ErrExists, keysDir, filepath.Base(pems[0]))
	}
	// An existing keys folder is refused rather than chmod'ed: what it
	// is shared with is the owner's to decide (review r4).
	if err := checkKeysDirMode(keysDir); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(keysDir)
	if err := os.MkdirAll(filepath.Join(dir, "targets"), 0o755); err != nil {
		return nil, fmt.Errorf("create repository: %w", err)
	}
	if os.IsNotExist(statErr) {
		if err := os.MkdirAll(keysDir, 0o700); err != nil {
			return nil, fmt.Errorf("create keys folder: %w", err)
		}
		if err := os.Chmod(keysDir, 0o700); err != nil {
			return nil, fmt.Errorf("create keys folder: %w", err)
		}
	}
	now := opt.now()
	r := &Repo{dir: dir, keysDir: keysDir, opt: opt, keys: map[string]ed25519.PrivateKey{},
		root:      metadata.Root(now.Add(opt.Expiry.of(metadata.ROOT))),
		targets:   metadata.Targets(now.Add(opt.Expiry.of(metadata.TARGETS))),
		snapshot:  metadata.Snapshot(now.Add(opt.Expiry.of(metadata.SNAPSHOT))),
		timestamp: metadata.Timestamp(now.Add(opt.Expiry.of(metadata.TIMESTAMP))),
	}
	for _, role := range Roles {
		n := 1
		if role == metadata.ROOT {
			n = opt.RootKeys
			r.root.Signed.Roles[role].Threshold = opt.RootThreshold
		}
		for range n {
			key, err := r.newKey(role)
			if err != nil {
				return nil, err
			}
			if err := r.root.Signed.AddKey(key, role); err != nil {
				return nil, err
			}
		}
	}
	if err := sign(r, metadata.ROOT, r.root, r.root); err != nil {
		return nil, err
	}
	if err := r.writeRoot(); err != nil {
		return nil, err
	}
	if err := sign(r, metadata.TARGETS, r.root, r.targets); err != nil {
		return nil, err
	}
	if err := r.writeTargets(); err != nil {
		return nil, err
	}
	if err := r.signSnapshotTimestamp(false); err != nil {
		return nil, err
	}
	return r, nil
}

// Open reads the newest metadata in dir and every key in keysDir (a role's
// keys are needed only when that role is signed).
func Open(dir, keysDir string, opt Options) (*Repo, error) {
	if err := checkDirs(dir, keysDir); err != nil {
		return nil, err
	}
	r := &Repo{dir: dir, keysDir: keysDir, opt: opt, keys: map[string]ed25519.PrivateKey{}}
	var err error
	if r.root, err = load(metadata.Root(), dir, metadata.ROOT); err != nil {
		return nil, err
	}
	if r.targets, err = load(metadata.Targets(), dir, metadata.TARGETS); err != nil {
		return nil, err
	}
	if r.snapshot, err = load(metadata.Snapshot(), dir, metadata.SNAPSHOT); err != nil {
		return nil, err
	}
	if r.timestamp, err = load(metadata.Timestamp(), dir, metadata.TIMESTAMP); err != nil {
		return nil, err
	}
	if r.keys, err = loadKeys(keysDir, opt.StrictKeyModes); err != nil {
		return nil, err
	}
	return r, nil
}

// load reads dir/<role>.json into md. The error names the file, and
// calls it damaged when it is empty or not complete JSON (it is written
// by a rename, so only a file system that lost data or a hand leaves it
// so).
func load[T metadata.Roles](md *metadata.Metadata[T], dir, role string) (*metadata.Metadata[T], error) {
	name := filepath.Join(dir, role+".json")
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("open repository %s: %s is damaged (%d bytes, not complete JSON): restore it from a backup", dir, name, len(b))
	}
	if _, err := md.FromBytes(b); err != nil {
		return nil, fmt.Errorf("open repository %s: %s: %w", dir, name, err)
	}
	return md, nil
}

// readKeys reads every key file in keysDir, by key id.
func readKeys(keysDir string) (map[string]ed25519.PrivateKey, error) {
	return loadKeys(keysDir, false)
}

// loadKeys reads every key file in keysDir, by key id; strict: the
// folder and the files must be private (Options.StrictKeyModes).
func loadKeys(keysDir string, strict bool) (map[string]ed25519.PrivateKey, error) {
	if strict {
		if err := checkKeysDirMode(keysDir); err != nil {
			return nil, err
		}
	}
	keys := map[string]ed25519.PrivateKey{}
	pems, err := filepath.Glob(filepath.Join(keysDir, "*.pem"))
	if err != nil {
		return nil, err
	}
	for _, p := range pems {
		k, err := readKey(p, strict)
		if err != nil {
			return nil, err
		}
		id, err := keyID(k.Public().(ed25519.PublicKey))
		if err != nil {
			return nil, err
		}
		keys[id] = k
	}
	return keys, nil
}

// Dir returns the repository folder.
func (r *Repo) Dir() string { return r.dir }

// Versions returns the current version of each top-level role.
func (r *Repo) Versions() map[string]int64 {
	return map[string]int64{
		metadata.ROOT: r.root.Signed.Version, metadata.TARGETS: r.targets.Signed.Version,
		metadata.SNAPSHOT: r.snapshot.Signed.Version, metadata.TIMESTAMP: r.timestamp.Signed.Version,
	}
}

// Root returns the current root metadata's bytes as written (what a client
// is given to trust on first use).
func (r *Repo) Root() ([]byte, error) {
	return os.ReadFile(filepath.Join(r.dir, "root.json"))
}

// Targets returns the current targets, keyed by path. The map belongs to
// the Repo: do not change it.
func (r *Repo) Targets() map[string]*metadata.TargetFiles { return r.targets.Signed.Targets }

// AddBundle loads the bundle in bundleDir (checking its files' digests),
// archives it as the target release.Target.Path with the custom metadata
// release.FromManifest gives for hardware, and publishes new targets,
// snapshot and timestamp metadata. A path already released with other bytes
// is refused (ErrExists): a new bundle needs a new version; so is a version
// ranking equal to a released one of the same bundle and rig type
// (1.1.0+retrain2 over 1.1.0: semantic versions ignore +build, and agents
// refuse another bundle at their installed version). The archive is
// written to a temporary file (.release-*) beside its target file and
// renamed there; a Repo's first AddBundle removes those of killed
// AddBundles, StaleWriteAge old, from the targets folder.
func (r *Repo) AddBundle(bundleDir string, hardware []string) (*release.Target, *metadata.TargetFiles, error) {
	m, err := bundle.Load(bundleDir)
	if err != nil {
		return nil, nil, err
	}
	rel, err := release.FromManifest(m, hardware)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle %s: %w", bundleDir, err)
	}
	// Check the keys before writing anything.
	if _, err := r.signers(metadata.TARGETS, r.root); err != nil {
		return nil, nil, err
	}
	if err := rankedEqual(r.targets.Signed.Targets, rel); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrExists, err)
	}
	tpath := rel.Path()
	subdir := filepath.Join(r.dir, "targets", filepath.FromSlash(path.Dir(tpath)))
	if err := os.MkdirAll(subdir, 0o755); err != nil {
		return nil, nil, err
	}
	if !r.sweptReleases {
		r.sweptReleases = true
		sweepReleases(filepath.Join(r.dir, "targets"))
	}
	tmp, err := os.CreateTemp(subdir, releaseTmpPrefix+"*")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(tmp.Name())
	tf, err := archive(tmp, bundleDir, rel)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	err = durable.SyncClose(tmp, err)
	if err != nil {
		return nil, nil, err
	}
	if err := r.checkNewPath(tf); err != nil {
		return nil, nil, err
	}
	if err := os.Rename(tmp.Name(), r.targetFile(tf)); err != nil {
		return nil, nil, err
	}
	r.targets.Signed.Targets[tpath] = tf
	if err := r.commitTargets(); err != nil {
		delete(r.targets.Signed.Targets, tpath)
		return nil, nil, err
	}
	return rel, tf, nil
}

// Rotate replaces the keys of role by count new keys with the given
// threshold (zero count: the role's current number of keys; zero threshold:
// its current threshold), in a new root version signed by the old root's
// keys and, for a root rotation, the new root keys too, so clients holding
// the old root follow to the new one. The role's metadata (and those below
// it: targets, snapshot, timestamp) is then re-signed with the new keys. The
// replaced key files move to the keys folder's retired/.
func (r *Repo) Rotate(role string, threshold, count int) error {
	cur, ok := r.root.Signed.Roles[role]
	if !ok || !slices.Contains(Roles, role) {
		return fmt.Errorf("rotate: %q is not a role (root, targets, snapshot or timestamp)", role)
	}
	if count == 0 {
		count = len(cur.KeyIDs)
	}
	if threshold == 0 {
		threshold = min(cur.Threshold, count)
	}
	if threshold < 1 || count < threshold {
		return fmt.Errorf("rotate %s: threshold %d with %d keys: want 1 <= threshold <= keys", role, threshold, count)
	}
	// The old root must be able to sign before anything is written.
	if _, err := r.signers(metadata.ROOT, r.root); err != nil {
		return fmt.Errorf("rotate %s: %w", role, err)
	}
	b, err := r.root.ToBytes(false)
	if err != nil {
		return err
	}
	next, err := metadata.Root().FromBytes(b)
	if err != nil {
		return err
	}
	old := slices.Clone(cur.KeyIDs)
	for _, id := range old {
		if err := next.Signed.RevokeKey(id, role); err != nil {
			return err
		}
	}
	for range count {
		key, err := r.newKey(role)
		if err != nil {
			return err
		}
		if err := next.Signed.AddKey(key, role); err != nil {
			return err
		}
	}
	next.Signed.Roles[role].Threshold = threshold
	next.Signed.Version++
	next.Signed.Expires = r.opt.now().Add(r.opt.Expiry.of(metadata.ROOT))
	next.ClearSignatures()
	// Signed by the old root's keys (its threshold) and the new root's.
	ids := slices.Clone(r.root.Signed.Roles[metadata.ROOT].KeyIDs)
	for _, id := range next.Signed.Roles[metadata.ROOT].KeyIDs {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if k, ok := r.keys[id]; ok {
			if err := signWith(next, k); err != nil {
				return err
			}
		}
	}
	if err := r.root.VerifyDelegate(metadata.ROOT, next); err != nil {
		return fmt.Errorf("rotate %s: the new root is not signed by the old root's threshold: %w", role, err)
	}
	if err := next.VerifyDelegate(metadata.ROOT, next); err != nil {
		return fmt.Errorf("rotate %s: the new root is not signed by its own threshold: %w", role, err)
	}
	r.root = next
	if err := r.writeRoot(); err != nil {
		return err
	}
	switch role {
	case metadata.TARGETS:
		err = r.commitTargets()
	case metadata.SNAPSHOT:
		err = r.signSnapshotTimestamp(true)
	case metadata.TIMESTAMP:
		err = r.signTimestamp()
	}
	if err != nil {
		return err
	}
	return r.retire(old)
}

// Refresh re-signs snapshot and timestamp with new versions and expiries
// (the online roles' routine re-signing).
func (r *Repo) Refresh() error { return r.signSnapshotTimestamp(true) }

// SnapshotStale reports whether the snapshot names another targets
// version than the repository's targets.json: a publication that wrote
// the targets and failed before the snapshot (a full disk, say). Clients
// do not see that release until Refresh re-signs the snapshot and the
// timestamp over the targets; rig-cloud's releases check does so.
func (r *Repo) SnapshotStale() bool {
	mf, ok := r.snapshot.Signed.Meta["targets.json"]
	return !ok || mf.Version != r.targets.Signed.Version
}

// commitTargets bumps, signs and writes targets, then snapshot and
// timestamp.
func (r *Repo) commitTargets() error {
	r.targets.Signed.Version++
	r.targets.Signed.Expires = r.opt.now().Add(r.opt.Expiry.of(metadata.TARGETS))
	r.targets.ClearSignatures()
	if err := sign(r, metadata.TARGETS, r.root, r.targets); err != nil {
		return err
	}
	if err := r.writeTargets(); err != nil {
		return err
	}
	return r.signSnapshotTimestamp(true)
}

// signSnapshotTimestamp points snapshot at the current targets version,
// signs and writes it (bumping its version when bump), then the timestamp.
func (r *Repo) signSnapshotTimestamp(bump bool) error {
	s := &r.snapshot.Signed
	s.Meta["targets.json"] = metadata.MetaFile(r.targets.Signed.Version)
	if bump {
		v, err := r.nextVersion(metadata.SNAPSHOT, s.Version)
		if err != nil {
			return err
		}
		s.Version = v
	}
	s.Expires = r.opt.now().Add(r.opt.Expiry.of(metadata.SNAPSHOT))
	r.snapshot.ClearSignatures()
	if err := sign(r, metadata.SNAPSHOT, r.root, r.snapshot); err != nil {
		return err
	}
	b, err := r.snapshot.ToBytes(true)
	if err != nil {
		return err
	}
	if err := r.writeVersioned(metadata.SNAPSHOT, s.Version, b, true); err != nil {
		return err
	}
	if !bump {
		return r.writeTimestamp(b)
	}
	return r.signTimestamp()
}

// signTimestamp bumps, signs and writes the timestamp over the current
// snapshot.
func (r *Repo) signTimestamp() error {
	b, err := r.snapshot.ToBytes(true)
	if err != nil {
		return err
	}
	v, err := r.nextVersion(metadata.TIMESTAMP, r.timestamp.Signed.Version)
	if err != nil {
		return err
	}
	r.timestamp.Signed.Version = v
	return r.writeTimestamp(b)
}

// nextVersion is the version to sign role's next metadata at: after cur
// and after every N.<role>.json on disk, which a writer that crashed (or
// failed) between that file and the unversioned one left behind. Those
// are never overwritten (writeVersioned), so a version is signed once;
// snapshot and timestamp versions need only increase.
func (r *Repo) nextVersion(role string, cur int64) (int64, error) {
	next := cur + 1
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		return 0, fmt.Errorf("next %s version: %w", role, err)
	}
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), "."+role+".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		if v, err := strconv.ParseInt(n, 10, 64); err == nil && v >= next {
			next = v + 1
		}
	}
	return next, nil
}

func (r *Repo) writeTimestamp(snapshot []byte) error {
	mf := metadata.MetaFile(r.snapshot.Signed.Version)
	mf.Length = int64(len(snapshot))
	sum := sha256.Sum256(snapshot)
	mf.Hashes["sha256"] = sum[:]
	t := &r.timestamp.Signed
	t.Meta["snapshot.json"] = mf
	t.Expires = r.opt.now().Add(r.opt.Expiry.of(metadata.TIMESTAMP))
	r.timestamp.ClearSignatures()
	if err := sign(r, metadata.TIMESTAMP, r.root, r.timestamp); err != nil {
		return err
	}
	b, err := r.timestamp.ToBytes(true)
	if err != nil {
		return err
	}
	// N.timestamp.json (not served: clients fetch timestamp.json) makes
	// the version's bytes unique as N.snapshot.json does the snapshot's.
	return r.writeVersioned(metadata.TIMESTAMP, t.Version, b, true)
}

func (r *Repo) writeRoot() error {
	b, err := r.root.ToBytes(true)
	if err != nil {
		return err
	}
	return r.writeVersioned(metadata.ROOT, r.root.Signed.Version, b, false)
}

func (r *Repo) writeTargets() error {
	b, err := r.targets.ToBytes(true)
	if err != nil {
		return err
	}
	return r.writeVersioned(metadata.TARGETS, r.targets.Signed.Version, b, false)
}

// writeVersioned writes N.role.json, then role.json. When once, the
// versioned file is never replaced: if it is there with the same bytes (a
// retry) it is kept, with other bytes the write fails (ErrVersionTaken).
func (r *Repo) writeVersioned(role string, version int64, b []byte, once bool) error {
	if err := r.writeFile(filepath.Join(r.dir, fmt.Sprintf("%d.%s.json", version, role)), b, once); err != nil {
		return err
	}
	return r.writeFile(filepath.Join(r.dir, role+".json"), b, false)
}

// signers returns the signers of the keys present for role in root, or an
// error wrapping ErrKeys when fewer than its threshold are present.
func (r *Repo) signers(role string, root *metadata.Metadata[metadata.RootType]) ([]ed25519.PrivateKey, error) {
	rl := root.Signed.Roles[role]
	var ks []ed25519.PrivateKey
	for _, id := range rl.KeyIDs {
		if k, ok := r.keys[id]; ok {
			ks = append(ks, k)
		}
	}
	if len(ks) < rl.Threshold {
		return nil, fmt.Errorf("%w: %s needs %d of its %d keys, %s holds %d of them", ErrKeys, role, rl.Threshold, len(rl.KeyIDs), r.keysDir, len(ks))
	}
	return ks, nil
}

// sign signs md with role's keys and checks the result against root.
func sign[T metadata.Roles](r *Repo, role string, root *metadata.Metadata[metadata.RootType], md *metadata.Metadata[T]) error {
	ks, err := r.signers(role, root)
	if err != nil {
		return err
	}
	for _, k := range ks {
		if err := signWith(md, k); err != nil {
			return err
		}
	}
	if err := root.VerifyDelegate(role, md); err != nil {
		return fmt.Errorf("sign %s: %w", role, err)
	}
	return nil
}

func signWith[T metadata.Roles](md *metadata.Metadata[T], k ed25519.PrivateKey) error {
	s, err := signature.LoadSigner(k, crypto.Hash(0))
	if err != nil {
		return err
	}
	_, err = md.Sign(s)
	return err
}

// newKey makes an ed25519 key for role and writes it to the keys folder.
func (r *Repo) newKey(role string) (*metadata.Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	key, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return nil, err
	}
	id, err := key.ID()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	name := filepath.Join(r.keysDir, role+"-"+id[:16]+".pem")
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("write key: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	err = durable.SyncClose(f, err)
	if err != nil {
		return nil, fmt.Errorf("write key %s: %w", name, err)
	}
	r.keys[id] = priv
	return key, nil
}

// retire moves the files of the given key ids to keysDir/retired.
func (r *Repo) retire(ids []string) error {
	dst := filepath.Join(r.keysDir, "retired")
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	pems, err := filepath.Glob(filepath.Join(r.keysDir, "*.pem"))
	if err != nil {
		return err
	}
	for _, p := range pems {
		base := filepath.Base(p)
		for _, id := range ids {
			if strings.HasSuffix(base, "-"+id[:16]+".pem") {
				if err := os.Rename(p, filepath.Join(dst, base)); err != nil {
					return fmt.Errorf("retire key: %w", err)
				}
				delete(r.keys, id)
			}
		}
	}
	return nil
}

func readKey(p string, strict bool) (ed25519.PrivateKey, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if strict {
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if err := checkKeyFileMode(p, fi.Mode()); err != nil {
			return nil, err
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s is not a PEM private key", ErrKeys, p)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrKeys, p, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not an ed25519 key", ErrKeys, p)
	}
	return ek, nil
}

func keyID(pub ed25519.PublicKey) (string, error) {
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		return "", err
	}
	return k.ID()
}

// link is os.Link (tests replace it to act as a file system without
// hard links).
var link = os.Link

// linkModes caches, per repository folder, whether hard links work there
// (linksWork).
var linkModes sync.Map // folder -> bool

// linksWork probes once per folder (create, link, remove) whether dir's
// file system makes hard links, and logs the mode writeFile uses there:
// SMB/CIFS and s3fs, among others, make none.
func linksWork(dir string) bool {
	if v, ok := linkModes.Load(dir); ok {
		return v.(bool)
	}
	ok := probeLink(dir)
	if _, loaded := linkModes.LoadOrStore(dir, ok); !loaded {
		if ok {
			slog.Info("tufrepo: versioned metadata is put in place with hard links", "dir", dir)
		} else {
			slog.Warn("tufrepo: this file system makes no hard links: versioned metadata is created in place with O_EXCL (a crash mid-write can leave a partial file, refused as ErrVersionTaken until it is StaleWriteAge old, then removed by the next write of that version)",
				"dir", dir, "stale_write_age", StaleWriteAge.String())
		}
	}
	return ok
}

func probeLink(dir string) bool {
	f, err := os.CreateTemp(dir, tmpPrefix+"probe-*")
	if err != nil {
		return true // the write itself will report the folder's error
	}
	src := f.Name()
	_ = f.Close()
	defer os.Remove(src)
	dst := src + ".link"
	if err := link(src, dst); err != nil {
		return false
	}
	_ = os.Remove(dst)
	return true
}

// StaleWriteAge is how long a temporary file of a write (.tmp-* in the
// repository folder) or a damaged versioned metadata file (cut short:
// empty or not complete JSON) may go unmodified before a writer removes
// it as the leftover of a process killed mid-write. A write takes
// seconds; the rest is for clocks apart on a shared volume, so that no
// live write is ever removed.
const StaleWriteAge = time.Hour

// tmpPrefix starts the name of every temporary file a write leaves in the
// repository folder while it runs (and a killed one leaves behind).
const tmpPrefix = ".tmp-"

// releaseTmpPrefix starts the name of the archive AddBundle writes beside
// the release's target file before renaming it there (and a killed one
// leaves behind).
const releaseTmpPrefix = ".release-"

// sweepTmp removes the temporary files (tmpPrefix) in dir last modified
// more than StaleWriteAge ago: left by a writer killed mid-write. A file
// another writer removes meanwhile is not an error; a failure is logged,
// never a reason to refuse the write that swept.
func sweepTmp(dir string) {
	// .probe-*: linksWork's files before they took tmpPrefix.
	sweep(dir, tmpPrefix, ".probe-")
}

// sweepReleases removes, as sweepTmp does, the archives of killed
// AddBundles (releaseTmpPrefix) in targets and the folders under it: a
// release's archive can be hundreds of MiB.
func sweepReleases(targets string) {
	err := filepath.WalkDir(targets, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			sweep(p, releaseTmpPrefix)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		slog.Warn("tufrepo: sweep temporary archives", "dir", targets, "err", err)
	}
}

// sweep removes the regular files in dir whose names start with one of
// prefixes, last modified more than StaleWriteAge ago (sweepTmp).
func sweep(dir string, prefixes ...string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		slog.Warn("tufrepo: sweep temporary files", "dir", dir, "err", err)
		return
	}
	cutoff := time.Now().Add(-StaleWriteAge)
	for _, e := range ents {
		tmp := false
		for _, pre := range prefixes {
			tmp = tmp || strings.HasPrefix(e.Name(), pre)
		}
		if !tmp || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("tufrepo: sweep temporary files", "file", p, "err", err)
			continue
		}
		slog.Warn("tufrepo: stale temporary file of a killed write removed", "file", p,
			"modified", info.ModTime().UTC().Format(time.RFC3339))
	}
}

// syncDir flushes dir's entries (a new name in it) to disk. A file
// system that cannot sync a folder (EINVAL, ENOTSUP) is not an error.
func syncDir(dir string) error {
	err := durable.SyncDir(dir)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// createOnce creates name with b only if name is free (O_CREATE|O_EXCL),
// synced: the hard link's fallback. fs.ErrExist when taken; a failed
// write removes what it created. A crash before it returns leaves name
// cut short: damaged, which settleTaken removes once StaleWriteAge old.
func createOnce(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	err = durable.SyncClose(f, err)
	if err != nil {
		_ = os.Remove(name)
		return err
	}
	return nil
}

// taken is what a write-once write of b found at its name.
type taken struct {
	name    string
	missing bool // no file there (removed meanwhile)
	same    bool // b itself: a retry
	// damaged: a write cut short (empty, not complete JSON, or a proper
	// prefix of b); stale when not modified for StaleWriteAge.
	damaged, stale bool
	info           fs.FileInfo
}

// inspect reads the file at name that a write-once write of b found.
func inspect(name string, b []byte) (taken, error) {
	t := taken{name: name}
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		t.missing = true
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	if t.info, err = f.Stat(); err != nil {
		return t, fmt.Errorf("read %s: %w", name, err)
	}
	have, err := io.ReadAll(f)
	if err != nil {
		return t, fmt.Errorf("read %s: %w", name, err)
	}
	t.same = bytes.Equal(have, b)
	t.damaged = !t.same && (!json.Valid(have) || len(have) < len(b) && bytes.HasPrefix(b, have))
	t.stale = time.Since(t.info.ModTime()) > StaleWriteAge
	return t, nil
}

// err is the error wrapping ErrVersionTaken for a name taken by other
// bytes (nil for a missing file or b itself, and for a stale damaged
// file, which the write removes).
func (t taken) err() error {
	switch {
	case t.missing, t.same, t.damaged && t.stale:
		return nil
	case t.damaged:
		return fmt.Errorf("%w: %s is damaged (%d bytes, not complete metadata, modified %s): a write in progress or one a crash cut short; the next write of this version removes it once it is %s old, or remove it by hand once no writer runs",
			ErrVersionTaken, t.name, t.info.Size(), t.info.ModTime().UTC().Format(time.RFC3339), StaleWriteAge)
	}
	return fmt.Errorf("%w: %s holds other bytes", ErrVersionTaken, t.name)
}

// clearDamaged removes the stale damaged file t found, and only that
// file: it is renamed to a temporary name (atomically, so of two writers
// clearing it one does), which is then checked to be the very file
// inspected (a file another writer created there meanwhile is put back
// and reported taken) and removed.
func clearDamaged(t taken) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	q := filepath.Join(filepath.Dir(t.name), fmt.Sprintf("%sdamaged-%x-%s", tmpPrefix, rnd, filepath.Base(t.name)))
	if err := os.Rename(t.name, q); errors.Is(err, fs.ErrNotExist) {
		return nil // another writer cleared it
	} else if err != nil {
		return fmt.Errorf("remove damaged %s: %w", t.name, err)
	}
	qi, err := os.Stat(q)
	if err != nil {
		return fmt.Errorf("remove damaged %s: %w", t.name, err)
	}
	if !os.SameFile(qi, t.info) || qi.Size() != t.info.Size() || !qi.ModTime().Equal(t.info.ModTime()) {
		if err := os.Rename(q, t.name); err != nil {
			return fmt.Errorf("%w: %s was written by another writer while being cleared, and could not be put back from %s: %w", ErrVersionTaken, t.name, q, err)
		}
		return fmt.Errorf("%w: %s was written by another writer while being cleared", ErrVersionTaken, t.name)
	}
	slog.Warn("tufrepo: damaged metadata file left by a killed write removed", "file", t.name,
		"bytes", t.info.Size(), "modified", t.info.ModTime().UTC().Format(time.RFC3339))
	if err := os.Remove(q); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove damaged %s: %w", t.name, err)
	}
	return syncDir(filepath.Dir(t.name))
}

// writeFile writes b to name atomically (temporary file, sync, then
// Options.Guard and a rename, then a sync of the folder), mode 0644.
// When once, a hard link instead of the rename puts the file in place
// only if name is free (atomically, also on NFS): a file there with the
// same bytes is kept, with other bytes the write fails (ErrVersionTaken).
// On a file system without hard links (linksWork) the file is created in
// place with O_EXCL instead, under the same rule. A damaged file at name
// (cut short by a killed writer; see taken) is ErrVersionTaken until it
// is StaleWriteAge old, then removed and name written. A Repo's first
// write removes stale temporary files (sweepTmp).
func (r *Repo) writeFile(name string, b []byte, once bool) error {
	dir := filepath.Dir(name)
	if !r.swept {
		r.swept = true
		sweepTmp(dir)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	err = durable.SyncClose(tmp, err)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if r.opt.Guard != nil {
		if err := r.opt.Guard(); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	if !once {
		if err := os.Rename(tmp.Name(), name); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		return syncDir(dir)
	}
	put := func() error {
		if linksWork(dir) {
			return link(tmp.Name(), name)
		}
		return createOnce(name, b)
	}
	// At most: taken by a stale damaged file, cleared, taken again by
	// another writer's file.
	for range 3 {
		err = put()
		if !errors.Is(err, fs.ErrExist) {
			break
		}
		t, ierr := inspect(name, b)
		if ierr != nil {
			return fmt.Errorf("write %s: %w", name, ierr)
		}
		if terr := t.err(); terr != nil || t.same {
			return terr
		}
		if t.damaged {
			if err := clearDamaged(t); err != nil {
				return err
			}
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return syncDir(dir)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
