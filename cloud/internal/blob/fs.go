package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/ctxio"
	"github.com/hydrognn/hydrognn/shared/durable"
)

// StaleTmpAge is how long a temporary file of Put (Dir/.tmp) may go
// unmodified before NewFS removes it as the leftover of a process that
// was killed mid-write. Put writes its file as the object arrives, so a
// live one is modified all along; the age is still more than the
// longest upload (blob.upload_timeout is at most 24h) plus an hour for
// clocks apart on a shared volume, so no replica's live upload is ever
// removed.
const StaleTmpAge = 25 * time.Hour

// tmpDir is the folder of Put's temporary files, under Dir. Keys whose
// first segment is tmpDir are refused.
const tmpDir = ".tmp"

// FS stores objects as files under a folder: key "a/b" is Dir/a/b. Put
// writes Dir/.tmp/<random>, syncs it and renames it into place (atomic on
// one filesystem). Several processes may share Dir (an NFS or other
// shared volume for replicas on several machines). Put syncs the
// object's folder after the rename, and every folder it creates, so
// that an object whose database row has committed survives a power
// loss. Make it with NewFS.
type FS struct {
	dir string
	max int64
}

// NewFS returns a store in dir (created if needed) whose objects are at
// most maxBytes (0: no cap). It removes the temporary files in Dir/.tmp
// not modified for StaleTmpAge (left by a process killed while it wrote
// them; each may be as large as an object).
func NewFS(dir string, maxBytes int64) (*FS, error) {
	if dir == "" {
		return nil, errors.New("blob: no folder")
	}
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o750); err != nil {
		return nil, fmt.Errorf("blob store %s: %w", dir, err)
	}
	s := &FS{dir: dir, max: maxBytes}
	if _, err := s.sweepTmp(time.Now().Add(-StaleTmpAge)); err != nil {
		return nil, fmt.Errorf("blob store %s: %w", dir, err)
	}
	return s, nil
}

// sweepTmp removes the temporary files last modified before cutoff and
// returns how many it removed. A file another process removes meanwhile
// is not an error.
func (s *FS) sweepTmp(cutoff time.Time) (int, error) {
	tmp := filepath.Join(s.dir, tmpDir)
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return 0, fmt.Errorf("sweep temporary files: %w", err)
	}
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("sweep temporary files: %w", err)
		}
		if !info.Mode().IsRegular() || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(tmp, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("sweep temporary files: %w", err)
		}
		n++
	}
	return n, nil
}

// Dir returns the store's folder.
func (s *FS) Dir() string { return s.dir }

// MaxBytes returns the cap on one object (0: none).
func (s *FS) MaxBytes() int64 { return s.max }

func (s *FS) path(key string) (string, error) {
	// Dir/.tmp holds Put's files being written: never an object.
	if !ValidKey(key) || key == tmpDir || strings.HasPrefix(key, tmpDir+"/") {
		return "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Put stores r under key (see the package's contract).
func (s *FS) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	p, err := s.path(key)
	if err != nil {
		return Info{}, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	tmp := filepath.Join(s.dir, tmpDir, hex.EncodeToString(b[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return Info{}, fmt.Errorf("blob put %s: %w", key, err)
	}
	defer os.Remove(tmp) // a no-op after the rename
	h := sha256.New()
	src := ctxio.Reader(ctx, r)
	if s.max > 0 {
		src = io.LimitReader(src, s.max+1)
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err == nil && s.max > 0 && n > s.max {
		err = fmt.Errorf("%w (%d bytes): %s", ErrTooLarge, s.max, key)
	}
	err = durable.SyncClose(f, err)
	if err == nil {
		err = s.mkdirAll(filepath.Dir(p))
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err == nil {
		// The rename is durable once its folder is synced.
		err = durable.SyncDir(filepath.Dir(p))
	}
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return Info{}, err
		}
		return Info{}, fmt.Errorf("blob put %s: %w", key, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		return Info{}, fmt.Errorf("blob put %s: %w", key, err)
	}
	return Info{Key: key, Size: n, SHA256: "sha256:" + hex.EncodeToString(h.Sum(nil)), ModTime: st.ModTime()}, nil
}

// mkdirAll creates dir and its missing parents below the store's folder
// like os.MkdirAll, syncing the parent of each folder it creates.
func (s *FS) mkdirAll(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && dir != filepath.Clean(s.dir) {
		if err := s.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o750); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		// Made meanwhile by another Put, which may not have synced its
		// parent yet; a file there fails the rename.
	}
	return durable.SyncDir(parent)
}

// Get opens the object under key.
func (s *FS) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, Info{}, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("blob get %s: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	// Reads fail once ctx ends, as an S3 GetObject body's do: a worker's
	// cancelled or stopped job stops extracting its data set at once.
	return ctxReadCloser{ctxio.Reader(ctx, f), f}, Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// ctxReadCloser is a ctxio.Reader and the closer of what it reads.
type ctxReadCloser struct {
	io.Reader
	io.Closer
}

// Stat describes the object under key.
func (s *FS) Stat(ctx context.Context, key string) (Info, error) {
	p, err := s.path(key)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || err == nil && !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob stat %s: %w", key, err)
	}
	return Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete removes the object under key; a missing one is not an error.
func (s *FS) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob delete %s: %w", key, err)
	}
	return nil
}

// Walk calls fn with each object whose key starts with prefix (see the
// package's contract). It reads only the folders that can hold such keys;
// files that are not valid keys (none Put makes) are skipped, and so is
// Dir/.tmp.
func (s *FS) Walk(ctx context.Context, prefix string, fn func(Info) error) error {
	// The deepest folder every matching key is under.
	root := s.dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		if !ValidKey(prefix[:i]) {
			return fmt.Errorf("%w: prefix %q", ErrBadKey, prefix)
		}
		root = filepath.Join(s.dir, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // no such folder, or removed meanwhile
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, rerr := filepath.Rel(s.dir, p)
		if rerr != nil {
			return rerr
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == tmpDir {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) || !ValidKey(key) || strings.HasPrefix(key, tmpDir+"/") {
			return nil
		}
		info, ierr := d.Info()
		if errors.Is(ierr, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if ierr != nil {
			return ierr
		}
		return fn(Info{Key: key, Size: info.Size(), ModTime: info.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("blob walk %q: %w", prefix, err)
	}
	return nil
}
