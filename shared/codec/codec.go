package codec

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// Limits every decoder enforces. A payload over a limit is rejected whole
// with an *Error; nothing is decoded from it.
const (
	// MaxPayload is the largest payload, in bytes, a decoder accepts
	// (4 MiB). Mosquitto's default message_size_limit is larger; set the
	// broker's limit to this or less.
	MaxPayload = 4 << 20
	// MaxReadings is the most readings one payload may carry.
	MaxReadings = 65536
	// MaxSensorLen is the longest sensor id, in bytes.
	MaxSensorLen = 256
)

// PluginPrefix starts the name of an out-of-process codec ("plugin:NAME").
const PluginPrefix = "plugin:"

// Sentinel errors of Lookup.
var (
	// ErrPlugin is returned (wrapped) by Lookup for a "plugin:NAME" codec:
	// plugins run out of process and are the agent's to start and route.
	ErrPlugin = errors.New("plugin codecs are not built in")
	// ErrUnknown is returned (wrapped) by Lookup for a name that is neither
	// a built-in codec nor a plugin.
	ErrUnknown = errors.New("unknown codec")
)

// Codec turns one MQTT payload into readings and back.
//
// Every built-in Codec is a stateless value, safe for concurrent use.
type Codec interface {
	// Name is the codec's name as written in a firmware config
	// (rig.MQTTBinding.Codec), e.g. "json-batch".
	Name() string
	// Decode appends the readings of payload to dst and returns the
	// extended slice. b gives what the payload may leave out (the sensor
	// id, the time) and names the topic in errors.
	//
	// A payload is decoded whole or not at all: on error Decode returns
	// dst with its original length and an *Error. Decode never retains
	// payload: sensor ids are copied (or taken from b.Names) and returned
	// readings own all their memory.
	Decode(b Binding, payload []byte, dst []reading.Reading) ([]reading.Reading, error)
	// Encode appends one payload holding rs to dst and returns the
	// extended slice. A reading with an empty Sensor is written without a
	// sensor id (the topic's default) where the format allows it. NaN and
	// infinite values, and times outside the int64-nanosecond range
	// (years 1678 to 2262), are errors. On error dst is returned with its
	// original length.
	Encode(dst []byte, rs []reading.Reading) ([]byte, error)
}

// Binding is what a decoder needs to know about the topic a payload came
// from. The zero Binding is valid: then every payload must carry its sensor
// ids and timestamps.
//
// A Binding is read, never modified, by Decode; one Binding may be shared
// by concurrent calls as long as nobody writes its maps meanwhile.
type Binding struct {
	// Topic is the MQTT topic. It is used in error messages only.
	Topic string
	// Sensor is the sensor id of readings whose payload names none (a
	// single-value json payload, a csv line with an empty first field, a
	// binary reading with a zero-length id). Empty: such readings are an
	// error.
	Sensor string
	// Now is the time given to readings whose payload carries no
	// timestamp, normally the time the message arrived. Zero: such
	// readings are an error.
	Now time.Time
	// Names, if set, interns sensor ids: an id found in it is returned
	// without allocating. Nil: every decoded id is a new string. The
	// sparkplugb codec also takes it as the configured sensors: a
	// non-numeric metric whose name is not in it is skipped, one whose
	// name is in it is an error (see the package documentation).
	Names *Names
	// Aliases maps Sparkplug B metric aliases to the names and datatypes
	// announced in the edge node's birth certificate (see
	// ParseSparkplugBirth). Nil: metrics must carry names. Other codecs
	// ignore it.
	Aliases map[uint64]SparkplugMetric
}

// Names is a read-only set of known sensor ids, used to decode ids without
// allocating. Build it once (for example from a rig's sensors) with
// NewNames; it is safe for concurrent use.
type Names struct {
	m map[string]string
}

// NewNames returns a set holding ids.
func NewNames(ids ...string) *Names {
	n := &Names{m: make(map[string]string, len(ids))}
	for _, id := range ids {
		n.m[id] = id
	}
	return n
}

// sensorID validates raw as a sensor id and returns it as a string,
// interned through b.Names where possible. It returns "" and a reason when
// raw is not a valid id.
func (b *Binding) sensorID(raw []byte) (string, string) {
	if b.Names != nil {
		if s, ok := b.Names.m[string(raw)]; ok {
			return s, ""
		}
	}
	if msg := checkSensor(raw); msg != "" {
		return "", msg
	}
	return string(raw), ""
}

// checkSensor returns why raw is not a valid sensor id, or "".
func checkSensor(raw []byte) string {
	if msg := checkSensorBytes(raw); msg != "" {
		return msg
	}
	if !utf8.Valid(raw) {
		return fmt.Sprintf("sensor id %q is not valid UTF-8", raw)
	}
	return ""
}

// checkSensorString is checkSensor for a string.
func checkSensorString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return fmt.Sprintf("sensor id %q holds control character %#02x", s, c)
		}
	}
	if len(s) == 0 || len(s) > MaxSensorLen {
		return checkSensorBytes([]byte(s))
	}
	if !utf8.ValidString(s) {
		return fmt.Sprintf("sensor id %q is not valid UTF-8", s)
	}
	return ""
}

