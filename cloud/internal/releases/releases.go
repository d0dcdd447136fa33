package releases

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/durable"
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/tarball"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

// LockKey is the PostgreSQL advisory lock every replica holds (for one
// transaction) while it changes the repository.
const LockKey int64 = 0x7475665f7265706f // "tuf_repo"

// ErrLockLost is returned (wrapped) when this replica finds, immediately
// before writing a metadata file, that it no longer holds LockKey (its
// database connection was lost, which releases the lock): it writes
// nothing more, and another replica may be writing.
var ErrLockLost = errors.New("releases: the repository lock was lost")

// LockCheckTimeout bounds each check that this replica still holds
// LockKey (holds). The check is not cancelled with the request (a
// publication finishes its writes), so without a bound a half-open
// database connection would block it for ever while holding the
// Service's mutex: the re-signer, later publications and shutdown would
// wait behind it. A check that times out counts as the lock lost
// (ErrLockLost): nothing more is written.
const LockCheckTimeout = 10 * time.Second

// ErrNotFound is returned (wrapped) by BundleFormat for a path that is
// not a release of the current targets metadata.
var ErrNotFound = errors.New("no such release")

// ErrUnreadable is returned (wrapped) by BundleFormat when the release's
// archive cannot be read for its manifest: missing, not a tar.gz, no
// root manifest.json, a manifest that does not decode.
var ErrUnreadable = errors.New("the release's archive has no readable bundle manifest")

// ErrTooLarge is returned by Publish when the archive is larger than
// Options.MaxArchiveBytes; nothing is stored.
var ErrTooLarge = errors.New("the release archive is larger than releases.max_archive_bytes")

// Options configure a Service. Zero durations and sizes take the defaults
// noted (those of rig-cloud's config).
type Options struct {
	// RepoDir is the repository folder (required).
	RepoDir string
	// KeysDir holds the snapshot and timestamp keys, and no root or
	// targets key (required).
	KeysDir string
	// CheckInterval is how often Run checks the expiries (0: 10m).
	CheckInterval time.Duration
	// TimestampExpiry and SnapshotExpiry are the validity of what the
	// Service signs (0: 24h and 168h).
	TimestampExpiry, SnapshotExpiry time.Duration
	// TimestampRefresh and SnapshotRefresh: a role is re-signed once it
	// has less than this left (0: 12h and 72h). Re-signing the snapshot
	// re-signs the timestamp too.
	TimestampRefresh, SnapshotRefresh time.Duration
	// MaxArchiveBytes caps a published archive (0: 2GiB).
	MaxArchiveBytes int64
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Log receives a line per re-signing and publication (nil: none).
	Log *slog.Logger
}

// Service serves and signs the repository for one rig-cloud replica. It
// is safe for concurrent use; several replicas may share the folder.
type Service struct {
	pool *pgxpool.Pool
	opt  Options

	resigned  *prometheus.CounterVec
	failures  *prometheus.CounterVec
	expires   *prometheus.GaugeVec
	published prometheus.Counter

	mu sync.Mutex // serialises this replica's writers

	lockCheck time.Duration // LockCheckTimeout (tests shorten it)
}

