package fleetset_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/fleetset"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// MiniRig is a firmware config with two sensors (1 Hz and 2 Hz), a 4 s
// cycle, a condition target and a flag.
const MiniRig = `api_version: hydrognn/v1
rig_type: mini-rig
topology_version: "1"
equipment: {id: mini-1}
operation: {cycle_s: 4}
components:
  - {id: tank, type: reservoir}
  - {id: pump, type: pump, nominal: {displacement_cc: 10, speed_rpm: 1500}}
connections:
  - {from: tank, to: pump, line: suction}
  - {from: pump, to: tank, line: return}
sensors:
  - {id: P1, kind: pressure, unit: bar, rate_hz: 1, range: {min: 0, max: 250}, component: pump, port: out, mqtt: {topic: rig/p1, codec: json}}
  - {id: T1, kind: temperature, unit: C, rate_hz: 2, range: {min: 0, max: 100}, component: tank, mqtt: {topic: rig/t1, codec: json}}
targets:
  - name: pump
    component: pump
    kind: condition
    classes:
      - {value: 2, label: severe leakage, health: 0.3, fault: leakage}
      - {value: 0, label: no leakage, health: 1}
  - name: stable
    kind: flag
    classes:
      - {value: 0, label: stable}
      - {value: 1, label: not stable}
`

func miniConfig(t testing.TB) *rig.Config {
	t.Helper()
	cfg, err := rig.Parse("mini.yaml", []byte(MiniRig))
	require.NoError(t, err)
	return cfg
}

// readings of P1 (1 Hz) and T1 (2 Hz) over [from, to), in time order,
// except the seconds in gaps.
func readings(from, to time.Time, gaps ...time.Time) []reading.Reading {
	var out []reading.Reading
	for ts := from; ts.Before(to); ts = ts.Add(500 * time.Millisecond) {
		skip := false
		for _, g := range gaps {
			if !ts.Before(g) && ts.Before(g.Add(time.Second)) {
				skip = true
			}
		}
		if skip {
			continue
		}
		if ts.Nanosecond() == 0 {
			out = append(out, reading.Reading{Sensor: "P1", Time: ts, Value: 100 + float64(ts.Unix()%60)})
		}
		out = append(out, reading.Reading{Sensor: "T1", Time: ts, Value: 40})
	}
	return out
}

