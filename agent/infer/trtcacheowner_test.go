package infer

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEngineCacheFolderOfAnotherUser: a folder that a `rig-agent
// --check-model` run as root left (root-owned, 0700) cannot have its
// time set by the agent's user, nor be written. Neither drops the engine
// cache, let alone TensorRT: the time is best-effort, a readable folder
// is still used (its engines load), and each is logged naming the folder
// and its owner. Only a folder that can be neither written nor read turns
// the cache off for the model. The tests run as root, for whom neither
// fails: the hooks stand in for another user's folder.
func TestEngineCacheFolderOfAnotherUser(t *testing.T) {
	sha := strings.Repeat("c", 64)
	eperm := &fs.PathError{Op: "chtimes", Err: os.ErrPermission}
	for _, tc := range []struct {
		name              string
		chtimes, writable error
		unreadable        bool
		wantCache         bool
		wantLog           string
	}{
		{name: "time not settable", chtimes: eperm, wantCache: true,
			wantLog: `msg="tensorrt engine cache folder not marked as used`},
		{name: "not writable", chtimes: eperm, writable: os.ErrPermission, wantCache: true,
			wantLog: `msg="tensorrt engine cache folder not writable`},
		{name: "neither writable nor readable", chtimes: eperm, writable: os.ErrPermission, unreadable: true,
			wantLog: `msg="tensorrt engine cache off for this model: its folder can be neither written nor read`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "tensorrt")
			dir := EngineCacheDir(root, sha)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			setHook(t, &chtimes, func(string, time.Time, time.Time) error { return tc.chtimes })
			setHook(t, &checkWritable, func(string) error { return tc.writable })
			if tc.unreadable {
				setHook(t, &readDir, func(string) ([]os.DirEntry, error) { return nil, os.ErrPermission })
			}
			var logs bytes.Buffer
			kv := map[string]string{"trt_engine_cache_enable": "1", "trt_engine_cache_path": root, "trt_timing_cache_enable": "1"}
			gotRoot, gotDir := useEngineCache(kv, sha, time.Now(), slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.wantCache {
				if gotRoot != root || gotDir != dir || kv["trt_engine_cache_path"] != dir || kv["trt_engine_cache_enable"] != "1" {
					t.Errorf("root %q dir %q options %v: want the model's folder %s used", gotRoot, gotDir, kv, dir)
				}
			} else if gotRoot != "" || gotDir != "" || kv["trt_engine_cache_enable"] != "0" {
				t.Errorf("root %q dir %q options %v: want the engine cache off", gotRoot, gotDir, kv)
			}
			for _, want := range []string{tc.wantLog, "dir=" + dir, "owner_uid="} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log %q lacks %s", logs.String(), want)
				}
			}
		})
	}
}

// TestCheckWritable: the real check, on a folder and on a path that is
// not one.
func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	if err := writableDir(dir); err != nil {
		t.Errorf("temp dir: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the check left %v", ents)
	}
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writableDir(file); err == nil {
		t.Error("a file counted as a writable folder")
	}
}

// TestKeepEngineCacheDoesNotPrune: a model opened with KeepEngineCache
// (rig-agent --check-model) counts its folder in use but removes nothing,
// however old the others: the serving agent's model, opened weeks ago,
// keeps its engines. Without it, the same open prunes.
func TestKeepEngineCacheDoesNotPrune(t *testing.T) {
	for _, keepAll := range []bool{true, false} {
		root := t.TempDir()
		old := time.Now().Add(-30 * 24 * time.Hour)
		var dirs []string
		for i := range 4 {
			d := EngineCacheDir(root, strings.Repeat(string(rune('0'+i)), 64))
			writeFile(t, filepath.Join(d, "x.engine"), 10)
			if err := os.Chtimes(d, old, old); err != nil {
				t.Fatal(err)
			}
			dirs = append(dirs, d)
		}
		self := EngineCacheDir(root, strings.Repeat("f", 64))
		writeFile(t, filepath.Join(self, "x.engine"), 10)
		m := &Model{opts: Options{EngineCacheKeep: 1, KeepEngineCache: keepAll}, log: slog.Default(), engineRoot: root, engineDir: self}
		m.useEngineDir()
		releaseEngineDir(self)
		left := 0
		for _, d := range dirs {
			if _, err := os.Stat(d); err == nil {
				left++
			} else if !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
		if keepAll && left != len(dirs) {
			t.Errorf("KeepEngineCache: %d of %d old folders left, want all", left, len(dirs))
		}
		if !keepAll && left != 0 {
			t.Errorf("serving agent, keep 1: %d old folders left, want 0 (only its own)", left)
		}
	}
}

func setHook[T any](t *testing.T, p *T, v T) {
	t.Helper()
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}
