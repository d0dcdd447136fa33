package infer

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The TensorRT engine cache.
//
// ONNX Runtime names a cached engine after the model file's name (none
// here: the agent creates its sessions from the model's bytes), the
// graph's input, initializer and node output names and the ONNX
// Runtime/CUDA/TensorRT versions, not after the weights: a retrained model
// of the same architecture would load the engine built for the previous
// version's weights from a shared folder. So each model file gets a
// folder of its own under the configured trt_engine_cache_path, named
// after its SHA-256 (EngineCacheDir), and TensorRT's timing cache, which
// is valid across models, stays in the configured folder. ONNX Runtime
// never removes an engine: after a session is created with TensorRT, the
// folders beyond the Options.EngineCacheKeep last opened, counting those
// of the models open in this process and never removing one of them,
// are removed (pruneEngineCache), unless Options.KeepEngineCache (a
// second process such as rig-agent --check-model, whose opens say
// nothing about what the serving agent uses).

// DefaultEngineCacheKeep is Options.EngineCacheKeep's default: the
// serving model, the previous one (a rollback) and a canary.
const DefaultEngineCacheKeep = 3

// engineDirPrefix starts the name of a model's engine folder.
const engineDirPrefix = "model-sha256-"

// EngineCacheDir returns the folder under root (a configured
// trt_engine_cache_path) that holds the TensorRT engines of the model
// file whose SHA-256 (hex) is sha256.
func EngineCacheDir(root, sha256 string) string {
	if len(sha256) > 16 {
		sha256 = sha256[:16]
	}
	return filepath.Join(root, engineDirPrefix+sha256)
}

// openEngines counts the Models of this process that use each engine
// folder: pruneEngineCache leaves them, so that an open model's batch
// session, created on first use, still finds its folder.
var openEngines = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func acquireEngineDir(dir string) {
	openEngines.Lock()
	openEngines.n[dir]++
	openEngines.Unlock()
}

func releaseEngineDir(dir string) {
	openEngines.Lock()
	if openEngines.n[dir]--; openEngines.n[dir] <= 0 {
		delete(openEngines.n, dir)
	}
	openEngines.Unlock()
}

// Hooks for tests (the tests run as root, for whom neither fails).
var (
	chtimes       = os.Chtimes
	checkWritable = writableDir
	readDir       = os.ReadDir
)

// useEngineCache points the TensorRT provider options kv at the model's
// own engine folder when they enable the engine cache: it creates the
// folder (0700), marks it used now (its modification time orders the
// pruning) and returns the configured root and the folder ("", "" when
// the engine cache is off or cannot be used). Nothing about the folder
// decides whether TensorRT runs: a folder another user owns (one a
// `rig-agent --check-model` run as root created) is used as far as it
// can be, with a warning naming it and its owner. Its modification time
// is best-effort. A folder that is not writable but readable is kept:
// engines found there load, a missing one is built at each open and not
// kept. One that cannot be created or read turns the engine cache off for
// this model (kv's trt_engine_cache_enable "0").
func useEngineCache(kv map[string]string, sha256 string, now time.Time, log *slog.Logger) (root, dir string) {
	root = kv["trt_engine_cache_path"]
	if kv["trt_engine_cache_enable"] != "1" || root == "" {
		return "", ""
	}
	dir = EngineCacheDir(root, sha256)
	off := func(msg string, err error) (string, string) {
		log.Warn(msg, "dir", dir, "owner_uid", ownerOf(dir), "euid", os.Geteuid(), "err", err)
		kv["trt_engine_cache_enable"] = "0"
		return "", ""
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return off("tensorrt engine cache off for this model: its folder cannot be created; TensorRT builds the engine at each open", err)
	}
	if err := chtimes(dir, now, now); err != nil {
		log.Warn("tensorrt engine cache folder not marked as used: pruning orders it by its older time", "dir", dir,
			"owner_uid", ownerOf(dir), "euid", os.Geteuid(), "err", err)
	}
	if err := checkWritable(dir); err != nil {
		if _, rerr := readDir(dir); rerr != nil {
			return off("tensorrt engine cache off for this model: its folder can be neither written nor read (give it to the agent's user, or remove it); TensorRT builds the engine at each open", errors.Join(err, rerr))
		}
		log.Warn("tensorrt engine cache folder not writable: its engines are loaded, a missing one is built at each open and not kept (give the folder to the agent's user, or remove it)",
			"dir", dir, "owner_uid", ownerOf(dir), "euid", os.Geteuid(), "err", err)
	}
	kv["trt_engine_cache_path"] = dir
	if kv["trt_timing_cache_enable"] == "1" && kv["trt_timing_cache_path"] == "" {
		// ONNX Runtime would put it beside the engines: keep it shared.
		kv["trt_timing_cache_path"] = root
	}
	return root, dir
}

