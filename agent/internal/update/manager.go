package update

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/durable"
)

// Canary tries a staged bundle before it is committed. It must not change
// the running model.
type Canary interface {
	// Check runs the bundle in the folder staged on recent windows, next
	// to the bundle in current (the one serving). It returns nil when the
	// staged model passes; an error wrapping ErrNoWindows when it cannot
	// judge yet (the update waits, no attempt is counted); any other error
	// (wrapping ErrCanary for a failed trial) fails the attempt.
	Check(ctx context.Context, staged, current string) error
}

// Activator makes the running agent serve another bundle (the service
// reopens its model). It is called after the current pointer is switched,
// on commit and on rollback; an error on commit switches back.
// After a rollback whose activation failed, each cycle activates the
// installed bundle again until it succeeds.
type Activator interface {
	Activate(ctx context.Context, bundleDir string) error
}

// Reporter receives every state transition, in order, from the goroutine
// running the cycle (Open, Cycle, Run). It must not block for long.
type Reporter interface {
	Report(Transition)
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(Transition)

// Report calls f(t).
func (f ReporterFunc) Report(t Transition) { f(t) }

// Transition is one state change.
type Transition struct {
	From, To StateName
	// Path and Version name the release concerned ("" when none).
	Path, Version string
	// Err is the reason of a failure, refusal, recovery or rollback (nil
	// for a plain step).
	Err error
	At  time.Time
}

// Budget is the link's per-day byte budget, which downloads count
// against: the agent passes its cloud forwarder, so that model downloads
// and uploads share cloud.bandwidth_bytes_per_day. Safe for concurrent use.
type Budget interface {
	// Left returns the bytes that may still be received today
	// (math.MaxInt64: no cap).
	Left() int64
	// Spend counts n bytes received.
	Spend(n int64)
}

// Offers says which release the cloud offers this agent: the offer of
// the last check-in answer (shared/cloudapi.Offer, docs/agent-cloud-api.md
// "Offers"). The agent's service implements it from its cloud forwarder.
// Safe for concurrent use.
type Offers interface {
	// Offer returns the offer of the last check-in answer (nil: it
	// offered none); known is false before the first answer since the
	// agent started (then nothing is started or abandoned: a download in
	// progress waits for the answer); changed is closed when the offer or
	// known changes after this call. The caller must not modify the offer.
	Offer() (o *cloudapi.Offer, known bool, changed <-chan struct{})
}

// Watch bounds the committed model during the watch that follows a
// commit: when, after at least MinRuns runs, the share of failed runs is
// above MaxErrorRate or the share of runs slower than MaxLatency is above
// MaxSlowRate, the Manager rolls back to the previous model by itself.
type Watch struct {
	// Window is how long the watch lasts after a commit (0: 1h).
	Window time.Duration
	// MinRuns is the fewest runs before judging (0: 20).
	MinRuns int
	// MaxErrorRate is the highest acceptable share of failed runs (0: 0.05).
	MaxErrorRate float64
	// MaxLatency is the slowest acceptable run (0: 1s).
	MaxLatency time.Duration
	// MaxSlowRate is the highest acceptable share of runs slower than
	// MaxLatency (0: 0.05).
	MaxSlowRate float64
}

// Options configure a Manager. A zero field takes the default it names.
type Options struct {
	// Dir holds the updater's state (required; the agent uses
	// <agent.data_dir>/update): state.json, metadata/ (the TUF metadata
	// trusted so far, root rotations included), download/ (part files),
	// bundles/ (installed and staged bundles), current (symlink to the
	// bundle to serve).
	Dir string
	// URL is the TUF repository's base URL (required): metadata at
	// URL/N.root.json, URL/timestamp.json..., archives under URL/targets/.
	URL string
	// TrustedRoot is the root metadata the agent was installed with
	// (required). Once a newer root is followed, Dir/metadata/root.json
	// is trusted instead.
	TrustedRoot []byte
	// InstalledDir is the bundle the agent was installed with
	// (model.bundle_dir), served until a release is committed (required).
	InstalledDir string
	// RigType and ConfigDigest are this rig's firmware config's (required).
	RigType, ConfigDigest string
	// Hardware this machine offers (default: [runtime.GOARCH]); a release
	// must list one of them.
	Hardware []string
	// Precision is the model precision the agent opens (model.precision:
	// "" takes a bundle's int8 model when it has one, else fp32): a
	// release whose bundle lacks it is skipped before any download, since
	// the agent could not run it ("": every release fits).
	Precision bundle.Precision
	// AgentVersion is this rig-agent's version; a release with a
	// min_agent_version above it, or any when it is not a semantic
	// version (e.g. "dev"), is skipped.
	AgentVersion string
	// Credential, when set, returns the bearer credential sent as
	// "Authorization: Bearer <credential>" with every request to URL's
	// scheme, host and port (metadata, archives, ranged resumes; never to
	// another host): the agent sets it to its cloud credential when URL is
	// on cloud.url (rig-cloud's /tuf). It is called before every request,
	// so a rotated credential is picked up (nil: no credential sent).
	Credential func() (string, error)
	// Offers, when set, restricts installation to the release the cloud
	// offers (the agent sets it when it has a cloud link): without an
	// offer, a cycle refreshes the metadata and installs nothing; an
	// offered release must pass every check (and its signed version must
	// be the offered one); an offer older than the installed model is an
	// explicit rollback, the only case an older release is installed; an
	// offer withdrawn before the commit abandons the attempt, uncounted.
	// nil: the newest eligible release is installed (no cloud link).
	Offers Offers
	// HTTPClient fetches metadata and archives (default: a client without
	// overall timeout; RequestTimeout and DownloadTimeout bound requests).
	HTTPClient *http.Client
	// RequestTimeout bounds one metadata request (default: 30s).
	RequestTimeout time.Duration
	// DownloadTimeout bounds one archive request; a download cut short is
	// resumed by the next cycle (default: 10m).
	DownloadTimeout time.Duration
	// MaxBundleBytes caps a release archive's signed length (default:
	// 512 MiB); its extraction is capped at 4 times that.
	MaxBundleBytes int64
	// MaxAttempts is how many times one release is tried before it is
	// given up (default: 3).
	MaxAttempts int
	// CheckInterval is the time between cycles of Run, jittered by ±10%
	// (default: 1h).
	CheckInterval time.Duration
	// RetryMin and RetryMax bound Run's backoff after a cycle that a
	// transient error ended (the repository unreachable, a download cut
	// or refused, see Run): the first retry comes after RetryMin, the
	// wait doubles after each such cycle up to RetryMax, each wait
	// jittered up by as much as half, and never later than the next regular check
	// (defaults: DefaultRetryMin, and DefaultRetryMax or CheckInterval
	// when shorter; RetryMax is at most CheckInterval, RetryMin at most
	// RetryMax).
	RetryMin, RetryMax time.Duration
	// Watch bounds the model after a commit.
	Watch Watch
	// Canary tries a staged model before commit (nil: no canary; the agent
	// always sets one).
	Canary Canary
	// Activator switches the running service to a bundle (nil: a switch
	// takes effect when the agent next starts).
	Activator Activator
	// Reporter receives the transitions (nil: none).
	Reporter Reporter
	// Budget, when set, caps the bytes downloaded per day: an archive is
	// fetched only while the budget has bytes left, at most that many per
	// cycle, and resumed when it has more (nil: no cap). An archive's bytes
	// are spent as they arrive, and its download stops when other traffic
	// uses up the day's budget meanwhile. Metadata is
	// counted too, but never held back (it is small, and fresh metadata is
	// what keeps a rig safe).
	Budget Budget
	// FreeSpace returns the bytes free for this process on the file
	// system holding dir (default: FreeSpace, statfs). Before a download
	// and before each file of an extraction (checked as the archive
	// unpacks, in its one pass) the updater wants what that step writes
	// plus DiskReserve free on Dir's file system, which the agent shares
	// with its reading buffer; with less, the cycle ends with ErrDiskFull,
	// no attempt counted, and the next check tries again.
	FreeSpace func(dir string) (int64, error)
	// DiskReserve is the space left free beyond what a download or an
	// extracted file writes (default: DefaultDiskReserve; the config's
	// update.disk_reserve).
	DiskReserve int64
	// Now is the clock, also go-tuf's reference time for expiry (default:
	// time.Now).
	Now func() time.Time
	// Logger (default: slog.Default()).
	Logger *slog.Logger
	// Heartbeat is beaten by Run at least every liveness.Interval while
	// it waits for the next check, by a cycle at each step and as the
	// archive is read (hash check, extraction) and synced, and on its
	// behalf only while a step with a bound of its own runs: a metadata
	// request (RequestTimeout), the download (DownloadTimeout), the
	// canary (two model opens, liveness.ModelOpenBound each) and an
	// activation (a model open, liveness.ModelOpenBound). A cycle hung
	// anywhere else, or past those bounds, stops the beats (nil: none).
	Heartbeat *liveness.Beater
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Dir == "":
		return o, errors.New("update: Options.Dir is required")
	case o.URL == "":
		return o, errors.New("update: Options.URL is required")
	case len(o.TrustedRoot) == 0:
		return o, errors.New("update: Options.TrustedRoot is required")
	case o.InstalledDir == "":
		return o, errors.New("update: Options.InstalledDir is required")
	case o.RigType == "" || o.ConfigDigest == "":
		return o, errors.New("update: Options.RigType and ConfigDigest are required")
	}
	if len(o.Hardware) == 0 {
		o.Hardware = []string{runtime.GOARCH}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.DownloadTimeout <= 0 {
		o.DownloadTimeout = 10 * time.Minute
	}
	if o.MaxBundleBytes <= 0 {
		o.MaxBundleBytes = 512 << 20
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Hour
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	o.RetryMax = min(o.RetryMax, o.CheckInterval)
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	o.RetryMin = min(o.RetryMin, o.RetryMax)
	w := &o.Watch
	if w.Window <= 0 {
		w.Window = time.Hour
	}
	if w.MinRuns <= 0 {
		w.MinRuns = 20
	}
	if w.MaxErrorRate <= 0 {
		w.MaxErrorRate = 0.05
	}
	if w.MaxLatency <= 0 {
		w.MaxLatency = time.Second
	}
	if w.MaxSlowRate <= 0 {
		w.MaxSlowRate = 0.05
	}
	if o.FreeSpace == nil {
		o.FreeSpace = FreeSpace
	}
	if o.DiskReserve <= 0 {
		o.DiskReserve = DefaultDiskReserve
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// Manager runs the update state machine. Open it before the model is
// opened (recovery may switch the model back), serve Current, then call
// Run (or Cycle). Its methods are safe for concurrent use; cycles run one
// at a time.
type Manager struct {
	opts Options
	log  *slog.Logger
	kick chan struct{}
	// origin is Options.URL parsed: requests to its scheme, host and port
	// carry Options.Credential.
	origin *url.URL

	cycleMu sync.Mutex // held for a whole cycle
	// served is the bundle the Activator last made the service serve (at
	// Open: Installed, which the service opens); guarded by cycleMu. A
	// cycle activates Installed again while they differ.
	served string

	mu        sync.Mutex // guards what follows
	rec       Record
	lastCheck *Check
	watch     watchStats
	cycleErrs map[string]uint64 // Status.CycleErrors
	closed    bool              // Close was called
	// downgradesRefused counts the offered downgrades refused
	// (Status.DowngradesRefused); refusedDowngrade is the last one, logged
	// and counted once.
	downgradesRefused uint64
	refusedDowngrade  *cloudapi.Offer
	// retries counts the cycles in a row that a transient error ended, and
	// nextRetry is when Run tries again after the last (zero: at the next
	// regular check); Status.Retries and Status.NextRetry.
	retries   int
	nextRetry time.Time
	// stalled is the release whose download last counted an attempt for
	// adding no byte, and when: further such downloads of it count no
	// attempt until CheckInterval has passed (downloading.run).
	stalled struct {
		path string
		at   time.Time
	}

	// cleanStop is set when Open found the clean-stop marker: the last
	// run stopped in order (see Close); Open only.
	cleanStop bool
}

type watchStats struct {
	Runs, Errors, Slow int
}

// Open loads <dir>/state.json (or starts from Options.InstalledDir) and
// applies the recovery table to what a crash left:
//
//	checking               idle (nothing was changed)
//	downloading            kept: the next cycle refreshes the metadata and resumes the part file
//	verifying              one attempt counted (reading and extracting the archive may have
//	                       crashed the agent); kept, or failed at MaxAttempts
//	staged                 kept: the next cycle runs the canary again
//	canary                 one attempt counted; staged again, or failed at MaxAttempts
//	committing             switched back to the installed model; one attempt counted; staged or failed
//	committed (watching)   kept, one restart counted; at MaxAttempts restarts rolled back
//	                       (a watch is never longer than Watch.Window from the clock's reading)
//	rolling_back           the rollback is finished
//
// Attempts and restarts are counted only after a crash: when the last run
// stopped in order (Close wrote the clean-stop marker), verifying,
// canary and committing go back as above and committed is kept, nothing
// counted. The marker is removed once the recovered state is stored.
//
// Then, when the installed bundle cannot be served on this rig (its files
// damaged or gone, or made for another firmware config: the rig's changed),
// the previous bundle, else InstalledDir, serves instead if it can. After
// an explicit rollback (Bundle.Downgrade) the previous bundle is the
// release being removed: only InstalledDir may serve instead, and when it
// cannot (or is that release) Open fails saying so rather than serve it.
//
// It never calls the Activator: the service opens Current afterwards.
func Open(opts Options) (*Manager, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{o.Dir, filepath.Join(o.Dir, "metadata"), filepath.Join(o.Dir, "download"), filepath.Join(o.Dir, "bundles")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
	}
	m := &Manager{opts: o, log: o.Logger, kick: make(chan struct{}, 1), cycleErrs: map[string]uint64{}}
	if m.origin, err = url.Parse(o.URL); err != nil {
		return nil, fmt.Errorf("update: Options.URL %q: %w", o.URL, err)
	}
	rec, ok, err := loadRecord(m.statePath())
	if err != nil {
		return nil, err
	}
	if !ok {
		man, err := bundle.Load(o.InstalledDir)
		if err != nil {
			return nil, fmt.Errorf("update: installed bundle: %w", err)
		}
		rec = &Record{State: Idle, Attempts: map[string]int{},
			Installed: &Bundle{Dir: o.InstalledDir, Version: man.Version, ManifestDigest: man.Digest()}}
	}
	m.rec = *rec
	_, err = os.Lstat(m.stoppedPath())
	switch {
	case err == nil:
		m.cleanStop = true
	case !os.IsNotExist(err):
		return nil, fmt.Errorf("update: clean-stop marker: %w", err)
	}
	if err := m.recover(); err != nil {
		return nil, err
	}
	// The recovered state is stored (recover): only now may the marker
	// go, and it must be gone before anything of this run can crash the
	// agent (the model's open), or that crash would pass for a clean stop.
	if err := os.Remove(m.stoppedPath()); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("update: clean-stop marker: %w", err)
	}
	if err := durable.SyncDir(o.Dir); err != nil {
		return nil, fmt.Errorf("update: clean-stop marker: %w", err)
	}
	m.served = m.rec.Installed.Dir
	return m, nil
}

func (m *Manager) statePath() string { return filepath.Join(m.opts.Dir, "state.json") }

// stoppedPath is the clean-stop marker, <dir>/stopped: Close writes it,
// Open reads and removes it (see Close).
func (m *Manager) stoppedPath() string { return filepath.Join(m.opts.Dir, "stopped") }

// Close records that the agent stops in order: the next Open finds the
// clean-stop marker (<dir>/stopped, written atomically and synced) and
// counts nothing against the release in progress or under watch, even if
// a cycle was still running (Stop's deadline passed during a slow canary
// or activation, a TensorRT engine build, say): only a start that finds
// no marker (the previous run crashed, was killed or lost power) counts
// an attempt or a watch restart. Call it last when the agent stops, after
// Run has returned or been given up on; the Manager must not be used
// after. A second call does nothing.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	b := fmt.Appendf(nil, "stopped in order at %s in state %s\n", m.opts.Now().UTC().Format(time.RFC3339), m.rec.State)
	if err := writeFileSync(m.stoppedPath(), b); err != nil {
		return fmt.Errorf("update: clean-stop marker: %w", err)
	}
	return nil
}

// recover applies the recovery table (see Open).
func (m *Manager) recover() error {
	r := &m.rec
	from := r.State
	var why error
	// strike counts the crash during what as an attempt: the release is
	// given up at MaxAttempts, else resumed from back.
	strike := func(what StateName, back StateName) {
		r.Attempts[r.Target.Path]++
		why = fmt.Errorf("the agent stopped during %s (attempt %d of %d)", what, r.Attempts[r.Target.Path], m.opts.MaxAttempts)
		r.LastError = why.Error()
		if t := r.Target; r.Attempts[t.Path] >= m.opts.MaxAttempts {
			r.Failed = &Failure{Path: t.Path, Rollout: t.Rollout}
			if t.Release != nil {
				r.Failed.Version = t.Release.Version
			}
			r.State, r.Target = Failed, nil
		} else {
			r.State = back
		}
	}
	switch r.State {
	case Checking:
		r.State = Idle
	case Verifying, Canarying, Committing:
		if r.Target == nil {
			r.State = Idle
			break
		}
		back := Staged
		if r.State == Verifying {
			back = Verifying
		}
		if m.cleanStop {
			// Stopped in order mid-step: not the release's fault.
			r.State = back
			break
		}
		strike(r.State, back)
	case Committed:
		now := m.opts.Now()
		m.clampWatch(r, now)
		if !now.Before(r.WatchUntil) || m.cleanStop {
			break
		}
		r.WatchRestarts++
		if r.WatchRestarts >= m.opts.MaxAttempts && r.Previous != nil {
			why = fmt.Errorf("%w: the agent restarted %d times while watching %s", ErrWatchdog, r.WatchRestarts, r.Installed.Version)
			m.rollBack(why, m.rollbackTo(r))
		}
	case RollingBack:
		why = errors.New(r.LastError)
		m.rollBack(why, m.rollbackTo(r))
	}
	fb, err := m.fallBack(r)
	if err != nil {
		return err
	}
	if fb != nil {
		why = errors.Join(why, fb)
	}
	if err := m.switchTo(r.Installed.Dir); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	// Stored before anything it no longer names is removed: a rollback
	// above drops the installed bundle, which the stored record still
	// names until this write.
	if err := m.save(); err != nil {
		return err
	}
	m.prune(r)
	if from != r.State || why != nil {
		m.report(from, r.State, r.Target, why)
	}
	return nil
}

// servable loads the bundle in dir and says why this rig cannot serve it
// (nil: it can): its files (bundle.Load: every model file's size and
// sha256), its rig type and its firmware-config digest.
func (m *Manager) servable(dir string) (*bundle.Manifest, error) {
	man, err := bundle.Load(dir)
	if err != nil {
		return nil, err
	}
	if man.RigType != m.opts.RigType || man.ConfigDigest != m.opts.ConfigDigest {
		return nil, fmt.Errorf("%w: bundle %s %s is for rig type %q with firmware config %s, this rig is %q with %s",
			ErrMismatch, man.Name, man.Version, man.RigType, man.ConfigDigest, m.opts.RigType, m.opts.ConfigDigest)
	}
	return man, nil
}

// fallBack replaces an installed bundle this rig cannot serve (the
// firmware config changed since its commit, its files are damaged or gone)
// with the previous bundle, else Options.InstalledDir (model.bundle_dir),
// the first that can; the unservable one is kept as Previous (served again
// only through a release's checks) and a watch ends. It returns why (nil:
// the installed bundle is servable, or nothing else is, and the model's
// open then says why). Open only (m.rec not yet shared).
//
// An installed bundle that came by an explicit rollback (Bundle.Downgrade)
// never falls back to Previous, the release the operator is removing: only
// to model.bundle_dir, when it can serve and is not that release (by folder
// or manifest digest; the rollback's own release, intact there, may
// serve). When it cannot, fallBack fails (fatal) rather than serve the
// removed release, and Open refuses to start saying why: the rig serves
// nothing until the operator offers a release or repairs model.bundle_dir.
func (m *Manager) fallBack(r *Record) (why, fatal error) {
	_, bad := m.servable(r.Installed.Dir)
	if bad == nil {
		return nil, nil
	}
	serve := func(c *Bundle, man *bundle.Manifest) error {
		b := *c
		if d := man.Digest(); d != b.ManifestDigest {
			// model.bundle_dir, or a folder replaced in place: not the
			// release it was.
			b = Bundle{Dir: c.Dir, Version: man.Version, ManifestDigest: d}
		}
		why := fmt.Errorf("the installed bundle %s cannot be served (%w): serving %s %s in %s instead", r.Installed.Dir, bad, man.Name, man.Version, c.Dir)
		r.Installed, r.Previous = &b, r.Installed
		if r.State == Committed {
			r.State = Idle
		}
		r.WatchUntil, r.WatchRestarts = time.Time{}, 0
		r.LastError = why.Error()
		return why
	}
	if r.Installed.Downgrade {
		c, man, err := m.bundleDirInstead(r.Previous)
		if err == nil && c.Dir == r.Installed.Dir {
			err = fmt.Errorf("model.bundle_dir %s is the installed bundle", c.Dir)
		}
		if err != nil {
			return nil, fmt.Errorf("update: the installed bundle %s %s (an explicit rollback) cannot be served (%w), %s is being removed by that rollback and is not served again, and %w; offer a release or put a bundle for this rig in model.bundle_dir",
				r.Installed.Version, r.Installed.Dir, bad, previousVersion(r), err)
		}
		return serve(c, man), nil
	}
	cands := []*Bundle{r.Previous, {Dir: m.opts.InstalledDir}}
	for _, c := range cands {
		if c == nil || c.Dir == r.Installed.Dir {
			continue
		}
		man, err := m.servable(c.Dir)
		if err != nil {
			continue
		}
		return serve(c, man), nil
	}
	return nil, nil
}

// bundleDirInstead returns model.bundle_dir (Options.InstalledDir), the
// bundle the agent was installed with, as the bundle to serve instead of
// an explicit rollback's, with its manifest, when it can be served here
// and is none of not (by folder or manifest digest); else why not.
func (m *Manager) bundleDirInstead(not ...*Bundle) (*Bundle, *bundle.Manifest, error) {
	dir := m.opts.InstalledDir
	man, err := m.servable(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("model.bundle_dir %s cannot be served: %w", dir, err)
	}
	d := man.Digest()
	for _, b := range not {
		if b != nil && (b.Dir == dir || b.ManifestDigest == d) {
			return nil, nil, fmt.Errorf("model.bundle_dir %s is %s %s, the explicit rollback's release or the one it removes", dir, man.Name, man.Version)
		}
	}
	return &Bundle{Dir: dir, Version: man.Version, ManifestDigest: d}, man, nil
}

// clampWatch ends the watch of r at most Watch.Window after now, and
// reports whether it moved it. A clock that went back (a rig without a
// battery-backed clock, restarted after a power cut) would otherwise
// stretch the watch by the jump: no newer release or explicit rollback
// checked for, every restart counted against the committed release, until
// the clock caught up (m.mu held or not yet shared).
func (m *Manager) clampWatch(r *Record, now time.Time) bool {
	if last := now.Add(m.opts.Watch.Window); r.WatchUntil.After(last) {
		r.WatchUntil = last
		return true
	}
	return false
}

// rollbackTo returns the bundle a failed watch of r.Installed goes back
// to: Previous, unless the installed bundle came by an explicit rollback
// (Bundle.Downgrade). Then Previous is the release the operator is
// removing, never served again this way: it is model.bundle_dir
// (Options.InstalledDir, the bundle the agent was installed with) when
// that can be served here and is neither of the two (by folder and
// manifest digest); else nil: the explicit rollback's release keeps
// serving, the operator's choice being the only one left. It may load
// model.bundle_dir (hashing its model files: seconds on flash), so it
// takes no lock and must not be called with m.mu held: r is a copy of
// m.rec (Record.clone) once the Manager is shared.
func (m *Manager) rollbackTo(r *Record) *Bundle {
	if !r.Installed.Downgrade {
		return r.Previous
	}
	b, _, err := m.bundleDirInstead(r.Installed, r.Previous)
	if err != nil {
		m.log.Warn("update: nothing but the explicit rollback's release to serve after its failed watch", "err", err)
		return nil
	}
	return b
}

// rollBack ends the watch of the installed release in the record, whose
// bounds were crossed: it makes to (rollbackTo) the installed model with
// no previous, and gives the release up. With to nil (a failed explicit
// rollback with nothing else to serve) the installed release stays and
// only the watch ends, LastError saying why (m.mu held or not yet shared).
func (m *Manager) rollBack(why error, to *Bundle) {
	r := &m.rec
	bad := r.Installed
	r.State, r.Target, r.Failed = Idle, nil, nil
	r.WatchUntil, r.WatchRestarts = time.Time{}, 0
	if to == nil && bad.Downgrade {
		r.LastError = fmt.Sprintf("%v; the explicit rollback to %s keeps serving: model.bundle_dir cannot serve instead and %s is being removed",
			why, bad.Version, previousVersion(r))
		return
	}
	if to != nil {
		r.Installed, r.Previous = to, nil
	}
	if bad.Path != "" {
		r.Attempts[bad.Path] = m.opts.MaxAttempts
	}
	r.LastError = why.Error()
	r.Rollbacks++
}

// previousVersion names r.Previous's version ("none" without one).
func previousVersion(r *Record) string {
	if r.Previous == nil {
		return "none"
	}
	return r.Previous.Version
}

// save persists m.rec (m.mu held or not yet shared).
func (m *Manager) save() error {
	m.rec.Updated = m.opts.Now().UTC()
	if err := saveRecord(m.statePath(), &m.rec); err != nil {
		return fmt.Errorf("update: save state: %w", err)
	}
	return nil
}

// edit changes the record under the lock and persists it.
func (m *Manager) edit(f func(r *Record)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.rec)
	return m.save()
}

func (m *Manager) report(from, to StateName, t *Target, err error) {
	tr := Transition{From: from, To: to, Err: err, At: m.opts.Now()}
	if t != nil {
		tr.Path = t.Path
		if t.Release != nil {
			tr.Version = t.Release.Version
		}
	}
	lvl := slog.LevelInfo
	if err != nil {
		lvl = slog.LevelWarn
	}
	m.log.Log(context.Background(), lvl, "update: transition", "from", from, "to", to, "target", tr.Path, "err", err)
	if m.opts.Reporter != nil {
		m.opts.Reporter.Report(tr)
	}
}

// Current is the folder of the bundle to serve (Installed.Dir); the
// symlink <dir>/current points at it too.
func (m *Manager) Current() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rec.Installed.Dir
}

