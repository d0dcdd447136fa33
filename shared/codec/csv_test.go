package codec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

func TestCSVRoundTrip(t *testing.T) {
	b := binding()
	for _, n := range []int{0, 1, 64} {
		rs := sample(n, false)
		roundTrip(t, codec.CSV{}, b, rs, rs)
	}
	rs := []reading.Reading{
		{Sensor: "sensor", Time: t0, Value: 1, Quality: reading.Bad},
		{Time: t0, Value: -2.5e-300, Seq: 9},
		{Sensor: "Δp", Time: t0, Value: 3},
	}
	want := append([]reading.Reading(nil), rs...)
	want[1].Sensor = "PS1"
	payload := roundTrip(t, codec.CSV{}, b, rs, want)
	if !strings.HasPrefix(string(payload), "sensor,ts,value,seq,q\nsensor,") {
		t.Errorf("no header before a sensor called sensor: %q", payload)
	}
	if _, err := (codec.CSV{}).Encode(nil, []reading.Reading{{Sensor: "a,b", Time: t0}}); err == nil || !strings.Contains(err.Error(), "cannot be written in csv") {
		t.Errorf("comma in id: %v", err)
	}
}

func TestCSVDecode(t *testing.T) {
	b := binding()
	ms := time.UnixMilli(1772366400125).UTC()
	payload := "sensor,ts,value,seq,q\r\n" +
		"PS1,2026-03-01T12:00:00.125Z,151.2,17\r\n" +
		"\n" +
		"# a comment\n" +
		"  TS1 , 1772366400125 , 35.6 , 17 , 1 \n" +
		",,7\n" +
		"FS1,2026-03-01 12:00:00Z,+.5,,2\n" +
		"VS1,1772366400125.5,1e3" // no final newline
	want := []reading.Reading{
		{Sensor: "PS1", Time: t0.Add(125 * time.Millisecond), Value: 151.2, Seq: 17},
		{Sensor: "TS1", Time: ms, Value: 35.6, Seq: 17, Quality: reading.Uncertain},
		{Sensor: "PS1", Time: b.Now, Value: 7},
		{Sensor: "FS1", Time: t0, Value: 0.5, Quality: reading.Bad},
		{Sensor: "VS1", Time: ms.Add(500 * time.Microsecond), Value: 1000},
	}
	got, err := codec.CSV{}.Decode(b, []byte(payload), nil)
	if err != nil {
		t.Fatal(err)
	}
	equalReadings(t, got, want)
	got, err = codec.CSV{}.Decode(b, []byte("\n\n# only comments\n"), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("comments only: %v, %v", got, err)
	}
}

func TestCSVBad(t *testing.T) {
	b := binding()
	cases := []struct {
		name    string
		b       codec.Binding
		payload string
		want    []string
	}{
		{"two fields", b, "PS1,2026-03-01T12:00:00Z\n", []string{"line 1", "byte 0", "2 fields; want sensor,ts,value"}},
		{"six fields", b, "PS1,,1,2,0,9\n", []string{"line 1", "byte 11", "more than 5 fields"}},
		{"empty value", b, "PS1,,\n", []string{"field value", "empty value"}},
		{"bad value", b, "ok,,1\nPS1,,abc\n", []string{"line 2", "byte 11", "field value", `bad value "abc"`}},
		{"hex value", b, "PS1,,0x10\n", []string{`bad value "0x10"`}},
		{"nan", b, "PS1,,NaN\n", []string{`bad value "NaN"`}},
		{"inf", b, "PS1,,1e400\n", []string{"line 1", "byte 5", "field value", `value "1e400" is out of the float64 range`}},
		{"-inf", b, "PS1,,-1e999\n", []string{`value "-1e999" is out of the float64 range`}},
		{"bad syntax", b, "PS1,,1..2\n", []string{`bad value "1..2": want a decimal number`}},
		{"bad ts", b, "PS1,noon,1\n", []string{"line 1", "field ts", `bad timestamp "noon"`}},
		{"ts zone", b, "PS1,2026-03-01T12:00:00+25:00,1\n", []string{"field ts"}},
		{"bad seq", b, "PS1,,1,-3\n", []string{"field seq", `bad seq "-3"`}},
		{"bad q", b, "PS1,,1,1,300\n", []string{"field q", `bad q "300": want an integer from 0 to 255`}},
		{"control in id", b, "P\x01S,,1\n", []string{"field sensor", "control character"}},
		{"no default sensor", codec.Binding{Now: t0}, ",,1\n", []string{"field sensor", "no default sensor"}},
		{"no default time", codec.Binding{Sensor: "a"}, "a,,1\n", []string{"field ts", "no arrival time"}},
		{"too many", b, strings.Repeat(",,1\n", codec.MaxReadings+1), []string{"more than 65536 readings"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decodeErr(t, codec.CSV{}, tc.b, []byte(tc.payload), tc.want...)
		})
	}
}
