package prep

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

func TestIDTable(t *testing.T) {
	var ids []string
	for i := range 300 {
		ids = append(ids, fmt.Sprintf("S%d", i))
	}
	ids = append(ids, "Accelerometer1RMS", "Accelerometer2RMS", "Volume Flow RateRMS", "", "x", "é")
	tab := newIDTable(ids)
	for i, id := range ids {
		if got := tab.get(id); got != i {
			t.Errorf("get(%q) = %d, want %d", id, got, i)
		}
	}
	for _, id := range []string{"S300", "s1", "Accelerometer3RMS", "xx", "S", "Accelerometer1RMS "} {
		if got := tab.get(id); got != -1 {
			t.Errorf("get(%q) = %d, want -1", id, got)
		}
	}
	// Every slot collides: lookups still resolve by comparison.
	small := newIDTable([]string{"a"})
	if small.get("a") != 0 || small.get("b") != -1 || len(small.slots) != 4 {
		t.Errorf("small table %+v", small)
	}
}

func TestWallOffset(t *testing.T) {
	start := time.Now() // carries a monotonic reading
	sec, nsec := start.Unix(), int64(start.Nanosecond())
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{start, 0},
		{start.Add(1500 * time.Millisecond), 1.5e9},
		{start.Add(-time.Nanosecond), -1},
		{start.Round(0).Add(59*time.Second + 999999999), 59999999999}, // no monotonic reading
		{start.Add(time.Hour), math.MaxInt64},
		{time.Time{}, math.MinInt64},
	} {
		if got := wallOffset(tc.t, sec, nsec, 62); got != tc.want {
			t.Errorf("wallOffset(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
	// Readings with and without monotonic readings land in the same cells.
	spec := testSpec()
	var mono, wall []reading.Reading
	for i := range 8 {
		at := start.Add(time.Duration(i) * time.Second)
		mono = append(mono, reading.Reading{Sensor: "B", Time: at, Value: float64(i)})
		wall = append(wall, reading.Reading{Sensor: "B", Time: at.Round(0).In(time.FixedZone("X", 3600)), Value: float64(i)})
	}
	w1, _ := Resample(spec, start, mono)
	w2, _ := Resample(spec, start.Round(0), wall)
	sameModelInput(t, w1, w2)
	if w1.Counts.Used != 8 || w2.Counts.Used != 8 {
		t.Errorf("used %d and %d of 8", w1.Counts.Used, w2.Counts.Used)
	}
}
