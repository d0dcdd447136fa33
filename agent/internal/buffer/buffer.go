package buffer

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// Policy says what Append does when the buffer is at Options.MaxBytes and
// no released reading is left to remove.
type Policy string

// Full policies. In both, released readings (see Options.Consumers) are
// removed first, oldest first.
const (
	// PolicyDropOldest removes the oldest unreleased readings to make
	// room, counts them in Stats.Dropped and reports them to
	// Options.OnDrop. New data always gets in. The default.
	PolicyDropOldest Policy = "drop_oldest"
	// PolicyReject refuses the new readings with ErrFull and removes
	// nothing unreleased: back-pressure onto the caller (the MQTT ingest
	// does not acknowledge, so the broker keeps the messages).
	PolicyReject Policy = "reject"
)

// Defaults of Options. Each applies when its field is zero.
const (
	DefaultMaxBytes            = 1 << 30 // 1 GiB of encoded readings
	DefaultMaxAge              = 30 * 24 * time.Hour
	DefaultGroupCount          = 8192
	DefaultBlockReadings       = 256
	DefaultMaxPending          = 4096
	DefaultCompactFreeRatio    = 0.5
	DefaultCompactMinBytes     = 64 << 20
	DefaultMaintenanceInterval = time.Minute
	// MinMaxBytes is the smallest MaxBytes Open accepts (1 MiB).
	MinMaxBytes = 1 << 20
	// MaxCursorName is the longest cursor name, in bytes.
	MaxCursorName = 64
)