// writableDir reports whether this process can create a file in dir, by
// creating and removing one (permission bits say little for root, ACLs
// or a read-only mount).
func writableDir(dir string) error {
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// ownerOf is path's owner's uid, or -1 when it cannot be read.
func ownerOf(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// pruned is what pruneEngineCache removed.
type pruned struct {
	Entries int   // model folders and old flat-layout files
	Files   int   // regular files among them
	Bytes   int64 // their size
}

// pruneEngineCache removes from root the model engine folders beyond the
// keep most recently used (modification time, newest first), counting
// those in use (open in this process, self included) first and never
// removing one (more are kept when more are in use), and the engine and
// profile files an agent before per-model folders left at root's top
// level (from any model: a stale engine could be loaded for another). The
// timing cache and anything else at root stay. It counts what it removed;
// an error removing one entry does not stop the others.
func pruneEngineCache(root string, keep int, inUse func(dir string) bool) (pruned, error) {
	var p pruned
	ents, err := os.ReadDir(root)
	if err != nil {
		return p, fmt.Errorf("tensorrt engine cache %s: %w", root, err)
	}
	type dirAge struct {
		path string
		mod  time.Time
	}
	var dirs []dirAge
	var drop []string
	kept := 0 // folders in use, then the newest others up to keep
	for _, e := range ents {
		path := filepath.Join(root, e.Name())
		switch {
		case e.IsDir() && strings.HasPrefix(e.Name(), engineDirPrefix):
			if inUse(path) {
				kept++
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue // gone already
			}
			dirs = append(dirs, dirAge{path, fi.ModTime()})
		case e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".engine") || strings.HasSuffix(e.Name(), ".profile")):
			drop = append(drop, path)
		}
	}
	slices.SortFunc(dirs, func(a, b dirAge) int { return b.mod.Compare(a.mod) })
	for _, d := range dirs {
		if kept < keep {
			kept++
			continue
		}
		drop = append(drop, d.path)
	}
	var errs []error
	for _, path := range drop {
		files, bytes := sizeOf(path)
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
			continue
		}
		p.Entries++
		p.Files += files
		p.Bytes += bytes
	}
	if err := errors.Join(errs...); err != nil {
		return p, fmt.Errorf("tensorrt engine cache %s: %w", root, err)
	}
	return p, nil
}

// sizeOf counts the regular files under path (or path itself) and their
// bytes, as far as it can read.
func sizeOf(path string) (files int, bytes int64) {
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			files++
			bytes += fi.Size()
		}
		return nil
	})
	return files, bytes
}

// pruneEngines prunes root after a session was created with TensorRT
// using the engine folder dir, and logs what it removed.
func pruneEngines(log *slog.Logger, root, dir string, keep int) {
	openEngines.Lock()
	defer openEngines.Unlock()
	p, err := pruneEngineCache(root, keep, func(d string) bool { return d == dir || openEngines.n[d] > 0 })
	if p.Entries > 0 {
		log.Info("tensorrt engine cache pruned", "dir", root, "removed", p.Entries, "files", p.Files,
			"bytes", p.Bytes, "keep", keep)
	}
	if err != nil {
		log.Warn("tensorrt engine cache not fully pruned", "dir", root, "removed", p.Entries, "err", err)
	}
}
