package history

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("history: closed")
	// ErrCorrupt is returned by Open when the file is damaged, and by
	// readers that meet a damaged record. The error says how to move the
	// file aside; it is never repaired or wiped.
	ErrCorrupt = errors.New("history: data file is corrupted")
	// ErrLocked is returned by Open when another process holds the file.
	ErrLocked = errors.New("history: data file is locked by another process")
	// ErrSeq is returned by Append when the diagnosis sequence cannot grow
	// (it would wrap).
	ErrSeq = errors.New("history: sequence exhausted")
)

// Defaults of Options; each applies when its field is zero.
const (
	DefaultMaxCount = 100_000
	DefaultMaxBytes = 256 << 20
	DefaultMaxAge   = 90 * 24 * time.Hour
	// MaxRecordBytes caps one encoded diagnosis (1 MiB); a larger one is
	// refused by Append.
	MaxRecordBytes = 1 << 20
)

// Drop causes, the keys of Stats.Dropped.
const (
	ReasonMaxCount = "max_count"
	ReasonMaxBytes = "max_bytes"
	ReasonMaxAge   = "max_age"
)

// Options configure Open. The zero value is the default of every field.
type Options struct {
	// MaxCount caps the stored diagnoses (0: DefaultMaxCount).
	MaxCount int
	// MaxBytes caps their encoded size (0: DefaultMaxBytes). The file is
	// larger by bbolt's page overhead.
	MaxBytes int64
	// MaxAge removes diagnoses created longer ago (0: DefaultMaxAge;
	// negative: no age limit), checked after each Append and every
	// minute.
	MaxAge time.Duration
	// MinSeq makes the next assigned Seq at least MinSeq+1 (0: no floor).
	// Use it when a new file replaces a damaged one and the last Seq is
	// known elsewhere (the cloud), so that sequence numbers never repeat.
	MinSeq uint64
	// SeqFile is a small file, outside the history file, that keeps the
	// sequence numbers reserved for Append ("": none). Append assigns a
	// Seq only once the file covers it: it moves the mark SeqReserveBlock
	// ahead, fsynced, before the first Seq beyond it, so the mark is at
	// or above every Seq ever assigned, whatever a crash interrupts. At
	// Open the next Seq is above the mark (and MinSeq), so a new file
	// replacing a lost or damaged one never reuses a Seq the old one
	// assigned (and the forwarder may have sent).
	SeqFile string
	// Logger receives removals (rate-limited) and the open summary (nil:
	// slog.Default()).
	Logger *slog.Logger
	// Now is the clock for ages (nil: time.Now).
	Now func() time.Time
}

// Progress is the windowing's resumable state, stored with each
// diagnosis.
type Progress struct {
	// Cursor is the reading-buffer sequence number up to which every
	// reading has been accounted for: a restart scans the buffer from
	// Cursor+1.
	Cursor uint64 `json:"cursor"`
	// Window is the start of the last window diagnosed (or given up on);
	// windows starting at or before it are never diagnosed again.
	Window time.Time `json:"window"`
	// Buffer is the ID of the reading buffer Cursor counts in
	// (buffer.Buffer.ID; "" in progress saved before it was recorded): a
	// new buffer file numbers its readings from 1 again.
	Buffer string `json:"buffer,omitempty"`
}

// Query selects diagnoses by window start: From <= Window.Start < To.
type Query struct {
	// From and To bound the window start (zero From: the beginning; zero
	// To: no end).
	From, To time.Time
	// Limit caps the result (at least 1).
	Limit int
	// Desc returns the newest first (default: oldest first).
	Desc bool
	// After, when set, resumes a paged query: only diagnoses whose Key
	// comes after it in the order asked for (above it; below it with
	// Desc) are returned. Pass the Key of the last diagnosis of the
	// previous page (KeyOf), so that diagnoses sharing that one's window
	// start are neither skipped nor repeated.
	After *Key
}

