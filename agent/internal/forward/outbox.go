package forward

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Outbox layout (bbolt):
//
//	items:   [prio][seq, 8 bytes BE] -> [queued at, unix ns, 8 bytes BE][diagnosis JSON]
//	         prio 0: alert, 1: other; key order is send order
//	meta:    "day" -> [UTC day number, 8 bytes][bytes used, 8 bytes]
//	         "seq_floor", "life_floor", "seq_top" -> [seq, 8 bytes BE] (see seqfloor.go)
//	uploads: request id -> uploadState JSON
//	renumbered: [old seq, 8 bytes BE] -> [new seq, 8 bytes BE] (see seqfloor.go)
var (
	bucketItems      = []byte("items")
	bucketMeta       = []byte("meta")
	bucketUploads    = []byte("uploads")
	bucketRenumbered = []byte("renumbered")
	keyDay           = []byte("day")
	keyVersion       = []byte("version")
)

const (
	formatVersion = 1
	prioAlert     = 0
	prioOther     = 1
	valueHeader   = 8
)

func itemKey(prio byte, seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prio
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

// outbox is the bbolt file plus in-memory totals, guarded by the
// Forwarder's mutex (bbolt serialises the transactions themselves).
type outbox struct {
	db *bolt.DB
	// mu guards n and bytes; writers hold it across their transaction so
	// that the totals always match the committed file.
	mu sync.Mutex
	// counts and bytes per priority; oldest queued-at time of each.
	n     [2]int
	bytes [2]int64
}

func openOutbox(path string, noSync bool) (*outbox, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && !takeChecked(path, fi) {
		if err := checkOutbox(path); err != nil {
			return nil, err
		}
	}
	db, err := openBolt(path, &bolt.Options{Timeout: 5 * time.Second, NoSync: noSync})
	if err != nil {
		return nil, openError(path, err)
	}
	o := &outbox{db: db}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketItems, bucketMeta, bucketUploads, bucketRenumbered} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyVersion); v == nil {
			if err := meta.Put(keyVersion, []byte{formatVersion}); err != nil {
				return err
			}
		} else if len(v) != 1 || v[0] != formatVersion {
			return fmt.Errorf("format version %v is not %d", v, formatVersion)
		}
		return tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			if len(k) != 9 || k[0] > prioOther || len(v) < valueHeader {
				return fmt.Errorf("malformed item %x", k)
			}
			o.n[k[0]]++
			o.bytes[k[0]] += int64(len(k) + len(v))
			return nil
		})
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	return o, nil
}

// openBolt is bolt.Open that turns a panic on a damaged file into an
// error.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("bbolt panicked reading the file: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("open outbox %s: %w (is another rig-agent using it?)", path, err)
	case errors.Is(err, os.ErrPermission), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("open outbox %s: %w", path, err)
	}
	return corrupt(path, err)
}

// corrupt wraps a cause into the ErrCorrupt error users see.
func corrupt(path string, cause error) error {
	aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	return fmt.Errorf("%w: %s: %v. The agent does not repair or overwrite it. "+
		"Stop the agent, move the file aside with `mv %s %s` and start the agent again "+
		"with an empty outbox (see docs/agent.md, \"Outbox recovery\")",
		ErrCorrupt, path, cause, path, aside)
}

// CheckOutbox checks the outbox file at path, when there is one, as New
// would before writing to it: read-only, its pages and every item. A
// damaged file is an error wrapping ErrCorrupt with the recovery command;
// an absent one is no error. The agent runs it before its expensive
// start steps, so that a damaged outbox costs little per restart.
func CheckOutbox(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil // New creates it, or says why it cannot
	}
	if err := checkOutbox(path); err != nil {
		return err
	}
	checked.mu.Lock()
	checked.path, checked.fi = path, fi
	checked.mu.Unlock()
	return nil
}

// checked is the last outbox file CheckOutbox found sound, as it was
// then, so that New, which the agent calls at the end of its start
// (after the buffer's check and the model's load), does not read the
// whole file a second time. A file changed since (another file, size or
// modification time) is checked again; the record is used once.
var checked struct {
	mu   sync.Mutex
	path string
	fi   os.FileInfo
}