// New checks the repository (it opens, the keys folder holds the
// snapshot and timestamp keys and no root or targets key) and returns its
// Service. pool serialises the writers of every replica.
func New(pool *pgxpool.Pool, o Options) (*Service, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.CheckInterval, 10*time.Minute)
	def(&o.TimestampExpiry, 24*time.Hour)
	def(&o.SnapshotExpiry, 7*24*time.Hour)
	def(&o.TimestampRefresh, 12*time.Hour)
	def(&o.SnapshotRefresh, 72*time.Hour)
	if o.MaxArchiveBytes <= 0 {
		o.MaxArchiveBytes = 2 << 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.RepoDir == "" || o.KeysDir == "" {
		return nil, errors.New("releases: the repository and online keys folders are required (releases.repo_dir, releases.online_keys_dir)")
	}
	s := &Service{pool: pool, opt: o, lockCheck: LockCheckTimeout,
		resigned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_tuf_resigned_total",
			Help: "Online TUF roles re-signed by this replica, by role (snapshot, timestamp) and reason (expiry, release, stale: the targets were ahead of the snapshot)."}, []string{"role", "reason"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_tuf_errors_total",
			Help: "Failed re-signings (resign) and refused or failed publications (publish) of the TUF repository."}, []string{"op"}),
		expires: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rig_cloud_tuf_expires_timestamp_seconds",
			Help: "When each TUF role's current metadata expires (Unix time), as this replica last read it."}, []string{"role"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "rig_cloud_tuf_releases_published_total",
			Help: "Releases (new targets) published through this replica (POST /v1/releases)."}),
	}
	r, err := s.open(nil)
	if err != nil {
		return nil, err
	}
	if off := r.OfflineKeys(); len(off) > 0 {
		return nil, fmt.Errorf("releases: %s holds %s keys: rig-cloud must hold only the snapshot and timestamp keys (the targets key stays with the release manager, the root keys offline)",
			o.KeysDir, strings.Join(off, " and "))
	}
	s.observe(r)
	return s, nil
}

// open reads the repository; guard (nil for readers) is called before
// each file written (tufrepo.Options.Guard).
func (s *Service) open(guard func() error) (*tufrepo.Repo, error) {
	r, err := tufrepo.Open(s.opt.RepoDir, s.opt.KeysDir, tufrepo.Options{Now: s.opt.Now, Guard: guard,
		Expiry: tufrepo.Expiry{Snapshot: s.opt.SnapshotExpiry, Timestamp: s.opt.TimestampExpiry}})
	if err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	return r, nil
}

// Dir returns the repository folder.
func (s *Service) Dir() string { return s.opt.RepoDir }

// Describe implements prometheus.Collector.
func (s *Service) Describe(ch chan<- *prometheus.Desc) {
	s.resigned.Describe(ch)
	s.failures.Describe(ch)
	s.expires.Describe(ch)
	s.published.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *Service) Collect(ch chan<- prometheus.Metric) {
	s.resigned.Collect(ch)
	s.failures.Collect(ch)
	s.expires.Collect(ch)
	s.published.Collect(ch)
}

func (s *Service) observe(r *tufrepo.Repo) {
	for _, role := range tufrepo.Roles {
		s.expires.WithLabelValues(role).Set(float64(r.Expires(role).Unix()))
	}
}

// locked runs fn on the freshly read repository while holding LockKey
// (waiting for it when wait, else returning false at once when another
// replica holds it).
func (s *Service) locked(ctx context.Context, wait bool, fn func(*tufrepo.Repo) error) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return false, fmt.Errorf("releases: lock the repository: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if wait {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", LockKey); err != nil {
			return false, fmt.Errorf("releases: lock the repository: %w", err)
		}
	} else {
		var got bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", LockKey).Scan(&got); err != nil {
			return false, fmt.Errorf("releases: lock the repository: %w", err)
		}
		if !got {
			return false, nil
		}
	}
	// Not cancelled with ctx: a publication whose client went away
	// finishes its writes rather than stopping halfway. Bounded by
	// lockCheck: a connection that stopped answering is a lost lock.
	r, err := s.open(func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.lockCheck)
		defer cancel()
		return holds(cctx, tx)
	})
	if err != nil {
		return true, err
	}
	err = fn(r)
	s.observe(r)
	if err != nil {
		return true, err
	}
	// Committing releases the lock; the files are written already.
	return true, tx.Commit(context.WithoutCancel(ctx))
}