// checkSensorBytes checks the length and the absence of control
// characters.
func checkSensorBytes(raw []byte) string {
	if len(raw) == 0 {
		return "empty sensor id"
	}
	if len(raw) > MaxSensorLen {
		return fmt.Sprintf("sensor id of %d bytes exceeds the limit of %d", len(raw), MaxSensorLen)
	}
	for _, c := range raw {
		if c < 0x20 || c == 0x7f {
			return fmt.Sprintf("sensor id %q holds control character %#02x", raw, c)
		}
	}
	return ""
}

// Error is a decoding error: what was wrong with a payload, and where.
type Error struct {
	// Codec is the codec's name.
	Codec string
	// Topic is Binding.Topic (may be empty).
	Topic string
	// Offset is the byte offset in the payload of the problem, or -1.
	Offset int
	// Line is the 1-based line of a text payload (csv), or 0.
	Line int
	// Reading is the 0-based index of the reading at fault, or -1.
	Reading int
	// Field names the field at fault (e.g. "ts"), or is empty.
	Field string
	// Msg says what was wrong, quoting the bad value where it helps.
	Msg string
}

func (e *Error) Error() string {
	var sb strings.Builder
	sb.WriteString(e.Codec)
	sb.WriteString(" payload")
	if e.Topic != "" {
		fmt.Fprintf(&sb, " on topic %q", e.Topic)
	}
	if e.Line > 0 {
		fmt.Fprintf(&sb, ": line %d", e.Line)
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&sb, ": byte %d", e.Offset)
	}
	if e.Reading >= 0 {
		fmt.Fprintf(&sb, ": reading %d", e.Reading)
	}
	if e.Field != "" {
		fmt.Fprintf(&sb, ": field %s", e.Field)
	}
	sb.WriteString(": ")
	sb.WriteString(e.Msg)
	return sb.String()
}

// perr builds an *Error at a byte offset (codec and topic are filled in by
// finish).
func perr(off int, field, format string, args ...any) *Error {
	return &Error{Offset: off, Reading: -1, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// rerr builds an *Error about reading i.
func rerr(i int, field, format string, args ...any) *Error {
	return &Error{Offset: -1, Reading: i, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// finish completes err with the codec's name and topic, and restores dst.
// It takes *Error, not error, so that a nil *Error becomes a nil error.
func finish(name string, b *Binding, dst []reading.Reading, start int, err *Error) ([]reading.Reading, error) {
	if err == nil {
		return dst, nil
	}
	err.Codec = name
	err.Topic = b.Topic
	clear(dst[start:])
	return dst[:start], err
}

// checkSize rejects a payload over MaxPayload.
func checkSize(payload []byte) *Error {
	if len(payload) > MaxPayload {
		return perr(-1, "", "payload of %d bytes exceeds the limit of %d bytes", len(payload), MaxPayload)
	}
	return nil
}

// tooMany is the error for a payload over MaxReadings.
func tooMany(off int) *Error {
	return perr(off, "", "more than %d readings in one payload", MaxReadings)
}

// Time limits: every timestamp must be representable as int64 nanoseconds
// since the Unix epoch.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

// checkValue returns why v cannot be carried, or "".
func checkValue(v float64) string {
	if math.IsNaN(v) {
		return "value NaN is not allowed (send quality bad instead)"
	}
	if math.IsInf(v, 0) {
		return fmt.Sprintf("value %v is not allowed", v)
	}
	return ""
}

// checkEncode validates reading i for any encoder.
func checkEncode(name string, i int, r *reading.Reading) error {
	if msg := checkValue(r.Value); msg != "" {
		return fmt.Errorf("%s encode: reading %d (sensor %q): %s", name, i, r.Sensor, msg)
	}
	if r.Time.IsZero() {
		return fmt.Errorf("%s encode: reading %d (sensor %q): zero time", name, i, r.Sensor)
	}
	if r.Time.Before(minTime) || r.Time.After(maxTime) {
		return fmt.Errorf("%s encode: reading %d (sensor %q): time %s is outside years 1678 to 2262", name, i, r.Sensor, r.Time.Format(time.RFC3339))
	}
	if r.Sensor != "" {
		if msg := checkSensorString(r.Sensor); msg != "" {
			return fmt.Errorf("%s encode: reading %d: %s", name, i, msg)
		}
	}
	return nil
}

// Names of the built-in codecs.
const (
	NameJSON       = "json"
	NameJSONBatch  = "json-batch"
	NameCSV        = "csv"
	NameBinary     = "binary"
	NameSparkplugB = "sparkplugb"
)

// Builtins lists the names of the built-in codecs, in the order of
// rig.Codecs.
var Builtins = []string{NameJSON, NameJSONBatch, NameCSV, NameBinary, NameSparkplugB}

// Lookup returns the built-in codec called name, with its default options.
// For "plugin:NAME" it returns an error wrapping ErrPlugin; for any other
// unknown name, one wrapping ErrUnknown that lists the known names.
func Lookup(name string) (Codec, error) {
	switch name {
	case NameJSON:
		return JSON{}, nil
	case NameJSONBatch:
		return JSONBatch{}, nil
	case NameCSV:
		return CSV{}, nil
	case NameBinary:
		return Binary{}, nil
	case NameSparkplugB:
		return SparkplugB{}, nil
	}
	if strings.HasPrefix(name, PluginPrefix) {
		return nil, fmt.Errorf("codec %q: %w", name, ErrPlugin)
	}
	return nil, fmt.Errorf("codec %q: %w; known: %s, or %sNAME for an out-of-process codec",
		name, ErrUnknown, strings.Join(Builtins, ", "), PluginPrefix)
}
