package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// CSV is the "csv" codec: one reading per line, "sensor,ts,value[,seq[,q]]".
// See the package documentation for the format.
type CSV struct{}

// Name returns "csv".
func (CSV) Name() string { return NameCSV }

// csvFields names the columns of a csv line, for errors.
var csvFields = [...]string{"sensor", "ts", "value", "seq", "q"}

// csvHeader is the optional header line.
const csvHeader = "sensor,ts,value,seq,q\n"

// Decode implements Codec.
func (CSV) Decode(b Binding, payload []byte, dst []reading.Reading) ([]reading.Reading, error) {
	start := len(dst)
	if err := checkSize(payload); err != nil {
		return finish(NameCSV, &b, dst, start, err)
	}
	var err *Error
	line := 0
	first := true
	for pos := 0; pos < len(payload) && err == nil; {
		line++
		end := bytes.IndexByte(payload[pos:], '\n')
		if end < 0 {
			end = len(payload)
		} else {
			end += pos
		}
		l := payload[pos:end]
		lineStart := pos
		pos = end + 1
		if len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
		t := trimSpace(l)
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		if first {
			first = false
			if f, _, _ := bytes.Cut(t, []byte{','}); string(trimSpace(f)) == "sensor" {
				continue
			}
		}
		if len(dst)-start >= MaxReadings {
			err = tooMany(lineStart)
			break
		}
		dst = append(dst, reading.Reading{})
		err = csvLine(&b, l, lineStart, &dst[len(dst)-1])
		if err != nil {
			err.Line = line
		}
	}
	return finish(NameCSV, &b, dst, start, err)
}

// csvLine parses one line (without its end) that starts at byte off of the
// payload.
func csvLine(b *Binding, l []byte, off int, r *reading.Reading) *Error {
	n := 0
	var hasValue bool
	for fpos := 0; ; n++ {
		end := bytes.IndexByte(l[fpos:], ',')
		if end < 0 {
			end = len(l)
		} else {
			end += fpos
		}
		if n >= len(csvFields) {
			return perr(off+fpos, "", "more than %d fields; want sensor,ts,value[,seq[,q]]", len(csvFields))
		}
		f := trimSpace(l[fpos:end])
		fo := off + fpos
		name := csvFields[n]
		switch n {
		case 0:
			if len(f) > 0 {
				id, msg := b.sensorID(f)
				if msg != "" {
					return perr(fo, name, "%s", msg)
				}
				r.Sensor = id
			}
		case 1:
			if len(f) > 0 {
				t, msg := parseTimestamp(f)
				if msg != "" {
					return perr(fo, name, "%s", msg)
				}
				r.Time = t
			}
		case 2:
			if len(f) == 0 {
				return perr(fo, name, "empty value")
			}
			v, err := parseDecimal(f)
			if errors.Is(err, strconv.ErrRange) {
				return perr(fo, name, "value %s is out of the float64 range", quote(f))
			}
			if err != nil {
				return perr(fo, name, "bad value %s: want a decimal number", quote(f))
			}
			if msg := checkValue(v); msg != "" {
				return perr(fo, name, "%s", msg)
			}
			r.Value = v
			hasValue = true
		case 3, 4:
			if len(f) > 0 {
				max := uint64(math.MaxUint64)
				if n == 4 {
					max = 255
				}
				u, ok := parseUint(f, max)
				if !ok {
					return perr(fo, name, "bad %s %s: want an integer from 0 to %d", name, quote(f), max)
				}
				if n == 3 {
					r.Seq = u
				} else {
					r.Quality = reading.Quality(u)
				}
			}
		}
		if end == len(l) {
			break
		}
		fpos = end + 1
	}
	if !hasValue {
		return perr(off, "", "%d fields; want sensor,ts,value[,seq[,q]]", n+1)
	}
	if r.Sensor == "" {
		if b.Sensor == "" {
			return perr(off, "sensor", "no sensor id, and the topic's binding has no default sensor")
		}
		r.Sensor = b.Sensor
	}
	if r.Time.IsZero() {
		if b.Now.IsZero() {
			return perr(off, "ts", "no timestamp, and the binding gives no arrival time")
		}
		r.Time = b.Now
	}
	return nil
}

// parseDecimal parses a decimal number (refusing ParseFloat's hex, inf,
// nan and underscore forms). A number too large for a float64 is
// strconv.ErrRange.
func parseDecimal(f []byte) (float64, error) {
	if !isNumberChars(f) {
		return 0, strconv.ErrSyntax
	}
	v, err := strconv.ParseFloat(string(f), 64)
	if err != nil {
		return 0, err
	}
	return v, nil
}

// parseUint parses digits into a value no larger than max.
func parseUint(f []byte, max uint64) (uint64, bool) {
	var n uint64
	if len(f) == 0 || len(f) > 20 {
		return 0, false
	}
	for _, c := range f {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, n <= max
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// Encode implements Codec. It writes one line per reading, ending in
// "\n", with seq and q only where needed. A header line is written only
// when the first sensor is literally called "sensor" (which a reader would
// otherwise take for a header).
func (CSV) Encode(dst []byte, rs []reading.Reading) ([]byte, error) {
	if len(rs) > MaxReadings {
		return dst, fmt.Errorf("csv encode: %d readings exceed the limit of %d", len(rs), MaxReadings)
	}
	for i := range rs {
		r := &rs[i]
		if err := checkEncode(NameCSV, i, r); err != nil {
			return dst, err
		}
		if s := r.Sensor; strings.IndexByte(s, ',') >= 0 || strings.HasPrefix(s, "#") || strings.Trim(s, " \t") != s {
			return dst, fmt.Errorf("csv encode: reading %d: sensor id %q cannot be written in csv (no ',', '#', or surrounding blanks)", i, r.Sensor)
		}
	}
	if len(rs) > 0 && rs[0].Sensor == "sensor" {
		dst = append(dst, csvHeader...)
	}
	for i := range rs {
		r := &rs[i]
		dst = append(dst, r.Sensor...)
		dst = append(dst, ',')
		dst = appendTime(dst, r.Time)
		dst = append(dst, ',')
		dst = strconv.AppendFloat(dst, r.Value, 'g', -1, 64)
		if r.Seq != 0 || r.Quality != 0 {
			dst = append(dst, ',')
			dst = strconv.AppendUint(dst, r.Seq, 10)
		}
		if r.Quality != 0 {
			dst = append(dst, ',')
			dst = strconv.AppendUint(dst, uint64(r.Quality), 10)
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}