// holds returns nil when tx's session still holds LockKey, asked on that
// connection, else an error wrapping ErrLockLost (also when the query
// fails, its deadline included). PostgreSQL releases the
// lock when the session ends (a dropped connection, a terminated backend)
// while this replica may still be writing; the repository calls holds
// before each file it writes. The check and the write are not atomic: the
// versioned files are created only when free (tufrepo.ErrVersionTaken),
// so even a writer that lost the lock after its check cannot replace what
// another signed.
func holds(ctx context.Context, tx pgx.Tx) error {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
		AND pid = pg_backend_pid() AND granted AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)`,
		LockKey>>32, LockKey&0xffffffff).Scan(&ok)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLockLost, err)
	}
	if !ok {
		return fmt.Errorf("%w: this session no longer holds it", ErrLockLost)
	}
	return nil
}

// due says which online roles need re-signing at now: those close to
// expiry, and the snapshot (with the timestamp) when it is behind the
// targets (a publication that failed halfway: the release becomes
// visible, and a retry finds it released).
func (s *Service) due(r *tufrepo.Repo, now time.Time) (snapshot, timestamp bool) {
	snapshot = r.Expires(metadata.SNAPSHOT).Sub(now) < s.opt.SnapshotRefresh || r.SnapshotStale()
	timestamp = snapshot || r.Expires(metadata.TIMESTAMP).Sub(now) < s.opt.TimestampRefresh
	return snapshot, timestamp
}

// Check re-signs the online roles that are due: the snapshot (and the
// timestamp with it) when it has less than SnapshotRefresh left, else the
// timestamp alone when it has less than TimestampRefresh left. It reads
// the repository without the lock first, so replicas with nothing to do
// never touch the database; when another replica holds the lock, this one
// leaves the work to it. It reports which roles it re-signed.
func (s *Service) Check(ctx context.Context) ([]string, error) {
	s.sweep()
	r, err := s.open(nil)
	if err != nil {
		s.failures.WithLabelValues("resign").Inc()
		return nil, err
	}
	s.observe(r)
	if snap, ts := s.due(r, s.opt.Now()); !snap && !ts {
		return nil, nil
	}
	var done []string
	_, err = s.locked(ctx, false, func(r *tufrepo.Repo) error {
		snap, ts := s.due(r, s.opt.Now()) // another replica may have done it
		reason := "expiry"
		if r.SnapshotStale() {
			reason = "stale" // the targets ahead of the snapshot
		}
		switch {
		case snap:
			if err := r.Refresh(); err != nil {
				return err
			}
			done = []string{metadata.SNAPSHOT, metadata.TIMESTAMP}
		case ts:
			if err := r.RefreshTimestamp(); err != nil {
				return err
			}
			done = []string{metadata.TIMESTAMP}
		}
		for _, role := range done {
			s.resigned.WithLabelValues(role, reason).Inc()
			s.opt.Log.Info("tuf metadata re-signed", "role", role, "version", r.Versions()[role],
				"expires", r.Expires(role).UTC().Format(time.RFC3339), "reason", reason)
		}
		return nil
	})
	if err != nil {
		s.failures.WithLabelValues("resign").Inc()
		return nil, err
	}
	return done, nil
}

// StaleAfter is the age past which Check removes a staged archive: one
// left by a replica that crashed mid-publication (an upload lasts at most
// blob.upload_timeout, at most 24h).
const StaleAfter = 25 * time.Hour

// sweep removes staged archives older than StaleAfter.
func (s *Service) sweep() {
	files, _ := filepath.Glob(filepath.Join(s.opt.RepoDir, ".incoming", "archive-*"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && s.opt.Now().Sub(st.ModTime()) > StaleAfter {
			if os.Remove(f) == nil {
				s.opt.Log.Warn("stale staged release archive removed", "file", f, "modified", st.ModTime().UTC().Format(time.RFC3339))
			}
		}
	}
}

// Run checks at once, then every CheckInterval (with up to a tenth of it
// added at random, so that replicas spread out) until ctx ends. A failed
// check is logged and retried at the next one.
func (s *Service) Run(ctx context.Context) {
	for {
		if _, err := s.Check(ctx); err != nil && ctx.Err() == nil {
			s.opt.Log.Error("tuf re-signing failed; retried at the next check", "err", err,
				"timestamp_expires", s.expiry(metadata.TIMESTAMP), "next_check", s.opt.CheckInterval.String())
		}
		d := s.opt.CheckInterval + time.Duration(rand.Int64N(int64(s.opt.CheckInterval)/10+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
	}
}

func (s *Service) expiry(role string) string {
	r, err := s.open(nil)
	if err != nil {
		return "unknown"
	}
	return r.Expires(role).UTC().Format(time.RFC3339)
}

// Published is the answer to a publication.
type Published struct {
	// Path, Length and SHA256 (hex) are the new target's (absent when
	// the targets were only re-signed).
	Path   string `json:"path,omitempty"`
	Length int64  `json:"length,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Release is its release metadata (the target's custom object).
	Release *release.Target `json:"release,omitempty"`
	// Versions are the repository's role versions after it.
	Versions map[string]int64 `json:"versions"`
}