// Options configure Open. The zero value is the default of every field.
type Options struct {
	// MaxBytes caps the encoded size of the stored readings (0:
	// DefaultMaxBytes; at least MinMaxBytes). The data file is larger by
	// bbolt's page overhead (typically 5-30 %) plus free pages until the
	// next compaction. When a commit would exceed it, released readings
	// are removed first, oldest first, then FullPolicy applies.
	MaxBytes int64
	// MaxAge removes readings ingested longer ago than this, released or
	// not (0: DefaultMaxAge; negative: no age limit). Unreleased readings
	// removed by age are counted and reported like any drop.
	MaxAge time.Duration
	// MaxFileBytes is a hard limit on the data file's size, a guard
	// against a runaway file filling the disk (0: 2 x MaxBytes + 64 MiB;
	// negative: none). A commit that needs more fails with ErrDiskFull.
	MaxFileBytes int64
	// FullPolicy is PolicyDropOldest (the default, "") or PolicyReject.
	FullPolicy Policy
	// Consumers names the cursors that must have passed a reading before
	// it counts as released (for example the cloud forwarder's "forward").
	// A reading at or below the smallest of their cursors (a missing
	// cursor is 0) is released: it goes first when space is needed and
	// its removal is routine, not a loss. Nil or empty: every reading is
	// released (an agent without a cloud link loses nothing to the cap
	// that anyone waits for).
	Consumers []string
	// GroupCount ends a commit group once it holds this many readings (0:
	// DefaultGroupCount). One Append's readings are never split between
	// groups, so a group may hold more.
	GroupCount int
	// GroupDelay is the longest a request waits in the queue for others
	// to join its group (0, the default: no wait; the group is whatever was
	// queued while the previous commit ran, which batches by itself under
	// load). A request that already waited that long while the previous
	// group was being written is committed at once. A delay trades
	// acknowledgement latency for fewer fsyncs when many callers append
	// small batches concurrently (see docs/agent.md, "Benchmarks").
	GroupDelay time.Duration
	// BlockReadings is the number of readings stored under one bbolt key
	// (0: DefaultBlockReadings, at most 65536). Larger blocks compress
	// better; smaller ones are removed at a finer grain.
	BlockReadings int
	// MaxPending caps the Append and SetCursor calls queued for the writer
	// (0: DefaultMaxPending). A caller beyond it waits (honouring its
	// context): back-pressure, not unbounded memory.
	MaxPending int
	// CompactFreeRatio triggers a compaction when free pages make up at
	// least this fraction of the data file (0: DefaultCompactFreeRatio;
	// negative: never automatically; Compact still works). Checked at
	// Open and every MaintenanceInterval.
	CompactFreeRatio float64
	// CompactMinBytes: files smaller than this are never compacted
	// automatically (0: DefaultCompactMinBytes).
	CompactMinBytes int64
	// MaintenanceInterval is how often the writer removes readings past
	// MaxAge while no Append arrives and checks for compaction (0:
	// DefaultMaintenanceInterval).
	MaintenanceInterval time.Duration
	// SkipCheck skips the integrity check at Open (bbolt's page check and
	// every block's checksum). The check reads the whole file; skip it only
	// where start-up time matters more than refusing a damaged file early.
	SkipCheck bool
	// OnDrop is called for every removal of readings by the caps (nil:
	// none), released or not; see Drop. It runs on the writer goroutine
	// after the commit that removed them: it must return quickly and must
	// not call Append, SetCursor or Compact (that would deadlock).
	OnDrop func(Drop)
	// OnCommit is called after every commit attempt with its size and
	// timings (nil: none), on the writer goroutine; same rules as OnDrop.
	// The metrics layer feeds its commit-latency histogram from it.
	OnCommit func(CommitInfo)
	// OnProgress is called as a compaction progresses, after each
	// transaction of the copy (about 32 MiB) is written out, on the
	// writer goroutine (nil: none); same rules as OnDrop. Appends wait
	// while a compaction runs, minutes for a large file on slow flash:
	// the agent beats the ingest's heartbeat from it, so that a copy that
	// moves counts as alive and one hung in a write does not.
	OnProgress func()
	// Logger receives drops (rate-limited), compactions and errors (nil:
	// slog.Default()).
	Logger *slog.Logger
	// Now is the clock for ingest times and ages (nil: time.Now).
	Now func() time.Time
	// elapsed is the monotonic time since the buffer opened, against
	// which forward steps of Now are told (nil: the monotonic clock when
	// Now is nil, else no step is told). Tests set it.
	elapsed func() time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxBytes < MinMaxBytes {
		return o, fmt.Errorf("buffer: max bytes %d is below the minimum %d", o.MaxBytes, MinMaxBytes)
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxFileBytes == 0 {
		o.MaxFileBytes = 2*o.MaxBytes + 64<<20
	}
	switch o.FullPolicy {
	case "":
		o.FullPolicy = PolicyDropOldest
	case PolicyDropOldest, PolicyReject:
	default:
		return o, fmt.Errorf("buffer: full policy %q: want %q or %q", o.FullPolicy, PolicyDropOldest, PolicyReject)
	}
	for _, c := range o.Consumers {
		if err := checkCursorName(c); err != nil {
			return o, fmt.Errorf("buffer: consumer %w", err)
		}
	}
	o.Consumers = slices.Clone(o.Consumers)
	if o.GroupCount < 0 || o.BlockReadings < 0 || o.MaxPending < 0 || o.CompactMinBytes < 0 || o.MaintenanceInterval < 0 {
		return o, errors.New("buffer: group count, block readings, max pending, compact min bytes and maintenance interval must not be negative")
	}
	if o.GroupCount == 0 {
		o.GroupCount = DefaultGroupCount
	}
	if o.GroupDelay < 0 {
		return o, fmt.Errorf("buffer: group delay %s is negative", o.GroupDelay)
	}
	if o.BlockReadings == 0 {
		o.BlockReadings = DefaultBlockReadings
	}
	if o.BlockReadings > 1<<16 {
		return o, fmt.Errorf("buffer: block readings %d is above %d", o.BlockReadings, 1<<16)
	}
	if o.MaxPending == 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.CompactFreeRatio == 0 {
		o.CompactFreeRatio = DefaultCompactFreeRatio
	}
	if o.CompactFreeRatio >= 1 {
		return o, fmt.Errorf("buffer: compact free ratio %g must be below 1", o.CompactFreeRatio)
	}
	if o.CompactMinBytes == 0 {
		o.CompactMinBytes = DefaultCompactMinBytes
	}
	if o.MaintenanceInterval == 0 {
		o.MaintenanceInterval = DefaultMaintenanceInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
		if o.elapsed == nil {
			start := time.Now()
			o.elapsed = func() time.Duration { return time.Since(start) }
		}
	}
	return o, nil
}

func checkCursorName(name string) error {
	if name == "" || len(name) > MaxCursorName {
		return fmt.Errorf("cursor name %q: want 1 to %d bytes", name, MaxCursorName)
	}
	return nil
}

// Record is one stored reading with its place in the buffer.
type Record struct {
	// Seq is the buffer's sequence number: assigned at commit, starting
	// at 1, strictly increasing in commit order, never reused (it survives
	// restarts and compactions). Not to be confused with Reading.Seq, the
	// publisher's number.
	Seq uint64
	// Ingested is when the reading was committed (the buffer's clock).
	Ingested time.Time
	// Reading is the reading as appended; Time is in UTC.
	Reading reading.Reading
}

// Drop reports readings removed by a cap.
type Drop struct {
	// Reason is ReasonMaxBytes, ReasonMaxAge or ReasonDiskFull.
	Reason string
	// Released says whether every consumer had passed these readings. A
	// removal of released readings is routine; of unreleased ones, a loss
	// for the consumers that had not read them.
	Released bool
	// FirstSeq and LastSeq bound the removed sequence numbers (inclusive).
	FirstSeq, LastSeq uint64
	// Readings is LastSeq-FirstSeq+1; Bytes their approximate encoded size.
	Readings uint64
	Bytes    int64
}

// Drop reasons. Removals for ReasonDiskFull (released readings only, after
// a commit failed for lack of space) are counted with the byte cap's.
const (
	ReasonMaxBytes = "max_bytes"
	ReasonMaxAge   = "max_age"
	ReasonDiskFull = "disk_full"
)

// DropCounts counts removed readings by cause, since the data file was
// created (they are persisted with the data).
type DropCounts struct {
	// ReleasedByBytes and ReleasedByAge count released readings removed
	// by MaxBytes and MaxAge: routine.
	ReleasedByBytes, ReleasedByAge uint64
	// UnreleasedByBytes and UnreleasedByAge count readings removed before
	// every consumer had passed them: data lost to those consumers.
	UnreleasedByBytes, UnreleasedByAge uint64
}

// CommitInfo describes one commit attempt, for OnCommit.
type CommitInfo struct {
	// Requests and Readings count the Append calls and readings in the
	// group (cursor updates are requests without readings).
	Requests, Readings int
	// Bytes is the encoded size written.
	Bytes int
	// Wait is how long the group's oldest request waited in the queue.
	Wait time.Duration
	// Duration is the time of the bbolt transaction, fsync included.
	Duration time.Duration
	// Err is the commit's error (nil: durable).
	Err error
}

// Stats is a snapshot of the buffer's gauges and counters, for metrics.
type Stats struct {
	// Records is the number of stored readings (the buffer's depth) and
	// Bytes their encoded size.
	Records uint64
	Bytes   int64
	// FileBytes is the data file's size and FreeBytes the part of it in
	// free pages (reclaimed by compaction).
	FileBytes, FreeBytes int64
	// FirstSeq and LastSeq bound the stored sequence numbers (FirstSeq >
	// LastSeq when empty; LastSeq is the last ever assigned).
	FirstSeq, LastSeq uint64
	// Oldest is the ingest time of the oldest stored reading (zero when
	// empty); the oldest age is Now minus Oldest.
	Oldest time.Time
	// Appended counts readings committed since Open; Commits the commit
	// transactions and CommitTime their total duration (fsync included);
	// CommitErrors the failed ones.
	Appended, Commits, CommitErrors uint64
	CommitTime                      time.Duration
	// Rejected counts readings refused since Open (ErrFull, ErrDiskFull,
	// any commit error): not stored, not to be acknowledged.
	Rejected uint64
	// Dropped counts readings removed by the caps since the file was
	// created.
	Dropped DropCounts
	// Compactions counts compactions since Open.
	Compactions uint64
	// Cursors holds every stored cursor.
	Cursors map[string]uint64
}

// state is the committed state the writer keeps in memory.
type state struct {
	records     uint64
	bytes       int64
	first, last uint64 // first > last when empty
	oldest      int64  // ingest of the first block, Unix ns (0: empty)
	dropped     DropCounts
	cursors     map[string]uint64
}

func (s *state) clone() state {
	c := *s
	c.cursors = make(map[string]uint64, len(s.cursors))
	for k, v := range s.cursors {
		c.cursors[k] = v
	}
	return c
}

// Buffer is the durable reading buffer: one bbolt data file, one writer
// goroutine that group-commits, any number of concurrent readers.
//
// All methods are safe for concurrent use. A Buffer must be closed with
// Close, which flushes what is queued and closes the file.
type Buffer struct {
	path string
	id   string
	opts Options
	log  *slog.Logger

	// Forward steps of the wall clock (Now), told by Options.elapsed (see
	// clockStep); the writer goroutine's. stepped and stepSeq are
	// persisted (keyClockStep), so the guard holds across a restart.
	wall0     int64  // Now at open, Unix ns
	sessStep  int64  // the largest forward step seen since open, ns
	stepped   int64  // the step blocks up to stepSeq are aged less, ns
	stepSeq   uint64 // the last sequence number committed before it
	stepDirty bool   // stepped/stepSeq changed since the last commit

	// dbMu guards db: readers hold it shared for one short read
	// transaction; compaction and Close hold it exclusively to swap or
	// close the file.
	dbMu sync.RWMutex
	db   *bolt.DB

	// sendMu orders Append's enqueue against Close (see Close).
	sendMu  sync.RWMutex
	closed  bool
	reqs    chan *request
	closing chan struct{} // closed first by Close: callers stop waiting
	stop    chan struct{} // closed once no new request can be queued
	done    chan struct{} // closed when the writer has exited

	closeOnce sync.Once
	closeErr  error

	// Writer-owned.
	enc         encoder
	flat        []reading.Reading
	scratch     []byte
	group       []*request
	compacts    []*request
	lastDropLog time.Time
	dropsSince  uint64
	lastErrLog  time.Time
	errsSince   uint64
	latestNew   map[string]latestMark

	mu       sync.Mutex // guards the fields below
	st       state
	latest   map[string]latestMark // newest reading time per sensor
	notify   chan struct{}         // closed and replaced after each commit
	counters struct {
		appended, commits, commitErrs, rejected, compactions uint64
		commitTime                                           time.Duration
	}
}

type reqKind uint8

const (
	reqAppend reqKind = iota
	reqCursor
	reqCompact
)

// Request states of an append: the writer copies rs (queued -> copying ->
// copied); an Append whose context ends first marks it abandoned (queued
// -> abandoned) and the writer skips it, so a context error before the
// copy means nothing was stored, and rs is never read after Append
// returns.
const (
	reqQueued int32 = iota
	reqCopying
	reqCopied
	reqAbandoned
)

type request struct {
	state  atomic.Int32
	kind   reqKind
	rs     []reading.Reading
	n      int // len(rs) when queued (rs is cleared once copied)
	cursor string
	seq    uint64
	enq    time.Time
	done   chan error
}

// Bucket and meta key names.
var (
	bucketBlocks  = []byte("blocks")
	bucketIndex   = []byte("time_index")
	bucketCursors = []byte("cursors")
	bucketMeta    = []byte("meta")
	bucketLatest  = []byte("latest")
	keyFormat     = []byte("format")
	keyRecords    = []byte("records")
	keyBytes      = []byte("bytes")
	keyDropped    = []byte("dropped")
	keyID         = []byte("id")
	keyClockStep  = []byte("clock_step")
)

// fileFormat is the layout version stored in the meta bucket.
const fileFormat = 1

// Open opens the buffer at path, creating the file (mode 0600) and its
// directory's entry durably when it does not exist. It refuses a damaged
// file with ErrCorrupt (never repairing or wiping it), a file held by
// another process with ErrLocked, and checks the whole file unless
// Options.SkipCheck is set. When free pages exceed Options.CompactFreeRatio
// it compacts the file before returning. ctx bounds the check and the
// compaction.
//
// The returned Buffer owns a writer goroutine until Close.
func Open(ctx context.Context, path string, opts Options) (*Buffer, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Buffer{
		path:      path,
		opts:      o,
		wall0:     o.Now().UnixNano(),
		log:       o.Logger.With("path", path),
		reqs:      make(chan *request, o.MaxPending),
		closing:   make(chan struct{}),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		notify:    make(chan struct{}),
		latest:    map[string]latestMark{},
		latestNew: map[string]latestMark{},
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	// A leftover of a compaction that did not finish: the original file
	// is still authoritative.
	if err := os.Remove(path + compactSuffix); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open buffer %s: remove unfinished compaction: %w", path, err)
	}
	db, err := b.openDB(ctx)
	if err != nil {
		return nil, err
	}
	b.db = db
	if b.shouldCompact() {
		if err := b.compact(ctx); err != nil {
			_ = b.closeDB()
			return nil, err
		}
	}
	go b.run()
	return b, nil
}

// ID returns the buffer's identity: 32 random hex digits chosen when the
// data file was created, kept by compaction. Sequence numbers are unique
// within one ID; a new file (after moving a damaged one aside) starts at 1
// again with a new ID, so idempotency keys must include it (agent id, ID,
// sequence number).
func (b *Buffer) ID() string { return b.id }

// Path returns the data file's path.
func (b *Buffer) Path() string { return b.path }

// openDB opens, initialises and checks the data file and loads the state.
func (b *Buffer) openDB(ctx context.Context) (*bolt.DB, error) {
	path := b.path
	info, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	if statErr != nil && !created {
		return nil, fmt.Errorf("open buffer %s: %w", path, statErr)
	}
	if !created && !info.Mode().IsRegular() {
		return nil, fmt.Errorf("open buffer %s: not a regular file", path)
	}
	if !created && info.Size() == 0 {
		// bbolt would initialise an empty file silently: fine for a file
		// that a crash left empty right after creation, and nothing else
		// writes empty files here.
		created = true
	}
	// Check an existing file through a read-only handle first: bbolt
	// panics on some damage while opening for writing (loading the free
	// list), and such a panic leaves the file mapped and locked. A
	// read-only open loads nothing but the meta pages, and Check recovers
	// its own panics, so a damaged file is refused cleanly.
	if !created && !b.opts.SkipCheck {
		ro, err := openBolt(path, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if err != nil {
			return nil, b.openError(err)
		}
		err = b.check(ctx, ro)
		if cerr := ro.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("open buffer %s: close after check: %w", path, cerr)
		}
		if err != nil {
			return nil, err
		}
	}
	db, err := openBolt(path, &bolt.Options{
		Timeout:      time.Second,
		FreelistType: bolt.FreelistMapType,
		MaxSize:      int(max(b.opts.MaxFileBytes, 0)),
	})
	if err != nil {
		return nil, b.openError(err)
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open buffer %s: %w", path, err)
		}
	}
	if err := b.initAndLoad(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// openError classifies an error of bolt.Open.
func (b *Buffer) openError(err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s: is another rig-agent running on the same data dir?", ErrLocked, b.path)
	case errors.Is(err, os.ErrPermission), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("open buffer %s: %w", b.path, err)
	}
	return b.corrupt(err)
}

// openBolt is bolt.Open that turns a panic on a damaged file into an
// error. It closes the file then, but bbolt may have mapped it already: the
// mapping (and with it the file lock) stays until the process exits. Open
// avoids this by checking through a read-only handle first.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	var f *os.File
	o.OpenFile = func(name string, flag int, mode os.FileMode) (*os.File, error) {
		var err error
		f, err = os.OpenFile(name, flag, mode)
		return f, err
	}
	defer func() {
		if r := recover(); r != nil {
			if f != nil {
				_ = f.Close()
			}
			db, err = nil, fmt.Errorf("bbolt panicked reading the file: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// corrupt wraps a cause into the ErrCorrupt error users see.
func (b *Buffer) corrupt(cause error) error {
	aside := b.path + ".corrupt-" + b.opts.Now().UTC().Format("20060102T150405Z")
	return fmt.Errorf("%w: %s: %v. The agent does not repair or overwrite it. "+
		"Stop the agent, move the file aside with `mv %s %s` and start the agent again "+
		"with an empty buffer (see docs/agent.md, \"Buffer recovery\", to inspect or salvage the old file)",
		ErrCorrupt, b.path, cause, b.path, aside)
}

// initAndLoad creates the buckets of a new file, checks an existing one
// and loads the in-memory state.
func (b *Buffer) initAndLoad(db *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = b.corrupt(fmt.Errorf("bbolt panicked reading the file: %v", r))
		}
	}()
	isNew := false
	if err := db.View(func(tx *bolt.Tx) error {
		n := 0
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { n++; return nil })
		isNew = n == 0
		return nil
	}); err != nil {
		return b.corrupt(err)
	}
	if isNew {
		if err := db.Update(func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketBlocks, bucketIndex, bucketCursors, bucketMeta, bucketLatest} {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
			var id [16]byte
			if _, err := rand.Read(id[:]); err != nil {
				return err
			}
			if err := tx.Bucket(bucketMeta).Put(keyID, []byte(hex.EncodeToString(id[:]))); err != nil {
				return err
			}
			return tx.Bucket(bucketMeta).Put(keyFormat, []byte{fileFormat})
		}); err != nil {
			return fmt.Errorf("open buffer %s: initialise: %w", b.path, err)
		}
	}
	return db.View(func(tx *bolt.Tx) error {
		blk, idx, cur, meta := tx.Bucket(bucketBlocks), tx.Bucket(bucketIndex), tx.Bucket(bucketCursors), tx.Bucket(bucketMeta)
		if blk == nil || idx == nil || cur == nil || meta == nil {
			return b.corrupt(errors.New("not a rig-agent buffer: its buckets are missing"))
		}
		if f := meta.Get(keyFormat); len(f) != 1 || f[0] != fileFormat {
			return b.corrupt(fmt.Errorf("unknown buffer format %v (this agent reads format %d)", f, fileFormat))
		}
		id := meta.Get(keyID)
		if len(id) != 32 {
			return b.corrupt(fmt.Errorf("buffer id %q is not 32 hex digits", id))
		}
		b.id = string(id)
		st := state{cursors: map[string]uint64{}}
		st.records = getUint(meta, keyRecords)
		st.bytes = int64(getUint(meta, keyBytes))
		if d := meta.Get(keyDropped); len(d) == 32 {
			st.dropped = DropCounts{
				ReleasedByBytes: binary.BigEndian.Uint64(d), ReleasedByAge: binary.BigEndian.Uint64(d[8:]),
				UnreleasedByBytes: binary.BigEndian.Uint64(d[16:]), UnreleasedByAge: binary.BigEndian.Uint64(d[24:]),
			}
		}
		if v := meta.Get(keyClockStep); v != nil {
			if len(v) != 16 {
				return b.corrupt(fmt.Errorf("clock step record has %d bytes, want 16", len(v)))
			}
			b.stepped, b.stepSeq = int64(binary.BigEndian.Uint64(v)), binary.BigEndian.Uint64(v[8:])
		}
		st.last = blk.Sequence()
		st.first = st.last + 1
		if k, v := blk.Cursor().First(); k != nil {
			h, _, err := readHeader(v)
			if err != nil || len(k) != 8 {
				return b.corrupt(fmt.Errorf("first block: %v", err))
			}
			st.first = binary.BigEndian.Uint64(k)
			st.oldest = h.ingest
		}
		if err := cur.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return b.corrupt(fmt.Errorf("cursor %q has %d bytes, want 8", k, len(v)))
			}
			st.cursors[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		}); err != nil {
			return err
		}
		if lt := tx.Bucket(bucketLatest); lt != nil {
			if err := lt.ForEach(func(k, v []byte) error {
				if len(v) != 16 {
					return b.corrupt(fmt.Errorf("latest reading of sensor %q has %d bytes, want 16", k, len(v)))
				}
				b.latest[string(k)] = latestMark{t: int64(binary.BigEndian.Uint64(v)), seq: binary.BigEndian.Uint64(v[8:])}
				return nil
			}); err != nil {
				return err
			}
		} else {
			return b.corrupt(errors.New("not a rig-agent buffer: its buckets are missing"))
		}
		b.st = st
		return nil
	})
}

