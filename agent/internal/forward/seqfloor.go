package forward

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// Seqs is the allocator of the diagnosis sequence numbers the forwarder
// sends (Options.Seqs); *history.Store has it.
type Seqs interface {
	// LastSeq is the last number assigned.
	LastSeq() uint64
	// RaiseSeq makes every number assigned from now on greater than
	// floor, durably, and returns the last one assigned before.
	RaiseSeq(floor uint64) (prev uint64, err error)
	// ReserveSeqs takes n numbers never assigned otherwise and returns
	// the first.
	ReserveSeqs(n uint64) (first uint64, err error)
}

// keySeqFloor is the outbox meta key of the sequence floor: the highest
// seq the cloud held when it answered a check-in above the agent's
// sequence (8 bytes BE). Every diagnosis queued with a seq at or below it
// was numbered before the raise and is renumbered.
var keySeqFloor = []byte("seq_floor")

// keyLifeFloor is the outbox meta key of the life floor (8 bytes BE):
// every seq at or below it was queued by an earlier life of the history
// (one whose file and sequence mark were lost while the outbox was kept).
// Those diagnoses keep their seq: the cloud stored them already (its
// answer lost) or stores them as sent, and renumbering them would store
// them twice.
var keyLifeFloor = []byte("life_floor")

// keySeqTop is the outbox meta key of the highest seq ever queued (8
// bytes BE), sent or not: it outlives the items, so that checkLife
// recognises a new life of the history with an empty outbox too.
var keySeqTop = []byte("seq_top")

// checkLife runs at New: an outbox that queued a seq above Seqs.LastSeq
// (one still queued, keySeqTop, or a renumbering's new seq) holds or held
// diagnoses this history never numbered, so the history (file and mark)
// restarted while the outbox was kept. Everything queued then is of the
// earlier life: the life floor moves to that highest seq (and the
// old-to-new seqs of that life are forgotten: the new history's seqs
// under them are new diagnoses, not replays), and the sequence is
// raised above it, so that the diagnoses of this life are neither
// renumbered with them nor collide with them. Without Options.Seqs, or
// with an outbox older than this check, nothing happens.
func (f *Forwarder) checkLife() error {
	seqs := f.opts.Seqs
	if seqs == nil {
		return nil
	}
	top, err := f.ob.topSeq()
	if err != nil || top <= seqs.LastSeq() {
		return err
	}
	last := seqs.LastSeq()
	if err := f.ob.setLifeFloor(top); err != nil {
		return err
	}
	f.lifeFloor = top
	if _, err := seqs.RaiseSeq(max(f.seqFloor, top)); err != nil {
		return fmt.Errorf("forward: raise the sequence above the queued diagnoses of an earlier history: %w", err)
	}
	f.log.Warn("the outbox queued diagnoses numbered above the history's last seq: the history and its sequence mark "+
		"were lost and the outbox kept; those diagnoses keep their seqs and new ones are numbered above them",
		"queued_up_to", top, "last_seq", last)
	return nil
}

