package update

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// askedWindows records the digest of every spec the canary asks windows
// for.
type askedWindows struct {
	Windows
	mu    sync.Mutex
	asked []string
}

func (a *askedWindows) Recent(ctx context.Context, spec prep.Spec, n int) ([]*prep.Window, error) {
	d, err := spec.Digest()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.asked = append(a.asked, d)
	a.mu.Unlock()
	return a.Windows.Recent(ctx, spec, n)
}

// retrained copies the bundle in src with other normalisation stats, as
// a retrain on another split makes them: the same sensors, steps and
// grid; every mean shifted by half a std and every std 1.3 times as
// wide. The model files' input digest and the manifest's file digests
// are refilled, so infer.Open takes it as a genuine bundle.
func retrained(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	man, err := bundle.Load(dst)
	if err != nil {
		t.Fatal(err)
	}
	man.Version += "-retrained"
	for i := range man.Input.Sensors {
		man.Input.Sensors[i].Mean += 0.5 * man.Input.Sensors[i].Std
		man.Input.Sensors[i].Std *= 1.3
	}
	dig, err := man.Input.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for i := range man.Models {
		p := filepath.Join(dst, man.Models[i].File)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnx.Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		m.Metadata["hydrognn.input_digest"] = dig
		if data, err = m.Marshal(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := bundle.FillModel(dst, &man.Models[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := bundle.Write(dst, man); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestModelCanaryPreparesWindowsPerSpec: a retrained bundle has the
// running bundle's sensors, steps and grid but other normalisation stats;
// the running model must be judged on the readings prepared with its own
// spec, not the staged one's (the old canary compared sensor ids, steps
// and grid only and ran the running model on windows normalised with the
// staged stats).
func TestModelCanaryPreparesWindowsPerSpec(t *testing.T) {
	cfg, current, opts := skabCanary(t)
	staged := retrained(t, current)
	cs, ss := inputSpec(t, current), inputSpec(t, staged)
	cd, _ := cs.Digest()
	sd, _ := ss.Digest()
	if cd == sd {
		t.Fatal("the retrained bundle has the running bundle's input spec")
	}
	w := &askedWindows{Windows: gridWindows{around: cs, n: 16}}
	c := &ModelCanary{Rig: cfg, Options: opts, Windows: w, MaxLatency: time.Second}
	err := c.Check(t.Context(), staged, current)
	t.Logf("canary: %v", err)
	if !slices.Contains(w.asked, sd) || !slices.Contains(w.asked, cd) {
		t.Errorf("windows asked for %d specs (staged's: %v, running's: %v), want both",
			len(w.asked), slices.Contains(w.asked, sd), slices.Contains(w.asked, cd))
	}
}
