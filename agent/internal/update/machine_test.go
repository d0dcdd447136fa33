package update

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func TestResumeDownload(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	cut := true
	f.intercept = func(w http.ResponseWriter, r *http.Request, file string) bool {
		if !cut {
			return false
		}
		// The link drops after 1000 bytes of a full response.
		b, _ := os.ReadFile(file)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:1000])
		return true
	}
	a := f.open(nil)
	err := a.Cycle(t.Context())
	if !errors.Is(err, ErrTruncated) || a.Status().State != Downloading {
		t.Fatalf("cut download: %v, state %s", err, a.Status().State)
	}
	if a.Status().Attempts[a.Status().Target.Path] != 0 {
		t.Errorf("a download that made progress counted an attempt")
	}
	// The agent restarts; the next cycle resumes from byte 1000.
	cut = false
	b := f.open(nil)
	if err := b.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := b.Status(); st.State != Committed || st.Installed.Version != "1.1.0" {
		t.Fatalf("after resume: %+v", st.Record)
	}
	reqs := f.archiveRequests()
	if len(reqs) != 2 || !strings.HasSuffix(reqs[1], "bytes=1000-") {
		t.Errorf("archive requests %q, want a full one then bytes=1000-", reqs)
	}
}

func TestAttemptsBounded(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	a := f.open(nil)
	var failures []Transition
	a.Manager.opts.Reporter = ReporterFunc(func(tr Transition) {
		if tr.To == Failed {
			failures = append(failures, tr)
		}
	})
	a.canary.set(fmt.Errorf("%w: 3 of 40 outputs not finite", ErrCanary))
	for i := 1; i <= 3; i++ {
		err := a.Cycle(t.Context())
		if !errors.Is(err, ErrCanary) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		st := a.Status()
		if st.State != Failed || st.Attempts[path] != i || st.Target != nil || !strings.Contains(st.LastError, "not finite") {
			t.Fatalf("attempt %d: %+v", i, st.Record)
		}
		if ents, _ := os.ReadDir(filepath.Join(f.dir, "bundles")); len(ents) != 0 {
			t.Errorf("staged bundle kept after a failed canary: %v", ents)
		}
	}
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := a.Status()
	if st.LastCheck.Pick != nil || len(st.LastCheck.Skipped) != 1 || !strings.Contains(st.LastCheck.Skipped[0].Reason, "given up after 3") {
		t.Errorf("fourth check: %+v", st.LastCheck)
	}
	if a.canary.calls != 3 || a.Current() != f.factory {
		t.Errorf("canary calls %d, current %s", a.canary.calls, a.Current())
	}
	if len(failures) != 3 || failures[0].From != Canarying || failures[0].Path != path || failures[0].Version != "1.1.0" || !errors.Is(failures[0].Err, ErrCanary) {
		t.Errorf("reported failures %+v", failures)
	}
	// A newer release is tried.
	f.release("1.2.0", nil, nil)
	a.canary.set(nil)
	if err := a.Cycle(t.Context()); err != nil || a.Status().Installed.Version != "1.2.0" {
		t.Errorf("newer release: %v, %s", err, a.Status().Installed.Version)
	}
}

func TestCanaryWaitsForWindows(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	a := f.open(nil)
	a.canary.set(fmt.Errorf("%w: 3 of 32", ErrNoWindows))
	for range 2 {
		if err := a.Cycle(t.Context()); !errors.Is(err, ErrNoWindows) {
			t.Fatal(err)
		}
		if st := a.Status(); st.State != Staged || len(st.Attempts) != 0 {
			t.Fatalf("%+v", st.Record)
		}
	}
	a.canary.set(nil)
	if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed {
		t.Fatal(err, a.Status().State)
	}
	if n := len(f.archiveRequests()); n != 1 {
		t.Errorf("%d archive downloads, want 1 (staged kept)", n)
	}
}

// stage runs a fixture until 1.1.0 is staged (the canary has no windows).
func stage(t *testing.T) (*fixture, *agent) {
	t.Helper()
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	a := f.open(nil)
	a.canary.set(ErrNoWindows)
	if err := a.Cycle(t.Context()); !errors.Is(err, ErrNoWindows) {
		t.Fatal(err)
	}
	return f, a
}

