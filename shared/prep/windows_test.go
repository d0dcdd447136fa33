package prep

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWindowsSliding(t *testing.T) {
	spec := testSpec() // 1 Hz, 8 steps
	spec.StrideSteps = 4
	sc, err := Windows(spec, 999) // cycle ignored for sliding
	if err != nil {
		t.Fatal(err)
	}
	if sc.Period != 4*time.Second || sc.Length != 8*time.Second || !sc.Anchor.IsZero() {
		t.Fatalf("schedule %+v", sc)
	}
	epoch := time.Unix(0, 0).UTC()
	at := func(s int64) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	for _, tc := range []struct {
		t, want time.Time
	}{
		{t0, t0}, // t0 is on a 4 s multiple since 1970
		{t0.Add(time.Nanosecond), t0.Add(4 * time.Second)},
		{t0.Add(-time.Nanosecond), t0},
		{at(-5), at(-4)},
		{at(-8), at(-8)},
	} {
		if got := sc.Next(tc.t); !got.Equal(tc.want) {
			t.Errorf("Next(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
	for _, tc := range []struct {
		t, want time.Time
	}{
		{t0.Add(8 * time.Second), t0},
		{t0.Add(12*time.Second - 1), t0},
		{t0.Add(12 * time.Second), t0.Add(4 * time.Second)},
		{at(0), at(-8)},
		{at(-1), at(-12)},
	} {
		if got, ok := sc.Latest(tc.t); !ok || !got.Equal(tc.want) {
			t.Errorf("Latest(%v) = %v %v, want %v", tc.t, got, ok, tc.want)
		}
	}
	if _, ok := sc.Latest(time.Time{}); ok {
		t.Error("Latest of year 1 should not be representable")
	}
	got := slices.Collect(sc.Starts(t0.Add(-time.Second), t0.Add(20*time.Second)))
	want := []time.Time{t0, t0.Add(4 * time.Second), t0.Add(8 * time.Second), t0.Add(12 * time.Second)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("Starts = %v, want %v", got, want)
	}
	if n := len(slices.Collect(sc.Starts(t0, t0.Add(7*time.Second)))); n != 0 {
		t.Errorf("%d windows in a span shorter than one", n)
	}
	for s := range sc.Starts(t0, t0.Add(time.Hour)) {
		if !s.Equal(t0) {
			t.Error("early break not honoured")
		}
		break
	}
}

func TestWindowsCycle(t *testing.T) {
	spec := testSpec()
	spec.Alignment, spec.StrideSteps = AlignCycle, 0
	sc, err := Windows(spec, 60)
	if err != nil {
		t.Fatal(err)
	}
	sc.Anchor = t0.Add(17 * time.Second) // a known cycle start
	got := slices.Collect(sc.Starts(t0, t0.Add(3*time.Minute)))
	want := []time.Time{t0.Add(17 * time.Second), t0.Add(77 * time.Second), t0.Add(137 * time.Second)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("Starts = %v, want %v", got, want)
	}
	if l, ok := sc.Latest(t0.Add(145 * time.Second)); !ok || !l.Equal(t0.Add(137*time.Second)) {
		t.Errorf("Latest = %v", l)
	}
	if l, _ := sc.Latest(t0.Add(144 * time.Second)); !l.Equal(t0.Add(77 * time.Second)) {
		t.Errorf("Latest before the window completes = %v", l)
	}
	for _, tc := range []struct {
		cycle float64
		want  string
	}{
		{0, "cycle alignment needs the rig's cycle_s in (0, 1e9], got 0"},
		{-1, "got -1"},
		{7.5, "window of 8s (8 steps at 1 Hz) is longer than the rig's 7.5 s cycle"},
	} {
		if _, err := Windows(spec, tc.cycle); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Windows(cycle %v): err = %v, want %q", tc.cycle, err, tc.want)
		}
	}
	spec.Steps = 0
	if _, err := Windows(spec, 60); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("invalid spec: err = %v", err)
	}
}
