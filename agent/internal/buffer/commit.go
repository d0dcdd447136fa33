package buffer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// run is the writer goroutine: it gathers requests into groups and
// commits each group in one bbolt transaction (one fsync).
func (b *Buffer) run() {
	defer close(b.done)
	tick := time.NewTicker(b.opts.MaintenanceInterval)
	defer tick.Stop()
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		var first *request
		select {
		case first = <-b.reqs:
		case <-tick.C:
			b.maintain()
			continue
		case <-b.stop:
			b.drain()
			return
		}
		group := append(b.group[:0], first)
		n := len(first.rs)
		deadline := first.enq.Add(b.opts.GroupDelay)
	collect:
		for n < b.opts.GroupCount && first.kind != reqCompact {
			select {
			case r := <-b.reqs:
				group = append(group, r)
				n += len(r.rs)
				if r.kind == reqCompact {
					break collect
				}
				continue
			default:
			}
			wait := deadline.Sub(b.opts.Now())
			if wait <= 0 {
				break
			}
			linger.Reset(wait)
			select {
			case r := <-b.reqs:
				group = append(group, r)
				n += len(r.rs)
				if r.kind == reqCompact {
					break collect
				}
			case <-linger.C:
				break collect
			case <-b.stop:
				break collect
			}
		}
		linger.Stop()
		b.group = group
		b.commitGroup(group)
		clear(b.group)
	}
}

// drain commits everything still queued once Close has stopped intake.
func (b *Buffer) drain() {
	for {
		group := b.group[:0]
		n := 0
	gather:
		for n < b.opts.GroupCount {
			select {
			case r := <-b.reqs:
				group = append(group, r)
				n += len(r.rs)
			default:
				break gather
			}
		}
		if len(group) == 0 {
			return
		}
		b.group = group
		b.commitGroup(group)
		clear(b.group)
	}
}

// commitGroup commits the appends and cursor updates of group and then
// runs the compactions it holds.
func (b *Buffer) commitGroup(group []*request) {
	b.compacts = b.compacts[:0]
	var work []*request
	for _, r := range group {
		if r.kind == reqCompact {
			b.compacts = append(b.compacts, r)
		} else {
			work = append(work, r)
		}
	}
	if len(work) > 0 {
		b.commit(work)
	}
	for _, r := range b.compacts {
		r.done <- b.compact(context.Background())
	}
	clear(b.compacts)
}

// clockStep tells a forward step of the wall clock (Options.Now) since
// the buffer opened: the wall time elapsed beyond the monotonic time
// elapsed (Options.elapsed), by more than a second. Blocks committed
// before the step (sequence numbers up to b.stepSeq) are then aged less
// it: a clock stepped forward (NTP after a boot at a stale time) does not
// age unforwarded readings by the step and remove them. A second step
// widens the first's range and adds to it while blocks from before the
// first remain; blocks after the last step are aged by the wall clock.
// The step and its range are persisted with the next commit
// (keyClockStep), so a restart with the clock still stepped keeps the
// guard. A backward step only makes blocks look younger.
func (b *Buffer) clockStep(now int64, first, last uint64) {
	if b.opts.elapsed == nil {
		return
	}
	step := now - b.wall0 - b.opts.elapsed().Nanoseconds()
	if step <= b.sessStep+time.Second.Nanoseconds() {
		return
	}
	delta := step - b.sessStep
	b.log.Warn("buffer saw the wall clock step forward: readings committed before are aged less the step",
		"step", time.Duration(delta).Round(time.Millisecond), "last_seq_before", last)
	b.sessStep = step
	if b.stepSeq < first {
		b.stepped = 0 // no block from before an earlier step is left
	}
	b.stepped += delta
	b.stepSeq = last
	b.stepDirty = true
}

