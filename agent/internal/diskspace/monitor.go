package diskspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultTimeout is how long a Monitor's Sample waits for statfs answers
// when NewMonitor is given zero: a local file system answers in
// microseconds; a hung network mount never does, and a scrape must not hang
// with it.
const DefaultTimeout = 500 * time.Millisecond

// ErrTimeout is wrapped by a Reading's Err when the file system did not
// answer statfs within the Monitor's timeout (the call goes on in the
// background; later Samples wait for that call instead of starting
// another).
var ErrTimeout = errors.New("statfs gave no answer in time")

// Dir is a directory the agent writes, named by its role.
type Dir struct {
	// Role says what the directory holds (e.g. "store", "history",
	// "updates", "data"); unique within a Monitor.
	Role string
	// Path is the directory; Monitors of several roles may share one.
	Path string
}

// Reading is one Dir's room at a Sample.
type Reading struct {
	Dir
	// Usage is zero when Err is set.
	Usage
	// Err says why there is no Usage: statfs failed (e.g. the directory
	// is missing) or wraps ErrTimeout.
	Err error
	// Failures counts the Samples since NewMonitor that gave this Dir an
	// Err, this one included.
	Failures uint64
	// FileSystem is the Usage.Device of the newest Sample since NewMonitor
	// that gave this Dir one (this one's, or an earlier one's while
	// statfs fails): which file system holds the Dir, so that its
	// failures can be told apart per file system too. Empty before the
	// first.
	FileSystem string
}

// Monitor samples the room of a fixed list of directories with a bounded
// wait. Safe for concurrent use; it starts at most one goroutine (one
// statfs call) per distinct path at a time, which ends when statfs
// answers.
type Monitor struct {
	dirs    []Dir
	timeout time.Duration
	log     *slog.Logger
	stat    func(string) (Usage, error) // Stat; tests replace it
	now     func() time.Time

	mu       sync.Mutex
	inflight map[string]*statCall // by path
	state    []dirState           // by index in dirs
}

// dirState is what a Monitor remembers of one Dir between Samples.
type dirState struct {
	failures uint64
	failing  bool
	warned   time.Time // last warning logged
	device   string    // Usage.Device of the last Sample without Err
	// spellWarned: the current run of failures was logged, so its end
	// is logged too.
	spellWarned bool
}

// statCall is one statfs call; u and err are set before done is closed.
type statCall struct {
	done    chan struct{}
	started time.Time
	u       Usage
	err     error
}

// warnEvery spaces a Dir's warnings when its statfs keeps failing and
// recovering.
const warnEvery = time.Minute

// NewMonitor returns a Monitor of dirs whose Samples wait at most timeout
// (zero: DefaultTimeout) for statfs. Every Dir needs a Role and a Path;
// roles must differ. A nil log discards.
func NewMonitor(dirs []Dir, timeout time.Duration, log *slog.Logger) (*Monitor, error) {
	if timeout < 0 {
		return nil, fmt.Errorf("disk space monitor: timeout %s: want zero (default %s) or more", timeout, DefaultTimeout)
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	roles := map[string]bool{}
	for i, d := range dirs {
		switch {
		case d.Role == "":
			return nil, fmt.Errorf("disk space monitor: directory %d (%q): no role", i, d.Path)
		case d.Path == "":
			return nil, fmt.Errorf("disk space monitor: role %q: no path", d.Role)
		case roles[d.Role]:
			return nil, fmt.Errorf("disk space monitor: role %q given twice", d.Role)
		}
		roles[d.Role] = true
	}
	return &Monitor{
		dirs: append([]Dir(nil), dirs...), timeout: timeout, log: log, stat: Stat, now: time.Now,
		inflight: map[string]*statCall{}, state: make([]dirState, len(dirs)),
	}, nil
}

// Dirs returns the monitored directories, in NewMonitor's order.
func (m *Monitor) Dirs() []Dir { return append([]Dir(nil), m.dirs...) }

// Sample returns a Reading of every Dir, in NewMonitor's order. It
// returns within the Monitor's timeout (sooner if ctx ends): a Dir whose
// file system has not answered by then gets an Err wrapping ErrTimeout.
// Each Sample asks statfs anew, except for a path whose earlier call is
// still running: it waits for that one.
func (m *Monitor) Sample(ctx context.Context) []Reading {
	calls := make([]*statCall, len(m.dirs))
	m.mu.Lock()
	for i, d := range m.dirs {
		c := m.inflight[d.Path]
		if c == nil {
			c = &statCall{done: make(chan struct{}), started: m.now()}
			m.inflight[d.Path] = c
			go m.run(d.Path, c)
		}
		calls[i] = c
	}
	m.mu.Unlock()

	timer := time.NewTimer(m.timeout)
	defer timer.Stop()
	var late error // set once the wait is over
	out := make([]Reading, len(m.dirs))
	for i, c := range calls {
		d := m.dirs[i]
		out[i].Dir = d
		if late == nil {
			select {
			case <-c.done:
			case <-timer.C:
				late = ErrTimeout
			case <-ctx.Done():
				late = ctx.Err()
			}
		}
		select {
		case <-c.done:
			out[i].Usage, out[i].Err = c.u, c.err
		default:
			out[i].Err = fmt.Errorf("disk space of %s (%s): statfs running for %s: %w", d.Path, d.Role, m.now().Sub(c.started).Round(time.Millisecond), late)
		}
	}
	m.account(out)
	return out
}

// run makes one statfs call for path and publishes its answer in c.
func (m *Monitor) run(path string, c *statCall) {
	u, err := m.stat(path)
	m.mu.Lock()
	c.u, c.err = u, err
	if m.inflight[path] == c {
		delete(m.inflight, path)
	}
	m.mu.Unlock()
	close(c.done)
}

// account counts the failures of out, fills in their Failures and
// FileSystem, and logs
// the start of a Dir's run of failures (at most every warnEvery) and the
// end of a run it logged.
func (m *Monitor) account(out []Reading) {
	type event struct {
		warn bool
		r    Reading
	}
	var events []event
	now := m.now()
	m.mu.Lock()
	for i := range out {
		st := &m.state[i]
		switch {
		case out[i].Err != nil:
			st.failures++
			if !st.failing {
				st.spellWarned = now.Sub(st.warned) >= warnEvery
				if st.spellWarned {
					st.warned = now
					events = append(events, event{true, out[i]})
				}
			}
			st.failing = true
		case st.failing:
			st.failing = false
			if st.spellWarned {
				events = append(events, event{false, out[i]})
			}
		}
		if out[i].Err == nil && out[i].Device != "" {
			st.device = out[i].Device
		}
		out[i].Failures, out[i].FileSystem = st.failures, st.device
	}
	m.mu.Unlock()
	for _, e := range events {
		if e.warn {
			m.log.Warn("disk space unknown", "dir", e.r.Role, "path", e.r.Path, "err", e.r.Err)
		} else {
			m.log.Info("disk space known again", "dir", e.r.Role, "path", e.r.Path, "free_bytes", e.r.Free)
		}
	}
}
