// Package blobtest checks a blob.Store against the package's contract, so
// an S3-compatible implementation can run the same tests as blob.FS.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
)

// failingReader yields some bytes, then an error.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("read failed")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

// Run checks s, whose cap is maxBytes (> 16), on keys under prefix.
func Run(t *testing.T, s blob.Store, maxBytes int64, prefix string) {
	ctx := context.Background()
	key := prefix + "/a/object.bin"
	data := []byte(strings.Repeat("0123456789abcdef", int(maxBytes/16)))[:maxBytes]

	t.Run("missing", func(t *testing.T) {
		if _, _, err := s.Get(ctx, key+".none"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get: %v", err)
		}
		if _, err := s.Stat(ctx, key+".none"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat: %v", err)
		}
		if err := s.Delete(ctx, key+".none"); err != nil {
			t.Errorf("Delete: %v", err)
		}
	})
	t.Run("put get stat delete", func(t *testing.T) {
		info, err := s.Put(ctx, key, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if info.Size != int64(len(data)) || info.SHA256 != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("Put: %+v", info)
		}
		rc, gi, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) || gi.Size != int64(len(data)) {
			t.Errorf("Get: %d bytes, %v, %+v", len(got), err, gi)
		}
		if st, err := s.Stat(ctx, key); err != nil || st.Size != int64(len(data)) {
			t.Errorf("Stat: %+v, %v", st, err)
		}
		// Replace.
		if _, err := s.Put(ctx, key, strings.NewReader("short")); err != nil {
			t.Fatal(err)
		}
		if st, _ := s.Stat(ctx, key); st.Size != 5 {
			t.Errorf("replaced: size %d", st.Size)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("after Delete: %v", err)
		}
	})
	t.Run("too large stores nothing", func(t *testing.T) {
		if _, err := s.Put(ctx, key, bytes.NewReader(append(data, 'x'))); !errors.Is(err, blob.ErrTooLarge) {
			t.Errorf("Put: %v", err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("a refused object is visible: %v", err)
		}
	})
	t.Run("failed read keeps the old object", func(t *testing.T) {
		if _, err := s.Put(ctx, key, strings.NewReader("old")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, key, &failingReader{n: 10}); err == nil {
			t.Error("Put of a failing reader succeeded")
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Put(cctx, key, strings.NewReader("new")); err == nil {
			t.Error("Put with a cancelled context succeeded")
		}
		rc, _, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "old" {
			t.Errorf("object is %q, want old", b)
		}
		_ = s.Delete(ctx, key)
	})
	t.Run("get stops when its ctx ends", func(t *testing.T) {
		if _, err := s.Put(ctx, key, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		gctx, cancel := context.WithCancel(ctx)
		defer cancel()
		rc, _, err := s.Get(gctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		cancel()
		if b, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
			t.Errorf("read after the cancel: %d bytes, %v; want context.Canceled", len(b), err)
		}
		_ = s.Delete(ctx, key)
	})
	t.Run("bad keys", func(t *testing.T) {
		for _, k := range []string{"", "/abs", "a/../b", "a//b", "..", "a/./b", "sp ace", "a\\b", strings.Repeat("k", blob.MaxKeyLen+1)} {
			if _, err := s.Put(ctx, k, strings.NewReader("x")); !errors.Is(err, blob.ErrBadKey) {
				t.Errorf("Put(%q): %v", k, err)
			}
		}
	})
	t.Run("walk", func(t *testing.T) {
		want := map[string]int64{prefix + "/w/1/a.bin": 1, prefix + "/w/1/b/c.bin": 2, prefix + "/w/10/d.bin": 3}
		for k, n := range want {
			if _, err := s.Put(ctx, k, bytes.NewReader(make([]byte, n))); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Put(ctx, prefix+"/x/e.bin", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{prefix + "/w/", prefix + "/w/1", prefix + "/w"} {
			got := map[string]int64{}
			err := s.Walk(ctx, p, func(i blob.Info) error {
				if i.ModTime.IsZero() {
					t.Errorf("Walk(%q): %s has no modification time", p, i.Key)
				}
				got[i.Key] = i.Size
				return nil
			})
			if err != nil {
				t.Fatalf("Walk(%q): %v", p, err)
			}
			if len(got) != len(want) {
				t.Errorf("Walk(%q) = %v, want %v", p, got, want)
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("Walk(%q): %s has %d bytes, want %d", p, k, got[k], n)
				}
			}
		}
		n := 0
		if err := s.Walk(ctx, prefix+"/none/", func(blob.Info) error { n++; return nil }); err != nil || n != 0 {
			t.Errorf("Walk of a missing prefix: %d objects, %v", n, err)
		}
		stop := errors.New("stop")
		if err := s.Walk(ctx, prefix+"/w/", func(blob.Info) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("Walk: fn's error is %v, want stop", err)
		}
		for k := range want {
			_ = s.Delete(ctx, k)
		}
		_ = s.Delete(ctx, prefix+"/x/e.bin")
	})
	t.Run("concurrent writers", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				v := bytes.Repeat([]byte{byte('a' + i)}, 16)
				if _, err := s.Put(ctx, key, bytes.NewReader(v)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		rc, _, err := s.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if len(b) != 16 || bytes.Count(b, b[:1]) != 16 {
			t.Errorf("interleaved object %q", b)
		}
		_ = s.Delete(ctx, key)
	})
}