// maintain removes readings past MaxAge while no appends come, and
// compacts when free pages exceed the threshold.
func (b *Buffer) maintain() {
	b.mu.Lock()
	oldest, first, last := b.st.oldest, b.st.first, b.st.last
	b.mu.Unlock()
	// The oldest block may predate a forward step of the clock: aged
	// less the step, as commit does (b.stepped and b.stepSeq are the
	// writer goroutine's, as is maintain). A step seen here is persisted
	// by a commit at once, so that it survives a restart before the next
	// append.
	now := b.opts.Now()
	b.clockStep(now.UnixNano(), first, last)
	limit := now.Add(-b.opts.MaxAge).UnixNano()
	if first <= b.stepSeq {
		limit -= b.stepped
	}
	if b.stepDirty || b.opts.MaxAge > 0 && oldest != 0 && oldest < limit {
		b.commit(nil)
	}
	if b.shouldCompact() {
		if err := b.compact(context.Background()); err != nil {
			b.log.Error("buffer compaction failed", "err", err)
		}
	}
}

// blockRef locates one encoded block in the writer's scratch buffer.
type blockRef struct {
	start, end int
	count      int
	buckets    []int64
}

// commit writes one group: cursor updates, removals by the caps, the new
// blocks and the totals, in one transaction, then answers every request.
// With no request it only applies the caps (age removal by maintain).
func (b *Buffer) commit(reqs []*request) {
	start := b.opts.Now()
	now := start.UnixNano()
	b.mu.Lock()
	ns := b.st.clone()
	b.mu.Unlock()
	b.clockStep(now, ns.first, ns.last)

	// Copy the appended readings (their callers own rs again once the
	// copy is made) and drop the requests whose callers gave up before.
	b.flat = b.flat[:0]
	var wait time.Duration
	live := reqs[:0]
	for _, r := range reqs {
		if r.kind == reqAppend {
			if !r.state.CompareAndSwap(reqQueued, reqCopying) {
				continue // abandoned: its Append returned the context's error
			}
			b.flat = append(b.flat, r.rs...)
			r.rs = nil
			r.state.Store(reqCopied)
		}
		live = append(live, r)
		if w := start.Sub(r.enq); w > wait {
			wait = w
		}
	}
	reqs = live
	results := make([]error, len(reqs))
	b.scratch = b.scratch[:0]
	var blocks []blockRef
	for i := 0; i < len(b.flat); i += b.opts.BlockReadings {
		j := min(i+b.opts.BlockReadings, len(b.flat))
		s := len(b.scratch)
		b.scratch = b.enc.appendBlock(b.scratch, now, b.flat[i:j])
		blocks = append(blocks, blockRef{start: s, end: len(b.scratch), count: j - i})
	}
	newBytes := int64(len(b.scratch))
	for k := range blocks {
		var err error
		blocks[k].buckets, err = blockBuckets(b.scratch[blocks[k].start:blocks[k].end], nil)
		if err != nil {
			panic(fmt.Sprintf("buffer: a block just encoded does not decode: %v", err))
		}
	}

	// Each sensor's mark, as the group moves it on: the newest time, and
	// the publisher's seq of its last reading in arrival order (what the
	// MQTT ingest's duplicate check holds in memory).
	b.mu.Lock()
	clear(b.latestNew)
	for i := range b.flat {
		r := &b.flat[i]
		cur, ok := b.latestNew[r.Sensor]
		if !ok {
			cur, ok = b.latest[r.Sensor]
			if !ok && len(b.latest)+len(b.latestNew) >= MaxLatestSensors {
				continue
			}
		}
		m := latestMark{t: r.Time.UnixNano(), seq: r.Seq}
		if ok {
			m.t = max(m.t, cur.t)
			if r.Seq == 0 {
				m.seq = cur.seq // a reading without seq leaves it
			}
		}
		b.latestNew[r.Sensor] = m
	}
	b.mu.Unlock()

	var drops []Drop
	rejectAll := false
	err := b.update(func(tx *bolt.Tx) error {
		blk, idx, cur, meta := tx.Bucket(bucketBlocks), tx.Bucket(bucketIndex), tx.Bucket(bucketCursors), tx.Bucket(bucketMeta)
		blk.FillPercent = 1 // keys only ever grow: fill pages completely
		idx.FillPercent = 0.9
		for i, r := range reqs {
			if r.kind != reqCursor {
				continue
			}
			if r.seq > ns.last {
				results[i] = fmt.Errorf("buffer: set cursor %q to %d: beyond the last sequence number %d", r.cursor, r.seq, ns.last)
				continue
			}
			if err := cur.Put([]byte(r.cursor), binary.BigEndian.AppendUint64(nil, r.seq)); err != nil {
				return err
			}
			ns.cursors[r.cursor] = r.seq
		}
		released := b.released(&ns)
		// Age first: everything ingested before the limit goes. A block
		// committed before a forward step of the clock is aged less the
		// step (clockStep).
		if b.opts.MaxAge > 0 {
			limit := now - b.opts.MaxAge.Nanoseconds()
			if err := b.prune(blk, idx, &ns, released, math.MaxUint64, ReasonMaxAge, &drops, func(first uint64, h blockHeader, _ int64) bool {
				if first <= b.stepSeq {
					return h.ingest < limit-b.stepped
				}
				return h.ingest < limit
			}); err != nil {
				return err
			}
		}
		// Then bytes: released readings first, then by policy.
		if ns.bytes+newBytes > b.opts.MaxBytes {
			need := ns.bytes + newBytes - b.opts.MaxBytes
			freed := int64(0)
			limit := uint64(math.MaxUint64) // drop_oldest: any block may go
			if b.opts.FullPolicy == PolicyReject {
				limit = released
			}
			if err := b.prune(blk, idx, &ns, released, limit, ReasonMaxBytes, &drops, func(_ uint64, _ blockHeader, size int64) bool {
				if freed >= need {
					return false
				}
				freed += size
				return true
			}); err != nil {
				return err
			}
			if freed < need && b.opts.FullPolicy == PolicyReject && len(blocks) > 0 {
				rejectAll = true
			}
		}
		if !rejectAll {
			for _, br := range blocks {
				first := ns.last + 1
				if err := blk.Put(seqKey(first), b.scratch[br.start:br.end]); err != nil {
					return err
				}
				for _, s := range br.buckets {
					if err := idx.Put(indexKey(s, first), []byte{}); err != nil {
						return err
					}
				}
				if ns.records == 0 {
					ns.first, ns.oldest = first, now
				}
				ns.last += uint64(br.count)
				ns.records += uint64(br.count)
				ns.bytes += int64(br.end - br.start)
			}
			if err := blk.SetSequence(ns.last); err != nil {
				return err
			}
			lt := tx.Bucket(bucketLatest)
			for s, m := range b.latestNew {
				v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(m.t)), m.seq)
				if err := lt.Put([]byte(s), v); err != nil {
					return err
				}
			}
		}
		if b.stepDirty {
			v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(b.stepped)), b.stepSeq)
			if err := meta.Put(keyClockStep, v); err != nil {
				return err
			}
		}
		return b.putTotals(meta, &ns)
	})
	took := b.opts.Now().Sub(start)
	if err != nil {
		err = b.classify(err)
		if errors.Is(err, ErrDiskFull) {
			// Before answering, so that callers see the room it made.
			b.freeReleased()
		}
	}

	// Publish the new state.
	b.mu.Lock()
	if err == nil {
		b.st = ns
		b.stepDirty = false
		if !rejectAll {
			b.counters.appended += uint64(len(b.flat))
			for s, m := range b.latestNew {
				b.latest[s] = m
			}
		}
		close(b.notify)
		b.notify = make(chan struct{})
	} else {
		b.counters.commitErrs++
	}
	if err != nil || rejectAll {
		b.counters.rejected += uint64(len(b.flat))
	}
	b.counters.commits++
	b.counters.commitTime += took
	b.mu.Unlock()
	// Report drops and the commit before answering, so that a caller
	// sees the effects of its commit in OnDrop and OnCommit's data.
	if err != nil {
		b.errsSince++
		if b.opts.Now().Sub(b.lastErrLog) >= 10*time.Second {
			b.log.Error("buffer commit failed", "readings", len(b.flat), "failed_commits", b.errsSince, "err", err)
			b.errsSince, b.lastErrLog = 0, b.opts.Now()
		}
	}
	if err == nil {
		b.reportDrops(drops)
	}
	if b.opts.OnCommit != nil {
		info := CommitInfo{Requests: len(reqs), Readings: len(b.flat), Bytes: int(newBytes), Wait: wait, Duration: took, Err: err}
		if rejectAll {
			info.Bytes, info.Err = 0, ErrFull
		}
		b.opts.OnCommit(info)
	}
	for i, r := range reqs {
		res := results[i]
		switch {
		case err != nil:
			res = err
		case rejectAll && r.kind == reqAppend:
			res = fmt.Errorf("%w: %s holds %d bytes of readings, max %d (full policy %q); %d readings refused",
				ErrFull, b.path, ns.bytes, b.opts.MaxBytes, b.opts.FullPolicy, r.n)
		}
		r.done <- res
	}
	clear(b.flat)
}

