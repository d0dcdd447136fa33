package diskspace

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewMonitorRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dirs    []Dir
		timeout time.Duration
		want    string
	}{
		{"no role", []Dir{{Path: "/x"}}, 0, `directory 0 ("/x"): no role`},
		{"no path", []Dir{{Role: "store"}}, 0, `role "store": no path`},
		{"role twice", []Dir{{"store", "/a"}, {"store", "/b"}}, 0, `role "store" given twice`},
		{"negative timeout", nil, -time.Second, "timeout -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewMonitor(tc.dirs, tc.timeout, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewMonitor: %v; want an error with %q", err, tc.want)
			}
		})
	}
}

func TestMonitorSample(t *testing.T) {
	dir := t.TempDir()
	m, err := NewMonitor([]Dir{{"store", dir}, {"history", dir}, {"updates", dir + "/missing"}}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	for n := uint64(1); n <= 2; n++ {
		rs := m.Sample(context.Background())
		if len(rs) != 3 || rs[0].Role != "store" || rs[1].Role != "history" || rs[2].Role != "updates" {
			t.Fatalf("Sample: %+v; want store, history, updates in order", rs)
		}
		for _, r := range rs[:2] {
			if r.Err != nil || r.Size != want.Size || r.Free == 0 || r.Failures != 0 {
				t.Errorf("%s: %+v; want size %d, some free, no error", r.Role, r, want.Size)
			}
		}
		if r := rs[2]; r.Err == nil || errors.Is(r.Err, ErrTimeout) || r.Failures != n || r.Usage != (Usage{}) {
			t.Errorf("missing dir, sample %d: %+v; want a statfs error, %d failures, no usage", n, r, n)
		}
	}
}

// TestMonitorHung: a file system that does not answer costs a Sample its
// timeout, not more; later Samples wait for the same call instead of
// piling up goroutines; its answer, once there, is taken.
func TestMonitorHung(t *testing.T) {
	// The timeout is also how long /b's statfs goroutine has to be
	// scheduled and answer: generous, for a loaded CI machine under -race.
	m, err := NewMonitor([]Dir{{"store", "/a"}, {"history", "/a"}, {"updates", "/b"}}, 300*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var calls atomic.Int32
	m.stat = func(p string) (Usage, error) {
		calls.Add(1)
		if p == "/a" {
			<-release
		}
		return Usage{Free: 1, Size: 2}, nil
	}
	var wg sync.WaitGroup
	for range 4 { // concurrent scrapes
		wg.Go(func() {
			start := time.Now()
			rs := m.Sample(context.Background())
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Sample took %s with a hung file system; want about the 300ms timeout", took)
			}
			for _, r := range rs[:2] {
				if !errors.Is(r.Err, ErrTimeout) || !strings.Contains(r.Err.Error(), "/a") {
					t.Errorf("%s on the hung file system: %v; want ErrTimeout naming /a", r.Role, r.Err)
				}
			}
			if r := rs[2]; r.Err != nil || r.Free != 1 {
				t.Errorf("updates on a healthy file system: %+v", r)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n < 2 || n > 5 { // /a once; /b at most once per Sample
		t.Errorf("%d statfs calls for 4 Samples with /a hung; want one for /a and at most 4 for /b", n)
	}
	if rs := m.Sample(context.Background()); rs[0].Failures != 5 {
		t.Errorf("failures after 5 Samples with /a hung: %d", rs[0].Failures)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs := m.Sample(context.Background())
		if rs[0].Err == nil {
			if rs[0].Free != 1 || rs[1].Free != 1 || rs[0].Failures < 5 {
				t.Errorf("after release: %+v", rs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still no answer for /a after its release: %v", rs[0].Err)
		}
	}
}

func TestMonitorContext(t *testing.T) {
	m, err := NewMonitor([]Dir{{"store", "/a"}}, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	m.stat = func(string) (Usage, error) { <-release; return Usage{}, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if rs := m.Sample(ctx); !errors.Is(rs[0].Err, context.DeadlineExceeded) {
		t.Errorf("Sample with an ending context: %v; want its error", rs[0].Err)
	}
}

// BenchmarkMonitorSample is the cost a scrape adds for the agent's four
// roles on one file system (docs/agent.md, "Metrics").
func BenchmarkMonitorSample(b *testing.B) {
	dir := b.TempDir()
	m, err := NewMonitor([]Dir{{"data", dir}, {"store", dir}, {"history", dir}, {"updates", dir}}, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rs := m.Sample(context.Background()); rs[3].Err != nil {
			b.Fatal(rs[3].Err)
		}
	}
}

// TestMonitorFileSystem: a Reading's FileSystem is the Device of the
// Dir's last answered statfs: none before the first, this Sample's when
// statfs answers, the last one's while it fails (the Usage stays zero),
// and a new one once the directory moves to another file system.
func TestMonitorFileSystem(t *testing.T) {
	m, err := NewMonitor([]Dir{{"store", "/s"}}, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		dev string
		err error
	}
	m.stat = func(string) (Usage, error) {
		if answer.err != nil {
			return Usage{}, answer.err
		}
		return Usage{Free: 1, Size: 2, Device: answer.dev}, nil
	}
	for i, step := range []struct {
		dev  string
		fail bool
		want string
	}{
		{"", true, ""},          // never answered
		{"8:1", false, "8:1"},   // answered
		{"", true, "8:1"},       // failing: still the last one's
		{"", true, "8:1"},       //
		{"0:52", false, "0:52"}, // moved
	} {
		answer.dev, answer.err = step.dev, nil
		if step.fail {
			answer.err = errors.New("statfs /s: input/output error")
		}
		r := m.Sample(context.Background())[0]
		if r.FileSystem != step.want || (r.Err != nil) != step.fail || (step.fail && r.Usage != (Usage{})) {
			t.Errorf("step %d: %+v; want FileSystem %q, failing %v", i, r, step.want, step.fail)
		}
	}
}
