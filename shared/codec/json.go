package codec

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// JSON is the "json" codec: one reading per payload, as a JSON object.
// See the package documentation for the format.
type JSON struct{}

// Name returns "json".
func (JSON) Name() string { return NameJSON }

// Decode implements Codec.
func (JSON) Decode(b Binding, payload []byte, dst []reading.Reading) ([]reading.Reading, error) {
	start := len(dst)
	if err := checkSize(payload); err != nil {
		return finish(NameJSON, &b, dst, start, err)
	}
	s := scanner{b: payload}
	dst = append(dst, reading.Reading{})
	err := s.reading(&b, &dst[start])
	if err == nil {
		err = s.end()
	}
	if err == nil {
		err = fillDefaults(&b, dst[start:], -1, batchDefaults{})
	}
	return finish(NameJSON, &b, dst, start, err)
}

// Encode implements Codec. rs must hold exactly one reading (use
// JSONBatch for more).
func (JSON) Encode(dst []byte, rs []reading.Reading) ([]byte, error) {
	if len(rs) != 1 {
		return dst, fmt.Errorf("json encode: a json payload holds exactly one reading, got %d (use json-batch)", len(rs))
	}
	if err := checkEncode(NameJSON, 0, &rs[0]); err != nil {
		return dst, err
	}
	return appendReadingJSON(dst, &rs[0]), nil
}

// JSONBatch is the "json-batch" codec: many readings per payload, as a
// JSON object with a "readings" array, or a bare array. See the package
// documentation for the format.
type JSONBatch struct{}

// Name returns "json-batch".
func (JSONBatch) Name() string { return NameJSONBatch }

// batchDefaults are the batch-level fields a reading may leave out.
type batchDefaults struct {
	sensor string
	ts     time.Time
	seq    uint64
}

// Decode implements Codec.
func (JSONBatch) Decode(b Binding, payload []byte, dst []reading.Reading) ([]reading.Reading, error) {
	start := len(dst)
	if err := checkSize(payload); err != nil {
		return finish(NameJSONBatch, &b, dst, start, err)
	}
	s := scanner{b: payload}
	var def batchDefaults
	var err *Error
	switch s.peek() {
	case '[':
		dst, err = s.readings(&b, dst, start)
	case '{':
		dst, def, err = s.batch(&b, dst, start)
	default:
		err = perr(s.i, "", "want '{' or '[', found %s", s.found())
	}
	if err == nil {
		err = s.end()
	}
	if err == nil {
		err = fillDefaults(&b, dst[start:], 0, def)
	}
	return finish(NameJSONBatch, &b, dst, start, err)
}

// batch scans {"seq":..,"ts":..,"sensor":..,"readings":[...]}.
func (s *scanner) batch(b *Binding, dst []reading.Reading, start int) ([]reading.Reading, batchDefaults, *Error) {
	var def batchDefaults
	var seen uint8
	const (
		fReadings = 1 << iota
		fSeq
		fTS
		fSensor
	)
	open := s.i
	s.i++ // '{'
	if s.peek() == '}' {
		return dst, def, perr(open, "readings", "no readings array")
	}
	for {
		keyPos := s.peekPos()
		key, err := s.keyName()
		if err != nil {
			return dst, def, err
		}
		var bit uint8
		switch string(key) {
		case "readings":
			bit = fReadings
		case "seq":
			bit = fSeq
		case "ts":
			bit = fTS
		case "sensor":
			bit = fSensor
		}
		if seen&bit != 0 {
			return dst, def, perr(keyPos, string(key), "duplicate field")
		}
		seen |= bit
		switch bit {
		case fReadings:
			if s.peek() != '[' {
				return dst, def, perr(s.i, "readings", "want an array, found %s", s.found())
			}
			dst, err = s.readings(b, dst, start)
		case fSeq:
			def.seq, err = s.uint("seq", 1<<64-1)
		case fTS:
			def.ts, err = s.timestamp()
		case fSensor:
			def.sensor, err = s.sensor(b)
		default:
			err = s.skip(string(key))
		}
		if err != nil {
			return dst, def, err
		}
		switch c := s.peek(); c {
		case ',':
			s.i++
		case '}':
			s.i++
			if seen&fReadings == 0 {
				return dst, def, perr(open, "readings", "no readings array")
			}
			return dst, def, nil
		default:
			return dst, def, perr(s.i, "", "want ',' or '}', found %s", s.found())
		}
	}
}

