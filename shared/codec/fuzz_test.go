package codec_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// fuzzCodec checks, for any input, that Decode does not panic, restores
// dst on error, returns only valid readings on success, and that what it
// returns encodes and decodes back to the same readings.
func fuzzCodec(f *testing.F, c codec.Codec, seeds ...[]byte) {
	fuzzCodecWith(f, c, nil, seeds...)
}

// fuzzCodecWith is fuzzCodec with fix applied to each input before decoding
// (and seeds given in the form fix takes).
func fuzzCodecWith(f *testing.F, c codec.Codec, fix func([]byte) []byte, seeds ...[]byte) {
	b := binding()
	b.Names = nil
	fuzzCodecBinding(f, c, b, fix, seeds...)
}

// fuzzCodecNames is fuzzCodec decoding with Binding.Names set, as the
// agent does, so that the interning branch of the sensor ids (and, for
// sparkplugb, the rule for non-numeric metrics of known sensors) is
// fuzzed too.
func fuzzCodecNames(f *testing.F, c codec.Codec, seeds ...[]byte) {
	fuzzCodecBinding(f, c, binding(), nil, seeds...)
}

func fuzzCodecBinding(f *testing.F, c codec.Codec, b codec.Binding, fix func([]byte) []byte, seeds ...[]byte) {
	for _, n := range []int{1, 3} {
		rs := sample(min(n, maxPer(c)), true)
		for i := range rs {
			rs[i].Seq = 5 // sparkplugb: one seq per payload
		}
		p, err := c.Encode(nil, rs)
		if err != nil {
			f.Fatal(err)
		}
		if fix != nil {
			p = p[:len(p)-4] // binary: the CRC is fixed up
		}
		f.Add(p)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if fix != nil {
			payload = fix(payload)
		}
		prefix := []reading.Reading{{Sensor: "keep"}}
		got, err := c.Decode(b, payload, prefix)
		if err != nil {
			var e *codec.Error
			if !errors.As(err, &e) || e.Codec != c.Name() {
				t.Fatalf("error %T %v", err, err)
			}
			if len(got) != 1 || got[0].Sensor != "keep" {
				t.Fatalf("dst not restored: %v", got)
			}
			return
		}
		rs := got[1:]
		if len(rs) > codec.MaxReadings {
			t.Fatalf("%d readings", len(rs))
		}
		for i, r := range rs {
			if r.Sensor == "" || len(r.Sensor) > codec.MaxSensorLen || !utf8.ValidString(r.Sensor) {
				t.Fatalf("reading %d: bad sensor %q", i, r.Sensor)
			}
			if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
				t.Fatalf("reading %d: value %v", i, r.Value)
			}
			if r.Time.Location() != time.UTC || r.Time.Before(minT) || r.Time.After(maxT) {
				t.Fatalf("reading %d: time %v", i, r.Time)
			}
		}
		// Re-encode in chunks the codec can carry, decode, compare.
		step := maxPer(c)
		for i := 0; i < len(rs); i += step {
			chunk := rs[i:min(i+step, len(rs))]
			p, err := c.Encode(nil, chunk)
			if err != nil {
				t.Fatalf("re-encode %v: %v", chunk, err)
			}
			again, err := c.Decode(b, p, nil)
			if err != nil {
				t.Fatalf("decode of re-encoded %q: %v", p, err)
			}
			equalReadings(t, again, chunk)
		}
	})
}

var (
	minT = time.Unix(0, math.MinInt64)
	maxT = time.Unix(0, math.MaxInt64)
)

// maxPer is how many readings one payload of c may carry.
func maxPer(c codec.Codec) int {
	if c.Name() == codec.NameJSON {
		return 1
	}
	return codec.MaxReadings
}

func FuzzJSON(f *testing.F) {
	fuzzCodec(f, codec.JSON{},
		[]byte(`{"sensor":"PS1","ts":"2026-03-01T12:00:00.125Z","v":151.2,"seq":17,"q":0}`),
		[]byte(`{"ts":1772366400125.5,"v":-1e-3,"x":[{"y":null},true,"\u00e9"]}`),
		[]byte(`{"sensor":"\ud83d\ude00","ts":"2026-03-01T13:30:00+01:30","v":0}`),
		[]byte(`{"v":1e999}`),
		[]byte(`{"v":1,"v":2}`),
	)
}

func FuzzJSONBatch(f *testing.F) {
	fuzzCodec(f, codec.JSONBatch{},
		[]byte(`{"seq":42,"ts":1772366400000,"readings":[{"sensor":"PS1","v":151.2},{"sensor":"TS1","v":35.6,"ts":"2026-03-01T12:00:00.5Z"}]}`),
		[]byte(`[{"sensor":"PS1","v":1},{"v":2,"seq":3}]`),
		[]byte(`{"readings":[],"sensor":"x"}`),
	)
}

func FuzzCSV(f *testing.F) {
	fuzzCodec(f, codec.CSV{},
		[]byte("sensor,ts,value,seq,q\r\nPS1,2026-03-01T12:00:00.125Z,151.2,17\r\n# c\n TS1 , 1772366400125 , 35.6 , 17 , 1 \n,,7\n"),
		[]byte("VS1,1772366400125.5,1e3"),
		[]byte("a,,0x1p3\n"),
	)
}

func FuzzBinary(f *testing.F) {
	p, _ := codec.Binary{Float32: true}.Encode(nil, sample(4, false))
	fuzzCodec(f, codec.Binary{}, p, frame(0, 0), frame(0, append([]byte{1}, one()...)...))
}

// FuzzBinaryBody fuzzes binary frames behind a valid CRC, so that the
// fuzzer reaches the layout checks.
func FuzzBinaryBody(f *testing.F) {
	withCRC := func(body []byte) []byte {
		return binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	}
	p, _ := codec.Binary{Float32: true}.Encode(nil, sample(4, false))
	fuzzCodecWith(f, codec.Binary{}, withCRC, p[:len(p)-4], []byte{codec.BinaryMagic, 1, 0, 0})
}

func FuzzSparkplugB(f *testing.F) {
	fuzzCodec(f, codec.SparkplugB{},
		spEncode(f, 1772366400000, 7,
			spm{"name": "PS1", "datatype": uint32(10), "double_value": 151.2},
			spm{"name": "A", "datatype": uint32(1), "int_value": uint32(0xFFFFFFFB)},
			spm{"name": "B", "datatype": uint32(11), "boolean_value": true},
			spm{"name": "C", "is_null": true},
			spm{"name": "D", "float_value": float32(2.5), "timestamp": uint64(1)}),
		spEncode(f, 0, 255, spm{"name": "s", "datatype": uint32(12), "string_value": "x"}),
	)
}
