package prep

import (
	"math"
	"time"
)

// idTable maps sensor ids to spec indices. It is an open-addressing table
// at most 1/4 full, keyed by a cheap hash of the id's length and its first
// and last four bytes; it is about four times faster than a Go map for the
// short ids of a rig, which matters at one lookup per reading.
type idTable struct {
	mask  uint32
	slots []idSlot
}

type idSlot struct {
	id  string
	idx int // -1: empty
}

func newIDTable(ids []string) idTable {
	n := 4
	for n < 4*len(ids) {
		n *= 2
	}
	t := idTable{mask: uint32(n - 1), slots: make([]idSlot, n)}
	for i := range t.slots {
		t.slots[i].idx = -1
	}
	for i, id := range ids {
		j := idHash(id) & t.mask
		for t.slots[j].idx >= 0 {
			j = (j + 1) & t.mask
		}
		t.slots[j] = idSlot{id: id, idx: i}
	}
	return t
}

// get returns id's index, or -1.
func (t idTable) get(id string) int {
	j := idHash(id) & t.mask
	for {
		s := &t.slots[j]
		if s.idx < 0 || s.id == id {
			return s.idx
		}
		j = (j + 1) & t.mask
	}
}

func idHash(s string) uint32 {
	h := uint32(len(s)) * 0x9e3779b1
	n := min(len(s), 4)
	for i := range n {
		h = (h ^ uint32(s[i])) * 0x01000193
	}
	for i := max(n, len(s)-4); i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 0x01000193
	}
	return h ^ h>>15
}

// wallOffset returns t - start in nanoseconds on the wall clock (monotonic
// readings are ignored), clamped to ±(maxS+1) seconds so that it cannot
// overflow; any clamped value lies outside every window.
func wallOffset(t time.Time, startSec int64, startNsec int64, maxS int64) int64 {
	ds := t.Unix() - startSec
	if ds > maxS {
		return math.MaxInt64
	}
	if ds < -maxS {
		return math.MinInt64
	}
	return ds*1e9 + (int64(t.Nanosecond()) - startNsec)
}