// Key is a diagnosis' position in the history's query order: window
// start, then Seq. It is unique (Seq is) and total, so it resumes a paged
// Query exactly.
type Key struct {
	// Start is the window start in Unix nanoseconds, saturated to the
	// int64 range as the time index stores it.
	Start int64
	// Seq is the diagnosis' sequence number.
	Seq uint64
}

// KeyOf returns d's Key.
func KeyOf(d *diag.Diagnosis) Key {
	return Key{Start: startNano(d.Window.Start), Seq: d.Seq}
}

// Page is a Query's result.
type Page struct {
	// Diagnoses are the matches, in the order asked for.
	Diagnoses []diag.Diagnosis
	// More says that more diagnoses match than Limit allowed.
	More bool
}

// Stats is a snapshot of the history's gauges and counters.
type Stats struct {
	// Count and Bytes are the stored diagnoses and their encoded size;
	// FileBytes the file's size.
	Count     uint64
	Bytes     int64
	FileBytes int64
	// FirstSeq and LastSeq bound the stored sequence numbers (0, 0 when
	// empty; LastSeq is the last one assigned, even if removed since).
	FirstSeq, LastSeq uint64
	// Appended counts diagnoses stored since Open.
	Appended uint64
	// PruneErrors counts failures to apply the caps after an Append, or
	// in the periodic age check, since Open (the diagnosis was stored;
	// the caps are retried by the next Append or check).
	PruneErrors uint64
	// Dropped counts removals by cause (ReasonMaxCount, ReasonMaxBytes,
	// ReasonMaxAge) since the file was created.
	Dropped map[string]uint64
}

var (
	bucketDiag   = []byte("diagnoses") // seq -> record
	bucketIndex  = []byte("by_window") // window start (flipped) + seq -> nil
	bucketLatest = []byte("latest")    // rig id -> seq
	bucketMeta   = []byte("meta")

	keyFormat   = []byte("format")
	keyCount    = []byte("count")
	keyBytes    = []byte("bytes")
	keyProgress = []byte("progress")
	keyDropPfx  = "dropped."
	keyCurPfx   = "cursor."
)

const formatVersion = 1

// record header: created (8), window start (8), then the JSON.
const headerLen = 16

// Store is the diagnosis history. Safe for concurrent use.
type Store struct {
	path string
	opts Options
	log  *slog.Logger

	mu       sync.RWMutex // guards db (nil after Close) and the fields below
	db       *bolt.DB
	count    uint64
	bytes    int64
	first    uint64
	last     uint64
	appended uint64
	// pruneErrors counts failed removals after a committed Append.
	pruneErrors uint64
	dropped     map[string]uint64
	progress    Progress
	lastLog     time.Time
	// reserved is the sequence mark (Options.SeqFile): Append assigns no
	// Seq above it before moving it.
	reserved uint64
	// markWindow is the window stored in the sequence mark, markAt when
	// the mark was last written (zero: not since Open).
	markWindow time.Time
	markAt     time.Time

	// stopAge stops the age checks (ageLoop); ageDone is closed when
	// they have stopped. Both nil without an age limit.
	stopAge  chan struct{}
	ageDone  chan struct{}
	stopOnce sync.Once
}

// ageCheckEvery is how often the age cap is applied between Appends (a
// variable for tests).
var ageCheckEvery = time.Minute

