package uci_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset"
	"github.com/hydrognn/hydrognn/shared/dataset/uci"
)

// realDir returns the real 1 Hz UCI copy, or skips.
func realDir(tb testing.TB) string {
	tb.Helper()
	d, err := dataset.Dir()
	if err != nil {
		tb.Skipf("real data not found (%v): set %s to the shared data folder to run this", err, dataset.EnvDir)
	}
	dir := filepath.Join(d, "uci-hydraulic-1hz")
	if _, err := os.Stat(filepath.Join(dir, "PS1.txt")); err != nil {
		tb.Skipf("real data not found: %v", err)
	}
	return dir
}

func TestReadReal(t *testing.T) {
	dir := realDir(t)
	set, err := uci.Read(dir, nil, uci.Targets)
	if err != nil {
		t.Fatal(err)
	}
	if set.Cycles != 1723 || len(set.Sensors) != 17 || len(set.Data) != 17 {
		t.Fatalf("got %d cycles, %d sensors", set.Cycles, len(set.Sensors))
	}
	for i, id := range set.Sensors {
		if len(set.Data[i]) != 1723 || set.Samples(i) != 60 {
			t.Errorf("%s: %d cycles x %d samples, want 1723 x 60", id, len(set.Data[i]), set.Samples(i))
		}
	}
	if len(set.Profile) != 1723 || len(set.Profile[0]) != 5 {
		t.Fatalf("profile %d x %d", len(set.Profile), len(set.Profile[0]))
	}
	if got := set.Sensor("PS1")[0][0]; got != 169.78499999999997 {
		t.Errorf("PS1[0][0] = %v", got)
	}
	if p := set.Profile[0]; p[0] != 3 || p[1] != 73 || p[2] != 2 || p[3] != 130 || p[4] != 0 {
		t.Errorf("profile[0] = %v", p)
	}
	if len(set.CycleIDs) != 1723 {
		t.Fatalf("%d cycle ids", len(set.CycleIDs))
	}
	for i, id := range set.CycleIDs {
		if id < 1 || id > 2205 || i > 0 && id <= set.CycleIDs[i-1] {
			t.Fatalf("cycle id %d at line %d out of order or range", id, i+1)
		}
	}

	// Write and read back: the same bits.
	out := t.TempDir()
	if err := uci.Write(out, set); err != nil {
		t.Fatal(err)
	}
	back, err := uci.Read(out, nil, uci.Targets)
	if err != nil {
		t.Fatal(err)
	}
	equalSets(t, back, set)
	// A subset of sensors, no profile.
	sub, err := uci.Read(dir, []string{"TS1", "CE"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Profile != nil || len(sub.Sensors) != 2 || sub.Sensor("CE")[5][7] != set.Sensor("CE")[5][7] {
		t.Errorf("subset read wrong")
	}
}

func equalSets(t *testing.T, got, want *uci.Set) {
	t.Helper()
	if got.Cycles != want.Cycles || strings.Join(got.Sensors, ",") != strings.Join(want.Sensors, ",") {
		t.Fatalf("got %d cycles of %v, want %d of %v", got.Cycles, got.Sensors, want.Cycles, want.Sensors)
	}
	eq := func(name string, a, b [][]float64) {
		if len(a) != len(b) {
			t.Fatalf("%s: %d rows, want %d", name, len(a), len(b))
		}
		for i := range a {
			if len(a[i]) != len(b[i]) {
				t.Fatalf("%s row %d: %d values, want %d", name, i, len(a[i]), len(b[i]))
			}
			for j := range a[i] {
				if math.Float64bits(a[i][j]) != math.Float64bits(b[i][j]) {
					t.Fatalf("%s[%d][%d] = %v, want %v", name, i, j, a[i][j], b[i][j])
				}
			}
		}
	}
	for i, id := range want.Sensors {
		eq(id, got.Data[i], want.Data[i])
	}
	eq("profile", got.Profile, want.Profile)
	if len(got.CycleIDs) != len(want.CycleIDs) || (got.CycleIDs == nil) != (want.CycleIDs == nil) {
		t.Fatalf("cycle ids %d, want %d", len(got.CycleIDs), len(want.CycleIDs))
	}
	for i := range got.CycleIDs {
		if got.CycleIDs[i] != want.CycleIDs[i] {
			t.Fatalf("cycle id %d = %d, want %d", i, got.CycleIDs[i], want.CycleIDs[i])
		}
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	set := &uci.Set{
		Sensors: []string{"PS1", "FS1", "sim_x.2"},
		Cycles:  3,
		Data: [][][]float64{
			{{1, 2.5}, {-3e-300, math.MaxFloat64}, {1.0 / 3, math.Copysign(0, -1)}},
			{{1}, {2}, {3}},
			{{1e6, 1e21, 1234567.125}, {5e-324, -1, 2}, {3, 4, 5}},
		},
		Profile:  [][]float64{{3, 73}, {20, 100}, {100, 90}},
		CycleIDs: []int{7, 8, 1000},
	}
	dir := t.TempDir()
	if err := uci.Write(dir, set); err != nil {
		t.Fatal(err)
	}
	got, err := uci.Read(dir, set.Sensors, 2)
	if err != nil {
		t.Fatal(err)
	}
	equalSets(t, got, set)
	b, _ := os.ReadFile(filepath.Join(dir, "PS1.txt"))
	if want := "1\t2.5\n-3e-300\t1.7976931348623157e+308\n0.3333333333333333\t-0\n"; string(b) != want {
		t.Errorf("PS1.txt = %q, want %q", b, want)
	}
	// Overwrite in place, without cycles.
	set.CycleIDs = nil
	os.Remove(filepath.Join(dir, uci.CyclesFile))
	if err := uci.Write(dir, set); err != nil {
		t.Fatal(err)
	}
	got, err = uci.Read(dir, set.Sensors, 2)
	if err != nil {
		t.Fatal(err)
	}
	equalSets(t, got, set)
	if ents, _ := os.ReadDir(dir); len(ents) != 4 {
		t.Errorf("%d files left in %s (temporary files?)", len(ents), dir)
	}
}

func TestWriteRejects(t *testing.T) {
	good := func() *uci.Set {
		return &uci.Set{Sensors: []string{"A"}, Cycles: 2, Data: [][][]float64{{{1, 2}, {3, 4}}}, Profile: [][]float64{{1}, {2}}}
	}
	cases := []struct {
		name string
		mod  func(*uci.Set)
		want string
	}{
		{"nan", func(s *uci.Set) { s.Data[0][1][0] = math.NaN() }, "A.txt row 2 column 1: value NaN is not finite"},
		{"ragged", func(s *uci.Set) { s.Data[0][1] = []float64{1} }, "A.txt row 2 has 1 columns, row 1 has 2"},
		{"rows", func(s *uci.Set) { s.Cycles = 3 }, "A.txt has 2 rows, want 3 cycles"},
		{"profile rows", func(s *uci.Set) { s.Profile = s.Profile[:1] }, "profile.txt has 1 rows"},
		{"cycle ids", func(s *uci.Set) { s.CycleIDs = []int{1} }, "1 cycle ids for 2 cycles"},
		{"bad id", func(s *uci.Set) { s.Sensors[0] = "../A" }, `sensor id "../A"`},
		{"clash", func(s *uci.Set) { s.Sensors[0] = "profile" }, "clashes with profile.txt"},
		{"matrices", func(s *uci.Set) { s.Data = nil }, "1 sensors but 0 data matrices"},
		{"empty row", func(s *uci.Set) { s.Data[0][0] = nil }, "A.txt row 1 is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.mod(s)
			err := uci.Write(t.TempDir(), s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadBad(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		sensors []string
		targets int
		want    string
	}{
		{"missing file", map[string]string{"A.txt": "1\n"}, []string{"A", "B"}, 0, "B.txt: no such file"},
		{"bad value", map[string]string{"A.txt": "1\t2\n3\tx4\n"}, []string{"A"}, 0, `A.txt line 2 column 2: "x4" is not a decimal number`},
		{"nan", map[string]string{"A.txt": "NaN\n"}, []string{"A"}, 0, `A.txt line 1 column 1: "NaN" is not a decimal number`},
		{"overflow", map[string]string{"A.txt": "1e999\n"}, []string{"A"}, 0, `A.txt line 1 column 1: "1e999" is out of the float64 range`},
		{"empty value", map[string]string{"A.txt": "1\t\t2\n"}, []string{"A"}, 0, "A.txt line 1 column 2: empty value"},
		{"ragged", map[string]string{"A.txt": "1\t2\n3\n"}, []string{"A"}, 0, "A.txt line 2 has 1 columns, line 1 has 2"},
		{"line counts", map[string]string{"A.txt": "1\n2\n", "B.txt": "1\n"}, []string{"A", "B"}, 0, "B.txt has 1 lines, A.txt has 2"},
		{"profile width", map[string]string{"A.txt": "1\n", "profile.txt": "3\t73\t2\t130\n"}, []string{"A"}, 5, "profile.txt line 1 has 4 columns, want 5 targets"},
		{"profile lines", map[string]string{"A.txt": "1\n2\n", "profile.txt": "1\n"}, []string{"A"}, 1, "profile.txt has 1 lines, A.txt has 2"},
		{"no profile", map[string]string{"A.txt": "1\n"}, []string{"A"}, 1, "profile.txt: no such file"},
		{"cycles", map[string]string{"A.txt": "1\n", "cycles.txt": "1.5\n"}, []string{"A"}, 0, `cycles.txt line 1: cycle number "1.5" is not an integer`},
		{"cycles lines", map[string]string{"A.txt": "1\n", "cycles.txt": "1\n2\n"}, []string{"A"}, 0, "cycles.txt has 2 lines, A.txt has 1"},
		{"blank line", map[string]string{"A.txt": "1\n\n2\n"}, []string{"A"}, 0, "A.txt line 2 is empty"},
		{"duplicate sensor", map[string]string{"A.txt": "1\n"}, []string{"A", "A"}, 0, `sensor "A" listed twice`},
		{"bad sensor", nil, []string{"a/b"}, 0, `sensor id "a/b"`},
		{"negative targets", nil, []string{"A"}, -1, "-1 targets"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := uci.Read(dir, tc.sensors, tc.targets)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadTolerates(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "A.txt"), []byte("1\t2\t\r\n3\t4 \r\n\n\n"), 0o644)
	long := strings.Repeat("1.25\t", 300000) + "1\n" // a line over the 64 KiB read buffer
	os.WriteFile(filepath.Join(dir, "B.txt"), []byte(long+long), 0o644)
	set, err := uci.Read(dir, []string{"A", "B"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if set.Cycles != 2 || set.Data[0][1][1] != 4 || set.Samples(1) != 300001 || set.Data[1][1][299999] != 1.25 {
		t.Errorf("got %d cycles, %v", set.Cycles, set.Data[0])
	}
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "A.txt"), nil, 0o644)
	set, err = uci.Read(empty, []string{"A"}, 0)
	if err != nil || set.Cycles != 0 {
		t.Errorf("empty file: %v, %v", set, err)
	}
}

// BenchmarkRead reads the real 1 Hz copy (17 sensors, 5 targets, about
// 20 MB):
//
//	go test -run '^$' -bench Read -benchmem ./dataset/uci/
func BenchmarkRead(b *testing.B) {
	dir := realDir(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := uci.Read(dir, nil, uci.Targets); err != nil {
			b.Fatal(err)
		}
	}
}

// A Writer appends cycle by cycle: nothing is in place before Close, a
// refused cycle writes nothing, Abort leaves no file, and the bytes are
// Write's.
func TestWriter(t *testing.T) {
	dir := t.TempDir()
	w, err := uci.NewWriter(dir, []string{"A", "B"}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append([][]float64{{1, 2.5}, {3}}, []float64{0, 1}, 0); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		data    [][]float64
		profile []float64
		want    string
	}{
		{[][]float64{{1, 2, 3}, {3}}, []float64{0, 1}, "A.txt row 2 has 3 columns, row 1 has 2"},
		{[][]float64{{1, 2}, {math.NaN()}}, []float64{0, 1}, "B.txt row 2 column 1: value NaN is not finite"},
		{[][]float64{{1, 2}}, []float64{0, 1}, "cycle 2 has 1 sensors' rows, want 2"},
		{[][]float64{{1, 2}, {3}}, nil, "profile.txt row 2 is empty"},
	} {
		if err := w.Append(bad.data, bad.profile, 0); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Append(%v, %v) = %v, want %q", bad.data, bad.profile, err, bad.want)
		}
	}
	if err := w.Append([][]float64{{-1, 1e21}, {4}}, []float64{2, 3}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "A.txt")); !os.IsNotExist(err) {
		t.Errorf("A.txt is in place before Close: %v", err)
	}
	if w.Cycles() != 2 || w.Bytes() != int64(len("1\t2.5\n3\n0\t1\n-1\t1e+21\n4\n2\t3\n")) {
		t.Errorf("Cycles %d, Bytes %d", w.Cycles(), w.Bytes())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Abort() // no-op after Close
	want := t.TempDir()
	if err := uci.Write(want, &uci.Set{Sensors: []string{"A", "B"}, Cycles: 2, Data: [][][]float64{{{1, 2.5}, {-1, 1e21}}, {{3}, {4}}},
		Profile: [][]float64{{0, 1}, {2, 3}}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"A.txt", "B.txt", uci.ProfileFile} {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		exp, _ := os.ReadFile(filepath.Join(want, name))
		if string(got) != string(exp) || len(got) == 0 {
			t.Errorf("%s = %q, Write gives %q", name, got, exp)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("%d files in %s, want 3", len(ents), dir)
	}

	aborted := t.TempDir()
	w, err = uci.NewWriter(aborted, []string{"A"}, false, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append([][]float64{{1}}, nil, 7); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if ents, _ := os.ReadDir(aborted); len(ents) != 0 {
		t.Errorf("%d files left after Abort", len(ents))
	}
	if err := w.Append([][]float64{{1}}, nil, 8); err == nil {
		t.Error("Append after Abort: no error")
	}
}

// Read's errors name a file by its path, not its base name: two folders
// (a train and a test split) hold the same file names.
func TestReadErrorsNamePath(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		file  string
		want  string
	}{
		{"bad value", map[string]string{"A.txt": "1\t2\n3\tx4\n"}, "A.txt", " line 2 column 2"},
		{"ragged", map[string]string{"A.txt": "1\t2\n3\n"}, "A.txt", " line 2 has 1 columns"},
		{"blank line", map[string]string{"A.txt": "1\n\n2\n"}, "A.txt", " line 2 is empty"},
		{"profile width", map[string]string{"A.txt": "1\n", "profile.txt": "3\t7\n"}, "profile.txt", " line 1 has 2 columns"},
		{"line counts", map[string]string{"A.txt": "1\n2\n", "profile.txt": "3\n"}, "profile.txt", " has 1 lines"},
		{"cycles", map[string]string{"A.txt": "1\n", "profile.txt": "1\n", "cycles.txt": "x\n"}, "cycles.txt", " line 1: cycle number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "test")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			targets := 0
			if _, ok := tc.files["profile.txt"]; ok {
				targets = 1
			}
			_, err := uci.Read(dir, []string{"A"}, targets)
			want := filepath.Join(dir, tc.file) + tc.want
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want %q", err, want)
			}
		})
	}
}

// endsAfter is a context whose Err is nil for its first n calls and
// context.Canceled after: it ends while a file is read.
type endsAfter struct {
	context.Context
	n atomic.Int64
}

func (c *endsAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// ReadContext stops with ctx's error before a file when ctx has ended,
// and within 256 lines when it ends while a file is read (a large data
// set's read no longer runs to its end after a cancel).
func TestReadContextCancelled(t *testing.T) {
	set := &uci.Set{Sensors: []string{"PS1"}, Cycles: 1000, Data: [][][]float64{make([][]float64, 1000)}}
	for i := range set.Data[0] {
		set.Data[0][i] = []float64{float64(i), 1}
	}
	dir := t.TempDir()
	if err := uci.Write(dir, set); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := uci.ReadContext(ctx, dir, set.Sensors, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: error %v, want context.Canceled", err)
	}
	mid := &endsAfter{Context: context.Background()}
	mid.n.Store(1) // the check before the file passes
	_, err := uci.ReadContext(mid, dir, set.Sensors, 0)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "PS1.txt line 256") {
		t.Errorf("cancelled while reading: error %v, want context.Canceled at PS1.txt line 256", err)
	}
}