func scan(rs []reading.Reading) func(func(reading.Reading) error) error {
	return func(fn func(reading.Reading) error) error {
		for _, r := range rs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestBuilder(t *testing.T) {
	cfg := miniConfig(t)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	b, err := fleetset.New(cfg, fleetset.Options{Dir: dir})
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, map[string]float64{"pump": 0, "stable": 0}, b.Labels(), "normal classes")

	// Rig a: 5 whole cycles from t0+1s (the first partial window and the
	// last are left out), one with a 2 s gap (skipped: one missing cell is
	// held, two are not).
	from, to := t0.Add(time.Second), t0.Add(25*time.Second)
	rs := readings(from, to, t0.Add(9*time.Second), t0.Add(10*time.Second))
	require.NoError(t, b.AddRig("a", from, to, scan(rs)))
	// Rig b: one cycle.
	require.NoError(t, b.AddRig("b", t0, t0.Add(4*time.Second), scan(readings(t0, t0.Add(4*time.Second)))))
	assert.Equal(t, []fleetset.RigStats{{RigID: "a", Readings: int64(len(rs)), Windows: 4, Skipped: 1}, {RigID: "b", Readings: 12, Windows: 1}}, b.Rigs())

	require.NoError(t, b.Finish())
	idx, err := os.ReadFile(filepath.Join(dir, fleetset.WindowsFile))
	require.NoError(t, err)
	assert.Equal(t, "a\t2025-03-01T12:00:04Z\na\t2025-03-01T12:00:12Z\na\t2025-03-01T12:00:16Z\na\t2025-03-01T12:00:20Z\nb\t2025-03-01T12:00:00Z\n", string(idx))

	// The trainer reads it: 5 windows, P1's values as sent, normal labels.
	ds, err := train.LoadUCI(dir, cfg, 1)
	require.NoError(t, err)
	require.Equal(t, 5, ds.Len())
	assert.Equal(t, []float64{104, 105, 106, 107}, ds.Grids[0][0])
	assert.Equal(t, []float64{40, 40, 40, 40}, ds.Grids[0][1])
	assert.Equal(t, []int{1, 0}, ds.Labels[0], "class indices of pump 0 (no leakage) and stable 0")
}

func TestBuilderLabelsAndLimits(t *testing.T) {
	cfg := miniConfig(t)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	b, err := fleetset.New(cfg, fleetset.Options{Labels: map[string]float64{"pump": 2}, MaxWindows: 2, Dir: t.TempDir()})
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, map[string]float64{"pump": 2, "stable": 0}, b.Labels())
	err = b.AddRig("a", t0, t0.Add(time.Minute), scan(readings(t0, t0.Add(time.Minute))))
	require.ErrorIs(t, err, fleetset.ErrTooMany)

	for _, tc := range []struct {
		labels map[string]float64
		want   string
	}{
		{map[string]float64{"valve": 1}, `"valve" is not a target`},
		{map[string]float64{"pump": 1}, "1 is not a class of target \"pump\" (classes [2 0])"},
	} {
		_, err := fleetset.New(cfg, fleetset.Options{Labels: tc.labels})
		require.ErrorIs(t, err, fleetset.ErrLabel)
		assert.Contains(t, err.Error(), tc.want)
	}
	noCycle, err := rig.Parse("x.yaml", []byte(strings.Replace(MiniRig, "operation: {cycle_s: 4}\n", "", 1)))
	require.NoError(t, err)
	_, err = fleetset.New(noCycle, fleetset.Options{})
	require.ErrorIs(t, err, fleetset.ErrConfig)

	emptyDir := t.TempDir()
	empty, err := fleetset.New(cfg, fleetset.Options{Dir: emptyDir})
	require.NoError(t, err)
	require.NoError(t, empty.AddRig("a", t0, t0.Add(time.Minute), scan(nil)))
	assert.Error(t, empty.Finish())
	empty.Close()
	ents, err := os.ReadDir(emptyDir)
	require.NoError(t, err)
	assert.Empty(t, ents)

	// MaxBytes: the window passing it fails the rig, and Close leaves no
	// file.
	capDir := t.TempDir()
	capped, err := fleetset.New(cfg, fleetset.Options{Dir: capDir, MaxBytes: 200})
	require.NoError(t, err)
	err = capped.AddRig("a", t0, t0.Add(time.Minute), scan(readings(t0, t0.Add(time.Minute))))
	require.ErrorIs(t, err, fleetset.ErrTooLarge)
	assert.Contains(t, err.Error(), "more than 200 bytes after")
	capped.Close()
	ents, err = os.ReadDir(capDir)
	require.NoError(t, err)
	assert.Empty(t, ents)

	// No folder: New only checks.
	check, err := fleetset.New(cfg, fleetset.Options{})
	require.NoError(t, err)
	assert.ErrorContains(t, check.AddRig("a", t0, t0.Add(time.Minute), scan(readings(t0, t0.Add(time.Minute)))), "Options.Dir")
}

// A large build's heap does not grow with its windows: they are on disk
// before Finish (the sensor files' temporary names hold them), not in
// memory.
func TestBuilderStreams(t *testing.T) {
	cfg, err := rig.Parse("x.yaml", []byte(strings.Replace(MiniRig, "cycle_s: 4", "cycle_s: 60", 1)))
	require.NoError(t, err)
	const windows = 3000 // 3000 x (60 + 60) cells: 2.9 MB as float64s
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	end := t0.Add(windows * time.Minute)
	dir := t.TempDir()
	b, err := fleetset.New(cfg, fleetset.Options{Dir: dir})
	require.NoError(t, err)
	defer b.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err = b.AddRig("a", t0, end, func(fn func(reading.Reading) error) error {
		for ts := t0; ts.Before(end); ts = ts.Add(500 * time.Millisecond) {
			if ts.Nanosecond() == 0 {
				if err := fn(reading.Reading{Sensor: "P1", Time: ts, Value: float64(ts.Unix() % 251)}); err != nil {
					return err
				}
			}
			if err := fn(reading.Reading{Sensor: "T1", Time: ts, Value: 40}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	runtime.GC()
	runtime.ReadMemStats(&after)
	require.Equal(t, windows, b.Windows())
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, grew, int64(1<<20), "heap grew %d bytes over %d windows", grew, windows)

	// Before Finish the windows are in the temporary files already.
	var onDisk int64
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		fi, err := e.Info()
		require.NoError(t, err)
		onDisk += fi.Size()
	}
	assert.Greater(t, onDisk, b.Bytes()-int64(len(ents))<<16, "all but the buffers (64 KiB a file) are on disk")
	require.NoError(t, b.Finish())
	ds, err := train.LoadUCI(dir, cfg, 1)
	require.NoError(t, err)
	assert.Equal(t, windows, ds.Len())
}