// Open opens the history at path, creating it (mode 0600, and its
// directory) when absent. An existing file is checked first; a damaged
// one is refused with ErrCorrupt.
func Open(path string, opts Options) (*Store, error) {
	if opts.MaxCount == 0 {
		opts.MaxCount = DefaultMaxCount
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.MaxCount < 1 || opts.MaxBytes < 1 {
		return nil, fmt.Errorf("history: max count %d and max bytes %d must be positive", opts.MaxCount, opts.MaxBytes)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{path: path, opts: opts, log: opts.Logger, dropped: map[string]uint64{}}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open history %s: %w", path, err)
	}
	_, statErr := os.Stat(path)
	if statErr == nil {
		if err := s.check(); err != nil {
			return nil, err
		}
	}
	db, err := openBolt(path, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, s.openError(err)
	}
	s.db = db
	if opts.SeqFile != "" {
		// After the bbolt lock: another agent on the same files is
		// refused before the mark is read or moved.
		if err := s.openSeqMark(); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.reserveSeq(s.last); err != nil {
		// A history older than its mark file (or kept without one
		// before): the mark covers its Seqs from now on.
		_ = db.Close()
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	if err := s.prune(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if opts.MaxAge > 0 {
		s.stopAge, s.ageDone = make(chan struct{}), make(chan struct{})
		go s.ageLoop()
	}
	s.log.Info("diagnosis history opened", "path", path, "diagnoses", s.count, "bytes", s.bytes, "last_seq", s.last)
	return s, nil
}

// ageLoop applies the caps every ageCheckEvery until Close: diagnoses
// grow old without an Append (a rig standing still for months), and
// MaxAge must hold then too. A check with nothing old reads one record.
func (s *Store) ageLoop() {
	defer close(s.ageDone)
	t := time.NewTicker(ageCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopAge:
			return
		case <-t.C:
		}
		s.mu.Lock()
		if s.db != nil {
			if err := s.pruneLocked(); err != nil {
				s.pruneErrors++
				s.log.Warn("old diagnoses could not be removed; retried", "err", err)
			}
		}
		s.mu.Unlock()
	}
}

func (s *Store) openError(err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s: is another rig-agent running on the same data dir?", ErrLocked, s.path)
	case errors.Is(err, os.ErrPermission), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("open history %s: %w", s.path, err)
	}
	return s.corrupt(err)
}

// corrupt wraps a cause into the ErrCorrupt error users see.
func (s *Store) corrupt(cause error) error {
	aside := s.path + ".corrupt-" + s.opts.Now().UTC().Format("20060102T150405Z")
	return fmt.Errorf("%w: %s: %v. The agent does not repair or overwrite it. "+
		"Stop the agent, move the file aside with `mv %s %s` and start the agent again "+
		"with an empty history (see docs/agent.md, \"History recovery\")",
		ErrCorrupt, s.path, cause, s.path, aside)
}

// openBolt is bolt.Open that turns a panic on a damaged file into an error.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("bbolt panicked reading the file: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// check opens the existing file read-only and checks its pages and every
// record header, so that a damaged file is refused before it is written.
func (s *Store) check() (err error) {
	db, err := openBolt(s.path, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return s.openError(err)
	}
	defer db.Close()
	defer func() {
		if r := recover(); r != nil {
			err = s.corrupt(fmt.Errorf("bbolt panicked checking the file: %v", r))
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			return s.corrupt(fmt.Errorf("bbolt check: %w", e))
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil // created but never initialised: init fills it
		}
		if v := meta.Get(keyFormat); v != nil && getUint(v) != formatVersion {
			return fmt.Errorf("history %s: format version %d, this agent reads %d", s.path, getUint(v), formatVersion)
		}
		b := tx.Bucket(bucketDiag)
		if b == nil {
			return s.corrupt(errors.New("diagnoses bucket missing"))
		}
		var n uint64
		var total int64
		err := b.ForEach(func(k, v []byte) error {
			if len(k) != 8 || len(v) < headerLen+2 || v[headerLen] != '{' {
				return s.corrupt(fmt.Errorf("record %x: bad key or header", k))
			}
			n++
			total += int64(len(v))
			return nil
		})
		if err != nil {
			return err
		}
		if getUint(meta.Get(keyCount)) != n || int64(getUint(meta.Get(keyBytes))) != total {
			return s.corrupt(fmt.Errorf("stored totals (%d diagnoses, %d bytes) differ from the records (%d, %d)",
				getUint(meta.Get(keyCount)), getUint(meta.Get(keyBytes)), n, total))
		}
		return nil
	})
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketDiag, bucketIndex, bucketLatest, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("history %s: %w", s.path, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyFormat) == nil {
			if err := meta.Put(keyFormat, putUint(formatVersion)); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketDiag)
		floor, from := s.opts.MinSeq, "min_seq"
		if s.reserved > floor {
			floor, from = s.reserved, "sequence mark "+s.opts.SeqFile
		}
		if old := b.Sequence(); old < floor {
			if err := b.SetSequence(floor); err != nil {
				return err
			}
			s.log.Info("diagnosis sequence continues above the numbers assigned before (a new or older history file, or a restart after a crash)",
				"path", s.path, "file_seq", old, "next_seq", floor+1, "from", from)
		}
		s.count, s.bytes, s.last = getUint(meta.Get(keyCount)), int64(getUint(meta.Get(keyBytes))), b.Sequence()
		if k, _ := b.Cursor().First(); k != nil {
			s.first = binary.BigEndian.Uint64(k)
		}
		if v := meta.Get(keyProgress); v != nil {
			if err := json.Unmarshal(v, &s.progress); err != nil {
				return s.corrupt(fmt.Errorf("progress: %v", err))
			}
		}
		if s.markWindow.After(s.progress.Window) {
			// A new history file (the old one moved aside) or an older
			// one: windows up to the mark's were diagnosed (and may have
			// been sent) under the seqs the mark reserved; the windowing
			// does not diagnose them again.
			s.log.Info("windowing resumes after the last window of the sequence mark (the history file is new or older)",
				"path", s.path, "file_window", s.progress.Window, "window", s.markWindow, "mark", s.opts.SeqFile)
			s.progress.Window = s.markWindow
		}
		c := meta.Cursor()
		for k, v := c.Seek([]byte(keyDropPfx)); k != nil && bytes.HasPrefix(k, []byte(keyDropPfx)); k, v = c.Next() {
			s.dropped[string(k[len(keyDropPfx):])] = getUint(v)
		}
		return nil
	})
}

