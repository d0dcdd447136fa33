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

// compactTxBytes bounds the size of one transaction of the copy.
const compactTxBytes = 32 << 20

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
	if err := bolt.Compact(dst, src, compactTxBytes); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("compact buffer %s: copy: %w", b.path, err)
	}
	if err := dst.Sync(); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("compact buffer %s: sync copy: %w", b.path, err)
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
