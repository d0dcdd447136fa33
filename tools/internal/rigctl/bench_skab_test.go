package rigctl

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const skabRig = "../../../firmware-configs/skab-testbed.yaml"

// writeSKAB writes a synthetic SKAB-format file (not SKAB data) of n rows;
// rows [a0, a1) are labelled anomalous when a1 > 0 (the flow drops by
// 10 l/min there).
func writeSKAB(t *testing.T, path string, n, a0, a1 int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	var b strings.Builder
	b.WriteString("datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;Volume Flow RateRMS")
	if a1 > 0 {
		b.WriteString(";anomaly;changepoint")
	}
	b.WriteString("\n")
	for r := range n {
		flow, an := 100.0, a1 > 0 && r >= a0 && r < a1
		if an {
			flow = 90
		}
		fmt.Fprintf(&b, "2021-01-01 %02d:%02d:%02d;%.4f;%.4f;%.3f;%.3f;%.2f;%.2f;%.1f;%.1f", r/3600, r/60%60, r%60,
			0.2+0.01*rng.NormFloat64(), 0.2+0.01*rng.NormFloat64(), 2+0.1*rng.NormFloat64(), 0.5+0.05*rng.NormFloat64(),
			80+0.2*rng.NormFloat64(), 25+0.1*rng.NormFloat64(), 230+2*rng.NormFloat64(), flow+0.5*rng.NormFloat64())
		if a1 > 0 {
			a := 0
			if an {
				a = 1
			}
			fmt.Fprintf(&b, ";%d.0;0.0", a)
		}
		b.WriteString("\n")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBenchSKAB(t *testing.T) {
	dir := t.TempDir()
	writeSKAB(t, filepath.Join(dir, "anomaly-free", "anomaly-free.csv"), 800, 0, 0, 1)
	writeSKAB(t, filepath.Join(dir, "valve1", "1.csv"), 560, 450, 520, 2)
	writeSKAB(t, filepath.Join(dir, "other", "2.csv"), 520, 430, 500, 3)
	code, stdout, stderr := runBin(t, "bench", "skab", "--data", dir, "--rig", skabRig, "--json", "--epochs", "1", "--steps", "10")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got map[string]float64
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if len(got) != 4 || got["files"] != 2 {
		t.Fatalf("JSON %s", stdout)
	}
	for _, k := range []string{"f1", "far", "mar"} {
		if v, ok := got[k]; !ok || v < 0 || v > 1 {
			t.Errorf("%s = %v", k, v)
		}
	}
	if got["f1"] < 0.7 {
		t.Errorf("an obvious flow drop: %s", stdout)
	}
}

func TestBenchSKABErrors(t *testing.T) {
	if code, _, stderr := run(t, "bench", "skab"); code != ExitUsage || !strings.Contains(stderr, "--data DIR is required") {
		t.Errorf("no --data: exit %d: %s", code, stderr)
	}
	empty := t.TempDir()
	if code, _, stderr := run(t, "bench", "skab", "--data", empty, "--rig", skabRig); code != ExitFailure || !strings.Contains(stderr, "no *.csv file") {
		t.Errorf("empty folder: exit %d: %s", code, stderr)
	}
	short := t.TempDir()
	writeSKAB(t, filepath.Join(short, "valve1", "1.csv"), 300, 200, 250, 4)
	if code, _, stderr := run(t, "bench", "skab", "--data", short, "--rig", skabRig); code != ExitFailure || !strings.Contains(stderr, "the protocol needs more than 400") {
		t.Errorf("short file: exit %d: %s", code, stderr)
	}
}
