package codec_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

func TestJSONRoundTrip(t *testing.T) {
	b := binding()
	cases := []struct {
		name string
		r    reading.Reading
		want reading.Reading // zero: same as r
	}{
		{name: "full", r: reading.Reading{Sensor: "TS1", Time: t0.Add(123456789), Value: 35.6, Seq: 17, Quality: reading.Uncertain}},
		{name: "no seq", r: reading.Reading{Sensor: "PS2", Time: t0, Value: -0.25}},
		{name: "tiny", r: reading.Reading{Sensor: "PS2", Time: t0, Value: 5e-324}},
		{name: "huge", r: reading.Reading{Sensor: "PS2", Time: t0, Value: -math.MaxFloat64, Seq: math.MaxUint64}},
		{name: "negative zero", r: reading.Reading{Sensor: "PS2", Time: t0, Value: math.Copysign(0, -1)}},
		{name: "quality 255", r: reading.Reading{Sensor: "PS2", Time: t0, Value: 1, Quality: 255}},
		{name: "odd id", r: reading.Reading{Sensor: `dp "Δ" \ 1`, Time: t0, Value: 1}},
		{name: "pre-1970", r: reading.Reading{Sensor: "X", Time: time.Date(1700, 1, 1, 0, 0, 0, 1, time.UTC), Value: 1}},
		{
			name: "default sensor",
			r:    reading.Reading{Time: t0, Value: 2},
			want: reading.Reading{Sensor: "PS1", Time: t0, Value: 2},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want.Sensor == "" {
				want = tc.r
			}
			roundTrip(t, codec.JSON{}, b, []reading.Reading{tc.r}, []reading.Reading{want})
		})
	}
	if _, err := (codec.JSON{}).Encode(nil, sample(2, false)); err == nil || !strings.Contains(err.Error(), "exactly one reading") {
		t.Errorf("two readings: %v", err)
	}
}

func TestJSONDecode(t *testing.T) {
	b := binding()
	ms := time.UnixMilli(1772366400125).UTC()
	cases := []struct {
		name    string
		payload string
		want    reading.Reading
	}{
		{"spec example", `{"sensor":"PS1","ts":"2026-03-01T12:00:00.125Z","v":151.2,"seq":17,"q":0}`,
			reading.Reading{Sensor: "PS1", Time: t0.Add(125 * time.Millisecond), Value: 151.2, Seq: 17}},
		{"ms number", `{"sensor":"PS2","ts":1772366400125,"v":1}`, reading.Reading{Sensor: "PS2", Time: ms, Value: 1}},
		{"ms string", `{"sensor":"PS2","ts":"1772366400125","v":1}`, reading.Reading{Sensor: "PS2", Time: ms, Value: 1}},
		{"fractional ms", `{"ts":1772366400125.5,"v":1}`, reading.Reading{Sensor: "PS1", Time: ms.Add(500 * time.Microsecond), Value: 1}},
		{"exponent ms", `{"ts":1.772366400125e12,"v":1}`, reading.Reading{Sensor: "PS1", Time: ms, Value: 1}},
		{"offset zone", `{"ts":"2026-03-01T13:30:00+01:30","v":1}`, reading.Reading{Sensor: "PS1", Time: t0, Value: 1}},
		{"space separator", `{"ts":"2026-03-01 12:00:00Z","v":1}`, reading.Reading{Sensor: "PS1", Time: t0, Value: 1}},
		{"no ts: arrival", `{"v":1e3}`, reading.Reading{Sensor: "PS1", Time: b.Now, Value: 1000}},
		{"unknown fields skipped", ` {"unit":"bar","meta":{"a":[1,2,{"b":null}],"c":true},"v":-1.5E-2 ,"tags":[]} `,
			reading.Reading{Sensor: "PS1", Time: b.Now, Value: -0.015}},
		{"escaped key and id", `{"sens\u006fr":"P\u00532\/x","v":1}`, reading.Reading{Sensor: "PS2/x", Time: b.Now, Value: 1}},
		{"surrogate pair", `{"sensor":"\ud83d\ude00","v":1}`, reading.Reading{Sensor: "\U0001F600", Time: b.Now, Value: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := codec.JSON{}.Decode(b, []byte(tc.payload), nil)
			if err != nil {
				t.Fatal(err)
			}
			equalReadings(t, got, []reading.Reading{tc.want})
		})
	}
}

