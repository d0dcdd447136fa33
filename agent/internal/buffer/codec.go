package buffer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// Block layout (format 1). A block holds the readings of consecutive
// sequence numbers; its bbolt key is the first sequence number (8 bytes,
// big endian) and its value is:
//
//	byte     format (1)
//	8 bytes  ingest time, Unix nanoseconds, big endian
//	uvarint  count
//	count x reading:
//	  uvarint  sensor reference: 0 = a new sensor id follows (uvarint
//	           length + bytes) and is added to the block's table; k > 0 =
//	           the block table's entry k-1
//	  varint   time: Unix nanoseconds minus the previous reading's (the
//	           first reading's is absolute)
//	  8 bytes  value, IEEE 754 bits, little endian
//	  uvarint  publisher sequence number (Reading.Seq)
//	  byte     quality
//	4 bytes  CRC-32C of everything before it, little endian
//
// A reading of a known sensor at a steady rate takes about 12-16 bytes.
const (
	blockFormat    = 1
	blockHeaderLen = 1 + 8
	crcLen         = 4
	// MaxSensorLen is the longest sensor id Append accepts, in bytes.
	MaxSensorLen = 255
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBlock is wrapped by every block decoding error.
var errBlock = errors.New("malformed block")

// minTime and maxTime bound the reading times a block can hold (the range
// of time.Time.UnixNano).
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// checkReading reports why r cannot be stored, or nil.
func checkReading(r *reading.Reading) error {
	switch {
	case r.Sensor == "":
		return errors.New("sensor id is empty")
	case len(r.Sensor) > MaxSensorLen:
		return fmt.Errorf("sensor id of %d bytes is longer than %d", len(r.Sensor), MaxSensorLen)
	case r.Time.Before(minTime) || r.Time.After(maxTime):
		return fmt.Errorf("time %s is outside the storable range [%s, %s]",
			r.Time.Format(time.RFC3339Nano), minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339))
	}
	return nil
}

// encoder appends blocks; it keeps its sensor table between calls to
// avoid allocating. Not safe for concurrent use.
type encoder struct {
	table map[string]int
}

// appendBlock appends the encoding of rs, ingested at ingest, to dst.
func (e *encoder) appendBlock(dst []byte, ingest int64, rs []reading.Reading) []byte {
	if e.table == nil {
		e.table = make(map[string]int, 64)
	}
	clear(e.table)
	start := len(dst)
	dst = append(dst, blockFormat)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ingest))
	dst = binary.AppendUvarint(dst, uint64(len(rs)))
	var prev int64
	for i := range rs {
		r := &rs[i]
		if k, ok := e.table[r.Sensor]; ok {
			dst = binary.AppendUvarint(dst, uint64(k+1))
		} else {
			e.table[r.Sensor] = len(e.table)
			dst = append(dst, 0)
			dst = binary.AppendUvarint(dst, uint64(len(r.Sensor)))
			dst = append(dst, r.Sensor...)
		}
		t := r.Time.UnixNano()
		dst = binary.AppendVarint(dst, t-prev)
		prev = t
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Value))
		dst = binary.AppendUvarint(dst, r.Seq)
		dst = append(dst, byte(r.Quality))
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// blockHeader is the fixed part of a block.
type blockHeader struct {
	ingest int64 // Unix nanoseconds
	count  int
}

// readHeader checks the block's checksum and format and returns its
// header and the offset of its first reading.
func readHeader(b []byte) (blockHeader, int, error) {
	if len(b) < blockHeaderLen+1+crcLen {
		return blockHeader{}, 0, fmt.Errorf("%w: %d bytes is too short", errBlock, len(b))
	}
	body := b[:len(b)-crcLen]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return blockHeader{}, 0, fmt.Errorf("%w: checksum %08x, want %08x", errBlock, got, want)
	}
	if b[0] != blockFormat {
		return blockHeader{}, 0, fmt.Errorf("%w: format %d, want %d", errBlock, b[0], blockFormat)
	}
	h := blockHeader{ingest: int64(binary.BigEndian.Uint64(b[1:9]))}
	n, k := binary.Uvarint(body[blockHeaderLen:])
	if k <= 0 || n == 0 || n > uint64(len(body)) {
		return blockHeader{}, 0, fmt.Errorf("%w: bad reading count", errBlock)
	}
	h.count = int(n)
	return h, blockHeaderLen + k, nil
}

// blockReader decodes the readings of one block in order.
type blockReader struct {
	body  []byte // without the checksum
	off   int
	left  int
	prev  int64
	table []string
}

