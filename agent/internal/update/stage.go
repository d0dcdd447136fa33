package update

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/durable"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// verifyAndStage checks the complete part file of t against its signed
// TUF target (length and every hash, as go-tuf does; hashed as it streams
// from the file, not read into memory), extracts it into a fresh
// staging folder beside the installed bundles, checks the bundle (model
// file digests, manifest digest against the signed release metadata, rig
// type and firmware-config digest against this rig), syncs it and renames
// it into bundles/. It returns the staged folder. Less free space than a
// file needs plus DiskReserve, or a write refused for want of space
// (ENOSPC, EDQUOT), returns ErrDiskFull, the staging folder removed.
// It gives up soon after ctx is done (the agent stopping), returning an
// error that matches ctx's, whatever step it was at: the hashing and the
// extraction read through ctx, each file's sync checks it, and the bundle
// check is left running on its own (it only reads).
func (m *Manager) verifyAndStage(ctx context.Context, t *Target, tf *metadata.TargetFiles) (_ string, err error) {
	// A full disk at any step (the staging folder, a file, a sync, the
	// rename) is ErrDiskFull, not a failed verification.
	defer func() { err = asDiskFull(err, "extract "+t.Path) }()
	// The part file is hashed as it streams, then extracted from the
	// same open file: memory stays small however large the archive. What
	// is extracted is checked again against the signed release metadata
	// (checkBundle: the manifest digest, every model file's digest).
	f, err := os.Open(m.partPath(t.SHA256))
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := verifyTarget(ctxReader{ctx, f, m.opts.Heartbeat}, tf); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("verify %s: %w", t.Path, ctx.Err())
		}
		if errors.As(err, new(*metadata.ErrLengthOrHashMismatch)) {
			return "", fmt.Errorf("%w: %s: %w", ErrVerify, t.Path, err)
		}
		return "", fmt.Errorf("read %s: %w", t.Path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	bundles := filepath.Join(m.opts.Dir, "bundles")
	if err := os.MkdirAll(bundles, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(bundles, ".staging-")
	if err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	lim := tarball.Limits{MaxFiles: 1000, MaxBytes: 4 * m.opts.MaxBundleBytes,
		// The space is checked file by file as the archive unpacks: its
		// unpacked size is only known by decompressing it, and a pass of
		// its own for that would double the work of the extraction.
		BeforeFile: func(name string, size int64) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return m.checkSpace("extract "+t.Path+": "+name, size)
		}}
	if err := tarball.Extract(bufio.NewReaderSize(ctxReader{ctx, f, m.opts.Heartbeat}, 64<<10), tmp, lim); err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("extract %s: %w", t.Path, ctx.Err())
		}
		if errors.Is(err, ErrDiskFull) || noSpace(err) {
			return "", err
		}
		return "", fmt.Errorf("%w: extract %s: %w", ErrVerify, t.Path, err)
	}
	if err := m.checkBundleContext(ctx, tmp, t); err != nil {
		return "", err
	}
	if err := syncTree(ctx, tmp, m.opts.Heartbeat); err != nil {
		return "", err
	}
	rel := t.Release
	dst := filepath.Join(bundles, rel.Bundle+"-"+rel.Version+"-"+t.SHA256[:12])
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", err
	}
	if err := durable.SyncDir(bundles); err != nil {
		return "", err
	}
	ok = true
	return dst, nil
}

// verifyTarget checks the archive r against its signed TUF target tf as
// metadata.TargetFiles.VerifyLengthHashes does (hashes are required, each
// must match, an unknown algorithm fails, then the length), reading r once
// as a stream instead of from a byte slice of the whole archive. A
// mismatch is a *metadata.ErrLengthOrHashMismatch; another error is r's.
func verifyTarget(r io.Reader, tf *metadata.TargetFiles) error {
	if len(tf.Hashes) == 0 {
		return &metadata.ErrLengthOrHashMismatch{Msg: "hashes must not be empty for target files"}
	}
	hashes := make(map[string]hash.Hash, len(tf.Hashes))
	ws := make([]io.Writer, 0, len(tf.Hashes))
	for alg := range tf.Hashes {
		var h hash.Hash
		switch alg {
		case "sha256":
			h = sha256.New()
		case "sha512":
			h = sha512.New()
		default:
			return &metadata.ErrLengthOrHashMismatch{Msg: fmt.Sprintf("hash verification failed - unknown hashing algorithm - %s", alg)}
		}
		hashes[alg] = h
		ws = append(ws, h)
	}
	n, err := io.Copy(io.MultiWriter(ws...), r)
	if err != nil {
		return err
	}
	for alg, want := range tf.Hashes {
		if !bytes.Equal(want, hashes[alg].Sum(nil)) {
			return &metadata.ErrLengthOrHashMismatch{Msg: fmt.Sprintf("hash verification failed - mismatch for algorithm %s", alg)}
		}
	}
	if n != tf.Length {
		return &metadata.ErrLengthOrHashMismatch{Msg: fmt.Sprintf("length verification failed - expected %d, got %d", tf.Length, n)}
	}
	return nil
}