func TestJSONBad(t *testing.T) {
	b := binding()
	noDefaults := codec.Binding{Topic: "t"}
	cases := []struct {
		name    string
		b       codec.Binding
		payload string
		want    []string
	}{
		{"empty", b, ``, []string{"byte 0", "want '{', found end of payload"}},
		{"not object", b, `[1]`, []string{"want '{'"}},
		{"no value", b, `{"sensor":"PS1"}`, []string{"byte 0", "field v", "no value"}},
		{"empty object", b, `{}`, []string{"no value"}},
		{"null value", b, `{"v":null}`, []string{"byte 5", "field v", "null is not a value"}},
		{"string value", b, `{"v":"1.5"}`, []string{"field v", "want a number, found '\"'"}},
		{"bad number", b, `{"v":01}`, []string{"byte 6", "want ',' or '}', found '1'"}},
		{"no exponent digits", b, `{"v":1e}`, []string{"no digit in exponent"}},
		{"overflow", b, `{"v":1e999}`, []string{"field v", `"1e999" is out of the float64 range`}},
		{"duplicate", b, `{"v":1,"v":2}`, []string{"byte 7", "field v", "duplicate field"}},
		{"trailing", b, `{"v":1} x`, []string{"byte 8", "unexpected 'x' after the JSON value"}},
		{"two objects", b, `{"v":1}{"v":2}`, []string{"unexpected '{'"}},
		{"unterminated", b, `{"v":1,"sensor":"PS`, []string{"byte 16", "unterminated string"}},
		{"bad escape", b, `{"sensor":"a\x","v":1}`, []string{"bad escape \\x"}},
		{"bad unicode escape", b, `{"sensor":"\u12G4","v":1}`, []string{"bad \\u escape"}},
		{"raw control char", b, "{\"sensor\":\"a\x01\",\"v\":1}", []string{"control character 0x01"}},
		{"escaped control char", b, `{"sensor":"a\tb","v":1}`, []string{"field sensor", "control character 0x09"}},
		{"bad utf8", b, "{\"sensor\":\"a\xff\",\"v\":1}", []string{"not valid UTF-8"}},
		{"empty sensor", b, `{"sensor":"","v":1}`, []string{"field sensor", "empty sensor id"}},
		{"long sensor", b, `{"sensor":"` + strings.Repeat("a", 257) + `","v":1}`, []string{"exceeds the limit of 256"}},
		{"no default sensor", noDefaults, `{"ts":1,"v":1}`, []string{`topic "t"`, "field sensor", "no default sensor"}},
		{"no default time", noDefaults, `{"sensor":"a","v":1}`, []string{"field ts", "no arrival time"}},
		{"bad ts", b, `{"ts":"yesterday","v":1}`, []string{"field ts", `bad timestamp "yesterday"`}},
		{"ts no zone", b, `{"ts":"2026-03-01T12:00:00","v":1}`, []string{"no time zone"}},
		{"ts bad date", b, `{"ts":"2026-02-30T12:00:00Z","v":1}`, []string{"out of range"}},
		{"ts 10 fraction digits", b, `{"ts":"2026-03-01T12:00:00.1234567890Z","v":1}`, []string{"1 to 9 digits"}},
		{"ts far", b, `{"ts":"2263-01-01T00:00:00Z","v":1}`, []string{"outside years 1678 to 2262"}},
		{"ts ms far", b, `{"ts":9223372036855,"v":1}`, []string{"outside years"}},
		{"ts null", b, `{"ts":null,"v":1}`, []string{"field ts", "want a number"}},
		{"seq negative", b, `{"seq":-1,"v":1}`, []string{"field seq", "want an integer from 0"}},
		{"seq fraction", b, `{"seq":1.5,"v":1}`, []string{"field seq", "want an integer"}},
		{"seq overflow", b, `{"seq":18446744073709551616,"v":1}`, []string{"field seq", "larger than"}},
		{"q too big", b, `{"q":256,"v":1}`, []string{"field q", "integer \"256\" is larger than 255"}},
		{"deep unknown", b, `{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `,"v":1}`, []string{"nested deeper than 32"}},
		{"unknown bad literal", b, `{"x":nul,"v":1}`, []string{"field x", "want a JSON value"}},
		{"missing colon", b, `{"v" 1}`, []string{"want ':'"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decodeErr(t, codec.JSON{}, tc.b, []byte(tc.payload), tc.want...)
		})
	}
}

func TestJSONBatchRoundTrip(t *testing.T) {
	b := binding()
	for _, n := range []int{0, 1, 64} {
		rs := sample(n, false)
		roundTrip(t, codec.JSONBatch{}, b, rs, rs)
	}
}

func TestJSONBatchDecode(t *testing.T) {
	b := binding()
	ms := time.UnixMilli(1772366400000).UTC()
	cases := []struct {
		name    string
		payload string
		want    []reading.Reading
	}{
		{"doc example", `{"seq":42,"ts":1772366400000,"readings":[
		  {"sensor":"PS1","v":151.2},
		  {"sensor":"TS1","v":35.6,"ts":"2026-03-01T12:00:00.5Z"}]}`, []reading.Reading{
			{Sensor: "PS1", Time: ms, Value: 151.2, Seq: 42},
			{Sensor: "TS1", Time: t0.Add(500 * time.Millisecond), Value: 35.6, Seq: 42},
		}},
		{"defaults after readings", `{"readings":[{"v":1},{"v":2,"seq":7,"sensor":"FS1"}],"sensor":"TS1","seq":3,"ts":"2026-03-01T12:00:00Z","x":{}}`,
			[]reading.Reading{{Sensor: "TS1", Time: t0, Value: 1, Seq: 3}, {Sensor: "FS1", Time: t0, Value: 2, Seq: 7}}},
		{"bare array", `[{"sensor":"PS1","v":1,"ts":1772366400000},{"v":2}]`,
			[]reading.Reading{{Sensor: "PS1", Time: ms, Value: 1}, {Sensor: "PS1", Time: b.Now, Value: 2}}},
		{"empty array", `[]`, nil},
		{"empty readings", `{"readings":[]}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := codec.JSONBatch{}.Decode(b, []byte(tc.payload), nil)
			if err != nil {
				t.Fatal(err)
			}
			equalReadings(t, got, tc.want)
		})
	}
}