// check runs bbolt's consistency check and verifies every block's checksum
// and the stored totals.
func (b *Buffer) check(ctx context.Context, db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		var errs []string
		for err := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return b.corrupt(fmt.Errorf("bbolt check: %s", strings.Join(errs, "; ")))
		}
		n := 0
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { n++; return nil })
		if n == 0 {
			return nil // created, then a crash before the buckets: a new buffer
		}
		blk, meta := tx.Bucket(bucketBlocks), tx.Bucket(bucketMeta)
		if blk == nil || meta == nil {
			return b.corrupt(errors.New("not a rig-agent buffer: its buckets are missing"))
		}
		var records uint64
		var size int64
		var prevFirst, prevCount uint64
		c := blk.Cursor()
		blocks := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if blocks++; blocks%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("open buffer %s: check: %w", b.path, err)
				}
			}
			if len(k) != 8 {
				return b.corrupt(fmt.Errorf("block key %x is not a sequence number", k))
			}
			first := binary.BigEndian.Uint64(k)
			h, _, err := readHeader(v)
			if err != nil {
				return b.corrupt(fmt.Errorf("block at seq %d: %v", first, err))
			}
			if prevCount > 0 && first != prevFirst+prevCount {
				return b.corrupt(fmt.Errorf("block at seq %d does not follow the block at seq %d of %d readings", first, prevFirst, prevCount))
			}
			prevFirst, prevCount = first, uint64(h.count)
			records += uint64(h.count)
			size += int64(len(v))
		}
		if prevCount > 0 && prevFirst+prevCount-1 != blk.Sequence() {
			return b.corrupt(fmt.Errorf("last block ends at seq %d but the sequence is at %d", prevFirst+prevCount-1, blk.Sequence()))
		}
		if r, s := getUint(meta, keyRecords), int64(getUint(meta, keyBytes)); r != records || s != size {
			return b.corrupt(fmt.Errorf("stored totals (%d readings, %d bytes) differ from the blocks (%d readings, %d bytes)", r, s, records, size))
		}
		return nil
	})
}

