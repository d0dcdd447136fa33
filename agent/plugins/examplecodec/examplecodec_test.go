package examplecodec

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	payload := "# logger 7\r\nPS1;1772366400125;151,2;17;OK\r\n\n;1772366400135;-0.5;18;WARN\nTS1;;35.6;;FAIL\nTS2;1772366400000;1e2\n"
	got, err := Parse([]byte(payload), "PS2", now)
	require.NoError(t, err)
	ms := func(v int64) time.Time { return time.UnixMilli(v).UTC() }
	assert.Equal(t, []reading.Reading{
		{Sensor: "PS1", Time: ms(1772366400125), Value: 151.2, Seq: 17},
		{Sensor: "PS2", Time: ms(1772366400135), Value: -0.5, Seq: 18, Quality: reading.Uncertain},
		{Sensor: "TS1", Time: now, Value: 35.6, Quality: reading.Bad},
		{Sensor: "TS2", Time: ms(1772366400000), Value: 100},
	}, got)

	rs, err := Decoder{}.Decode(plugin.Request{Payload: []byte("PS1;1;2"), Now: now})
	require.NoError(t, err)
	assert.Len(t, rs, 1)
}

func TestParseBad(t *testing.T) {
	for _, tc := range []struct{ payload, sensor, want string }{
		{"PS1;1", "", "line 1: 2 fields"},
		{"PS1;1;2;3;OK;x", "", "6 fields"},
		{";1;2", "", "empty sensor"},
		{"PS1;x;2", "", `time "x" is not unix milliseconds`},
		{"PS1;99999999999999;2", "", "not unix milliseconds"},
		{"PS1;1;1,5.2", "", `value "1,5.2"`},
		{"PS1;1;NaN", "", "not a decimal number"},
		{"PS1;1;1e999", "", `line 1: value "1e999" is out of the float64 range`},
		{"PS1;1;-1e999", "", `line 1: value "-1e999" is out of the float64 range`},
		{"PS1;1;", "", `value ""`},
		{"PS1;1;2;-1", "", `seq "-1"`},
		{"PS1;1;2;3;BAD", "", `status "BAD"`},
		{"P\x01S;1;2", "", "bad sensor id"},
		{"PS1;1;2\nPS1;;2", "", "line 2: empty time and no arrival time"},
	} {
		t.Run(tc.payload, func(t *testing.T) {
			n := now
			if strings.Contains(tc.want, "arrival") {
				n = time.Time{}
			}
			_, err := Parse([]byte(tc.payload), tc.sensor, n)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := Parse(make([]byte, codec.MaxPayload+1), "", now)
	assert.ErrorContains(t, err, "exceeds the limit")
}

// FuzzParse: Parse never panics, and what it returns is well formed.
func FuzzParse(f *testing.F) {
	f.Add([]byte("PS1;1772366400125;151,2;17;OK\n;;3\n# x\n"))
	f.Add([]byte("TS1;-5;1e3;;FAIL\r\n"))
	f.Add([]byte(";;"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		rs, err := Parse(payload, "D", now)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Sensor == "" || r.Time.IsZero() || r.Quality > reading.Bad {
				t.Fatalf("bad reading %+v", r)
			}
		}
	})
}