func TestJSONBatchBad(t *testing.T) {
	b := binding()
	many := "[" + strings.Repeat(`{"v":1},`, codec.MaxReadings) + `{"v":1}]`
	cases := []struct {
		name    string
		b       codec.Binding
		payload string
		want    []string
	}{
		{"number", b, `1`, []string{"byte 0", "want '{' or '['"}},
		{"no readings", b, `{"seq":1}`, []string{"field readings", "no readings array"}},
		{"empty object", b, `{}`, []string{"no readings array"}},
		{"readings not array", b, `{"readings":{}}`, []string{"field readings", "want an array"}},
		{"element not object", b, `[{"v":1},2]`, []string{"byte 9", "reading 1", "want '{'"}},
		{"bad second reading", b, `[{"v":1},{"v":"x"}]`, []string{"reading 1", "field v"}},
		{"missing comma", b, `[{"v":1} {"v":2}]`, []string{"want ',' or ']'"}},
		{"duplicate readings", b, `{"readings":[],"readings":[]}`, []string{"duplicate field"}},
		{"no sensor anywhere", codec.Binding{Now: t0}, `{"readings":[{"sensor":"a","v":1},{"v":2}]}`, []string{"reading 1", "field sensor", "no default sensor"}},
		{"batch seq bad", b, `{"seq":"1","readings":[]}`, []string{"field seq"}},
		{"too many", b, many, []string{"more than 65536 readings"}},
		{"trailing", b, `[] []`, []string{"unexpected '['"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decodeErr(t, codec.JSONBatch{}, tc.b, []byte(tc.payload), tc.want...)
		})
	}
}

// esc writes every byte of s as a \u escape.
func esc(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&sb, `\u%04x`, s[i])
	}
	return sb.String()
}

// Keys written with escapes are the same fields as plain ones, however
// long their escaped form: a sensor key escaped in full must not be
// skipped as unknown (the reading would go to the topic's default sensor),
// and it is a duplicate of the plain key.
func TestJSONEscapedKeys(t *testing.T) {
	b := binding()
	for _, tc := range []struct {
		name    string
		c       codec.Codec
		payload string
		want    []reading.Reading
	}{
		{"json sensor", codec.JSON{}, `{"` + esc("sensor") + `":"PS2","` + esc("v") + `":1}`,
			[]reading.Reading{{Sensor: "PS2", Time: b.Now, Value: 1}}},
		{"json ts seq q", codec.JSON{}, `{"` + esc("ts") + `":1772366400000,"` + esc("seq") + `":5,"` + esc("q") + `":2,"v":1}`,
			[]reading.Reading{{Sensor: "PS1", Time: t0, Value: 1, Seq: 5, Quality: reading.Bad}}},
		{"json long unknown key", codec.JSON{}, `{"` + esc("sensors_and_more") + `":"x","v":1}`,
			[]reading.Reading{{Sensor: "PS1", Time: b.Now, Value: 1}}},
		{"batch readings and sensor", codec.JSONBatch{}, `{"` + esc("sensor") + `":"TS1","` + esc("readings") + `":[{"` + esc("sensor") + `":"FS1","v":1},{"v":2}]}`,
			[]reading.Reading{{Sensor: "FS1", Time: b.Now, Value: 1}, {Sensor: "TS1", Time: b.Now, Value: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Decode(b, []byte(tc.payload), nil)
			if err != nil {
				t.Fatal(err)
			}
			equalReadings(t, got, tc.want)
		})
	}
	for _, tc := range []struct {
		name    string
		c       codec.Codec
		payload string
	}{
		{"json sensor twice", codec.JSON{}, `{"sensor":"PS1","` + esc("sensor") + `":"PS2","v":1}`},
		{"json v twice", codec.JSON{}, `{"` + esc("v") + `":2,"v":1}`},
		{"batch reading sensor twice", codec.JSONBatch{}, `[{"` + esc("sensor") + `":"PS2","sensor":"PS1","v":1}]`},
		{"batch sensor twice", codec.JSONBatch{}, `{"sensor":"PS1","` + esc("sensor") + `":"PS2","readings":[]}`},
		{"batch readings twice", codec.JSONBatch{}, `{"readings":[],"` + esc("readings") + `":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decodeErr(t, tc.c, b, []byte(tc.payload), "duplicate field")
		})
	}
}