// Append stores d with the next sequence number and the windowing's
// progress p, in one fsynced transaction, then applies the caps. It
// returns a copy of d with Seq set. d is not modified. An error means d
// was not stored; once it is, a failure to apply the caps is logged,
// counted (Stats.PruneErrors) and retried by the next Append.
func (s *Store) Append(ctx context.Context, d *diag.Diagnosis, p Progress) (diag.Diagnosis, error) {
	if err := ctx.Err(); err != nil {
		return diag.Diagnosis{}, err
	}
	out := *d
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return diag.Diagnosis{}, ErrClosed
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return diag.Diagnosis{}, fmt.Errorf("history: encode progress: %w", err)
	}
	if s.last == math.MaxUint64 {
		return diag.Diagnosis{}, fmt.Errorf("history %s: append: %w", s.path, ErrSeq)
	}
	// The mark covers the Seq before the diagnosis is committed with it.
	if err := s.reserveSeq(s.last + 1); err != nil {
		return diag.Diagnosis{}, fmt.Errorf("history %s: append: %w", s.path, err)
	}
	var size int64
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDiag)
		if b.Sequence() == math.MaxUint64 {
			return ErrSeq
		}
		seq := b.Sequence() + 1
		if s.opts.SeqFile != "" && seq > s.reserved {
			return fmt.Errorf("seq %d is above the reserved sequence mark %d", seq, s.reserved)
		}
		if err := b.SetSequence(seq); err != nil {
			return err
		}
		out.Seq = seq
		js, err := json.Marshal(&out)
		if err != nil {
			return fmt.Errorf("history: encode diagnosis: %w", err)
		}
		if len(js)+headerLen > MaxRecordBytes {
			return fmt.Errorf("history: diagnosis of %d bytes is over the %d byte limit", len(js), MaxRecordBytes)
		}
		v := make([]byte, headerLen, headerLen+len(js))
		binary.BigEndian.PutUint64(v[0:], uint64(out.CreatedAt.UnixNano()))
		binary.BigEndian.PutUint64(v[8:], uint64(out.Window.Start.UnixNano()))
		v = append(v, js...)
		size = int64(len(v))
		if err := b.Put(seqKey(seq), v); err != nil {
			return err
		}
		if err := tx.Bucket(bucketIndex).Put(indexKey(out.Window.Start, seq), nil); err != nil {
			return err
		}
		if err := tx.Bucket(bucketLatest).Put([]byte(out.RigID), seqKey(seq)); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyProgress, pj); err != nil {
			return err
		}
		if err := meta.Put(keyCount, putUint(s.count+1)); err != nil {
			return err
		}
		return meta.Put(keyBytes, putUint(uint64(s.bytes+size)))
	})
	if err != nil {
		return diag.Diagnosis{}, fmt.Errorf("history %s: append: %w", s.path, err)
	}
	s.count++
	s.bytes += size
	s.last = out.Seq
	if s.first == 0 {
		s.first = out.Seq
	}
	s.appended++
	s.progress = p
	s.keepWindowMark()
	// The diagnosis is committed: a failed removal must not make the
	// caller think otherwise (it would store the window again under a new
	// Seq). The caps are applied again by the next Append.
	if err := s.pruneLocked(); err != nil {
		s.pruneErrors++
		s.log.Warn("old diagnoses could not be removed; retried on the next append", "err", err)
	}
	return out, nil
}