// keepSeqsAbove applies a check-in's HighestSeq (highest; 0: none, or a
// cloud older than the field) before any diagnosis is sent: when it is
// at or above the next seq of Options.Seqs, the agent's numbering
// restarted (its history and sequence mark lost) and every diagnosis it
// numbered so far collides with one the cloud holds. The floor is stored
// in the outbox first, then the sequence raised above it, then the queued
// diagnoses at or below it (above the life floor: not of an earlier life
// of the history, see checkLife) renumbered (Stats.Renumbered), each old
// seq recorded with its new one (see renumberedTo); a crash between
// the steps is completed by the next check-in. Without Options.Seqs it
// does nothing. fatal is an outbox failure (Run backs off and checks in
// again, see Run); retry a failure
// of Seqs (the check-in is retried and nothing is sent meanwhile).
func (f *Forwarder) keepSeqsAbove(highest uint64) (retry, fatal error) {
	seqs := f.opts.Seqs
	if seqs == nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if highest > f.seqFloor && seqs.LastSeq() < highest {
		if err := f.ob.setSeqFloor(highest); err != nil {
			return nil, err
		}
		f.log.Warn("the cloud holds diagnoses numbered at or above this agent's next seq: its numbering restarted "+
			"(history and sequence mark lost); continuing above them and renumbering the diagnoses not sent yet",
			"highest_seq", highest, "last_seq", seqs.LastSeq())
		f.seqFloor = highest
	}
	if f.seqFloor == 0 {
		return nil, nil
	}
	// Above the floor, and above what the outbox holds: an outbox that
	// outlived the history may hold diagnoses numbered above the floor
	// and not sent yet, which new ones must not collide with either.
	top, err := f.ob.maxSeq()
	if err != nil {
		return nil, err
	}
	if _, err := seqs.RaiseSeq(max(f.seqFloor, top)); err != nil {
		return err, nil
	}
	olds, err := f.ob.queuedUpTo(f.lifeFloor, f.seqFloor)
	if err != nil || len(olds) == 0 {
		return nil, err
	}
	first, err := seqs.ReserveSeqs(uint64(len(olds)))
	if err != nil {
		return err, nil
	}
	moved, err := f.ob.renumber(olds, first)
	if err != nil {
		return nil, err
	}
	if len(moved) > 0 {
		f.st.Renumbered += uint64(len(moved))
		f.log.Warn("queued diagnoses renumbered above the highest seq the cloud holds",
			"renumbered", len(moved), "first_old_seq", moved[0][0], "first_new_seq", moved[0][1],
			"last_old_seq", moved[len(moved)-1][0], "last_new_seq", moved[len(moved)-1][1], "seq_floor", f.seqFloor)
	}
	return nil, nil
}

// renumberNew gives d, about to be queued with a seq at or below the
// floor (numbered before the raise), a fresh one and returns its new
// encoding. mu held.
func (f *Forwarder) renumberNew(d *diag.Diagnosis) ([]byte, error) {
	if _, err := f.opts.Seqs.RaiseSeq(f.seqFloor); err != nil {
		return nil, fmt.Errorf("forward: renumber seq %d: %w", d.Seq, err)
	}
	seq, err := f.opts.Seqs.ReserveSeqs(1)
	if err != nil {
		return nil, fmt.Errorf("forward: renumber seq %d: %w", d.Seq, err)
	}
	old := d.Seq
	d.Seq = seq
	data, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("forward: renumber seq %d: %w", old, err)
	}
	f.st.Renumbered++
	if f.shouldLog("renumber") {
		f.log.Warn("diagnosis numbered before the sequence was raised renumbered as it is queued",
			"old_seq", old, "seq", seq, "seq_floor", f.seqFloor, "renumbered_total", f.st.Renumbered)
	}
	return data, nil
}

func (o *outbox) loadSeqFloor() uint64 { return o.loadUint(keySeqFloor) }

func (o *outbox) loadLifeFloor() uint64 { return o.loadUint(keyLifeFloor) }

func (o *outbox) loadUint(key []byte) uint64 {
	var floor uint64
	_ = o.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(key); len(v) == 8 {
			floor = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return floor
}

func (o *outbox) setSeqFloor(floor uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], floor)
	if err := o.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySeqFloor, v[:]) }); err != nil {
		return fmt.Errorf("outbox: store the sequence floor: %w", err)
	}
	return nil
}

// setLifeFloor stores the life floor (keyLifeFloor) and forgets the
// old-to-new seqs recorded so far: they are the earlier life's numbers,
// below every seq this life assigns.
func (o *outbox) setLifeFloor(floor uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], floor)
	err := o.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketRenumbered); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketRenumbered); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyLifeFloor, v[:])
	})
	if err != nil {
		return fmt.Errorf("outbox: store the life floor: %w", err)
	}
	return nil
}

// renumberedTo returns the seq a diagnosis numbered old was queued with
// when it was renumbered (0: it was not). Enqueue treats such a
// diagnosis as already queued: it is a replay of the history (the agent
// stopped between queueing it and moving the history's cursor), and a
// second renumbering would have the cloud store it twice. The entries
// are few (only diagnoses numbered before a raise are renumbered) and
// are kept until a later life of the history (setLifeFloor).
func (o *outbox) renumberedTo(old uint64) (uint64, error) {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], old)
	var to uint64
	err := o.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketRenumbered).Get(k[:]); len(v) == 8 {
			to = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: read: %w", err)
	}
	return to, nil
}