// checkRuns counts checkOutbox's runs (for tests).
var checkRuns atomic.Int64

// takeChecked reports whether CheckOutbox found the file at path, as fi
// describes it now, sound, and forgets it.
func takeChecked(path string, fi os.FileInfo) bool {
	checked.mu.Lock()
	defer checked.mu.Unlock()
	ok := checked.fi != nil && checked.path == path && os.SameFile(checked.fi, fi) &&
		checked.fi.Size() == fi.Size() && checked.fi.ModTime().Equal(fi.ModTime())
	checked.path, checked.fi = "", nil
	return ok
}

// checkOutbox opens an existing file read-only and checks its pages and
// every item's key and header, so that a damaged file is refused before
// anything writes to it.
func checkOutbox(path string) (err error) {
	checkRuns.Add(1)
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return openError(path, err)
	}
	defer db.Close()
	defer func() {
		if r := recover(); r != nil {
			err = corrupt(path, fmt.Errorf("bbolt panicked checking the file: %v", r))
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			return corrupt(path, fmt.Errorf("bbolt check: %w", e))
		}
		b := tx.Bucket(bucketItems)
		if b == nil {
			return nil // never initialised: openOutbox creates the buckets
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 9 || k[0] > prioOther || len(v) < valueHeader+2 || v[valueHeader] != '{' {
				return corrupt(path, fmt.Errorf("malformed item %x", k))
			}
			return nil
		})
	})
}

// totals returns the number of items, of alerts, and the bytes stored.
func (o *outbox) totals() (n, alerts int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[0] + o.n[1], o.n[prioAlert], o.bytes[0] + o.bytes[1]
}

func (o *outbox) count() int {
	n, _, _ := o.totals()
	return n
}

// itemSize is the bytes an item of n bytes of JSON counts against
// Options.MaxBytes (key and value).
func itemSize(n int) int64 { return int64(9 + valueHeader + n) }

// dropped is one item removed to make room.
type dropped struct {
	seq   uint64
	alert bool
}

var errDuplicate = errors.New("already queued")

// put stores one item, removing others to stay within the caps (see
// Options.MaxItems). It returns the removed items, and whether the new item
// itself was dropped; when it is, nothing was removed. A renumbered item
// (from: the seq it was numbered with, 0: none) records from -> seq in the
// same transaction, dropped or not (see renumberedTo).
func (o *outbox) put(prio byte, seq, from uint64, at time.Time, data []byte, maxItems int, maxBytes int64) (drops []dropped, self bool, err error) {
	key := itemKey(prio, seq)
	val := make([]byte, valueHeader+len(data))
	binary.BigEndian.PutUint64(val, uint64(at.UnixNano()))
	copy(val[valueHeader:], data)
	size := itemSize(len(data))
	o.mu.Lock()
	defer o.mu.Unlock()
	n, bytes := o.n, o.bytes
	err = o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItems)
		if b.Get(itemKey(prioAlert, seq)) != nil || b.Get(itemKey(prioOther, seq)) != nil {
			return errDuplicate
		}
		if from != 0 {
			if err := putRenumbered(tx, from, seq); err != nil {
				return err
			}
		}
		if err := raiseSeqTop(tx, seq); err != nil {
			return err
		}
		// Removable: the non-alerts, and for an alert the alerts too. When
		// removing all of them would not make room, the new item is
		// dropped and nothing is removed.
		evN, evBytes := n[prioOther], bytes[prioOther]
		if prio == prioAlert {
			evN, evBytes = n[0]+n[1], bytes[0]+bytes[1]
		}
		if n[0]+n[1]-evN+1 > maxItems || bytes[0]+bytes[1]-evBytes+size > maxBytes {
			self = true
			return nil
		}
		c := b.Cursor()
		for n[0]+n[1]+1 > maxItems || bytes[0]+bytes[1]+size > maxBytes {
			// Oldest other first; alerts only for an alert.
			k, v := c.Seek([]byte{prioOther})
			if k == nil && prio == prioAlert {
				k, v = c.First()
			}
			if k == nil {
				return errors.New("outbox: counts out of step with the file") // unreachable: checked above
			}
			n[k[0]]--
			bytes[k[0]] -= int64(len(k) + len(v))
			drops = append(drops, dropped{seq: binary.BigEndian.Uint64(k[1:]), alert: k[0] == prioAlert})
			if err := c.Delete(); err != nil {
				return err
			}
		}
		n[prio]++
		bytes[prio] += size
		return b.Put(key, val)
	})
	if err != nil {
		return nil, false, err
	}
	o.n, o.bytes = n, bytes
	return drops, self, nil
}