// SetProgress stores the windowing's progress without a diagnosis (a
// window given up on, or the cursor moved past readings that belong to no
// window).
func (s *Store) SetProgress(ctx context.Context, p Progress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyProgress, pj) }); err != nil {
		return fmt.Errorf("history %s: set progress: %w", s.path, err)
	}
	s.progress = p
	s.keepWindowMark()
	return nil
}

// Progress returns the last stored progress (zero for a new file).
func (s *Store) Progress() Progress {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.progress
}

// SetCursor durably stores a named consumer's position (e.g. the cloud
// forwarder's last enqueued Seq).
func (s *Store) SetCursor(ctx context.Context, name string, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte(keyCurPfx+name), putUint(seq))
	})
}

// Cursor returns a named consumer's stored position (0 when never set).
func (s *Store) Cursor(name string) (uint64, error) {
	var seq uint64
	err := s.view(func(tx *bolt.Tx) error {
		seq = getUint(tx.Bucket(bucketMeta).Get([]byte(keyCurPfx + name)))
		return nil
	})
	return seq, err
}

// LastSeq returns the last assigned sequence number (0: none yet).
func (s *Store) LastSeq() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last
}

// Latest returns the newest stored diagnosis of the rig ("" : of any
// rig), and false when there is none.
func (s *Store) Latest(rigID string) (diag.Diagnosis, bool, error) {
	var d diag.Diagnosis
	found := false
	err := s.view(func(tx *bolt.Tx) error {
		var v []byte
		b := tx.Bucket(bucketDiag)
		if rigID == "" {
			_, v = b.Cursor().Last()
		} else if k := tx.Bucket(bucketLatest).Get([]byte(rigID)); k != nil {
			v = b.Get(k)
		}
		if v == nil {
			return nil
		}
		found = true
		return decode(v, &d)
	})
	return d, found, err
}