// Status is a snapshot of the updater for the API and the cloud report.
type Status struct {
	Record
	// LastCheck is the outcome of the last metadata refresh (nil before
	// the first).
	LastCheck *Check
	// WatchRuns, WatchErrors and WatchSlow count the committed model's
	// runs during the watch.
	WatchRuns, WatchErrors, WatchSlow int
	// CycleErrors counts the cycles that ended with an error since Open,
	// by CycleErrorReason (a cycle the context ended is not counted).
	CycleErrors map[string]uint64
	// DowngradesRefused counts the offers of an older release that is not
	// the kept previous bundle refused since Open (each offer once, however
	// many checks refuse it again).
	DowngradesRefused uint64
	// Retries counts the cycles in a row that a transient error ended
	// (Run's backoff, reset by any other outcome), and NextRetry is when
	// Run tries again after the last of them (zero: no retry pending, the
	// next cycle comes at the regular check, a kick or an offer change).
	Retries   int
	NextRetry time.Time
}

// Status returns a copy of the state; the caller owns it.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{Record: m.rec.clone(), WatchRuns: m.watch.Runs, WatchErrors: m.watch.Errors, WatchSlow: m.watch.Slow,
		CycleErrors: maps.Clone(m.cycleErrs), DowngradesRefused: m.downgradesRefused, Retries: m.retries, NextRetry: m.nextRetry}
	if m.lastCheck != nil {
		c := *m.lastCheck
		c.Skipped = slices.Clone(c.Skipped)
		s.LastCheck = &c
	}
	return s
}