// readings scans an array of reading objects, appending to dst.
func (s *scanner) readings(b *Binding, dst []reading.Reading, start int) ([]reading.Reading, *Error) {
	s.i++ // '['
	if s.peek() == ']' {
		s.i++
		return dst, nil
	}
	for {
		if len(dst)-start >= MaxReadings {
			return dst, tooMany(s.i)
		}
		dst = append(dst, reading.Reading{})
		if err := s.reading(b, &dst[len(dst)-1]); err != nil {
			if err.Reading < 0 {
				err.Reading = len(dst) - 1 - start
			}
			return dst, err
		}
		switch c := s.peek(); c {
		case ',':
			s.i++
		case ']':
			s.i++
			return dst, nil
		default:
			return dst, perr(s.i, "", "want ',' or ']', found %s", s.found())
		}
	}
}

// Fields of a reading object, as bits.
const (
	hasSensor = 1 << iota
	hasTS
	hasV
	hasSeq
	hasQ
)

// reading scans one reading object into r (which must be zero). Fields
// left out stay zero; fillDefaults completes them.
func (s *scanner) reading(b *Binding, r *reading.Reading) *Error {
	open := s.peekPos()
	if err := s.expect('{', ""); err != nil {
		return err
	}
	var seen uint8
	if s.peek() == '}' {
		s.i++
		return perr(open, "v", "reading has no value")
	}
	for {
		keyPos := s.peekPos()
		key, err := s.keyName()
		if err != nil {
			return err
		}
		var bit uint8
		switch string(key) {
		case "sensor":
			bit = hasSensor
		case "ts":
			bit = hasTS
		case "v":
			bit = hasV
		case "seq":
			bit = hasSeq
		case "q":
			bit = hasQ
		}
		if seen&bit != 0 {
			return perr(keyPos, string(key), "duplicate field")
		}
		seen |= bit
		switch bit {
		case hasSensor:
			r.Sensor, err = s.sensor(b)
		case hasTS:
			r.Time, err = s.timestamp()
		case hasV:
			r.Value, err = s.float("v")
		case hasSeq:
			r.Seq, err = s.uint("seq", 1<<64-1)
		case hasQ:
			var q uint64
			q, err = s.uint("q", 255)
			r.Quality = reading.Quality(q)
		default:
			err = s.skip(string(key))
		}
		if err != nil {
			return err
		}
		switch c := s.peek(); c {
		case ',':
			s.i++
		case '}':
			s.i++
			if seen&hasV == 0 {
				return perr(open, "v", "reading has no value")
			}
			return nil
		default:
			return perr(s.i, "", "want ',' or '}', found %s", s.found())
		}
	}
}

// maxKeyLen is the length of the longest field name the json codecs know
// ("readings"). One byte of a key takes at most 6 bytes to write
// (\u0073), so an escaped key longer than 6*maxKeyLen raw bytes cannot
// unescape to a known name.
const maxKeyLen = len("readings")

// keyName scans an object key and its colon, returning the key. A key
// written with escapes is unescaped (into s.keyBuf) before it is compared
// with the known names, so that {"\u0073ensor":..} is the sensor field
// (and a duplicate of a plain "sensor"); one too long to be a known name
// comes back as "" and so counts as unknown.
func (s *scanner) keyName() ([]byte, *Error) {
	key, esc, err := s.str("")
	if err != nil {
		return nil, err
	}
	if esc {
		if len(key) > len(s.keyBuf) {
			key = nil
		} else {
			// Unescaping never lengthens: the result fits in s.keyBuf.
			key = unescape(s.keyBuf[:0], key)
		}
	}
	return key, s.expect(':', "")
}