// newBlockReader checks b and prepares to decode it. The strings it
// returns are copies: they stay valid after the bbolt transaction ends.
func newBlockReader(b []byte) (*blockReader, blockHeader, error) {
	h, off, err := readHeader(b)
	if err != nil {
		return nil, h, err
	}
	return &blockReader{body: b[:len(b)-crcLen], off: off, left: h.count}, h, nil
}

// next decodes the next reading into r; it returns false at the end.
func (d *blockReader) next(r *reading.Reading) (bool, error) {
	if d.left == 0 {
		if d.off != len(d.body) {
			return false, fmt.Errorf("%w: %d trailing bytes", errBlock, len(d.body)-d.off)
		}
		return false, nil
	}
	d.left--
	ref, k := binary.Uvarint(d.body[d.off:])
	if k <= 0 {
		return false, fmt.Errorf("%w: bad sensor reference", errBlock)
	}
	d.off += k
	if ref == 0 {
		n, k := binary.Uvarint(d.body[d.off:])
		if k <= 0 || n == 0 || n > MaxSensorLen || uint64(len(d.body)-d.off-k) < n {
			return false, fmt.Errorf("%w: bad sensor id", errBlock)
		}
		d.off += k
		d.table = append(d.table, string(d.body[d.off:d.off+int(n)]))
		d.off += int(n)
		r.Sensor = d.table[len(d.table)-1]
	} else {
		if ref > uint64(len(d.table)) {
			return false, fmt.Errorf("%w: sensor reference %d out of range", errBlock, ref)
		}
		r.Sensor = d.table[ref-1]
	}
	dt, k := binary.Varint(d.body[d.off:])
	if k <= 0 {
		return false, fmt.Errorf("%w: bad time", errBlock)
	}
	d.off += k
	d.prev += dt
	r.Time = time.Unix(0, d.prev).UTC()
	if len(d.body)-d.off < 8 {
		return false, fmt.Errorf("%w: truncated value", errBlock)
	}
	r.Value = math.Float64frombits(binary.LittleEndian.Uint64(d.body[d.off:]))
	d.off += 8
	seq, k := binary.Uvarint(d.body[d.off:])
	if k <= 0 {
		return false, fmt.Errorf("%w: bad publisher sequence", errBlock)
	}
	d.off += k
	r.Seq = seq
	if d.off >= len(d.body) {
		return false, fmt.Errorf("%w: truncated quality", errBlock)
	}
	r.Quality = reading.Quality(d.body[d.off])
	d.off++
	return true, nil
}

// decodeBlock decodes every reading of b (a test and salvage helper).
func decodeBlock(b []byte) (blockHeader, []reading.Reading, error) {
	d, h, err := newBlockReader(b)
	if err != nil {
		return h, nil, err
	}
	out := make([]reading.Reading, 0, h.count)
	for {
		var r reading.Reading
		ok, err := d.next(&r)
		if err != nil {
			return h, nil, err
		}
		if !ok {
			return h, out, nil
		}
		out = append(out, r)
	}
}

// seqKey is the bbolt key of the block starting at seq.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// timeBucket is the index bucket (whole seconds, floor) of a time in
// Unix nanoseconds.
func timeBucket(ns int64) int64 {
	s := ns / 1e9
	if ns%1e9 < 0 {
		s--
	}
	return s
}

// indexKey is the time-index key of block first in bucket sec: the
// second, sign-flipped so that byte order is numeric order, then first.
func indexKey(sec int64, first uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(sec)^(1<<63))
	binary.BigEndian.PutUint64(k[8:], first)
	return k
}

func parseIndexKey(k []byte) (sec int64, first uint64, ok bool) {
	if len(k) != 16 {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(k) ^ (1 << 63)), binary.BigEndian.Uint64(k[8:]), true
}

// blockBuckets returns the distinct index buckets of a block's readings,
// in first-seen order.
func blockBuckets(b []byte, dst []int64) ([]int64, error) {
	d, _, err := newBlockReader(b)
	if err != nil {
		return dst, err
	}
	var r reading.Reading
	for {
		ok, err := d.next(&r)
		if err != nil {
			return dst, err
		}
		if !ok {
			return dst, nil
		}
		s := timeBucket(d.prev)
		if !containsInt64(dst, s) {
			dst = append(dst, s)
		}
	}
}

func containsInt64(xs []int64, x int64) bool {
	// Blocks usually touch one or two buckets: a linear scan from the end
	// is the fastest lookup.
	for i := len(xs) - 1; i >= 0; i-- {
		if xs[i] == x {
			return true
		}
	}
	return false
}