// Observe records one run of the serving model (its latency and error)
// for the post-commit watchdog; outside a watch it does nothing. When the
// bounds are crossed it wakes Run, which rolls back. Cheap and
// non-blocking: call it for every run.
func (m *Manager) Observe(latency time.Duration, err error) {
	m.mu.Lock()
	if m.rec.State != Committed || !m.opts.Now().Before(m.rec.WatchUntil) {
		m.mu.Unlock()
		return
	}
	m.watch.Runs++
	if err != nil {
		m.watch.Errors++
	}
	if latency > m.opts.Watch.MaxLatency {
		m.watch.Slow++
	}
	trip := m.tripped() != nil
	m.mu.Unlock()
	if trip {
		m.Kick()
	}
}

// Kick makes Run start a cycle now, or right after the one running. It
// never blocks.
func (m *Manager) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// tripped says why the watch is crossed (nil when it is not; m.mu held).
func (m *Manager) tripped() error {
	w, s := m.opts.Watch, m.watch
	if s.Runs < w.MinRuns {
		return nil
	}
	if r := float64(s.Errors) / float64(s.Runs); r > w.MaxErrorRate {
		return fmt.Errorf("%w: %d of %d runs failed (%.1f%%, the bound is %.1f%%)", ErrWatchdog, s.Errors, s.Runs, 100*r, 100*w.MaxErrorRate)
	}
	if r := float64(s.Slow) / float64(s.Runs); r > w.MaxSlowRate {
		return fmt.Errorf("%w: %d of %d runs took longer than %s (%.1f%%, the bound is %.1f%%)", ErrWatchdog, s.Slow, s.Runs, w.MaxLatency, 100*r, 100*w.MaxSlowRate)
	}
	return nil
}