// sensor scans a sensor id string.
func (s *scanner) sensor(b *Binding) (string, *Error) {
	pos := s.peekPos()
	raw, esc, err := s.str("sensor")
	if err != nil {
		return "", err
	}
	if esc {
		if len(raw) > 6*MaxSensorLen {
			return "", perr(pos, "sensor", "sensor id longer than %d bytes", MaxSensorLen)
		}
		var buf [MaxSensorLen]byte
		raw = unescape(buf[:0], raw)
	}
	id, msg := b.sensorID(raw)
	if msg != "" {
		return "", perr(pos, "sensor", "%s", msg)
	}
	return id, nil
}

// timestamp scans a timestamp: an RFC 3339 string or unix milliseconds
// (a number, or a string of digits).
func (s *scanner) timestamp() (time.Time, *Error) {
	pos := s.peekPos()
	var t time.Time
	var msg string
	if s.peek() == '"' {
		raw, esc, err := s.str("ts")
		if err != nil {
			return t, err
		}
		if esc {
			return t, perr(pos, "ts", "bad timestamp %s: escapes are not allowed", quote(raw))
		}
		t, msg = parseTimestamp(raw)
	} else {
		raw, _, err := s.num("ts")
		if err != nil {
			return t, err
		}
		t, msg = parseMillis(raw)
	}
	if msg != "" {
		return t, perr(pos, "ts", "%s", msg)
	}
	return t, nil
}

// fillDefaults completes decoded readings with the batch's and then the
// binding's defaults. first is the index of rs[0] in error messages (-1:
// a single reading, no index).
func fillDefaults(b *Binding, rs []reading.Reading, first int, def batchDefaults) *Error {
	for i := range rs {
		r := &rs[i]
		idx := -1
		if first >= 0 {
			idx = first + i
		}
		if r.Sensor == "" {
			r.Sensor = def.sensor
			if r.Sensor == "" {
				if b.Sensor == "" {
					return rerr(idx, "sensor", "no sensor id, and the topic's binding has no default sensor")
				}
				r.Sensor = b.Sensor
			}
		}
		if r.Time.IsZero() {
			r.Time = def.ts
			if r.Time.IsZero() {
				if b.Now.IsZero() {
					return rerr(idx, "ts", "no timestamp, and the binding gives no arrival time")
				}
				r.Time = b.Now
			}
		}
		if r.Seq == 0 {
			r.Seq = def.seq
		}
	}
	return nil
}

// Encode implements Codec. It writes {"readings":[...]} with every field
// on every reading.
func (JSONBatch) Encode(dst []byte, rs []reading.Reading) ([]byte, error) {
	if len(rs) > MaxReadings {
		return dst, fmt.Errorf("json-batch encode: %d readings exceed the limit of %d", len(rs), MaxReadings)
	}
	for i := range rs {
		if err := checkEncode(NameJSONBatch, i, &rs[i]); err != nil {
			return dst, err
		}
	}
	dst = append(dst, `{"readings":[`...)
	for i := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendReadingJSON(dst, &rs[i])
	}
	return append(dst, "]}"...), nil
}

// appendReadingJSON appends one reading object. r has passed checkEncode.
func appendReadingJSON(dst []byte, r *reading.Reading) []byte {
	dst = append(dst, '{')
	if r.Sensor != "" {
		dst = append(dst, `"sensor":`...)
		dst = appendJSONString(dst, r.Sensor)
		dst = append(dst, ',')
	}
	dst = append(dst, `"ts":"`...)
	dst = appendTime(dst, r.Time)
	dst = append(dst, `","v":`...)
	dst = strconv.AppendFloat(dst, r.Value, 'g', -1, 64)
	if r.Seq != 0 {
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, r.Seq, 10)
	}
	if r.Quality != 0 {
		dst = append(dst, `,"q":`...)
		dst = strconv.AppendUint(dst, uint64(r.Quality), 10)
	}
	return append(dst, '}')
}

// appendJSONString appends s quoted. s is a checked sensor id (valid
// UTF-8, no control characters), so only '"' and '\' need escapes.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\', c)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