// After returns up to max diagnoses with Seq above after, in Seq order
// (for a consumer that resumes, like the forwarder).
func (s *Store) After(ctx context.Context, after uint64, max int) ([]diag.Diagnosis, error) {
	var out []diag.Diagnosis
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDiag).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var d diag.Diagnosis
			if err := decode(v, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Query returns the diagnoses whose window starts in [q.From, q.To), at
// most q.Limit, oldest first (newest first with q.Desc); diagnoses with
// the same window start come in Seq order (reversed with q.Desc). With
// q.After it returns those past that Key only (the next page).
func (s *Store) Query(ctx context.Context, q Query) (Page, error) {
	if q.Limit < 1 {
		return Page{}, fmt.Errorf("history: query limit %d: want at least 1", q.Limit)
	}
	lo := indexKey(q.From, 0)
	if q.From.IsZero() {
		lo = make([]byte, 16)
	}
	hi := indexKey(q.To, 0)
	if q.To.IsZero() {
		hi = bytes.Repeat([]byte{0xff}, 17)
	}
	if q.After != nil {
		// The index keys are unique: resume strictly past the last
		// diagnosis returned, whatever its window start shares.
		ak := posKey(q.After.Start, q.After.Seq)
		if q.Desc {
			if bytes.Compare(ak, hi) < 0 {
				hi = ak
			}
		} else {
			next, ok := successor(ak)
			if !ok {
				return Page{}, nil // after the last possible key
			}
			if bytes.Compare(next, lo) > 0 {
				lo = next
			}
		}
	}
	var p Page
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDiag)
		c := tx.Bucket(bucketIndex).Cursor()
		var k []byte
		step := c.Next
		if q.Desc {
			step = c.Prev
			k, _ = c.Seek(hi)
			if k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
		} else {
			k, _ = c.Seek(lo)
		}
		for ; k != nil; k, _ = step() {
			if bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) >= 0 {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			v := b.Get(k[8:16])
			if v == nil {
				continue // an index entry without its record: nothing to return
			}
			if len(p.Diagnoses) == q.Limit {
				// More only when a stored diagnosis follows: the next
				// page is never empty.
				p.More = true
				break
			}
			var d diag.Diagnosis
			if err := decode(v, &d); err != nil {
				return err
			}
			p.Diagnoses = append(p.Diagnoses, d)
		}
		return nil
	})
	return p, err
}

// Stats returns a snapshot (no transaction).
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{Count: s.count, Bytes: s.bytes, LastSeq: s.last, Appended: s.appended, PruneErrors: s.pruneErrors, Dropped: map[string]uint64{}}
	if s.count > 0 {
		st.FirstSeq = s.first
	}
	for k, v := range s.dropped {
		st.Dropped[k] = v
	}
	if fi, err := os.Stat(s.path); err == nil {
		st.FileBytes = fi.Size()
	}
	return st
}

// Close closes the file, and lowers the sequence mark (Options.SeqFile)
// to the last Seq assigned. Later calls return ErrClosed; Close is
// idempotent.
func (s *Store) Close() error {
	if s.stopAge != nil {
		s.stopOnce.Do(func() { close(s.stopAge) })
		<-s.ageDone
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	if s.opts.SeqFile != "" && (s.reserved > s.last || s.progress.Window.After(s.markWindow)) {
		// No Seq is assigned after this: hand the unused reservation
		// back, so that the next Open (on this file or on a new one)
		// continues without a gap, and store the last window diagnosed.
		// Written while the file's lock is held, so it cannot lower the
		// mark of an agent opening next. Failing leaves the mark ahead
		// (safe) and its window behind (those windows may be diagnosed
		// again after the history file is lost).
		m := seqMarkFile{Reserved: s.last, Window: s.progress.Window}
		if werr := writeSeqMark(s.opts.SeqFile, m); werr != nil {
			s.log.Warn("sequence mark not written at close; the next new history file skips the reserved numbers "+
				"and may diagnose the last windows again", "err", werr)
		} else {
			s.reserved, s.markWindow = m.Reserved, m.Window
		}
	}
	err := s.db.Close()
	s.db = nil
	return err
}

func (s *Store) view(fn func(*bolt.Tx) error) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	defer func() {
		if r := recover(); r != nil {
			err = s.corrupt(fmt.Errorf("bbolt panicked reading the file: %v", r))
		}
	}()
	return s.db.View(fn)
}

// prune applies the caps (at Open).
func (s *Store) prune() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pruneLocked()
}

// testPruneFault, set by tests only, makes pruneLocked's transaction fail.
var testPruneFault func() error