// freeReleased removes released readings after a commit failed for lack
// of space (before its callers are answered), so that the next commits reuse their pages instead of growing
// the file: up to a tenth of the stored bytes (at least 1 MiB), oldest
// first, counted and reported like any removal (reason "disk_full"). It
// is best effort: on a completely full disk this small transaction can
// fail too, and the callers keep getting ErrDiskFull.
func (b *Buffer) freeReleased() {
	b.mu.Lock()
	ns := b.st.clone()
	b.mu.Unlock()
	released := b.released(&ns)
	if ns.records == 0 || ns.first > released {
		return
	}
	goal := max(ns.bytes/10, 1<<20)
	freed := int64(0)
	var drops []Drop
	err := b.update(func(tx *bolt.Tx) error {
		if err := b.prune(tx.Bucket(bucketBlocks), tx.Bucket(bucketIndex), &ns, released, released, ReasonDiskFull, &drops,
			func(_ uint64, _ blockHeader, size int64) bool {
				if freed >= goal {
					return false
				}
				freed += size
				return true
			}); err != nil {
			return err
		}
		return b.putTotals(tx.Bucket(bucketMeta), &ns)
	})
	if err != nil || len(drops) == 0 {
		return
	}
	b.mu.Lock()
	b.st = ns
	b.mu.Unlock()
	b.log.Warn("buffer removed released readings to make room on a full disk", "bytes", freed)
	b.reportDrops(drops)
}