// item is one queued diagnosis.
type item struct {
	prio byte
	seq  uint64
	at   time.Time
	data json.RawMessage
}

// peek returns the first items in send order: at most maxItems, with JSON
// at most maxBytes in all (the first item always, whatever its size),
// alerts only when alertsOnly.
func (o *outbox) peek(maxItems int, maxBytes int64, alertsOnly bool) ([]item, error) {
	var out []item
	var total int64
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketItems).Cursor()
		for k, v := c.First(); k != nil && len(out) < maxItems; k, v = c.Next() {
			if alertsOnly && k[0] != prioAlert {
				break
			}
			if len(k) != 9 || k[0] > prioOther || len(v) < valueHeader+2 || v[valueHeader] != '{' {
				return corrupt(o.db.Path(), fmt.Errorf("malformed item %x", k))
			}
			size := int64(len(v) - valueHeader + 1)
			if len(out) > 0 && total+size > maxBytes {
				break
			}
			total += size
			out = append(out, item{
				prio: k[0], seq: binary.BigEndian.Uint64(k[1:]),
				at:   time.Unix(0, int64(binary.BigEndian.Uint64(v))),
				data: append(json.RawMessage(nil), v[valueHeader:]...),
			})
		}
		return nil
	})
	return out, err
}

// remove deletes items (acknowledged or rejected) and, in the same
// transaction, stores the day's byte count.
func (o *outbox) remove(items []item, day int64, used int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, bytes := o.n, o.bytes
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketItems)
		for _, it := range items {
			k := itemKey(it.prio, it.seq)
			v := b.Get(k)
			if v == nil {
				continue
			}
			n[it.prio]--
			bytes[it.prio] -= int64(len(k) + len(v))
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return putDay(tx, day, used)
	})
	if err != nil {
		return fmt.Errorf("outbox: remove sent items: %w", err)
	}
	o.n, o.bytes = n, bytes
	return nil
}

// oldest returns the queued-at time of the oldest item (zero: empty):
// the first of each priority, sequence numbers growing with time.
func (o *outbox) oldest() time.Time {
	var t time.Time
	_ = o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketItems).Cursor()
		for _, p := range []byte{prioAlert, prioOther} {
			k, v := c.Seek([]byte{p})
			// A value shorter than its header (a file damaged while
			// open; openOutbox refuses one) is peek's to report as
			// corrupt, not a panic here.
			if k == nil || k[0] != p || len(v) < valueHeader {
				continue
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			if t.IsZero() || at.Before(t) {
				t = at
			}
		}
		return nil
	})
	return t
}

func putDay(tx *bolt.Tx, day, used int64) error {
	var v [16]byte
	binary.BigEndian.PutUint64(v[:], uint64(day))
	binary.BigEndian.PutUint64(v[8:], uint64(used))
	return tx.Bucket(bucketMeta).Put(keyDay, v[:])
}

func (o *outbox) saveDay(day, used int64) error {
	return o.db.Update(func(tx *bolt.Tx) error { return putDay(tx, day, used) })
}

func (o *outbox) loadDay() (day, used int64) {
	_ = o.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyDay); len(v) == 16 {
			day, used = int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
		}
		return nil
	})
	return day, used
}

func (o *outbox) close() error { return o.db.Close() }
