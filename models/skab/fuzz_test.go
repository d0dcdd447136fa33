package skab

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset/skab"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// FuzzFromFile parses arbitrary text as a SKAB file and maps it onto the
// SKAB rig. It must never panic; a series it returns has one finite value
// per sensor and row inside the range the agent accepts, and one label per
// row when labelled; an error from FromFile names the file.
func FuzzFromFile(f *testing.F) {
	for _, name := range []string{"testdata/small.csv", "testdata/nan.csv", "testdata/missing-flow.csv"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
		f.Add(strings.Replace(string(b), ";anomaly;", ";Anomaly;", 1))
	}
	f.Add("datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;Volume Flow RateRMS\n" +
		"2020-03-09 10:14:33;0.0265878;0.0401113;11.5;0.054711;79.3366;26.0199;233.062;32.0\n")
	cfg, err := rig.Load(rigFile)
	if err != nil {
		f.Fatal(err)
	}
	sensors := cfg.ActiveSensors()
	f.Fuzz(func(t *testing.T, text string) {
		file, err := skab.Parse(strings.NewReader(text), "fuzz.csv")
		if err != nil {
			return
		}
		s, err := FromFile(file, cfg)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.csv") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for i, sn := range sensors {
			if len(s.Values[i]) != s.Rows() {
				t.Fatalf("sensor %s: %d values for %d rows", sn.ID, len(s.Values[i]), s.Rows())
			}
			for r, v := range s.Values[i] {
				if math.IsNaN(v) || !sn.Range.Accepts(v, rig.DefaultRangeTolerance) {
					t.Fatalf("sensor %s row %d: %v", sn.ID, r, v)
				}
			}
		}
		if s.Labelled() && len(s.Anomaly) != s.Rows() {
			t.Fatalf("%d labels for %d rows", len(s.Anomaly), s.Rows())
		}
	})
}