// putRenumbered records old -> seq in tx (see renumberedTo).
func putRenumbered(tx *bolt.Tx, old, seq uint64) error {
	var k, v [8]byte
	binary.BigEndian.PutUint64(k[:], old)
	binary.BigEndian.PutUint64(v[:], seq)
	return tx.Bucket(bucketRenumbered).Put(k[:], v[:])
}

// raiseSeqTop moves keySeqTop up to seq in tx.
func raiseSeqTop(tx *bolt.Tx, seq uint64) error {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(keySeqTop); len(v) == 8 && binary.BigEndian.Uint64(v) >= seq {
		return nil
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], seq)
	return meta.Put(keySeqTop, v[:])
}

// topSeq returns the highest seq the outbox ever queued (0: none): the
// highest of keySeqTop, of the queued seqs and of the renumberings' new
// seqs (the last two for an outbox older than keySeqTop).
func (o *outbox) topSeq() (uint64, error) {
	top, err := o.maxSeq()
	if err != nil {
		return 0, err
	}
	err = o.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySeqTop); len(v) == 8 {
			top = max(top, binary.BigEndian.Uint64(v))
		}
		return tx.Bucket(bucketRenumbered).ForEach(func(_, v []byte) error {
			if len(v) == 8 {
				top = max(top, binary.BigEndian.Uint64(v))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: read: %w", err)
	}
	return top, nil
}

// maxSeq returns the highest queued seq (0: none).
func (o *outbox) maxSeq() (uint64, error) {
	var top uint64
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketItems).Cursor()
		for _, p := range []byte{prioAlert, prioOther} {
			// The last key of priority p: before the first of p+1.
			k, _ := c.Seek([]byte{p + 1})
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
			if k != nil && k[0] == p {
				top = max(top, binary.BigEndian.Uint64(k[1:]))
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("outbox: read: %w", err)
	}
	return top, nil
}

// queuedUpTo returns the queued items with a seq above above and at or
// below floor, in seq order (whatever their priority).
func (o *outbox) queuedUpTo(above, floor uint64) ([]item, error) {
	var out []item
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketItems).Cursor()
		for _, p := range []byte{prioAlert, prioOther} {
			for k, _ := c.Seek([]byte{p}); k != nil && k[0] == p; k, _ = c.Next() {
				seq := binary.BigEndian.Uint64(k[1:])
				if seq > floor {
					break
				}
				if seq <= above {
					continue
				}
				out = append(out, item{prio: p, seq: seq})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: read: %w", err)
	}
	slices.SortFunc(out, func(a, b item) int { return cmp.Compare(a.seq, b.seq) })
	return out, nil
}

// renumber gives the queued items olds the seqs first, first+1, ... in
// one transaction; their priority, queued-at time and content but the
// seq stay. It returns the (old, new) pairs.
func (o *outbox) renumber(olds []item, first uint64) ([][2]uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	moved := make([][2]uint64, 0, len(olds))
	bytes := o.bytes
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItems)
		for i, it := range olds {
			k := itemKey(it.prio, it.seq)
			v := b.Get(k)
			if len(v) < valueHeader {
				return fmt.Errorf("item %x vanished", k)
			}
			var d diag.Diagnosis
			if err := json.Unmarshal(v[valueHeader:], &d); err != nil {
				return fmt.Errorf("item %x: %w", k, err)
			}
			d.Seq = first + uint64(i)
			data, err := json.Marshal(&d)
			if err != nil {
				return fmt.Errorf("item %x: %w", k, err)
			}
			nv := make([]byte, valueHeader+len(data))
			copy(nv, v[:valueHeader])
			copy(nv[valueHeader:], data)
			bytes[it.prio] += int64(len(nv) - len(v))
			if err := b.Delete(k); err != nil {
				return err
			}
			if err := b.Put(itemKey(it.prio, d.Seq), nv); err != nil {
				return err
			}
			if err := putRenumbered(tx, it.seq, d.Seq); err != nil {
				return err
			}
			if err := raiseSeqTop(tx, d.Seq); err != nil {
				return err
			}
			moved = append(moved, [2]uint64{it.seq, d.Seq})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: renumber %d diagnoses: %w", len(olds), err)
	}
	o.bytes = bytes
	return moved, nil
}