// putTotals writes the record and byte totals and the drop counters.
func (b *Buffer) putTotals(meta *bolt.Bucket, ns *state) error {
	if err := putUint(meta, keyRecords, ns.records); err != nil {
		return err
	}
	if err := putUint(meta, keyBytes, uint64(ns.bytes)); err != nil {
		return err
	}
	d := ns.dropped
	return meta.Put(keyDropped, binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(
		binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil,
			d.ReleasedByBytes), d.ReleasedByAge), d.UnreleasedByBytes), d.UnreleasedByAge))
}

// update runs fn in a write transaction on the current file.
func (b *Buffer) update(fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = b.corrupt(fmt.Errorf("bbolt panicked writing the file: %v", r))
		}
	}()
	b.dbMu.RLock()
	db := b.db
	b.dbMu.RUnlock()
	if db == nil {
		return ErrClosed
	}
	return db.Update(fn)
}

// released returns the highest sequence number every consumer has passed.
func (b *Buffer) released(st *state) uint64 {
	if len(b.opts.Consumers) == 0 {
		return st.last
	}
	r := st.last
	for _, c := range b.opts.Consumers {
		r = min(r, st.cursors[c])
	}
	return r
}

// prune removes blocks from the oldest while take says so, stopping before
// the first block that is not wholly at or below limit (PolicyReject
// passes the released sequence number: only released blocks may go).
func (b *Buffer) prune(blk, idx *bolt.Bucket, ns *state, released, limit uint64, reason string, drops *[]Drop,
	take func(first uint64, h blockHeader, size int64) bool) error {
	type victim struct {
		key     []byte
		first   uint64
		count   uint64
		size    int64
		buckets []int64
	}
	var victims []victim
	c := blk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		first := binary.BigEndian.Uint64(k)
		h, _, herr := readHeader(v)
		count := uint64(h.count)
		if herr != nil {
			// A damaged block: count it by the sequence numbers and remove
			// it with the others; its index entries stay (readers skip
			// entries whose block is gone).
			// The next block's key from a cursor of its own: moving c
			// with Next and Prev stepped back twice at the last block
			// (bbolt's Next leaves the cursor there), looping on it.
			if nk, _ := blk.Cursor().Seek(seqKey(first + 1)); nk != nil {
				count = binary.BigEndian.Uint64(nk) - first
			} else {
				count = ns.last - first + 1
			}
			b.log.Error("buffer removes a damaged block", "seq", first, "readings", count, "err", herr)
		}
		if first+count-1 > limit {
			break
		}
		if !take(first, h, int64(len(v))) {
			break
		}
		buckets, _ := blockBuckets(v, nil)
		victims = append(victims, victim{key: append([]byte(nil), k...), first: first, count: count, size: int64(len(v)), buckets: buckets})
	}
	for _, vc := range victims {
		if err := blk.Delete(vc.key); err != nil {
			return err
		}
		for _, s := range vc.buckets {
			if err := idx.Delete(indexKey(s, vc.first)); err != nil {
				return err
			}
		}
		ns.records -= vc.count
		ns.bytes -= vc.size
		last := vc.first + vc.count - 1
		// Split the block at the released boundary.
		if vc.first <= released {
			rl := min(last, released)
			n := rl - vc.first + 1
			*drops = append(*drops, Drop{Reason: reason, Released: true, FirstSeq: vc.first, LastSeq: rl, Readings: n, Bytes: vc.size * int64(n) / int64(vc.count)})
			if reason == ReasonMaxAge {
				ns.dropped.ReleasedByAge += n
			} else { // max_bytes, disk_full
				ns.dropped.ReleasedByBytes += n
			}
		}
		if last > released {
			fu := max(vc.first, released+1)
			n := last - fu + 1
			*drops = append(*drops, Drop{Reason: reason, Released: false, FirstSeq: fu, LastSeq: last, Readings: n, Bytes: vc.size * int64(n) / int64(vc.count)})
			if reason == ReasonMaxAge {
				ns.dropped.UnreleasedByAge += n
			} else {
				ns.dropped.UnreleasedByBytes += n
			}
		}
	}
	if len(victims) > 0 {
		ns.first, ns.oldest = ns.last+1, 0
		if k, v := blk.Cursor().First(); k != nil {
			ns.first = binary.BigEndian.Uint64(k)
			if h, _, err := readHeader(v); err == nil {
				ns.oldest = h.ingest
			}
		}
	}
	return nil
}

// reportDrops hands drops to OnDrop and logs unreleased ones, at most
// once a minute.
func (b *Buffer) reportDrops(drops []Drop) {
	for _, d := range drops {
		if !d.Released {
			b.dropsSince += d.Readings
		}
		if b.opts.OnDrop != nil {
			b.opts.OnDrop(d)
		}
	}
	if b.dropsSince > 0 && b.opts.Now().Sub(b.lastDropLog) >= time.Minute {
		b.mu.Lock()
		total := b.st.dropped
		b.mu.Unlock()
		b.log.Warn("buffer dropped unreleased readings",
			"readings", b.dropsSince, "total_by_bytes", total.UnreleasedByBytes, "total_by_age", total.UnreleasedByAge,
			"max_bytes", b.opts.MaxBytes, "max_age", b.opts.MaxAge)
		b.dropsSince = 0
		b.lastDropLog = b.opts.Now()
	}
}

var errNoRoom = errors.New("not enough free disk space for a compacted copy")
