package buffer

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// scanChunk is how many records one read transaction of Scan gathers;
// range chunks are bounded by rangeChunkBlocks index entries. Short
// transactions keep readers from holding bbolt's mmap lock, which would
// stall the writer when the file must grow.
const (
	scanChunk        = 4096
	rangeChunkBlocks = 64
)

// view runs fn in a read transaction on the current file.
func (b *Buffer) view(fn func(*bolt.Tx) error) (err error) {
	b.dbMu.RLock()
	defer b.dbMu.RUnlock()
	if b.db == nil {
		return ErrClosed
	}
	defer func() {
		if r := recover(); r != nil {
			err = b.corrupt(fmt.Errorf("bbolt panicked reading the file: %v", r))
		}
	}()
	return b.db.View(fn)
}

// Read appends to dst up to max records with sequence numbers above
// after, in sequence order, and returns the extended slice. It returns
// fewer (possibly none) when no more are stored. Records below the oldest
// stored one are gone (removed by a cap): Read then starts at the oldest,
// and the gap shows in the returned sequence numbers.
//
// The returned records own their memory. Safe for concurrent use with
// every other method; it sees each commit entirely or not at all.
func (b *Buffer) Read(ctx context.Context, after uint64, max int, dst []Record) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return dst, err
	}
	if max <= 0 {
		return dst, nil
	}
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketBlocks).Cursor()
		want := after + 1
		k, v := c.Seek(seqKey(want))
		switch {
		case k == nil:
			k, v = c.Last()
		case binary.BigEndian.Uint64(k) > want:
			if pk, pv := c.Prev(); pk != nil {
				k, v = pk, pv
			} else {
				k, v = c.First()
			}
		}
		n := 0
		for ; k != nil && n < max; k, v = c.Next() {
			first := binary.BigEndian.Uint64(k)
			d, h, err := newBlockReader(v)
			if err != nil {
				return fmt.Errorf("%w: block at seq %d: %v", ErrCorrupt, first, err)
			}
			ingest := time.Unix(0, h.ingest).UTC()
			for i := uint64(0); n < max; i++ {
				var r Record
				ok, err := d.next(&r.Reading)
				if err != nil {
					return fmt.Errorf("%w: block at seq %d: %v", ErrCorrupt, first, err)
				}
				if !ok {
					break
				}
				if first+i <= after {
					continue
				}
				r.Seq, r.Ingested = first+i, ingest
				dst = append(dst, r)
				n++
			}
		}
		return nil
	})
	return dst, err
}

// Scan calls fn for every stored record with a sequence number above
// after, in sequence order, up to the last sequence number at the time
// Scan starts. It reads in chunks of short transactions and calls fn
// outside them, so fn may call any method of the Buffer (SetCursor
// included). fn returning ErrStop ends Scan with nil; another error ends
// it with that error. Records removed by a cap while Scan runs are
// skipped.
func (b *Buffer) Scan(ctx context.Context, after uint64, fn func(Record) error) error {
	end := b.LastSeq()
	buf := make([]Record, 0, scanChunk)
	for after < end {
		var err error
		buf, err = b.Read(ctx, after, scanChunk, buf[:0])
		if err != nil {
			return err
		}
		if len(buf) == 0 {
			return nil
		}
		for _, r := range buf {
			if r.Seq > end {
				return nil
			}
			if err := fn(r); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
			after = r.Seq
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// Range calls fn for every stored reading whose time (Reading.Time, the
// sensor's clock) is in [from, to), using the time index. Records come
// ordered by whole second of their time, and by sequence number within a
// second: sort them if you need strict time order. Like Scan it reads in
// short transactions and calls fn outside them, stops with nil on
// ErrStop, and skips records removed meanwhile.
func (b *Buffer) Range(ctx context.Context, from, to time.Time, fn func(Record) error) error {
	if !from.Before(to) {
		return nil
	}
	from, to = clampTime(from), clampTime(to)
	lo, hi := from.UnixNano(), to.UnixNano()
	seek := indexKey(timeBucket(lo), 0)
	lastBucket := timeBucket(hi)
	var buf []Record
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		buf = buf[:0]
		var next []byte
		err := b.view(func(tx *bolt.Tx) error {
			blk := tx.Bucket(bucketBlocks)
			c := tx.Bucket(bucketIndex).Cursor()
			n := 0
			for k, _ := c.Seek(seek); k != nil; k, _ = c.Next() {
				sec, first, ok := parseIndexKey(k)
				if !ok {
					return fmt.Errorf("%w: time index key %x", ErrCorrupt, k)
				}
				if sec > lastBucket {
					return nil
				}
				if n == rangeChunkBlocks {
					next = bytes.Clone(k)
					return nil
				}
				n++
				v := blk.Get(seqKey(first))
				if v == nil {
					continue // removed by a cap after the index entry was read
				}
				d, h, err := newBlockReader(v)
				if err != nil {
					return fmt.Errorf("%w: block at seq %d: %v", ErrCorrupt, first, err)
				}
				ingest := time.Unix(0, h.ingest).UTC()
				for i := uint64(0); ; i++ {
					var r Record
					ok, err := d.next(&r.Reading)
					if err != nil {
						return fmt.Errorf("%w: block at seq %d: %v", ErrCorrupt, first, err)
					}
					if !ok {
						break
					}
					t := d.prev
					if timeBucket(t) != sec || t < lo || t >= hi {
						continue
					}
					r.Seq, r.Ingested = first+i, ingest
					buf = append(buf, r)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range buf {
			if err := fn(r); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
		}
		if next == nil {
			return nil
		}
		seek = next
	}
}

func clampTime(t time.Time) time.Time {
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t
}