// Publish stages archive (at most MaxArchiveBytes, else ErrTooLarge) and
// hands it with targets to tufrepo.Repo.Publish under the lock: targets
// must be the next targets metadata, signed offline with the targets key,
// adding the one target archive is. With a nil archive, targets must add
// no target: the release manager's re-signing of the targets
// (tufrepo.ResignTargets). Refusals wrap tufrepo.ErrRefused; nothing is
// written then.
func (s *Service) Publish(ctx context.Context, targets []byte, archive io.Reader) (*Published, error) {
	p, err := s.publish(ctx, targets, archive)
	if err != nil {
		s.failures.WithLabelValues("publish").Inc()
	}
	return p, err
}

func (s *Service) publish(ctx context.Context, targets []byte, archive io.Reader) (*Published, error) {
	staged := ""
	if archive != nil {
		var err error
		if staged, err = s.stage(archive); err != nil {
			return nil, err
		}
		defer os.Remove(staged)
	}
	var out *Published
	_, err := s.locked(ctx, true, func(r *tufrepo.Repo) error {
		rel, tf, err := r.Publish(targets, staged)
		if err != nil {
			return err
		}
		v := r.Versions()
		out = &Published{Release: rel, Versions: v}
		for _, role := range []string{metadata.SNAPSHOT, metadata.TIMESTAMP} {
			s.resigned.WithLabelValues(role, "release").Inc()
		}
		if tf == nil {
			s.opt.Log.Info("targets re-signed offline published", "targets_version", v[metadata.TARGETS],
				"targets_expires", r.Expires(metadata.TARGETS).UTC().Format(time.RFC3339),
				"snapshot_version", v[metadata.SNAPSHOT], "timestamp_version", v[metadata.TIMESTAMP])
			return nil
		}
		out.Path, out.Length, out.SHA256 = tf.Path, tf.Length, hex.EncodeToString(tf.Hashes["sha256"])
		s.published.Inc()
		s.opt.Log.Info("release published", "path", tf.Path, "bytes", tf.Length, "sha256", out.SHA256,
			"targets_version", v[metadata.TARGETS], "snapshot_version", v[metadata.SNAPSHOT], "timestamp_version", v[metadata.TIMESTAMP])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stage copies archive (at most MaxArchiveBytes) into a file of the
// repository's file system and returns its name.
func (s *Service) stage(archive io.Reader) (string, error) {
	// Staged in the repository's file system (so the final step is a
	// rename), in a hidden folder no route serves.
	stage := filepath.Join(s.opt.RepoDir, ".incoming")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return "", fmt.Errorf("releases: stage the archive: %w", err)
	}
	f, err := os.CreateTemp(stage, "archive-*")
	if err != nil {
		return "", fmt.Errorf("releases: stage the archive: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(archive, s.opt.MaxArchiveBytes+1))
	if err == nil && n > s.opt.MaxArchiveBytes {
		err = ErrTooLarge
	}
	err = durable.SyncClose(f, err)
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// File is a file of the repository that clients may fetch.
type File struct {
	// Path is its path on disk.
	Path string
	// Immutable is true for versioned metadata and targets (their names
	// change with their content); false for timestamp.json.
	Immutable bool
	// ETag is the target's sha256 (hex) for a target, else "".
	ETag string
}

var (
	versionedMeta = regexp.MustCompile(`^[1-9][0-9]{0,18}\.(root|snapshot|targets)\.json$`)
	segment       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$`)
	hashedName    = regexp.MustCompile(`^([0-9a-f]{64})\.`)
)

// Metadata maps a metadata name clients request to its file: N.root.json,
// N.snapshot.json, N.targets.json (consistent snapshots) and
// timestamp.json; false for any other name.
func (s *Service) Metadata(name string) (File, bool) {
	switch {
	case name == "timestamp.json":
		return File{Path: filepath.Join(s.opt.RepoDir, name)}, true
	case versionedMeta.MatchString(name):
		return File{Path: filepath.Join(s.opt.RepoDir, name), Immutable: true}, true
	}
	return File{}, false
}

// Target maps a target's request path below targets/ (slash-separated,
// as go-tuf requests it: <rig_type>/<sha256>.<name>) to its file; false
// for a path that could leave the folder or name a hidden file: empty
// segments, segments starting with a dot ("..", staging files), or other
// than letters, digits and ._+-.
func (s *Service) Target(p string) (File, bool) {
	parts := strings.Split(p, "/")
	if len(parts) > 8 {
		return File{}, false
	}
	for _, seg := range parts {
		if !segment.MatchString(seg) {
			return File{}, false
		}
	}
	f := File{Path: filepath.Join(append([]string{s.opt.RepoDir, "targets"}, parts...)...), Immutable: true}
	if m := hashedName.FindStringSubmatch(parts[len(parts)-1]); m != nil {
		f.ETag = m[1]
	}
	return f, true
}

// Releases returns the releases of the current targets metadata by target
// path, with their release metadata (httpapi.Catalog, for rollouts). It
// reads the repository without a lock: files are replaced atomically. A
// target whose custom metadata does not decode is left out.
func (s *Service) Releases(ctx context.Context) (map[string]*release.Target, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := s.open(nil)
	if err != nil {
		return nil, err
	}
	out := map[string]*release.Target{}
	for p, tf := range r.Targets() {
		t, err := release.FromTargetFile(tf)
		if err != nil {
			s.opt.Log.Warn("release metadata not decoded", "path", p, "err", err)
			continue
		}
		out[p] = t
	}
	return out, nil
}

// BundleFormat returns the manifest format (format_version) of the
// bundle in release path's archive (httpapi.Catalog, for rollouts: only
// agents that read it are offered the release). The format is not in
// the release metadata, which agents decode strictly, so it is read from
// the archive's manifest.json: tarball.Write puts it before the model
// files, so little of the archive is read. ErrNotFound wraps a path
// that is not a current target.
func (s *Service) BundleFormat(ctx context.Context, p string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r, err := s.open(nil)
	if err != nil {
		return 0, err
	}
	tf, ok := r.Targets()[p]
	if !ok {
		return 0, fmt.Errorf("releases: %s: %w", p, ErrNotFound)
	}
	// The consistent-snapshot name clients fetch it by.
	f, ok := s.Target(path.Dir(p) + "/" + hex.EncodeToString(tf.Hashes["sha256"]) + "." + path.Base(p))
	if !ok {
		return 0, fmt.Errorf("releases: %s is not a target path: %w", p, ErrUnreadable)
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return 0, fmt.Errorf("releases: archive of %s: %w: %w", p, ErrUnreadable, err)
	}
	defer fh.Close()
	data, err := tarball.ReadFile(ctxReader{ctx, fh}, bundle.ManifestFile, bundle.MaxManifestSize)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return 0, fmt.Errorf("releases: manifest of %s: %w", p, cerr)
		}
		return 0, fmt.Errorf("releases: manifest of %s: %w: %w", p, ErrUnreadable, err)
	}
	v, err := bundle.ManifestFormat(data)
	if err != nil {
		return 0, fmt.Errorf("releases: manifest of %s: %w: %w", p, ErrUnreadable, err)
	}
	return v, nil
}

// ctxReader reads r until ctx ends: BundleFormat's walk of an archive
// without a manifest (which reads it to its end) stops with the request.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
