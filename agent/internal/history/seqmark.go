package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
)

// SeqReserveBlock is how many sequence numbers one write of the sequence
// mark (Options.SeqFile) reserves: the mark is written, fsynced, once per
// SeqReserveBlock diagnoses, not for each.
const SeqReserveBlock = 1024

// seqMarkFile is the content of Options.SeqFile.
type seqMarkFile struct {
	// Reserved is the highest sequence number Append may assign without
	// writing the mark again: every Seq ever assigned is at or below it.
	Reserved uint64 `json:"reserved"`
	// Window is the windowing's high-water mark (Progress.Window) of the
	// history when the mark was written. A history file without
	// progress (new, the old one moved aside) starts from it, so that
	// windows diagnosed and sent before are not diagnosed again under
	// new sequence numbers (the cloud keys diagnoses on agent and seq
	// only). Written at each block reservation, at most every
	// windowMarkEvery as the window moves, and at Close: after a crash
	// that also loses the history file, the windows diagnosed in the
	// last windowMarkEvery before it may be diagnosed again.
	Window time.Time `json:"window,omitzero"`
}

// windowMarkEvery is how often, at most, the mark is written again for a
// window that moved on without a new reservation.
const windowMarkEvery = time.Minute

// readSeqMark returns the mark stored at path (zero and no error when
// the file does not exist).
func readSeqMark(path string) (seqMarkFile, error) {
	var m seqMarkFile
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read sequence mark %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return seqMarkFile{}, fmt.Errorf("%w %s: %v", errBadMark, path, err)
	}
	if dec.More() {
		return seqMarkFile{}, fmt.Errorf("%w %s: data after the mark", errBadMark, path)
	}
	return m, nil
}

// writeSeqMark replaces the mark at path with m, durably: a temporary
// file, fsynced, renamed over it, and the directory fsynced. A crash
// leaves the old mark or the new one, never a torn file.
func writeSeqMark(path string, m seqMarkFile) (err error) {
	js, err := json.Marshal(m)
	if err != nil {
		return err
	}
	js = append(js, '\n')
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write sequence mark %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(js); err != nil {
		_ = f.Close()
		return fmt.Errorf("write sequence mark %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync sequence mark %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close sequence mark %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace sequence mark %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("sync directory of sequence mark %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory of sequence mark %s: %w", path, err)
	}
	return nil
}

// openSeqMark reads Options.SeqFile at Open. A mark that cannot be
// decoded (damaged by the disk: it is only ever replaced whole) is moved
// aside and logged as an error; the history's own sequence is then the
// only floor left.
func (s *Store) openSeqMark() error {
	m, err := readSeqMark(s.opts.SeqFile)
	if err == nil {
		s.reserved, s.markWindow = m.Reserved, m.Window
		return nil
	}
	if !errors.Is(err, errBadMark) {
		return fmt.Errorf("history %s: %w", s.path, err)
	}
	aside := s.opts.SeqFile + ".corrupt-" + s.opts.Now().UTC().Format("20060102T150405Z")
	if rerr := os.Rename(s.opts.SeqFile, aside); rerr != nil {
		return fmt.Errorf("history %s: %w; moving it aside to %s: %v", s.path, err, aside, rerr)
	}
	s.log.Error("diagnosis sequence mark unreadable, moved aside; sequence numbers continue from the history file alone "+
		"and may repeat ones sent before if that file is new too", "err", err, "moved_to", aside)
	return nil
}

// errBadMark wraps a mark file whose content is not a mark (as opposed
// to one that cannot be read at all, e.g. for its permissions).
var errBadMark = errors.New("damaged sequence mark")

// reserveSeq makes sure the mark covers seq before it is assigned: when
// seq is above the reserved range, the mark is moved SeqReserveBlock past
// it and fsynced first. Called with s.mu held.
func (s *Store) reserveSeq(seq uint64) error {
	if s.opts.SeqFile == "" || seq <= s.reserved {
		return nil
	}
	next := uint64(math.MaxUint64)
	if seq <= math.MaxUint64-(SeqReserveBlock-1) {
		next = seq + SeqReserveBlock - 1
	}
	// The window of the progress committed so far: the diagnosis about
	// to be appended is not committed yet.
	if err := writeSeqMark(s.opts.SeqFile, seqMarkFile{Reserved: next, Window: s.progress.Window}); err != nil {
		return err
	}
	s.reserved = next
	s.markWindow, s.markAt = s.progress.Window, s.opts.Now()
	return nil
}

// keepWindowMark writes the mark again with the progress's window when
// that moved past the mark's and windowMarkEvery has passed since the
// mark was last written. A failure is logged (at most once per
// windowMarkEvery) and leaves the older window in the mark. Called with
// s.mu held, after the progress was committed.
func (s *Store) keepWindowMark() {
	if s.opts.SeqFile == "" || !s.progress.Window.After(s.markWindow) {
		return
	}
	now := s.opts.Now()
	if !s.markAt.IsZero() && now.Sub(s.markAt) < windowMarkEvery {
		return
	}
	s.markAt = now
	m := seqMarkFile{Reserved: max(s.reserved, s.last), Window: s.progress.Window}
	if err := writeSeqMark(s.opts.SeqFile, m); err != nil {
		s.log.Warn("the last diagnosed window not written to the sequence mark; retried later", "err", err)
		return
	}
	s.reserved, s.markWindow = m.Reserved, m.Window
}
