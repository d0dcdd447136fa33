package codec_test

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// birthSeeds are birth certificates for the fuzzers below: metrics with
// and without aliases, a repeated alias, a numeric and a non-numeric
// datatype, and a metric without a name.
func birthSeeds(f *testing.F) [][]byte {
	return [][]byte{
		spEncode(f, 1772366400000, 0,
			spm{"name": "PS1", "alias": uint64(1), "datatype": uint32(10), "double_value": 0.0},
			spm{"name": "TS1", "alias": uint64(7), "datatype": uint32(2), "int_value": uint32(0)},
			spm{"name": "bdSeq", "datatype": uint32(8), "long_value": uint64(0)},
			spm{"name": "Node Info/Version", "alias": uint64(9), "datatype": uint32(12), "string_value": "1.0"}),
		spEncode(f, 0, 0,
			spm{"name": "A", "alias": uint64(3)},
			spm{"name": "B", "alias": uint64(3), "datatype": uint32(11)},
			spm{"alias": uint64(4), "datatype": uint32(10)}),
		spEncode(f, 0, 0, spm{"name": "SE", "alias": uint64(math.MaxUint64), "datatype": uint32(math.MaxUint32)}),
	}
}

// checkSPError checks err is a *codec.Error of the sparkplugb codec.
func checkSPError(t *testing.T, err error) {
	t.Helper()
	var e *codec.Error
	if !errors.As(err, &e) || e.Codec != codec.NameSparkplugB {
		t.Fatalf("error %T %v", err, err)
	}
}

// FuzzParseSparkplugBirth checks, for any birth payload, that
// ParseSparkplugBirth does not panic, returns only *codec.Error errors, and
// on success: every alias has a valid sensor id as its name; parsing into
// a filled map only adds and replaces entries; the table re-encoded as a
// birth parses back to itself; and DATA metrics naming each alias (with an
// explicit Double datatype) decode to readings of the alias's name.
func FuzzParseSparkplugBirth(f *testing.F) {
	for _, s := range birthSeeds(f) {
		f.Add(s)
		f.Add(s[:len(s)/2])
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		dst := map[uint64]codec.SparkplugMetric{}
		if err := codec.ParseSparkplugBirth(payload, dst); err != nil {
			checkSPError(t, err)
			return
		}
		for a, m := range dst {
			if m.Name == "" || len(m.Name) > codec.MaxSensorLen || !utf8.ValidString(m.Name) {
				t.Fatalf("alias %d: bad name %q", a, m.Name)
			}
			r := reading.Reading{Sensor: m.Name, Time: t0}
			if field, msg := codec.CheckReading(&r); msg != "" {
				t.Fatalf("alias %d: name %q is no valid reading id: %s: %s", a, m.Name, field, msg)
			}
		}
		// Into a filled map: the old entries stay unless the birth
		// redefines their alias.
		filled := map[uint64]codec.SparkplugMetric{math.MaxUint64 - 1: {Name: "old", DataType: 10}, 1: {Name: "old1"}}
		want := maps.Clone(filled)
		maps.Copy(want, dst)
		if err := codec.ParseSparkplugBirth(payload, filled); err != nil {
			t.Fatalf("second parse: %v", err)
		}
		if !maps.Equal(filled, want) {
			t.Fatalf("parse into a filled map: %v, want %v", filled, want)
		}
		if len(dst) == 0 {
			return
		}
		aliases := slices.Sorted(maps.Keys(dst))
		// Re-encoded, the table parses back to itself.
		var birth []spm
		for _, a := range aliases {
			birth = append(birth, spm{"name": dst[a].Name, "alias": a, "datatype": dst[a].DataType})
		}
		again := map[uint64]codec.SparkplugMetric{}
		if err := codec.ParseSparkplugBirth(spEncode(t, 0, 0, birth...), again); err != nil {
			t.Fatalf("parse of the re-encoded birth: %v", err)
		}
		if !maps.Equal(again, dst) {
			t.Fatalf("re-encoded birth parses to %v, want %v", again, dst)
		}
		// DATA by alias only decodes to the birth's names.
		b := binding()
		b.Names = nil
		b.Aliases = dst
		for i := 0; i < len(aliases); i += codec.MaxReadings {
			chunk := aliases[i:min(i+codec.MaxReadings, len(aliases))]
			var ms []spm
			for j, a := range chunk {
				ms = append(ms, spm{"alias": a, "datatype": uint32(10), "double_value": float64(j) + 0.5})
			}
			got, err := codec.SparkplugB{}.Decode(b, spEncode(t, 1772366400000, 3, ms...), nil)
			if err != nil {
				t.Fatalf("DATA by the birth's aliases: %v", err)
			}
			if len(got) != len(chunk) {
				t.Fatalf("DATA of %d aliases gave %d readings", len(chunk), len(got))
			}
			for j, r := range got {
				if r.Sensor != dst[chunk[j]].Name || r.Value != float64(j)+0.5 {
					t.Fatalf("alias %d: reading %+v, want sensor %q value %v", chunk[j], r, dst[chunk[j]].Name, float64(j)+0.5)
				}
			}
		}
	})
}

