package codec

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// Binary frame constants (see the package documentation for the layout).
const (
	// BinaryMagic is the first byte of every binary frame.
	BinaryMagic = 0xA7
	// BinaryVersion is the frame version this package writes and reads.
	BinaryVersion = 1
	// BinaryFlagFloat32 marks a frame whose values are float32.
	BinaryFlagFloat32 = 0x01

	binaryHeader     = 3                    // magic, version, flags
	binaryMinFrame   = binaryHeader + 1 + 4 // + count + CRC
	binaryMinReading = 1 + 8 + 4 + 1 + 1    // id length, time, float32, seq, quality
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Binary is the "binary" codec: a compact little-endian frame of readings
// with a CRC-32C trailer. See the package documentation for the layout.
//
// Decode reads frames of either value width; Float32 chooses what Encode
// writes.
type Binary struct {
	// Float32 makes Encode write values as float32 (4 bytes instead of 8,
	// about 7 significant digits). Zero: float64, exact.
	Float32 bool
}

// Name returns "binary".
func (Binary) Name() string { return NameBinary }

// Decode implements Codec.
func (Binary) Decode(b Binding, payload []byte, dst []reading.Reading) ([]reading.Reading, error) {
	start := len(dst)
	dst, err := decodeBinary(&b, payload, dst, start)
	return finish(NameBinary, &b, dst, start, err)
}

func decodeBinary(b *Binding, p []byte, dst []reading.Reading, start int) ([]reading.Reading, *Error) {
	if err := checkSize(p); err != nil {
		return dst, err
	}
	if len(p) < binaryMinFrame {
		return dst, perr(0, "", "frame of %d bytes is shorter than the %d-byte minimum", len(p), binaryMinFrame)
	}
	if p[0] != BinaryMagic {
		return dst, perr(0, "magic", "first byte is %#02x, want %#02x", p[0], BinaryMagic)
	}
	if p[1] != BinaryVersion {
		return dst, perr(1, "version", "frame version %d; this decoder reads version %d", p[1], BinaryVersion)
	}
	body := p[:len(p)-4]
	want := binary.LittleEndian.Uint32(p[len(p)-4:])
	if got := crc32.Checksum(body, castagnoli); got != want {
		return dst, perr(len(body), "crc", "CRC-32C mismatch: frame says %#08x, content gives %#08x", want, got)
	}
	flags := p[2]
	if flags&^BinaryFlagFloat32 != 0 {
		return dst, perr(2, "flags", "unknown flag bits %#02x", flags&^BinaryFlagFloat32)
	}
	valueSize := 8
	if flags&BinaryFlagFloat32 != 0 {
		valueSize = 4
	}
	pos := binaryHeader
	count, n := binary.Uvarint(body[pos:])
	if n <= 0 {
		return dst, perr(pos, "count", "bad varint")
	}
	if count > MaxReadings {
		return dst, perr(pos, "count", "%d readings exceed the limit of %d", count, MaxReadings)
	}
	pos += n
	if rest := len(body) - pos; count*binaryMinReading > uint64(rest) {
		return dst, perr(pos, "count", "count says %d readings but only %d bytes follow", count, rest)
	}
	for i := 0; i < int(count); i++ {
		r := reading.Reading{}
		idLen, n := binary.Uvarint(body[pos:])
		if n <= 0 {
			return dst, ierr(pos, i, "sensor", "bad varint for the id length")
		}
		if idLen > MaxSensorLen {
			return dst, ierr(pos, i, "sensor", "sensor id of %d bytes exceeds the limit of %d", idLen, MaxSensorLen)
		}
		pos += n
		if need := int(idLen) + 8 + valueSize + 2; len(body)-pos < need {
			return dst, ierr(pos, i, "", "reading needs at least %d more bytes, %d left", need, len(body)-pos)
		}
		if idLen == 0 {
			if b.Sensor == "" {
				return dst, ierr(pos, i, "sensor", "no sensor id, and the topic's binding has no default sensor")
			}
			r.Sensor = b.Sensor
		} else {
			id, msg := b.sensorID(body[pos : pos+int(idLen)])
			if msg != "" {
				return dst, ierr(pos, i, "sensor", "%s", msg)
			}
			r.Sensor = id
			pos += int(idLen)
		}
		r.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(body[pos:]))).UTC()
		pos += 8
		if valueSize == 8 {
			r.Value = math.Float64frombits(binary.LittleEndian.Uint64(body[pos:]))
		} else {
			r.Value = float64(math.Float32frombits(binary.LittleEndian.Uint32(body[pos:])))
		}
		if msg := checkValue(r.Value); msg != "" {
			return dst, ierr(pos, i, "value", "%s", msg)
		}
		pos += valueSize
		seq, n := binary.Uvarint(body[pos:])
		if n <= 0 {
			return dst, ierr(pos, i, "seq", "bad varint")
		}
		r.Seq = seq
		pos += n
		if pos >= len(body) {
			return dst, ierr(pos, i, "q", "frame ends before the quality byte")
		}
		r.Quality = reading.Quality(body[pos])
		pos++
		dst = append(dst, r)
	}
	if pos != len(body) {
		return dst, perr(pos, "", "%d bytes after the last reading, before the CRC", len(body)-pos)
	}
	return dst, nil
}

// ierr is an error at a byte offset about reading i.
func ierr(off, i int, field, format string, args ...any) *Error {
	e := perr(off, field, format, args...)
	e.Reading = i
	return e
}

// Encode implements Codec.
func (c Binary) Encode(dst []byte, rs []reading.Reading) ([]byte, error) {
	if len(rs) > MaxReadings {
		return dst, fmt.Errorf("binary encode: %d readings exceed the limit of %d", len(rs), MaxReadings)
	}
	for i := range rs {
		r := &rs[i]
		if err := checkEncode(NameBinary, i, r); err != nil {
			return dst, err
		}
		if c.Float32 && math.Abs(r.Value) > math.MaxFloat32 {
			return dst, fmt.Errorf("binary encode: reading %d (sensor %q): value %g is out of the float32 range", i, r.Sensor, r.Value)
		}
	}
	start := len(dst)
	flags := byte(0)
	if c.Float32 {
		flags |= BinaryFlagFloat32
	}
	dst = append(dst, BinaryMagic, BinaryVersion, flags)
	dst = binary.AppendUvarint(dst, uint64(len(rs)))
	for i := range rs {
		r := &rs[i]
		dst = binary.AppendUvarint(dst, uint64(len(r.Sensor)))
		dst = append(dst, r.Sensor...)
		dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
		if c.Float32 {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(float32(r.Value)))
		} else {
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(r.Value))
		}
		dst = binary.AppendUvarint(dst, r.Seq)
		dst = append(dst, byte(r.Quality))
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli)), nil
}