// pruneLocked removes the oldest diagnoses while a cap is exceeded.
func (s *Store) pruneLocked() error {
	var cutoff int64 = math.MinInt64
	if s.opts.MaxAge > 0 {
		cutoff = s.opts.Now().Add(-s.opts.MaxAge).UnixNano()
	}
	if s.count <= uint64(s.opts.MaxCount) && s.bytes <= s.opts.MaxBytes {
		old := false
		if cutoff != math.MinInt64 {
			_ = s.db.View(func(tx *bolt.Tx) error {
				if _, v := tx.Bucket(bucketDiag).Cursor().First(); len(v) >= headerLen {
					old = int64(binary.BigEndian.Uint64(v[0:8])) < cutoff
				}
				return nil
			})
		}
		if !old {
			return nil
		}
	}
	removed := map[string]uint64{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if testPruneFault != nil {
			if err := testPruneFault(); err != nil {
				return err
			}
		}
		b, idx, meta := tx.Bucket(bucketDiag), tx.Bucket(bucketIndex), tx.Bucket(bucketMeta)
		count, size := s.count, s.bytes
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.First() {
			var why string
			switch {
			case int64(binary.BigEndian.Uint64(v[0:8])) < cutoff:
				why = ReasonMaxAge
			case count > 1 && count > uint64(s.opts.MaxCount):
				why = ReasonMaxCount
			case count > 1 && size > s.opts.MaxBytes:
				why = ReasonMaxBytes
			default:
				return nil
			}
			seq := binary.BigEndian.Uint64(k)
			start := time.Unix(0, int64(binary.BigEndian.Uint64(v[8:16])))
			n := int64(len(v))
			if err := idx.Delete(indexKey(start, seq)); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			count--
			size -= n
			removed[why]++
			if err := meta.Put(keyCount, putUint(count)); err != nil {
				return err
			}
			if err := meta.Put(keyBytes, putUint(uint64(size))); err != nil {
				return err
			}
			if err := meta.Put([]byte(keyDropPfx+why), putUint(s.dropped[why]+removed[why])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(removed) == 0 {
		if err != nil {
			return fmt.Errorf("history %s: remove old diagnoses: %w", s.path, err)
		}
		return nil
	}
	var total uint64
	for why, n := range removed {
		s.dropped[why] += n
		total += n
	}
	// Recompute from the committed state.
	_ = s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		s.count, s.bytes = getUint(meta.Get(keyCount)), int64(getUint(meta.Get(keyBytes)))
		s.first = 0
		if k, _ := tx.Bucket(bucketDiag).Cursor().First(); k != nil {
			s.first = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	if now := s.opts.Now(); now.Sub(s.lastLog) >= time.Minute {
		s.lastLog = now
		s.log.Info("old diagnoses removed", "removed", total, "by_reason", removed,
			"max_count", s.opts.MaxCount, "max_bytes", s.opts.MaxBytes, "max_age", s.opts.MaxAge.String())
	}
	return nil
}

func decode(v []byte, d *diag.Diagnosis) error {
	if len(v) < headerLen {
		return fmt.Errorf("%w: record of %d bytes", ErrCorrupt, len(v))
	}
	if err := json.Unmarshal(v[headerLen:], d); err != nil {
		return fmt.Errorf("%w: record: %v", ErrCorrupt, err)
	}
	return nil
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// indexKey orders by window start (Unix ns, sign bit flipped so that
// negative times sort first), then Seq. A time outside what Unix ns can
// hold (before 1678, after 2262: a query's open-ended bound, such as
// to=9999-12-31T23:59:59Z) saturates instead of wrapping around.
func indexKey(start time.Time, seq uint64) []byte {
	return posKey(startNano(start), seq)
}

// posKey is the index key of a window start in Unix ns and a Seq.
func posKey(ns int64, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(ns)^(1<<63))
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// startNano is start in Unix ns, saturated to the int64 range.
func startNano(start time.Time) int64 {
	switch {
	case start.Before(minNano):
		return math.MinInt64
	case start.After(maxNano):
		return math.MaxInt64
	}
	return start.UnixNano()
}

// successor returns the smallest 16-byte key above k, and false when k is
// the largest.
func successor(k []byte) ([]byte, bool) {
	next := bytes.Clone(k)
	for i := len(next) - 1; i >= 0; i-- {
		next[i]++
		if next[i] != 0 {
			return next, true
		}
	}
	return nil, false
}

// The times Unix nanoseconds can hold.
var minNano, maxNano = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

func getUint(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(x uint64) []byte { return seqKey(x) }