// ctxReader reads r until ctx is done, then returns ctx's error: a
// read of a large archive (hashing, extraction) stops within one read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	// beat is beaten at every read: the hash check and the extraction of
	// an archive read it as they progress (the update loop is alive).
	beat *liveness.Beater
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	c.beat.Beat()
	return c.r.Read(p)
}

// checkBundleContext is checkBundle, given up when ctx is done first
// (returning ctx's error): it hashes every model file, up to
// Options.MaxBundleBytes, and bundle.Load takes no ctx. The check left
// running only reads, and ends on its own.
func (m *Manager) checkBundleContext(ctx context.Context, dir string, t *Target) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check bundle %s: %w", t.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- m.checkBundle(dir, t) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("check bundle %s: %w", t.Path, ctx.Err())
	}
}

// checkBundle loads the bundle in dir (every model file's size and sha256
// against the manifest) and ties it to the signed release metadata and to
// this rig.
func (m *Manager) checkBundle(dir string, t *Target) error {
	man, err := bundle.Load(dir)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMismatch, t.Path, err)
	}
	rel := t.Release
	var err2 error
	switch {
	case man.Digest() != rel.ManifestDigest:
		err2 = fmt.Errorf("%w: %s: manifest digest %s is not the signed %s", ErrMismatch, t.Path, man.Digest(), rel.ManifestDigest)
	case man.RigType != m.opts.RigType:
		err2 = fmt.Errorf("%w: %s: bundle for rig type %q, this rig is %q", ErrMismatch, t.Path, man.RigType, m.opts.RigType)
	case man.ConfigDigest != m.opts.ConfigDigest:
		err2 = fmt.Errorf("%w: %s: bundle for firmware config %s, this rig's is %s", ErrMismatch, t.Path, man.ConfigDigest, m.opts.ConfigDigest)
	case man.Version != rel.Version:
		err2 = fmt.Errorf("%w: %s: bundle version %s, the release says %s", ErrMismatch, t.Path, man.Version, rel.Version)
	default:
		return nil
	}
	return &unfitError{err2}
}

// unfitError is checkBundle's refusal of a bundle that loads but does not
// match its signed release or this rig: extracted from an archive that
// passed the signed hash, the same bytes never will (verifying gives the
// release up at once).
type unfitError struct{ err error }

func (e *unfitError) Error() string { return e.err.Error() }
func (e *unfitError) Unwrap() error { return e.err }

// giveUpError fails an attempt and gives the release up at once
// (failLocked sets its attempts to MaxAttempts).
type giveUpError struct{ err error }

func (e *giveUpError) Error() string {
	return e.err.Error() + " (given up: its signed archive can never fit)"
}
func (e *giveUpError) Unwrap() error { return e.err }

// syncTree fsyncs every file and folder under dir, until ctx is done.
func syncTree(ctx context.Context, dir string, beat *liveness.Beater) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		beat.Beat()
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		return durable.SyncClose(f, nil)
	})
}

// pointer is <dir>/current, the symlink to the bundle the agent serves.
func (m *Manager) pointer() string { return filepath.Join(m.opts.Dir, "current") }

// switchTo points <dir>/current at dir atomically: a new symlink renamed
// over the old one, then the folder synced.
func (m *Manager) switchTo(dir string) error {
	cur := m.pointer()
	if got, err := os.Readlink(cur); err == nil && got == dir {
		return nil
	}
	tmp := cur + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(dir, tmp); err != nil {
		return fmt.Errorf("switch model: %w", err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		return fmt.Errorf("switch model: %w", err)
	}
	return durable.SyncDir(m.opts.Dir)
}

// prune removes the bundles and part files nothing refers to.
func (m *Manager) prune(rec *Record) {
	keep := map[string]bool{}
	for _, b := range []*Bundle{rec.Installed, rec.Previous} {
		if b != nil {
			keep[b.Dir] = true
		}
	}
	if rec.Target != nil && rec.Target.Staged != "" {
		keep[rec.Target.Staged] = true
	}
	bundles := filepath.Join(m.opts.Dir, "bundles")
	ents, _ := os.ReadDir(bundles)
	for _, e := range ents {
		p := filepath.Join(bundles, e.Name())
		if !keep[p] {
			if err := os.RemoveAll(p); err != nil {
				m.log.Warn("update: remove old bundle", "dir", p, "err", err)
			}
		}
	}
	parts, _ := os.ReadDir(filepath.Join(m.opts.Dir, "download"))
	for _, e := range parts {
		if rec.Target != nil && e.Name() == rec.Target.SHA256+".part" {
			continue
		}
		os.Remove(filepath.Join(m.opts.Dir, "download", e.Name()))
	}
}