func getUint(bk *bolt.Bucket, key []byte) uint64 {
	if v := bk.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putUint(bk *bolt.Bucket, key []byte, x uint64) error {
	return bk.Put(key, binary.BigEndian.AppendUint64(nil, x))
}

// syncDir makes a directory entry (a created or renamed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Append stores rs durably: it returns nil only after the readings are
// committed and fsynced, in one transaction with the other requests of
// their commit group. Their sequence numbers are consecutive. rs is not
// retained after Append returns; an empty rs returns nil at once.
//
// On any error nothing must be acknowledged upstream. ErrInvalidReading
// (nothing queued), ErrFull, ErrDiskFull and ErrClosed say nothing of rs
// was stored. If ctx ends first, Append returns ctx's error: when the
// writer had not yet taken the readings they are not stored; when it had,
// they may be committed after Append returned. Either way treat them as
// not acknowledged (a redelivery stores them again; consumers see
// at-least-once).
//
// rs is only borrowed: Append does not read or keep it after it returns,
// whatever the outcome. Safe for concurrent use: concurrent calls are what
// group commit batches.
func (b *Buffer) Append(ctx context.Context, rs []reading.Reading) error {
	if len(rs) == 0 {
		return nil
	}
	for i := range rs {
		if err := checkReading(&rs[i]); err != nil {
			return fmt.Errorf("%w: reading %d (sensor %q): %v", ErrInvalidReading, i, rs[i].Sensor, err)
		}
	}
	return b.submit(ctx, &request{kind: reqAppend, rs: rs, n: len(rs)})
}

// SetCursor durably sets the named consumer cursor to seq ("this consumer
// has processed every reading up to seq"), through the same group commit
// as Append. seq may move backwards (to re-read) but not beyond LastSeq.
// Cursors named in Options.Consumers decide which readings are released.
func (b *Buffer) SetCursor(ctx context.Context, name string, seq uint64) error {
	if err := checkCursorName(name); err != nil {
		return fmt.Errorf("buffer: set %w", err)
	}
	return b.submit(ctx, &request{kind: reqCursor, cursor: name, seq: seq})
}

// Compact rewrites the data file without its free pages (see
// docs/agent.md, "Compaction"). Appends wait while it runs (a copy of the
// stored data: seconds per GiB); readers go on. It refuses to start when
// the file system lacks room for the copy.
func (b *Buffer) Compact(ctx context.Context) error {
	return b.submit(ctx, &request{kind: reqCompact})
}

func (b *Buffer) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.enq = b.opts.Now()
	r.done = make(chan error, 1)
	b.sendMu.RLock()
	if b.closed {
		b.sendMu.RUnlock()
		return ErrClosed
	}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		b.sendMu.RUnlock()
		return ctx.Err()
	case <-b.closing:
		b.sendMu.RUnlock()
		return ErrClosed
	}
	b.sendMu.RUnlock()
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.kind != reqAppend || r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		// The writer is copying rs: wait for the copy (microseconds), so
		// that rs is not read after Append returns.
		for r.state.Load() == reqCopying {
			runtime.Gosched()
		}
		return ctx.Err()
	}
}