// crash rewrites the stored state as a crash in state s would leave it.
func crash(t *testing.T, f *fixture, s StateName, edit func(*Record)) {
	t.Helper()
	rec, _, err := loadRecord(filepath.Join(f.dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	rec.State = s
	if edit != nil {
		edit(rec)
	}
	if err := saveRecord(filepath.Join(f.dir, "state.json"), rec); err != nil {
		t.Fatal(err)
	}
}

func TestRecovery(t *testing.T) {
	t.Run("canary", func(t *testing.T) {
		f, a := stage(t)
		path := a.Status().Target.Path
		for i := 1; i <= 3; i++ {
			crash(t, f, Canarying, nil)
			b := f.open(nil)
			st := b.Status()
			if st.Attempts[path] != i || b.Current() != f.factory {
				t.Fatalf("restart %d: %+v", i, st.Record)
			}
			if i < 3 && st.State != Staged || i == 3 && (st.State != Failed || st.Target != nil) {
				t.Fatalf("restart %d: state %s", i, st.State)
			}
			if i < 3 && !slices.Equal(b.transitions(), []string{"canary>staged!"}) {
				t.Errorf("transitions %v", b.transitions())
			}
		}
	})
	t.Run("committing", func(t *testing.T) {
		f, a := stage(t)
		staged := a.Status().Target.Staged
		// The crash came after the switch, before committed was stored.
		if err := a.switchTo(staged); err != nil {
			t.Fatal(err)
		}
		crash(t, f, Committing, nil)
		b := f.open(nil)
		st := b.Status()
		if st.State != Staged || b.Current() != f.factory || st.Attempts[st.Target.Path] != 1 {
			t.Fatalf("%+v", st.Record)
		}
		if link, _ := os.Readlink(filepath.Join(f.dir, "current")); link != f.factory {
			t.Errorf("current -> %s, want switched back", link)
		}
		if len(b.act.dirs) != 0 {
			t.Errorf("Open activated %v", b.act.dirs)
		}
		// The next cycle commits the staged release.
		if err := b.Cycle(t.Context()); err != nil || b.Status().State != Committed {
			t.Fatalf("%v %s", err, b.Status().State)
		}
	})
	t.Run("downloading and verifying", func(t *testing.T) {
		for _, s := range []StateName{Downloading, Verifying} {
			f := newFixture(t, "1.0.0")
			f.release("1.1.0", nil, nil)
			f.intercept = func(w http.ResponseWriter, r *http.Request, file string) bool {
				b, _ := os.ReadFile(file)
				w.Write(b[:len(b)-1])
				return true
			}
			a := f.open(nil)
			if err := a.Cycle(t.Context()); !errors.Is(err, ErrTruncated) {
				t.Fatal(err)
			}
			f.intercept = nil
			// A half-extracted staging folder from the crash.
			os.MkdirAll(filepath.Join(f.dir, "bundles", ".staging-123", "x"), 0o755)
			crash(t, f, s, nil)
			b := f.open(nil)
			if ents, _ := os.ReadDir(filepath.Join(f.dir, "bundles")); len(ents) != 0 {
				t.Errorf("%s: staging leftovers kept: %v", s, ents)
			}
			if err := b.Cycle(t.Context()); err != nil || b.Status().State != Committed {
				t.Fatalf("%s: %v %s", s, err, b.Status().State)
			}
			reqs := f.archiveRequests()
			if !strings.Contains(reqs[len(reqs)-1], "bytes=") {
				t.Errorf("%s: not resumed: %q", s, reqs)
			}
		}
	})
	t.Run("committed restarts", func(t *testing.T) {
		f := newFixture(t, "1.0.0")
		path := f.release("1.1.0", nil, nil)
		a := f.open(nil)
		if err := a.Cycle(t.Context()); err != nil {
			t.Fatal(err)
		}
		newDir := a.Current()
		for i := 1; i <= 3; i++ {
			b := f.open(nil)
			st := b.Status()
			if i < 3 && (b.Current() != newDir || st.WatchRestarts != i) {
				t.Fatalf("restart %d: %+v", i, st.Record)
			}
			if i == 3 && (b.Current() != f.factory || st.State != Idle || st.Attempts[path] != 3 || !strings.Contains(st.LastError, "restarted 3 times")) {
				t.Fatalf("restart 3: %+v", st.Record)
			}
		}
	})
	t.Run("rolling back", func(t *testing.T) {
		f := newFixture(t, "1.0.0")
		f.release("1.1.0", nil, nil)
		a := f.open(nil)
		if err := a.Cycle(t.Context()); err != nil {
			t.Fatal(err)
		}
		crash(t, f, RollingBack, func(r *Record) { r.LastError = "watchdog: 9 of 20 runs failed" })
		b := f.open(nil)
		if st := b.Status(); b.Current() != f.factory || st.State != Idle || st.Previous != nil || st.LastError != "watchdog: 9 of 20 runs failed" {
			t.Fatalf("%+v", st.Record)
		}
		if link, _ := os.Readlink(filepath.Join(f.dir, "current")); link != f.factory {
			t.Errorf("current -> %s", link)
		}
	})
}

func TestWatchdogRollsBack(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	a := f.open(func(o *Options) { o.Watch = Watch{MinRuns: 10, MaxErrorRate: 0.2, MaxLatency: 50 * time.Millisecond} })
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	newDir := a.Current()
	// Healthy runs, then failures: 3 of 10 is above 20%.
	for i := range 10 {
		var err error
		if i >= 7 {
			err = errors.New("infer: output not finite")
		}
		a.Observe(time.Millisecond, err)
	}
	select {
	case <-a.kick:
	default:
		t.Fatal("the watchdog did not wake Run")
	}
	err := a.Cycle(t.Context())
	if !errors.Is(err, ErrWatchdog) || !strings.Contains(err.Error(), "3 of 10 runs failed") {
		t.Fatalf("rollback: %v", err)
	}
	st := a.Status()
	if a.Current() != f.factory || st.State != Idle || st.Attempts[path] != 3 {
		t.Fatalf("%+v", st.Record)
	}
	if !slices.Equal(a.act.dirs, []string{newDir, f.factory}) {
		t.Errorf("activations %v", a.act.dirs)
	}
	if _, err := os.Stat(newDir); !os.IsNotExist(err) {
		t.Errorf("rolled-back bundle kept: %v", err)
	}
	tr := a.transitions()
	if tr[len(tr)-2] != "committed>rolling_back!" || tr[len(tr)-1] != "rolling_back>idle!" {
		t.Errorf("transitions %v", tr)
	}
	// The rolled-back release is not tried again.
	if err := a.Cycle(t.Context()); err != nil || a.Status().LastCheck.Pick != nil {
		t.Errorf("after rollback: %v %+v", err, a.Status().LastCheck)
	}

	// Slow runs trip it too.
	f2 := newFixture(t, "1.0.0")
	f2.release("1.1.0", nil, nil)
	b := f2.open(func(o *Options) { o.Watch = Watch{MinRuns: 5, MaxLatency: 50 * time.Millisecond} })
	if err := b.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b.Observe(80*time.Millisecond, nil)
	}
	if err := b.Cycle(t.Context()); !errors.Is(err, ErrWatchdog) || !strings.Contains(err.Error(), "longer than 50ms") {
		t.Fatalf("slow: %v", err)
	}
}

func TestActivateFailureSwitchesBack(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	a := f.open(nil)
	a.act.fail = map[string]error{}
	a.canary.set(ErrNoWindows)
	a.Cycle(t.Context())
	staged := a.Status().Target.Staged
	a.act.fail[staged] = errors.New("session: out of memory")
	a.canary.set(nil)
	err := a.Cycle(t.Context())
	if !errors.Is(err, ErrActivate) || a.Current() != f.factory || a.Status().State != Failed {
		t.Fatalf("%v, current %s, state %s", err, a.Current(), a.Status().State)
	}
	if !slices.Equal(a.act.dirs, []string{staged, f.factory}) {
		t.Errorf("activations %v", a.act.dirs)
	}
	if link, _ := os.Readlink(filepath.Join(f.dir, "current")); link != f.factory {
		t.Errorf("current -> %s", link)
	}
}

func TestStaleMetadataBlocksCommit(t *testing.T) {
	f, a := stage(t)
	a.canary.set(nil)
	// The canary takes longer than the timestamp lives.
	a.Manager.opts.Canary = canaryFunc(func() error { a.clock.Add(25 * time.Hour); return nil })
	if err := a.Cycle(t.Context()); !errors.Is(err, ErrStale) || a.Status().State != Staged || a.Current() != f.factory {
		t.Fatalf("%v %s", err, a.Status().State)
	}
}

type canaryFunc func() error

func (c canaryFunc) Check(_ context.Context, _, _ string) error { return c() }

func TestRootRotationFollowed(t *testing.T) {
	f := newFixture(t, "1.0.0")
	if err := f.repo.Rotate("root", 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Rotate("targets", 0, 0); err != nil {
		t.Fatal(err)
	}
	f.release("1.1.0", nil, nil)
	a := f.open(nil) // trusts root 1 only
	if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed {
		t.Fatalf("%v %s", err, a.Status().State)
	}
	b, err := os.ReadFile(filepath.Join(f.dir, "metadata", "root.json"))
	if err != nil || !strings.Contains(string(b), `"version": 3`) && !strings.Contains(string(b), `"version":3`) {
		t.Errorf("trusted root not root 3: %v", err)
	}
	// A damaged cached root falls back to the trust anchor and follows
	// the chain again.
	os.WriteFile(filepath.Join(f.dir, "metadata", "root.json"), []byte("{"), 0o644)
	a.clock.Add(2 * time.Hour)
	f.release("1.2.0", nil, nil)
	if err := a.Cycle(t.Context()); err != nil || a.Status().Installed.Version != "1.2.0" {
		t.Fatalf("after a damaged cached root: %v %s", err, a.Status().Installed.Version)
	}
}

func TestReplayedMetadataRefused(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	oldTS, err := os.ReadFile(filepath.Join(f.repo.Dir(), "timestamp.json"))
	if err != nil {
		t.Fatal(err)
	}
	f.release("1.2.0", nil, nil)
	a := f.open(nil)
	if err := a.Cycle(t.Context()); err != nil || a.Status().Installed.Version != "1.2.0" {
		t.Fatalf("%v %s", err, a.Status().Installed.Version)
	}
	// After the watch, the server (or a man in the middle) replays the
	// older timestamp: the agent remembers the newer one.
	a.clock.Add(2 * time.Hour)
	os.WriteFile(filepath.Join(f.repo.Dir(), "timestamp.json"), oldTS, 0o644)
	err = a.Cycle(t.Context())
	var bad *metadata.ErrBadVersionNumber
	if !errors.Is(err, ErrMetadata) || !errors.As(err, &bad) || a.Status().Installed.Version != "1.2.0" {
		t.Fatalf("replayed timestamp: %v, installed %s", err, a.Status().Installed.Version)
	}
	// So does an agent restarted since.
	b := f.open(func(o *Options) { o.Now = a.clock.Now })
	if err := b.Cycle(t.Context()); !errors.As(err, &bad) {
		t.Errorf("after restart: %v", err)
	}
}

// stopActivator is an Activator whose first activation of a folder
// other than keep finds the agent stopping: it cancels the cycle's
// context and refuses, as the service's Activate does after its stop.
type stopActivator struct {
	fakeActivator
	keep   string
	cancel context.CancelFunc
}

func (s *stopActivator) Activate(ctx context.Context, dir string) error {
	if err := s.fakeActivator.Activate(ctx, dir); err != nil {
		return err
	}
	if dir != s.keep && s.cancel != nil {
		s.cancel()
		s.cancel = nil
		return errors.New("the agent is stopping")
	}
	return nil
}

// TestStopDuringCommit: the agent stopping while it commits is not the
// release's failure: back to staged, no attempt counted, nothing reported
// as failed, the previous model current; the next start commits it.
func TestStopDuringCommit(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	a := f.open(nil)
	ctx, cancel := context.WithCancel(t.Context())
	a.Manager.opts.Activator = &stopActivator{keep: f.factory, cancel: cancel}
	if err := a.Cycle(ctx); err == nil {
		t.Fatal("a cycle stopped during its commit returned no error")
	}
	st := a.Status()
	failed := slices.ContainsFunc(a.transitions(), func(s string) bool { return strings.HasSuffix(s, ">failed") })
	if st.State != Staged || st.Target == nil || st.Target.Path != path || len(st.Attempts) != 0 || failed {
		t.Fatalf("after the stop: state %s, target %+v, attempts %v, transitions %v", st.State, st.Target, st.Attempts, a.transitions())
	}
	if a.Current() != f.factory {
		t.Errorf("current %s, want the factory bundle back", a.Current())
	}
	b := f.open(func(o *Options) { o.Now = a.clock.Now })
	if err := b.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := b.Status(); st.State != Committed || st.Installed.Version != "1.1.0" {
		t.Errorf("after a restart: %+v", st.Record)
	}
}

// TestStalledDownloadAttempts: a target the server never delivers a byte
// of is given up after MaxAttempts cycles a check interval apart, each
// counted once.
func TestStalledDownloadAttempts(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	f.mu.Lock()
	f.intercept = func(w http.ResponseWriter, _ *http.Request, _ string) bool {
		http.Error(w, "stalled", http.StatusInternalServerError)
		return true
	}
	f.mu.Unlock()
	a := f.open(func(o *Options) { o.MaxAttempts = 3 })
	for i := 1; i <= 3; i++ {
		if i > 1 {
			a.clock.Add(time.Hour) // Options.CheckInterval's default
		}
		if err := a.Cycle(t.Context()); err == nil {
			t.Fatalf("cycle %d: no error", i)
		}
		if n := a.Status().Attempts[path]; n != i {
			t.Fatalf("after cycle %d: %d attempts counted", i, n)
		}
	}
	if st := a.Status(); st.State != Failed || !strings.Contains(st.LastError, "attempt 3 of 3") {
		t.Errorf("after 3 cycles: state %s, last error %q", st.State, st.LastError)
	}
}
