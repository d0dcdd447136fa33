package codec

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/reading"
)

func TestCheckReading(t *testing.T) {
	ok := reading.Reading{Sensor: "PS1", Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Value: 1.5, Quality: reading.Bad}
	field, msg := CheckReading(&ok)
	assert.Empty(t, field)
	assert.Empty(t, msg)
	for _, q := range []reading.Quality{reading.Good, reading.Uncertain, 3, 200, 255} {
		r := ok
		r.Quality = q
		field, msg := CheckReading(&r)
		assert.Empty(t, field+msg, "quality %d is valid, as in the built-in codecs", q)
	}
	for _, tc := range []struct {
		name  string
		edit  func(r *reading.Reading)
		field string
		msg   string
	}{
		{"nan", func(r *reading.Reading) { r.Value = math.NaN() }, "v", "NaN"},
		{"inf", func(r *reading.Reading) { r.Value = math.Inf(1) }, "v", "+Inf"},
		{"empty sensor", func(r *reading.Reading) { r.Sensor = "" }, "sensor", "empty"},
		{"nul", func(r *reading.Reading) { r.Sensor = "PS\x001" }, "sensor", "control character"},
		{"newline", func(r *reading.Reading) { r.Sensor = "PS1\n" }, "sensor", "control character"},
		{"long", func(r *reading.Reading) { r.Sensor = strings.Repeat("x", MaxSensorLen+1) }, "sensor", "exceeds the limit"},
		{"utf8", func(r *reading.Reading) { r.Sensor = "PS\xff" }, "sensor", "UTF-8"},
		{"zero time", func(r *reading.Reading) { r.Time = time.Time{} }, "ts", "zero time"},
		{"year 9999", func(r *reading.Reading) { r.Time = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) }, "ts", "outside years 1678 to 2262"},
		{"year 1600", func(r *reading.Reading) { r.Time = time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC) }, "ts", "outside years 1678 to 2262"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			field, msg := CheckReading(&r)
			assert.Equal(t, tc.field, field)
			assert.Contains(t, msg, tc.msg)
		})
	}
}