// Close stops accepting requests, commits every request already queued
// (their callers get their results), stops the writer and closes the data
// file, in that order. Calls after the first return the first's result.
// Methods called after Close return ErrClosed.
func (b *Buffer) Close() error {
	b.closeOnce.Do(func() {
		close(b.closing)
		b.sendMu.Lock() // waits for every enqueue in progress
		b.closed = true
		b.sendMu.Unlock()
		close(b.stop)
		<-b.done
		b.closeErr = b.closeDB()
		b.mu.Lock()
		close(b.notify)
		b.notify = nil
		b.mu.Unlock()
	})
	return b.closeErr
}

func (b *Buffer) closeDB() error {
	b.dbMu.Lock()
	defer b.dbMu.Unlock()
	if b.db == nil {
		return nil
	}
	err := b.db.Close()
	b.db = nil
	if err != nil {
		return fmt.Errorf("close buffer %s: %w", b.path, err)
	}
	return nil
}

// LastSeq returns the last assigned sequence number (0: none yet).
func (b *Buffer) LastSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.last
}

// Cursor returns the named cursor's stored value (0 when never set).
func (b *Buffer) Cursor(name string) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.cursors[name]
}

// MaxLatestSensors caps the sensors whose newest reading Latest tracks.
const MaxLatestSensors = 1 << 16