// FuzzSparkplugBAliases decodes DATA payloads as the agent does: with
// Binding.Names set (the configured sensors, interned) and Binding.Aliases
// from a birth, both fuzzed. It checks that nothing panics, errors are
// *codec.Error with dst restored, readings are valid, and that Names
// changes nothing but the non-numeric rule: a payload that decodes with
// Names decodes to the same readings without, and one that fails only
// with Names fails for a non-numeric metric of a configured sensor.
func FuzzSparkplugBAliases(f *testing.F) {
	births := birthSeeds(f)
	datas := [][]byte{
		spEncode(f, 1772366400000, 7,
			spm{"alias": uint64(1), "double_value": 151.2},
			spm{"alias": uint64(7), "int_value": uint32(0xFFFFFFFB)},
			spm{"alias": uint64(9), "string_value": "x"},
			spm{"name": "TS1", "datatype": uint32(12), "string_value": "y"},
			spm{"alias": uint64(3), "boolean_value": true, "timestamp": uint64(1772366400001)}),
		spEncode(f, 0, 255, spm{"alias": uint64(4), "is_null": true}, spm{"alias": uint64(2), "double_value": 1.0}),
		spEncode(f, 0, 1, spm{"alias": uint64(math.MaxUint64), "float_value": float32(2.5)}),
	}
	for _, bs := range births {
		for _, d := range datas {
			f.Add(bs, d)
		}
	}
	f.Fuzz(func(t *testing.T, birth, data []byte) {
		aliases := map[uint64]codec.SparkplugMetric{}
		if err := codec.ParseSparkplugBirth(birth, aliases); err != nil {
			checkSPError(t, err)
			aliases = nil // as the agent has before a usable birth
		}
		named := binding() // Names: the configured sensors
		named.Aliases = aliases
		plain := named
		plain.Names = nil
		decode := func(b codec.Binding) ([]reading.Reading, error) {
			prefix := []reading.Reading{{Sensor: "keep"}}
			got, err := codec.SparkplugB{}.Decode(b, data, prefix)
			if err != nil {
				checkSPError(t, err)
				if len(got) != 1 || got[0].Sensor != "keep" {
					t.Fatalf("dst not restored: %v", got)
				}
				return nil, err
			}
			if len(got) == 0 || got[0].Sensor != "keep" {
				t.Fatalf("dst prefix lost: %v", got)
			}
			rs := got[1:]
			if len(rs) > codec.MaxReadings {
				t.Fatalf("%d readings", len(rs))
			}
			for i := range rs {
				r := &rs[i]
				if field, msg := codec.CheckReading(r); msg != "" {
					t.Fatalf("reading %d %+v: %s: %s", i, *r, field, msg)
				}
				if r.Time.Location() != time.UTC || r.Time.Before(minT) || r.Time.After(maxT) {
					t.Fatalf("reading %d: time %v", i, r.Time)
				}
			}
			return rs, nil
		}
		withNames, errN := decode(named)
		without, errP := decode(plain)
		switch {
		case errN == nil && errP != nil:
			t.Fatalf("decodes with Names but not without: %v", errP)
		case errN == nil:
			equalReadings(t, withNames, without)
		case errP == nil:
			// Only the non-numeric rule may tell the two apart.
			if msg := errN.Error(); !strings.Contains(msg, "non-numeric") && !strings.Contains(msg, "is not numeric") {
				t.Fatalf("fails with Names only, not for a non-numeric metric: %v", errN)
			}
		}
	})
}

// The codec fuzzers again, decoding with Binding.Names set (interned ids).

func FuzzJSONNames(f *testing.F) {
	fuzzCodecNames(f, codec.JSON{}, []byte(`{"sensor":"PS1","ts":1772366400125,"v":1}`), []byte(`{"v":2}`))
}

func FuzzJSONBatchNames(f *testing.F) {
	fuzzCodecNames(f, codec.JSONBatch{},
		[]byte(`{"seq":42,"ts":1772366400000,"readings":[{"sensor":"PS1","v":151.2},{"sensor":"TS9","v":35.6}]}`))
}

func FuzzCSVNames(f *testing.F) {
	fuzzCodecNames(f, codec.CSV{}, []byte("PS1,1772366400125,151.2,17\nTS9,1772366400125,1,1\n,,7\n"))
}

func FuzzBinaryNames(f *testing.F) {
	p, _ := codec.Binary{Float32: true}.Encode(nil, sample(4, false))
	fuzzCodecNames(f, codec.Binary{}, p)
}

func FuzzSparkplugBNames(f *testing.F) {
	fuzzCodecNames(f, codec.SparkplugB{},
		spEncode(f, 1772366400000, 7,
			spm{"name": "PS1", "datatype": uint32(10), "double_value": 151.2},
			spm{"name": "TS1", "datatype": uint32(12), "string_value": "x"},
			spm{"name": "other", "datatype": uint32(12), "string_value": "y"}))
}
