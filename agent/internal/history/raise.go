package history

import (
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// RaiseSeq makes every Seq assigned from now on greater than floor: when
// the last assigned Seq is below floor, the sequence moves to floor, the
// sequence mark (Options.SeqFile) covering it first, fsynced. It returns
// the last Seq assigned before (prev < floor: the sequence was raised).
// The cloud names the floor: the highest Seq it holds of this agent
// (cloudapi.CheckinResponse.HighestSeq), above a sequence that restarted
// when the file and the mark were both lost.
func (s *Store) RaiseSeq(floor uint64) (prev uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev = s.last
	if floor <= s.last {
		return prev, nil
	}
	if err := s.advanceSeq(floor); err != nil {
		return prev, fmt.Errorf("history %s: raise the sequence to %d: %w", s.path, floor, err)
	}
	s.log.Warn("diagnosis sequence raised above the highest the cloud holds (this history and its sequence mark were new or older)",
		"path", s.path, "last_seq", prev, "next_seq", floor+1)
	return prev, nil
}

// ReserveSeqs takes n sequence numbers (n > 0) that Append never assigns
// and returns the first: first, ..., first+n-1 are above every Seq
// assigned before and below every Seq assigned after. They number
// diagnoses made before a RaiseSeq again (agent/internal/forward). No
// diagnosis is stored under them here.
func (s *Store) ReserveSeqs(n uint64) (first uint64, err error) {
	if n == 0 {
		return 0, fmt.Errorf("history %s: reserve 0 sequence numbers", s.path)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last > math.MaxUint64-n {
		return 0, fmt.Errorf("history %s: reserve %d sequence numbers: %w", s.path, n, ErrSeq)
	}
	first = s.last + 1
	if err := s.advanceSeq(s.last + n); err != nil {
		return 0, fmt.Errorf("history %s: reserve %d sequence numbers: %w", s.path, n, err)
	}
	return first, nil
}

// advanceSeq makes seq the last assigned Seq (seq > s.last): the mark
// covers it first, then the file's sequence moves. Called with s.mu held.
func (s *Store) advanceSeq(seq uint64) error {
	if s.db == nil {
		return ErrClosed
	}
	if err := s.reserveSeq(seq); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDiag)
		if b.Sequence() >= seq {
			return nil
		}
		return b.SetSequence(seq)
	})
	if err != nil {
		return err
	}
	s.last = seq
	return nil
}
