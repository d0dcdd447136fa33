package buffer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hydrognn/hydrognn/agent/internal/diskspace"
)

// compactSuffix names the temporary copy a compaction writes next to the
// data file. Open removes a leftover one: until the rename, the original
// file is the authoritative one.
const compactSuffix = ".compact"

// compactTxBytes bounds the size of one transaction of the copy (a
// variable for tests).
var compactTxBytes int64 = 32 << 20

// shouldCompact reports whether free pages exceed the automatic
// compaction threshold.
func (b *Buffer) shouldCompact() bool {
	if b.opts.CompactFreeRatio < 0 {
		return false
	}
	b.dbMu.RLock()
	db := b.db
	var free int64
	if db != nil {
		free = int64(db.Stats().FreeAlloc)
	}
	b.dbMu.RUnlock()
	fi, err := os.Stat(b.path)
	if db == nil || err != nil || fi.Size() < b.opts.CompactMinBytes {
		return false
	}
	return float64(free) >= b.opts.CompactFreeRatio*float64(fi.Size())
}

// compact copies the live data into a new file with bbolt.Compact, syncs
// it, renames it over the data file, syncs the directory and reopens. It
// runs on the writer goroutine (or in Open before the writer starts), so
// no write can happen meanwhile; readers continue on the old file until
// the swap.
//
// A crash at any point leaves either the old file (plus a leftover copy
// that Open removes) or the complete new one.
func (b *Buffer) compact(ctx context.Context) (err error) {
	start := b.opts.Now()
	tmp := b.path + compactSuffix
	b.dbMu.RLock()
	src := b.db
	b.dbMu.RUnlock()
	if src == nil {
		return ErrClosed
	}
	fi, err := os.Stat(b.path)
	if err != nil {
		return fmt.Errorf("compact buffer %s: %w", b.path, err)
	}
	before := fi.Size()
	b.mu.Lock()
	live := b.st.bytes
	b.mu.Unlock()
	// The copy needs about the live data plus page overhead.
	if avail, err := diskspace.Free(filepath.Dir(b.path)); err == nil && avail < uint64(live)*3/2+16<<20 {
		return fmt.Errorf("compact buffer %s: %w: %d bytes free, about %d needed", b.path, errNoRoom, avail, uint64(live)*3/2+16<<20)
	}
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("compact buffer %s: %w", b.path, err)
	}
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType, NoSync: true})
	if err != nil {
		return fmt.Errorf("compact buffer %s: create copy: %w", b.path, err)
	}
	if err := ctx.Err(); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := b.copyCompact(dst, src); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("compact buffer %s: copy: %w", b.path, err)
	}
	if err := dst.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("compact buffer %s: close copy: %w", b.path, err)
	}

	// Swap: no reader may hold the old file while it is closed.
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	if err := src.Close(); err != nil {
		b.db = nil
		return fmt.Errorf("compact buffer %s: close: %w", b.path, err)
	}
	b.db = nil
	if err := os.Rename(tmp, b.path); err != nil {
		// The old file is intact: reopen it.
		_ = os.Remove(tmp)
		if db, oerr := b.reopen(); oerr == nil {
			b.db = db
		}
		return fmt.Errorf("compact buffer %s: rename: %w", b.path, err)
	}
	if err := syncDir(filepath.Dir(b.path)); err != nil {
		b.log.Error("buffer compaction: directory sync failed", "err", err)
	}
	db, err := b.reopen()
	if err != nil {
		return fmt.Errorf("compact buffer %s: reopen: %w (the buffer is closed; restart the agent)", b.path, err)
	}
	b.db = db
	after := int64(0)
	if fi, err := os.Stat(b.path); err == nil {
		after = fi.Size()
	}
	b.mu.Lock()
	b.counters.compactions++
	b.mu.Unlock()
	b.log.Info("buffer compacted", "bytes_before", before, "bytes_after", after, "took", b.opts.Now().Sub(start))
	return nil
}

// copyCompact copies src into dst as bolt.Compact does, in transactions
// of about compactTxBytes, each written out (dst.Sync: the copy is
// opened with NoSync) before the next begins and then reported to
// Options.OnProgress: on a slow disk a compaction takes minutes, and a
// copy that moves is told from one hung in a write. Once it returns, the
// copy is on disk.
func (b *Buffer) copyCompact(dst, src *bolt.DB) (err error) {
	tx, err := dst.Begin(true)
	if err != nil {
		return err
	}
	defer func() {
		if tx != nil {
			_ = tx.Rollback()
		}
	}()
	commit := func() error {
		err := tx.Commit()
		tx = nil
		if err != nil {
			return err
		}
		if err := dst.Sync(); err != nil {
			return fmt.Errorf("sync copy: %w", err)
		}
		if b.opts.OnProgress != nil {
			b.opts.OnProgress()
		}
		return nil
	}
	var size int64
	err = src.View(func(stx *bolt.Tx) error {
		return stx.ForEach(func(name []byte, sb *bolt.Bucket) error {
			return copyBucket(sb, [][]byte{name}, func(path [][]byte, k, v []byte, seq uint64) error {
				sz := int64(len(k) + len(v))
				if size+sz > compactTxBytes && size > 0 {
					if err := commit(); err != nil {
						return err
					}
					if tx, err = dst.Begin(true); err != nil {
						return err
					}
					size = 0
				}
				size += sz
				return putPath(tx, path, k, v, seq)
			})
		})
	})
	if err != nil {
		return err
	}
	return commit()
}

// copyFunc receives one bucket (v nil, with its sequence) or key/value
// pair k of the bucket at path (path[0] a top-level bucket).
type copyFunc func(path [][]byte, k, v []byte, seq uint64) error

// copyBucket calls fn for the bucket at path (its last element) and then
// for everything in it, depth first.
func copyBucket(bk *bolt.Bucket, path [][]byte, fn copyFunc) error {
	if err := fn(path[:len(path)-1], path[len(path)-1], nil, bk.Sequence()); err != nil {
		return err
	}
	return bk.ForEach(func(k, v []byte) error {
		if v == nil {
			return copyBucket(bk.Bucket(k), append(path[:len(path):len(path)], k), fn)
		}
		return fn(path, k, v, 0)
	})
}

// putPath writes the bucket (v nil) or key/value pair k under path.
func putPath(tx *bolt.Tx, path [][]byte, k, v []byte, seq uint64) error {
	if len(path) == 0 {
		bk, err := tx.CreateBucket(k)
		if err != nil {
			return err
		}
		return bk.SetSequence(seq)
	}
	bk := tx.Bucket(path[0])
	for _, p := range path[1:] {
		bk = bk.Bucket(p)
	}
	bk.FillPercent = 1.0 // fill pages completely: the copy is compact
	if v == nil {
		nb, err := bk.CreateBucket(k)
		if err != nil {
			return err
		}
		return nb.SetSequence(seq)
	}
	return bk.Put(k, v)
}

// reopen opens the data file again after a compaction.
func (b *Buffer) reopen() (*bolt.DB, error) {
	db, err := openBolt(b.path, &bolt.Options{
		Timeout:      time.Second,
		FreelistType: bolt.FreelistMapType,
		MaxSize:      int(max(b.opts.MaxFileBytes, 0)),
	})
	if err != nil {
		return nil, err
	}
	return db, nil
}