// latestMark is one sensor's mark: its newest reading time, and the seq
// of its last reading appended (arrival order) that had one.
type latestMark struct {
	t   int64 // Unix ns
	seq uint64
}

// Latest returns a mark of each sensor ever appended, in no particular
// order, as a Reading with only Sensor, Time and Seq set: Time is the
// newest reading time stored, Seq the publisher's seq of the sensor's
// last reading appended that had one (arrival order: after a publisher's
// clock stepped back, a later reading with an older time holds it). It is persisted with every commit, so
// after a restart the MQTT ingest can tell a redelivered message (stored,
// its acknowledgement lost with the process) from a new one. A sensor's
// entry stays when its readings are removed by a cap. At most
// MaxLatestSensors sensors are tracked. No transaction: cheap.
func (b *Buffer) Latest(ctx context.Context) ([]reading.Reading, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]reading.Reading, 0, len(b.latest))
	for s, m := range b.latest {
		out = append(out, reading.Reading{Sensor: s, Time: time.Unix(0, m.t).UTC(), Seq: m.seq})
	}
	return out, nil
}

// Wait blocks until a reading with a sequence number above after is
// committed, ctx ends (its error) or the buffer is closed (ErrClosed).
// Consumers that tail the buffer call it between Scans.
func (b *Buffer) Wait(ctx context.Context, after uint64) error {
	for {
		b.mu.Lock()
		last, ch := b.st.last, b.notify
		b.mu.Unlock()
		if last > after {
			return nil
		}
		if ch == nil {
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Stats returns a snapshot of the counters and gauges. Cheap enough for
// every metrics scrape (no transaction).
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	s := Stats{
		Records: b.st.records, Bytes: b.st.bytes, FirstSeq: b.st.first, LastSeq: b.st.last,
		Dropped: b.st.dropped, Appended: b.counters.appended, Commits: b.counters.commits,
		CommitErrors: b.counters.commitErrs, CommitTime: b.counters.commitTime,
		Rejected: b.counters.rejected, Compactions: b.counters.compactions,
		Cursors: make(map[string]uint64, len(b.st.cursors)),
	}
	if b.st.oldest != 0 {
		s.Oldest = time.Unix(0, b.st.oldest).UTC()
	}
	for k, v := range b.st.cursors {
		s.Cursors[k] = v
	}
	b.mu.Unlock()
	b.dbMu.RLock()
	if b.db != nil {
		s.FreeBytes = int64(b.db.Stats().FreeAlloc)
	}
	b.dbMu.RUnlock()
	if fi, err := os.Stat(b.path); err == nil {
		s.FileBytes = fi.Size()
	}
	return s
}

// classify maps a commit error to the package's sentinels.
func (b *Buffer) classify(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT),
		strings.Contains(err.Error(), "no space left on device"):
		return fmt.Errorf("%w: %s: %v (free disk space; the buffer removes forwarded data first when it can)", ErrDiskFull, b.path, err)
	case errors.Is(err, berrors.ErrMaxSizeReached):
		return fmt.Errorf("%w: %s reached its size limit of %d bytes (Options.MaxFileBytes): %v", ErrDiskFull, b.path, b.opts.MaxFileBytes, err)
	}
	return fmt.Errorf("buffer %s: commit: %w", b.path, err)
}
