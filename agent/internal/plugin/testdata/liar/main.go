// Command liar is a test codec plugin: it decodes like the example
// plugin, but for the payloads named below returns readings that break
// the codec rules, or replies that are too large (q200: a quality code
// that is valid, as in the built-in codecs).
package main

import (
	"math"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/plugins/examplecodec"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

type liar struct{}

// many returns n readings with sensor ids of codec.MaxSensorLen bytes.
func many(n int) []reading.Reading {
	id := strings.Repeat("s", codec.MaxSensorLen)
	rs := make([]reading.Reading, n)
	for i := range rs {
		rs[i] = reading.Reading{Sensor: id, Time: time.Unix(1772366400, int64(i)), Value: float64(i), Seq: uint64(i) + 1<<60, Quality: reading.Uncertain}
	}
	return rs
}

func (liar) Decode(req plugin.Request) ([]reading.Reading, error) {
	ok := reading.Reading{Sensor: "PS1", Value: 1}
	bad := ok
	switch string(req.Payload) {
	case "nan":
		bad.Value = math.NaN()
	case "inf":
		bad.Value = math.Inf(1)
	case "nul":
		bad.Sensor = "PS\x001"
	case "newline":
		bad.Sensor = "PS1\n"
	case "long":
		bad.Sensor = strings.Repeat("x", 10000)
	case "q200":
		bad.Quality = 200
	case "y9999":
		bad.Time = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	case "max":
		return many(codec.MaxReadings), nil
	case "huge":
		return many(codec.MaxReadings + 50000), nil
	default:
		return examplecodec.Decoder{}.Decode(req)
	}
	return []reading.Reading{ok, bad}, nil
}

func main() { plugin.Serve(liar{}) }
