package codec_test

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

func TestBinaryRoundTrip(t *testing.T) {
	b := binding()
	for _, n := range []int{0, 1, 64} {
		rs := sample(n, false)
		roundTrip(t, codec.Binary{}, b, rs, rs)
	}
	rs := []reading.Reading{
		{Time: t0, Value: math.MaxFloat64, Seq: math.MaxUint64, Quality: 255},
		{Sensor: strings.Repeat("é", 128), Time: time.Unix(0, math.MinInt64).UTC(), Value: math.Copysign(0, -1)},
	}
	want := append([]reading.Reading(nil), rs...)
	want[0].Sensor = "PS1"
	roundTrip(t, codec.Binary{}, b, rs, want)

	// float32 frames: values rounded to float32.
	rs = sample(8, false)
	want = append([]reading.Reading(nil), rs...)
	for i := range want {
		want[i].Value = float64(float32(want[i].Value))
	}
	p := roundTrip(t, codec.Binary{Float32: true}, b, rs, want)
	if p[2] != codec.BinaryFlagFloat32 {
		t.Errorf("flags %#x", p[2])
	}
	if _, err := (codec.Binary{Float32: true}).Encode(nil, []reading.Reading{{Sensor: "a", Time: t0, Value: 1e39}}); err == nil ||
		!strings.Contains(err.Error(), "out of the float32 range") {
		t.Errorf("float32 overflow: %v", err)
	}
}

// frame builds a binary frame from a body (after the header) with a good CRC.
func frame(flags byte, body ...byte) []byte {
	p := append([]byte{codec.BinaryMagic, codec.BinaryVersion, flags}, body...)
	return binary.LittleEndian.AppendUint32(p, crc32.Checksum(p, crc32.MakeTable(crc32.Castagnoli)))
}

// one is the body of one good reading of "PS1" (value 1.0, seq 17).
func one() []byte {
	b := []byte{3, 'P', 'S', '1'}
	b = binary.LittleEndian.AppendUint64(b, uint64(t0.UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(1))
	return append(b, 17, 0)
}

func TestBinaryBad(t *testing.T) {
	b := binding()
	good := frame(0, append([]byte{1}, one()...)...)
	if _, err := (codec.Binary{}).Decode(b, good, nil); err != nil {
		t.Fatalf("good frame: %v", err)
	}
	badCRC := append([]byte(nil), good...)
	badCRC[10] ^= 1
	nan := one()
	binary.LittleEndian.PutUint64(nan[12:], math.Float64bits(math.NaN()))
	noID := append([]byte{0}, one()[4:]...)
	longID := []byte{1, 0x81, 0x02} // id length 257
	longID = append(longID, make([]byte, 300)...)
	cases := []struct {
		name    string
		b       codec.Binding
		payload []byte
		want    []string
	}{
		{"short", b, []byte{codec.BinaryMagic, 1, 0}, []string{"frame of 3 bytes is shorter than the 8-byte minimum"}},
		{"magic", b, append([]byte{'{'}, good[1:]...), []string{"byte 0", "field magic", "first byte is 0x7b, want 0xa7"}},
		{"version", b, append([]byte{codec.BinaryMagic, 2}, good[2:]...), []string{"byte 1", "frame version 2; this decoder reads version 1"}},
		{"crc", b, badCRC, []string{"field crc", "CRC-32C mismatch"}},
		{"flags", b, frame(0x80, 0), []string{"byte 2", "unknown flag bits 0x80"}},
		{"count too big", b, frame(0, 0x81, 0x80, 0x04), []string{"field count", "65537 readings exceed the limit of 65536"}},
		{"count vs bytes", b, frame(0, 2), []string{"field count", "count says 2 readings but only 0 bytes follow"}},
		{"bad count varint", b, frame(0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), []string{"field count", "bad varint"}},
		{"truncated reading", b, frame(0, append([]byte{1}, one()[:16]...)...), []string{"byte 5", "reading 0", "reading needs at least 21 more bytes, 15 left"}},
		{"trailing", b, frame(0, append(append([]byte{1}, one()...), 9)...), []string{"byte 26", "1 bytes after the last reading"}},
		{"nan", b, frame(0, append([]byte{1}, nan...)...), []string{"byte 16", "reading 0", "field value", "NaN"}},
		{"no default", codec.Binding{}, frame(0, append([]byte{1}, noID...)...), []string{"field sensor", "no default sensor"}},
		{"long id", b, frame(0, longID...), []string{"byte 4", "sensor id of 257 bytes exceeds the limit of 256"}},
		{"id not utf8", b, frame(0, append([]byte{1, 3, 0xff, 'S', '1'}, one()[4:]...)...), []string{"field sensor", "not valid UTF-8"}},
		{"second reading short", b, frame(0, append(append([]byte{2}, one()...), one()[:20]...)...), []string{"reading 1", "more bytes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decodeErr(t, codec.Binary{}, tc.b, tc.payload, tc.want...)
		})
	}
}
