package update

import (
	"errors"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// dayBudget is a Budget with a settable allowance.
type dayBudget struct {
	mu          sync.Mutex
	left, spent int64
}

func (b *dayBudget) Left() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

func (b *dayBudget) Spend(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left -= n
	b.spent += n
}

func (b *dayBudget) set(left int64) {
	b.mu.Lock()
	b.left = left
	b.mu.Unlock()
}

// TestBudget: a download stops at the day's budget with the part kept and
// no attempt counted, asks only for the bytes the budget allows, and
// resumes from there when the budget has more; metadata counts too.
func TestBudget(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	b := &dayBudget{left: 4096}
	a := f.open(func(o *Options) { o.Budget = b })
	err := a.Cycle(t.Context())
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("cycle with 4096 bytes of budget: %v, want ErrBudget", err)
	}
	st := a.Status()
	if st.State != Downloading || st.Attempts[path] != 0 {
		t.Fatalf("after the budget ran out: state %s, attempts %d", st.State, st.Attempts[path])
	}
	fi, err := os.Stat(a.partPath(st.Target.SHA256))
	if err != nil || fi.Size() <= 0 || fi.Size() >= st.Target.Length || b.Left() != 0 {
		t.Fatalf("part file %v (%v), target %d bytes, budget left %d", fi, err, st.Target.Length, b.Left())
	}
	reqs := f.archiveRequests()
	if len(reqs) != 1 || !strings.HasSuffix(reqs[0], "bytes=0-"+itoa(fi.Size()-1)) {
		t.Errorf("archive requests %v: want one bounded by the budget", reqs)
	}
	// Nothing left: no request at all.
	if err := a.Cycle(t.Context()); !errors.Is(err, ErrBudget) || len(f.archiveRequests()) != 1 {
		t.Fatalf("cycle with no budget: %v, requests %v", err, f.archiveRequests())
	}
	// A new day: resumed from the part and committed.
	b.set(math.MaxInt64 / 2)
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Committed || st.Installed.Version != "1.1.0" {
		t.Fatalf("after the budget allowed: %+v", st.Record)
	}
	reqs = f.archiveRequests()
	if last := reqs[len(reqs)-1]; !strings.HasSuffix(last, "bytes="+itoa(fi.Size())+"-") {
		t.Errorf("resumed with %q, want a range from %d", last, fi.Size())
	}
	if b.spent <= fi.Size() {
		t.Errorf("spent %d bytes: the metadata and the rest of the archive are not counted", b.spent)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPrecision: with model.precision set, a release whose bundle lacks
// that precision is skipped before any download (the agent could not run
// it); one that has it is installed.
func TestPrecision(t *testing.T) {
	f := newFixture(t, "1.0.0")
	fp32Only := f.release("1.1.0", nil, func(m *bundle.Manifest) {
		m.Models = slices.DeleteFunc(m.Models, func(mf bundle.Model) bool { return mf.Precision == bundle.INT8 })
	})
	a := f.open(func(o *Options) { o.Precision = bundle.INT8 })
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := a.Status()
	if st.State != Idle || st.LastCheck.Pick != nil || len(f.archiveRequests()) != 0 {
		t.Fatalf("state %s, pick %v, archive requests %v", st.State, st.LastCheck.Pick, f.archiveRequests())
	}
	want := Skip{fp32Only, "precisions [fp32] do not include int8 (model.precision)"}
	if !slices.Contains(st.LastCheck.Skipped, want) {
		t.Errorf("skipped %v, want %v", st.LastCheck.Skipped, want)
	}
	f.release("1.2.0", nil, nil)
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Committed || st.Installed.Version != "1.2.0" {
		t.Fatalf("release with both precisions: %+v", st.Record)
	}
}
