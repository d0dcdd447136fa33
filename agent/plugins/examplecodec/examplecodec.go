package examplecodec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// Decoder decodes the format described in the package documentation. The
// zero value is ready; it is stateless and safe for concurrent use.
type Decoder struct{}

var _ plugin.Decoder = Decoder{}

// Decode implements plugin.Decoder.
func (Decoder) Decode(req plugin.Request) ([]reading.Reading, error) {
	return Parse(req.Payload, req.Sensor, req.Now)
}

// Parse decodes payload. Readings without a sensor take sensor (an error
// when it is empty too); readings without a time take now (likewise).
func Parse(payload []byte, sensor string, now time.Time) ([]reading.Reading, error) {
	if len(payload) > codec.MaxPayload {
		return nil, fmt.Errorf("payload of %d bytes exceeds the limit of %d", len(payload), codec.MaxPayload)
	}
	var out []reading.Reading
	line := 0
	for raw := range bytes.Lines(payload) {
		line++
		raw = bytes.TrimRight(raw, "\r\n")
		s := strings.TrimSpace(string(raw))
		if s == "" || s[0] == '#' {
			continue
		}
		if len(out) == codec.MaxReadings {
			return nil, fmt.Errorf("line %d: more than %d readings in one payload", line, codec.MaxReadings)
		}
		r, err := parseLine(s, sensor, now)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func parseLine(s, sensor string, now time.Time) (reading.Reading, error) {
	f := strings.Split(s, ";")
	if len(f) < 3 || len(f) > 5 {
		return reading.Reading{}, fmt.Errorf("%d fields, want sensor;time;value[;seq[;status]]", len(f))
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	var r reading.Reading
	switch id := f[0]; {
	case id == "" && sensor == "":
		return r, fmt.Errorf("empty sensor on a topic shared by several sensors")
	case id == "":
		r.Sensor = sensor
	case len(id) > codec.MaxSensorLen || !utf8.ValidString(id) || strings.ContainsFunc(id, isControl):
		return r, fmt.Errorf("bad sensor id %q", id)
	default:
		r.Sensor = id
	}
	if f[1] == "" {
		if now.IsZero() {
			return r, fmt.Errorf("empty time and no arrival time")
		}
		r.Time = now.UTC()
	} else {
		ms, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || ms < -9e12 || ms > 9e12 {
			return r, fmt.Errorf("time %q is not unix milliseconds", f[1])
		}
		r.Time = time.UnixMilli(ms).UTC()
	}
	v, err := parseValue(f[2])
	if err != nil {
		return r, err
	}
	r.Value = v
	if len(f) > 3 && f[3] != "" {
		seq, err := strconv.ParseUint(f[3], 10, 64)
		if err != nil {
			return r, fmt.Errorf("seq %q is not an unsigned integer", f[3])
		}
		r.Seq = seq
	}
	if len(f) > 4 {
		switch f[4] {
		case "", "OK":
		case "WARN":
			r.Quality = reading.Uncertain
		case "FAIL":
			r.Quality = reading.Bad
		default:
			return r, fmt.Errorf("status %q is not OK, WARN or FAIL", f[4])
		}
	}
	return r, nil
}

// parseValue reads a decimal number with ',' or '.' as separator.
func parseValue(s string) (float64, error) {
	if s == "" || strings.Count(s, ",")+strings.Count(s, ".") > 1 {
		return 0, fmt.Errorf("value %q is not a decimal number", s)
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c == ',' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, fmt.Errorf("value %q is not a decimal number", s)
		}
	}
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("value %q is out of the float64 range", s)
	}
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("value %q is not a finite decimal number", s)
	}
	return v, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
