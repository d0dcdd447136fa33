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
)

// FS stores objects as files under a folder: key "a/b" is Dir/a/b. Put
// writes Dir/.tmp/<random>, syncs it and renames it into place (atomic on
// one filesystem). Several processes may share Dir (an NFS or other
// shared volume for replicas on several machines). Make it with NewFS.
type FS struct {
	dir string
	max int64
}

// NewFS returns a store in dir (created if needed) whose objects are at
// most maxBytes (0: no cap).
func NewFS(dir string, maxBytes int64) (*FS, error) {
	if dir == "" {
		return nil, errors.New("blob: no folder")
	}
	if err := os.MkdirAll(filepath.Join(dir, ".tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("blob store %s: %w", dir, err)
	}
	return &FS{dir: dir, max: maxBytes}, nil
}

// Dir returns the store's folder.
func (s *FS) Dir() string { return s.dir }

// MaxBytes returns the cap on one object (0: none).
func (s *FS) MaxBytes() int64 { return s.max }

func (s *FS) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// ctxReader fails reads once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Put stores r under key (see the package's contract).
func (s *FS) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	p, err := s.path(key)
	if err != nil {
		return Info{}, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	tmp := filepath.Join(s.dir, ".tmp", hex.EncodeToString(b[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return Info{}, fmt.Errorf("blob put %s: %w", key, err)
	}
	defer os.Remove(tmp) // a no-op after the rename
	h := sha256.New()
	src := io.Reader(ctxReader{ctx, r})
	if s.max > 0 {
		src = io.LimitReader(src, s.max+1)
	}
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err == nil && s.max > 0 && n > s.max {
		err = fmt.Errorf("%w (%d bytes): %s", ErrTooLarge, s.max, key)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(p), 0o750)
	}
	if err == nil {
		err = os.Rename(tmp, p)
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
	return f, Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
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
