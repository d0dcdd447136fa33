package skab_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/dataset"
	"github.com/hydrognn/hydrognn/shared/dataset/skab"
)

func TestReadReal(t *testing.T) {
	d, err := dataset.Dir()
	if err != nil {
		t.Skipf("real data not found (%v): set %s to the shared data folder to run this", err, dataset.EnvDir)
	}
	dir := filepath.Join(d, "skab")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real data not found: %v", err)
	}
	paths, err := skab.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 2 {
		t.Fatalf("only %d files under %s", len(paths), dir)
	}
	labelled := 0
	for _, p := range paths {
		f, err := skab.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(f.Columns, skab.Columns) {
			t.Errorf("%s: columns %q", p, f.Columns)
		}
		n := len(f.Times)
		if n < 400 || len(f.Values) != n {
			t.Errorf("%s: %d rows, %d value rows", p, n, len(f.Values))
		}
		for r := 1; r < n; r++ {
			if f.Times[r].Before(f.Times[r-1]) {
				t.Errorf("%s: row %d goes back in time", p, r+1)
				break
			}
		}
		if f.Anomaly != nil {
			labelled++
			if len(f.Anomaly) != n || len(f.Changepoint) != n {
				t.Errorf("%s: %d anomaly, %d changepoint labels for %d rows", p, len(f.Anomaly), len(f.Changepoint), n)
			}
			if anomalies := count(f.Anomaly); anomalies == 0 || anomalies == n {
				t.Errorf("%s: %d of %d rows anomalous", p, anomalies, n)
			}
		} else if !strings.Contains(p, "anomaly-free") {
			t.Errorf("%s: no labels", p)
		}
	}
	if labelled == 0 {
		t.Error("no labelled file")
	}
	t.Logf("%d files, %d labelled", len(paths), labelled)
}

func count(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

func TestParse(t *testing.T) {
	in := "\xef\xbb\xbfdatetime;A;anomaly;B;changepoint\r\n" +
		"2020-03-09 10:14:33;0.5;0.0;-1e3;1.0\r\n" +
		"2020-03-09T10:14:34.25; 2 ;1;3;0\r\n" +
		"\r\n"
	f, err := skab.Parse(strings.NewReader(in), "x.csv")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2020, 3, 9, 10, 14, 33, 0, time.UTC)
	if !slices.Equal(f.Columns, []string{"A", "B"}) || len(f.Times) != 2 || !f.Times[0].Equal(t0) ||
		!f.Times[1].Equal(t0.Add(1250*time.Millisecond)) || f.Times[0].Location() != time.UTC {
		t.Fatalf("got %+v", f)
	}
	if !slices.Equal(f.Values[0], []float64{0.5, -1000}) || !slices.Equal(f.Values[1], []float64{2, 3}) {
		t.Errorf("values %v", f.Values)
	}
	if !slices.Equal(f.Anomaly, []bool{false, true}) || !slices.Equal(f.Changepoint, []bool{true, false}) {
		t.Errorf("labels %v %v", f.Anomaly, f.Changepoint)
	}
	if f.Column("B") != 1 || f.Column("anomaly") != -1 {
		t.Error("Column")
	}
	// Header only: no rows, labels empty but present.
	f, err = skab.Parse(strings.NewReader("datetime;A;anomaly\n"), "h.csv")
	if err != nil || len(f.Times) != 0 || f.Anomaly == nil || f.Changepoint != nil {
		t.Errorf("header only: %+v, %v", f, err)
	}
}

func TestParseBad(t *testing.T) {
	h := "datetime;A;B;anomaly\n"
	cases := []struct {
		name, in, want string
	}{
		{"empty", "", "f.csv is empty: no header"},
		{"comma separated", "datetime,A,B\n", `f.csv line 1: first column is "datetime,A,B", want "datetime"`},
		{"no sensors", "datetime;anomaly\n", "no sensor columns"},
		{"duplicate column", "datetime;A;A\n", `line 1 column 3: column "A" appears twice`},
		{"empty column", "datetime;;A\n", "line 1 column 2: empty column name"},
		{"datetime later", "datetime;A;datetime\n", `column 3: column "datetime" appears twice`},
		{"fields", h + "2020-03-09 10:14:33;1;2\n", "f.csv line 2 has 3 fields, the header has 4"},
		{"bad time", h + "2020-03-09 25:14:33;1;2;0\n", `f.csv line 2 column 1 (datetime): bad datetime "2020-03-09 25:14:33"`},
		{"date only", h + "2020-03-09;1;2;0\n", "bad datetime"},
		{"bad value", h + "2020-03-09 10:14:33;1;x;0\n", `line 2 column 3 (B): "x" is not a decimal number`},
		{"nan", h + "2020-03-09 10:14:33;NaN;1;0\n", `column 2 (A): "NaN" is not a decimal number`},
		{"overflow", h + "2020-03-09 10:14:33;1e400;1;0\n", `line 2 column 2 (A): "1e400" is out of the float64 range`},
		{"empty value", h + "2020-03-09 10:14:33;;1;0\n", "column 2 (A): empty value"},
		{"bad label", h + "2020-03-09 10:14:33;1;1;0.5\n", `column 4 (anomaly): label "0.5" is not 0 or 1`},
		{"blank line inside", h + "2020-03-09 10:14:33;1;1;0\n\n2020-03-09 10:14:34;1;1;0\n", "f.csv line 3 is empty"},
		{"long line", h + strings.Repeat("1", skab.MaxLine+1), "line 2 is longer than 1048576 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := skab.Parse(strings.NewReader(tc.in), "f.csv")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := skab.Read(filepath.Join(t.TempDir(), "none.csv")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;Volume Flow RateRMS;anomaly;changepoint\r\n" +
		"2020-03-09 10:14:33;0.0265878;0.0401113;1.3302;0.054711;79.3366;26.0199;233.062;32.0;0.0;0.0\r\n"))
	f.Add([]byte("datetime;A\n2020-03-09T10:14:33.5;1e3\n\n"))
	f.Add([]byte("datetime;A;changepoint\n2020-03-09 10:14:33;1;2\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := skab.Parse(strings.NewReader(string(in)), "fuzz.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "skab: fuzz.csv") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		n := len(file.Times)
		if len(file.Values) != n || len(file.Columns) == 0 ||
			file.Anomaly != nil && len(file.Anomaly) != n || file.Changepoint != nil && len(file.Changepoint) != n {
			t.Fatalf("inconsistent file: %d times, %d rows, %d columns", n, len(file.Values), len(file.Columns))
		}
		for _, row := range file.Values {
			if len(row) != len(file.Columns) {
				t.Fatalf("row of %d values for %d columns", len(row), len(file.Columns))
			}
		}
	})
}