// DefaultRetryMin and DefaultRetryMax are Options.RetryMin and RetryMax's
// defaults: Run's first wait after a cycle that a transient error ended,
// and the longest (CheckInterval when that is shorter).
const (
	DefaultRetryMin = 5 * time.Second
	DefaultRetryMax = 5 * time.Minute
)

// Run runs a cycle at once, then every CheckInterval (jittered by ±10%),
// and at once when the watchdog trips or the offer changes, until ctx
// ends. A cycle that a transient error ended (retryable: the repository
// unreachable or answering errors, a download cut short or that added no
// byte, too few windows for the canary, stale metadata) is followed by
// another sooner: after RetryMin, doubling after each such cycle in a row
// up to RetryMax, each wait jittered up by as much as half and never later than
// the regular check; any other outcome resets the backoff. A cloud that
// comes back does not wake Run, nor does a repository without offers. A
// download that adds no byte still counts an attempt of its release, but
// at most one per CheckInterval (downloading.run), so retries within
// seconds cannot use up the attempts of a release during a short outage.
// A failed attempt (verification, canary, activation: state failed), a
// refused offer (failed, incompatible), the day's byte budget used up
// (ErrBudget), a disk without room for the next step (ErrDiskFull) and a
// committed release wait for the next check. Status.Retries and
// Status.NextRetry show the backoff. Errors are logged; it returns nil
// when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	var retry time.Duration    // the last short wait; 0: none
	_, _, changed := m.offer() // nil without Offers: never ready
	beat := m.opts.Heartbeat
	tick := time.NewTicker(liveness.Interval)
	defer tick.Stop()
	for {
		beat.Beat()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			continue // waiting: beat
		case <-t.C:
		case <-m.kick:
		case <-changed:
		}
		// The channel of a change after this point, taken before the
		// cycle reads the offer: a change while the cycle runs starts the
		// next one at once (one that reached the cycle makes that next
		// cycle find nothing new).
		_, _, changed = m.offer()
		err := m.Cycle(ctx) // beats at each step (Options.Heartbeat)
		beat.Beat()
		if err != nil && ctx.Err() == nil {
			m.log.Warn("update: cycle", "err", err)
		}
		d := time.Duration(float64(m.opts.CheckInterval) * (0.9 + 0.2*rand.Float64()))
		m.mu.Lock()
		m.nextRetry = time.Time{}
		switch {
		case m.rec.State == Committed:
			retry = 0
			if until := m.rec.WatchUntil.Sub(m.opts.Now()); until > 0 && until < d {
				d = until + time.Second
			}
		case retryable(err, m.rec.State):
			retry = min(max(2*retry, m.opts.RetryMin), m.opts.RetryMax)
			d = min(d, time.Duration(float64(retry)*(1+0.5*rand.Float64())))
			m.retries++
			m.nextRetry = m.opts.Now().Add(d)
			m.log.Info("update: retrying after a transient error", "in", d, "retries", m.retries)
		default:
			retry = 0
		}
		if retry == 0 {
			m.retries = 0
		}
		m.mu.Unlock()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(d)
	}
}

// retryable reports whether a cycle that ended with err in state st is
// tried again after Run's short backoff: a transient error, not a failed
// attempt or refused offer (st failed or incompatible), nor the day's byte
// budget or a full disk, which take longer than seconds to change.
func retryable(err error, st StateName) bool {
	return err != nil && st != Failed && st != Incompatible && !errors.Is(err, ErrBudget) && !errors.Is(err, ErrDiskFull) &&
		!errors.Is(err, context.Canceled)
}

// offer returns the current offer (Offers.Offer; nil, true, nil without
// Options.Offers).
func (m *Manager) offer() (o *cloudapi.Offer, known bool, changed <-chan struct{}) {
	if m.opts.Offers == nil {
		return nil, true, nil
	}
	return m.opts.Offers.Offer()
}
