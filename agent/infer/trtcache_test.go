package infer

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The TensorRT provider cannot run here (a CPU build of ONNX Runtime):
// these tests drive the engine cache's folder choice and pruning on real
// files, as ONNX Runtime would leave them.

func writeFile(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Repeat([]byte{'e'}, n), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEngineCacheFolderPerModel: with the engine cache on, the options
// point ONNX Runtime at a folder of the model file's own (created, 0700),
// one per SHA-256, so a retrained model of the same graph never loads the
// engine of another's weights; the timing cache stays shared at the
// configured folder. With the cache off, nothing changes.
func TestEngineCacheFolderPerModel(t *testing.T) {
	root := filepath.Join(t.TempDir(), "tensorrt")
	shaA, shaB := strings.Repeat("a", 64), strings.Repeat("b", 64)
	now := time.Now()
	kvA := map[string]string{"trt_engine_cache_enable": "1", "trt_engine_cache_path": root, "trt_timing_cache_enable": "1"}
	gotRoot, dirA := useEngineCache(kvA, shaA, now, slog.Default())
	if gotRoot != root || dirA != EngineCacheDir(root, shaA) || kvA["trt_engine_cache_path"] != dirA {
		t.Errorf("root %q dir %q options %v, want %q and %q", gotRoot, dirA, kvA, root, EngineCacheDir(root, shaA))
	}
	if kvA["trt_timing_cache_path"] != root {
		t.Errorf("timing cache %q, want the shared %q", kvA["trt_timing_cache_path"], root)
	}
	if fi, err := os.Stat(dirA); err != nil || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
		t.Fatalf("engine folder %s: %v %v, want a 0700 folder", dirA, fi, err)
	}
	kvB := map[string]string{"trt_engine_cache_enable": "1", "trt_engine_cache_path": root,
		"trt_timing_cache_enable": "1", "trt_timing_cache_path": "/elsewhere"}
	_, dirB := useEngineCache(kvB, shaB, now, slog.Default())
	if dirB == dirA || filepath.Dir(dirB) != root {
		t.Errorf("models a and b share %s, or it is not under %s", dirB, root)
	}
	if kvB["trt_timing_cache_path"] != "/elsewhere" {
		t.Errorf("a configured timing cache path was changed to %q", kvB["trt_timing_cache_path"])
	}
	off := map[string]string{"trt_engine_cache_path": root, "trt_fp16_enable": "1"}
	if r, d := useEngineCache(off, shaA, now, slog.Default()); r != "" || d != "" || off["trt_engine_cache_path"] != root {
		t.Errorf("cache off: %q %q %v, want the options unchanged", r, d, off)
	}
}

// TestPruneEngineCache fills a cache folder as versions of the model came
// and went: pruning keeps the folders in use and the keep most recently
// opened (those in use counted among them, as the docs say: 3 in all,
// the serving model, the previous one and a canary), removes the other
// model folders and the flat-layout engines
// and profiles of an older agent, leaves the timing cache and anything
// it does not know, and counts and logs what it removed.
func TestPruneEngineCache(t *testing.T) {
	root := t.TempDir()
	base := time.Now().Add(-time.Hour)
	var dirs []string
	for i := range 6 { // model versions 0 (oldest) to 5 (newest)
		d := EngineCacheDir(root, strings.Repeat(string(rune('0'+i)), 64))
		writeFile(t, filepath.Join(d, "TensorrtExecutionProvider_TRTKernel_graph_main_123_0_0_sm87.engine"), 1000)
		writeFile(t, filepath.Join(d, "TensorrtExecutionProvider_TRTKernel_graph_main_123_0_0_sm87.profile"), 10)
		mod := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(d, mod, mod); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	timing := filepath.Join(root, "TensorrtExecutionProvider_cache_sm87.timing")
	writeFile(t, timing, 50)
	writeFile(t, filepath.Join(root, "TensorrtExecutionProvider_TRTKernel_graph_old_9_0_0_sm87.engine"), 700)
	writeFile(t, filepath.Join(root, "TensorrtExecutionProvider_TRTKernel_graph_old_9_0_0_sm87.profile"), 7)
	other := filepath.Join(root, "notes", "keep.txt")
	writeFile(t, other, 3)

	// Model 1 is open (the previous version, say), model 5 opens now:
	// with keep 3, model 4 is the newest of the others, and the only one
	// kept beside the two in use.
	inUse := func(d string) bool { return d == dirs[1] || d == dirs[5] }
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	acquireEngineDir(dirs[1])
	defer releaseEngineDir(dirs[1])
	pruneEngines(log, root, dirs[5], 3)

	for i, d := range dirs {
		_, err := os.Stat(d)
		want := i == 1 || i == 4 || i == 5
		if got := err == nil; got != want {
			t.Errorf("model %d's folder kept %v, want %v (%v)", i, got, want, err)
		}
	}
	for _, p := range []string{timing, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(root, "*.engine")); len(ents) != 0 {
		t.Errorf("flat-layout engines left: %v", ents)
	}
	// Removed: models 0, 2 and 3 (2 files, 1010 bytes each), the old
	// engine and profile (707 bytes).
	line := logs.String()
	for _, want := range []string{`msg="tensorrt engine cache pruned"`, "removed=5", "files=8", "bytes=3737", "keep=3"} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %s", line, want)
		}
	}

	// Again: those in use (5, 1) and the newest other (4) are all that
	// is left: nothing to remove.
	p, err := pruneEngineCache(root, 3, inUse)
	if err != nil || p != (pruned{}) {
		t.Errorf("second prune removed %+v (%v), want nothing", p, err)
	}
}

// TestEngineCacheKeepOption: 0 is DefaultEngineCacheKeep, a negative
// count is refused.
func TestEngineCacheKeepOption(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil || o.EngineCacheKeep != DefaultEngineCacheKeep {
		t.Errorf("default: %d %v, want %d", o.EngineCacheKeep, err, DefaultEngineCacheKeep)
	}
	if _, err := (Options{EngineCacheKeep: -1}).withDefaults(); err == nil || !strings.Contains(err.Error(), "engine cache keep") {
		t.Errorf("keep -1: %v, want an error naming it", err)
	}
}
