package codec_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func TestLookup(t *testing.T) {
	for _, name := range rig.Codecs {
		c, err := codec.Lookup(name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		if c.Name() != name {
			t.Errorf("Lookup(%q).Name() = %q", name, c.Name())
		}
	}
	if len(codec.Builtins) != len(rig.Codecs) {
		t.Errorf("Builtins %v and rig.Codecs %v differ", codec.Builtins, rig.Codecs)
	}
	_, err := codec.Lookup("plugin:modbus")
	if !errors.Is(err, codec.ErrPlugin) {
		t.Errorf("plugin: got %v, want ErrPlugin", err)
	}
	_, err = codec.Lookup("xml")
	if !errors.Is(err, codec.ErrUnknown) {
		t.Errorf("xml: got %v, want ErrUnknown", err)
	}
	for _, want := range []string{`"xml"`, "json, json-batch, csv, binary, sparkplugb", "plugin:NAME"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &codec.Error{Codec: "csv", Topic: "rig/1", Offset: 12, Line: 2, Reading: -1, Field: "ts", Msg: "bad"}
	want := `csv payload on topic "rig/1": line 2: byte 12: field ts: bad`
	if e.Error() != want {
		t.Errorf("got %q, want %q", e.Error(), want)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sample returns n readings of several sensors with varied values.
func sample(n int, ms bool) []reading.Reading {
	ids := []string{"PS1", "PS2", "TS1", "EPS1", "FS1", "VS1", "CE", "SE"}
	rs := make([]reading.Reading, n)
	for i := range rs {
		step := time.Duration(i)*10*time.Millisecond + 123456789
		if ms {
			step = step.Truncate(time.Millisecond)
		}
		rs[i] = reading.Reading{
			Sensor: ids[i%len(ids)],
			Time:   t0.Add(step),
			Value:  151.2 + float64(i)*0.37 - math.Pi*float64(i%3),
			Seq:    uint64(17 + i),
		}
	}
	return rs
}

// binding is the test binding: default sensor, arrival time, names.
func binding() codec.Binding {
	return codec.Binding{
		Topic:  "rig/zema/ps1",
		Sensor: "PS1",
		Now:    time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC),
		Names:  codec.NewNames("PS1", "PS2", "TS1", "EPS1", "FS1", "VS1", "CE", "SE"),
	}
}

func equalReadings(t testing.TB, got, want []reading.Reading) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d readings, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Sensor != w.Sensor || !g.Time.Equal(w.Time) || g.Time.Location() != time.UTC ||
			math.Float64bits(g.Value) != math.Float64bits(w.Value) || g.Seq != w.Seq || g.Quality != w.Quality {
			t.Errorf("reading %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// decodeErr decodes and checks the error holds every substring of want,
// and that dst comes back unchanged in length.
func decodeErr(t *testing.T, c codec.Codec, b codec.Binding, payload []byte, want ...string) {
	t.Helper()
	prefix := []reading.Reading{{Sensor: "keep", Time: t0, Value: 1}}
	out, err := c.Decode(b, payload, prefix)
	if err == nil {
		t.Fatalf("decode %q: no error, got %v; want %q", payload, out, want)
	}
	var e *codec.Error
	if !errors.As(err, &e) {
		t.Errorf("error %T is not a *codec.Error: %v", err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("decode %q: error %q lacks %q", payload, err, w)
		}
	}
	if len(out) != 1 || out[0].Sensor != "keep" {
		t.Errorf("dst not restored: %v", out)
	}
}

// roundTrip encodes rs, decodes with b, and compares with want.
func roundTrip(t *testing.T, c codec.Codec, b codec.Binding, rs, want []reading.Reading) []byte {
	t.Helper()
	payload, err := c.Encode([]byte("prefix"), rs)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if string(payload[:6]) != "prefix" {
		t.Fatalf("encode did not append")
	}
	payload = payload[6:]
	got, err := c.Decode(b, payload, nil)
	if err != nil {
		t.Fatalf("decode %q: %v", payload, err)
	}
	equalReadings(t, got, want)
	return payload
}

func TestEncodeRejects(t *testing.T) {
	ok := reading.Reading{Sensor: "PS1", Time: t0, Value: 1}
	cases := []struct {
		name string
		r    func(*reading.Reading)
		want string
	}{
		{"nan", func(r *reading.Reading) { r.Value = math.NaN() }, "NaN"},
		{"inf", func(r *reading.Reading) { r.Value = math.Inf(-1) }, "-Inf"},
		{"zero time", func(r *reading.Reading) { r.Time = time.Time{} }, "zero time"},
		{"far future", func(r *reading.Reading) { r.Time = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }, "outside years 1678 to 2262"},
		{"control char", func(r *reading.Reading) { r.Sensor = "P\nS" }, "control character"},
		{"bad utf8", func(r *reading.Reading) { r.Sensor = "P\xffS" }, "not valid UTF-8"},
		{"long id", func(r *reading.Reading) { r.Sensor = strings.Repeat("x", 257) }, "exceeds the limit"},
	}
	for _, name := range codec.Builtins {
		c, _ := codec.Lookup(name)
		for _, tc := range cases {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				r := ok
				tc.r(&r)
				out, err := c.Encode([]byte("x"), []reading.Reading{r})
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), name+" encode") {
					t.Errorf("got %v, want an error with %q", err, tc.want)
				}
				if string(out) != "x" {
					t.Errorf("dst changed: %q", out)
				}
			})
		}
	}
}

func TestPayloadTooLarge(t *testing.T) {
	big := make([]byte, codec.MaxPayload+1)
	for _, name := range codec.Builtins {
		c, _ := codec.Lookup(name)
		decodeErr(t, c, binding(), big, "exceeds the limit of 4194304 bytes")
	}
}
