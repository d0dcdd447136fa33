package codec

// Field numbers and datatypes below follow the official Sparkplug B schema,
// sparkplug_b/sparkplug_b.proto of the Eclipse Tahu project
// (github.com/eclipse/tahu, checked at commit 10f8dcf556f7), package
// org.eclipse.tahu.protobuf, messages Payload and Payload.Metric.

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// Payload fields.
const (
	spPayloadTimestamp protowire.Number = 1 // uint64, ms since epoch
	spPayloadMetrics   protowire.Number = 2 // repeated Metric
	spPayloadSeq       protowire.Number = 3 // uint64, 0..255
	spPayloadUUID      protowire.Number = 4 // string
	spPayloadBody      protowire.Number = 5 // bytes
)

// Payload.Metric fields.
const (
	spMetricName         protowire.Number = 1  // string
	spMetricAlias        protowire.Number = 2  // uint64
	spMetricTimestamp    protowire.Number = 3  // uint64, ms since epoch
	spMetricDatatype     protowire.Number = 4  // uint32
	spMetricIsHistorical protowire.Number = 5  // bool
	spMetricIsTransient  protowire.Number = 6  // bool
	spMetricIsNull       protowire.Number = 7  // bool
	spMetricMetadata     protowire.Number = 8  // MetaData
	spMetricProperties   protowire.Number = 9  // PropertySet
	spMetricIntValue     protowire.Number = 10 // uint32
	spMetricLongValue    protowire.Number = 11 // uint64
	spMetricFloatValue   protowire.Number = 12 // float
	spMetricDoubleValue  protowire.Number = 13 // double
	spMetricBooleanValue protowire.Number = 14 // bool
	spMetricStringValue  protowire.Number = 15 // string
	spMetricBytesValue   protowire.Number = 16 // bytes
	spMetricDatasetValue protowire.Number = 17 // DataSet
	spMetricTemplValue   protowire.Number = 18 // Template
	spMetricExtValue     protowire.Number = 19 // MetricValueExtension
)

// Sparkplug B datatypes (Payload.Metric.datatype) that this codec reads.
const (
	SparkplugUnknown uint32 = 0
	SparkplugInt8    uint32 = 1
	SparkplugInt16   uint32 = 2
	SparkplugInt32   uint32 = 3
	SparkplugInt64   uint32 = 4
	SparkplugUInt8   uint32 = 5
	SparkplugUInt16  uint32 = 6
	SparkplugUInt32  uint32 = 7
	SparkplugUInt64  uint32 = 8
	SparkplugFloat   uint32 = 9
	SparkplugDouble  uint32 = 10
	SparkplugBoolean uint32 = 11
)

var spTypeNames = [...]string{"Unknown", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16",
	"UInt32", "UInt64", "Float", "Double", "Boolean", "String", "DateTime", "Text", "UUID",
	"DataSet", "Bytes", "File", "Template", "PropertySet", "PropertySetList"}

// spOtherValues names the value fields this codec refuses.
var spOtherValues = map[protowire.Number]string{spMetricStringValue: "string_value", spMetricBytesValue: "bytes_value",
	spMetricDatasetValue: "dataset_value", spMetricTemplValue: "template_value", spMetricExtValue: "extension_value"}

func spTypeName(t uint32) string {
	if int(t) < len(spTypeNames) {
		return spTypeNames[t] + " (" + strconv.Itoa(int(t)) + ")"
	}
	return "datatype " + strconv.FormatUint(uint64(t), 10)
}

// SparkplugMetric is what a birth certificate (NBIRTH/DBIRTH) says about a
// metric that later DATA messages name by alias only.
type SparkplugMetric struct {
	// Name is the metric name: the sensor id.
	Name string
	// DataType is the Sparkplug datatype (SparkplugInt8 ... SparkplugBoolean).
	DataType uint32
}

// SparkplugB is the "sparkplugb" codec: the Eclipse Sparkplug B protobuf
// Payload. See the package documentation for the mapping.
type SparkplugB struct{}

// Name returns "sparkplugb".
func (SparkplugB) Name() string { return NameSparkplugB }

// spMetric is one decoded metric before defaults.
type spMetric struct {
	name     []byte
	alias    uint64
	hasAlias bool
	ts       uint64
	hasTS    bool
	dtype    uint32
	hasType  bool
	isNull   bool
	vfield   protowire.Number // which value field was set, 0 for none
	vpos     int              // its offset in the payload
	raw      uint64           // varint or fixed bits of the value
}

// Decode implements Codec.
func (SparkplugB) Decode(b Binding, payload []byte, dst []reading.Reading) ([]reading.Reading, error) {
	start := len(dst)
	dst, err := decodeSparkplug(&b, payload, dst, start)
	return finish(NameSparkplugB, &b, dst, start, err)
}

func decodeSparkplug(b *Binding, p []byte, dst []reading.Reading, start int) ([]reading.Reading, *Error) {
	if err := checkSize(p); err != nil {
		return dst, err
	}
	var ts, seq uint64
	var hasTS bool
	metric := 0   // index of the next metric in the payload
	untimed := -1 // index of the first metric read without a timestamp
	for pos := 0; pos < len(p); {
		num, typ, n := protowire.ConsumeTag(p[pos:])
		if n < 0 {
			return dst, perr(pos, "", "bad field tag: %v", protowire.ParseError(n))
		}
		fieldPos := pos
		pos += n
		switch num {
		case spPayloadTimestamp, spPayloadSeq:
			name := "timestamp"
			if num == spPayloadSeq {
				name = "seq"
			}
			if typ != protowire.VarintType {
				return dst, perr(fieldPos, name, "wire type %d, want varint", typ)
			}
			v, n := protowire.ConsumeVarint(p[pos:])
			if n < 0 {
				return dst, perr(pos, name, "bad varint: %v", protowire.ParseError(n))
			}
			pos += n
			if num == spPayloadSeq {
				if v > 255 {
					return dst, perr(fieldPos, name, "seq %d is out of the range 0 to 255", v)
				}
				seq = v
			} else {
				ts, hasTS = v, true
			}
		case spPayloadMetrics:
			if typ != protowire.BytesType {
				return dst, perr(fieldPos, "metrics", "wire type %d, want bytes", typ)
			}
			m, n := protowire.ConsumeBytes(p[pos:])
			if n < 0 {
				return dst, perr(pos, "metrics", "bad length: %v", protowire.ParseError(n))
			}
			if len(dst)-start >= MaxReadings {
				return dst, tooMany(fieldPos)
			}
			var r reading.Reading
			ok, err := decodeMetric(b, m, pos+n-len(m), &r)
			if err != nil {
				err.Reading = metric
				return dst, err
			}
			if ok {
				if r.Time.IsZero() && untimed < 0 {
					untimed = metric
				}
				dst = append(dst, r)
			}
			metric++
			pos += n
		default:
			n := protowire.ConsumeFieldValue(num, typ, p[pos:])
			if n < 0 {
				return dst, perr(pos, "", "bad value of field %d: %v", num, protowire.ParseError(n))
			}
			pos += n
		}
	}
	// Payload-level defaults: they may follow the metrics on the wire.
	var payloadTime time.Time
	if hasTS {
		var msg string
		if payloadTime, msg = spTime(ts); msg != "" {
			return dst, perr(-1, "timestamp", "%s", msg)
		}
	}
	if untimed >= 0 && !hasTS && b.Now.IsZero() {
		return dst, rerr(untimed, "timestamp", "no timestamp in the metric or the payload, and the binding gives no arrival time")
	}
	for i := start; i < len(dst); i++ {
		r := &dst[i]
		if r.Time.IsZero() {
			if hasTS {
				r.Time = payloadTime
			} else {
				r.Time = b.Now
			}
		}
		r.Seq = seq
	}
	return dst, nil
}

// spTime converts Sparkplug milliseconds.
func spTime(ms uint64) (time.Time, string) {
	if ms > maxMillis {
		return time.Time{}, fmt.Sprintf("timestamp %d ms is after the year 2262", ms)
	}
	return time.Unix(0, int64(ms)*1e6).UTC(), ""
}

// decodeMetric decodes one Payload.Metric message m, found at byte off of
// the payload, into r; it returns false for a metric that is skipped (see
// spMetric.reading). The time stays zero when the metric has none.
func decodeMetric(b *Binding, m []byte, off int, r *reading.Reading) (bool, *Error) {
	var sm spMetric
	for pos := 0; pos < len(m); {
		num, typ, n := protowire.ConsumeTag(m[pos:])
		if n < 0 {
			return false, perr(off+pos, "", "bad field tag in metric: %v", protowire.ParseError(n))
		}
		fieldPos := off + pos
		pos += n
		var want protowire.Type
		name := ""
		switch num {
		case spMetricName:
			want, name = protowire.BytesType, "name"
		case spMetricAlias:
			want, name = protowire.VarintType, "alias"
		case spMetricTimestamp:
			want, name = protowire.VarintType, "timestamp"
		case spMetricDatatype:
			want, name = protowire.VarintType, "datatype"
		case spMetricIsNull:
			want, name = protowire.VarintType, "is_null"
		case spMetricIntValue:
			want, name = protowire.VarintType, "int_value"
		case spMetricLongValue:
			want, name = protowire.VarintType, "long_value"
		case spMetricBooleanValue:
			want, name = protowire.VarintType, "boolean_value"
		case spMetricFloatValue:
			want, name = protowire.Fixed32Type, "float_value"
		case spMetricDoubleValue:
			want, name = protowire.Fixed64Type, "double_value"
		case spMetricStringValue, spMetricBytesValue, spMetricDatasetValue, spMetricTemplValue, spMetricExtValue:
			// Refused once the name is known (it may come later).
			n := protowire.ConsumeFieldValue(num, typ, m[pos:])
			if n < 0 {
				return false, perr(off+pos, spOtherValues[num], "bad value: %v", protowire.ParseError(n))
			}
			pos += n
			sm.vfield, sm.vpos = num, fieldPos
			continue
		default: // is_historical, is_transient, metadata, properties, unknown
			n := protowire.ConsumeFieldValue(num, typ, m[pos:])
			if n < 0 {
				return false, perr(off+pos, "", "bad value of metric field %d: %v", num, protowire.ParseError(n))
			}
			pos += n
			continue
		}
		if typ != want {
			return false, perr(fieldPos, name, "wire type %d, want %d", typ, want)
		}
		var v uint64
		switch typ {
		case protowire.BytesType:
			s, n := protowire.ConsumeBytes(m[pos:])
			if n < 0 {
				return false, perr(off+pos, name, "bad length: %v", protowire.ParseError(n))
			}
			sm.name = s
			pos += n
			continue
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(m[pos:])
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(m[pos:])
			v = uint64(v32)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(m[pos:])
		}
		if n < 0 {
			return false, perr(off+pos, name, "bad value: %v", protowire.ParseError(n))
		}
		pos += n
		switch num {
		case spMetricAlias:
			sm.alias, sm.hasAlias = v, true
		case spMetricTimestamp:
			sm.ts, sm.hasTS = v, true
		case spMetricDatatype:
			if v > math.MaxUint32 {
				return false, perr(fieldPos, name, "datatype %d is out of the uint32 range", v)
			}
			sm.dtype, sm.hasType = uint32(v), true
		case spMetricIsNull:
			sm.isNull = v != 0
		default: // a value field; the last one wins, as in protobuf oneofs
			sm.vfield, sm.raw, sm.vpos = num, v, fieldPos
		}
	}
	return sm.reading(b, off, r)
}

// reading turns a decoded metric into r. It returns false, and no
// error, for a non-numeric metric (String, DateTime, Text, ... by its
// datatype or value field) that is no configured sensor: one whose name
// is not in b.Names, or any when b.Names is nil. Sparkplug B nodes publish
// such metrics (and Node Control ones) beside their numeric readings. A
// non-numeric metric whose name is in b.Names is an error.
func (sm *spMetric) reading(b *Binding, off int, r *reading.Reading) (bool, *Error) {
	dtype, hasType := sm.dtype, sm.hasType
	var birthName string // the name from the birth, for a metric named by alias
	switch {
	case len(sm.name) > 0:
	case sm.hasAlias:
		a, ok := b.Aliases[sm.alias]
		if !ok {
			return false, perr(off, "alias", "metric has no name and alias %d is unknown (give Binding.Aliases from the birth certificate)", sm.alias)
		}
		birthName = a.Name
		if !hasType {
			dtype, hasType = a.DataType, a.DataType != SparkplugUnknown
		}
	default:
		return false, perr(off, "name", "metric has neither a name nor an alias")
	}
	otherField, otherValue := spOtherValues[sm.vfield]
	if otherValue || hasType && dtype > SparkplugBoolean {
		var id string
		var known bool
		if b.Names != nil {
			if len(sm.name) > 0 {
				id, known = b.Names.m[string(sm.name)]
			} else {
				id, known = b.Names.m[birthName]
			}
		}
		switch {
		case !known:
			return false, nil
		case otherValue:
			return false, perr(sm.vpos, otherField, "metric %q has a non-numeric value; only Int8..UInt64, Float, Double and Boolean metrics are read", id)
		default:
			return false, perr(off, "datatype", "metric %q: datatype %s is not numeric; only Int8..UInt64, Float, Double and Boolean metrics are read", id, spTypeName(dtype))
		}
	}
	if len(sm.name) > 0 {
		id, msg := b.sensorID(sm.name)
		if msg != "" {
			return false, perr(off, "name", "%s", msg)
		}
		r.Sensor = id
	} else {
		r.Sensor = birthName
	}
	if sm.hasTS {
		t, msg := spTime(sm.ts)
		if msg != "" {
			return false, perr(off, "timestamp", "%s", msg)
		}
		r.Time = t
	}
	if sm.isNull {
		r.Quality = reading.Bad
		return true, nil
	}
	if sm.vfield == 0 {
		return false, perr(off, "value", "metric %q has no value and is not null", r.Sensor)
	}
	if !hasType || dtype == SparkplugUnknown {
		// No datatype on the wire nor from the birth: take the value
		// field's own protobuf type.
		switch sm.vfield {
		case spMetricIntValue:
			dtype = SparkplugUInt32
		case spMetricLongValue:
			dtype = SparkplugUInt64
		case spMetricFloatValue:
			dtype = SparkplugFloat
		case spMetricDoubleValue:
			dtype = SparkplugDouble
		case spMetricBooleanValue:
			dtype = SparkplugBoolean
		}
	}
	v, msg := spValue(dtype, sm.vfield, sm.raw)
	if msg != "" {
		return false, perr(off, "value", "metric %q: %s", r.Sensor, msg)
	}
	if msg := checkValue(v); msg != "" {
		return false, perr(off, "value", "metric %q: %s", r.Sensor, msg)
	}
	r.Value = v
	return true, nil
}

// spValue interprets the raw bits of value field f as datatype t.
func spValue(t uint32, f protowire.Number, raw uint64) (float64, string) {
	isInt := f == spMetricIntValue || f == spMetricLongValue
	mismatch := func() (float64, string) {
		return 0, fmt.Sprintf("datatype %s does not match its value field %d", spTypeName(t), f)
	}
	switch t {
	case SparkplugInt8, SparkplugInt16, SparkplugInt32, SparkplugInt64:
		if !isInt {
			return mismatch()
		}
		bits := [...]uint{SparkplugInt8: 8, SparkplugInt16: 16, SparkplugInt32: 32, SparkplugInt64: 64}[t]
		v, ok := signed(raw, bits)
		if !ok {
			return 0, fmt.Sprintf("value %d is out of the %s range", raw, spTypeName(t))
		}
		return float64(v), ""
	case SparkplugUInt8, SparkplugUInt16, SparkplugUInt32, SparkplugUInt64:
		if !isInt {
			return mismatch()
		}
		max := [...]uint64{SparkplugUInt8: math.MaxUint8, SparkplugUInt16: math.MaxUint16,
			SparkplugUInt32: math.MaxUint32, SparkplugUInt64: math.MaxUint64}[t]
		if raw > max {
			return 0, fmt.Sprintf("value %d is out of the %s range", raw, spTypeName(t))
		}
		return float64(raw), ""
	case SparkplugFloat:
		if f != spMetricFloatValue {
			return mismatch()
		}
		return float64(math.Float32frombits(uint32(raw))), ""
	case SparkplugDouble:
		if f != spMetricDoubleValue {
			return mismatch()
		}
		return math.Float64frombits(raw), ""
	case SparkplugBoolean:
		if f != spMetricBooleanValue {
			return mismatch()
		}
		if raw != 0 {
			return 1, ""
		}
		return 0, ""
	}
	return 0, fmt.Sprintf("datatype %s is not numeric; only Int8..UInt64, Float, Double and Boolean metrics are read", spTypeName(t))
}

// signed reads an n-bit signed integer from a varint that a publisher may
// have zero-extended or sign-extended to 32 or 64 bits.
func signed(raw uint64, n uint) (int64, bool) {
	if n == 64 {
		return int64(raw), true
	}
	low := raw & (1<<n - 1)
	v := int64(low<<(64-n)) >> (64 - n)
	switch raw {
	case low, uint64(v), uint64(uint32(v)):
		return v, true
	}
	return 0, false
}

// ParseSparkplugBirth reads the metric definitions of a birth certificate
// (NBIRTH or DBIRTH payload) into dst, keyed by alias. Metrics without an
// alias are skipped. Use dst as Binding.Aliases for that edge node's (or
// device's) DATA messages.
func ParseSparkplugBirth(payload []byte, dst map[uint64]SparkplugMetric) error {
	if err := checkSize(payload); err != nil {
		err.Codec = NameSparkplugB
		return err
	}
	for pos := 0; pos < len(payload); {
		num, typ, n := protowire.ConsumeTag(payload[pos:])
		if n < 0 {
			return &Error{Codec: NameSparkplugB, Offset: pos, Reading: -1, Msg: "bad field tag in birth: " + protowire.ParseError(n).Error()}
		}
		pos += n
		if num == spPayloadMetrics && typ == protowire.BytesType {
			m, n := protowire.ConsumeBytes(payload[pos:])
			if n < 0 {
				// A truncated birth must not pass as a shorter alias table:
				// DATA naming the missing aliases would be refused.
				return &Error{Codec: NameSparkplugB, Offset: pos, Reading: -1, Field: "metrics",
					Msg: "bad length of metric in birth: " + protowire.ParseError(n).Error()}
			}
			if err := birthMetric(m, pos+n-len(m), dst); err != nil {
				err.Codec = NameSparkplugB
				return err
			}
			pos += n
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, payload[pos:])
		if n < 0 {
			return &Error{Codec: NameSparkplugB, Offset: pos, Reading: -1, Msg: fmt.Sprintf("bad value of field %d in birth: %v", num, protowire.ParseError(n))}
		}
		pos += n
	}
	return nil
}

func birthMetric(m []byte, off int, dst map[uint64]SparkplugMetric) *Error {
	var name []byte
	var alias uint64
	var hasAlias bool
	var dtype uint32
	for pos := 0; pos < len(m); {
		num, typ, n := protowire.ConsumeTag(m[pos:])
		if n < 0 {
			return perr(off+pos, "", "bad field tag in birth metric: %v", protowire.ParseError(n))
		}
		fieldPos := off + pos
		pos += n
		switch {
		case num == spMetricName && typ == protowire.BytesType:
			name, n = protowire.ConsumeBytes(m[pos:])
		case (num == spMetricAlias || num == spMetricDatatype) && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(m[pos:])
			switch {
			case n < 0:
			case num == spMetricAlias:
				alias, hasAlias = v, true
			case v > math.MaxUint32:
				return perr(fieldPos, "datatype", "birth metric datatype %d is out of the uint32 range", v)
			default:
				dtype = uint32(v)
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, m[pos:])
		}
		if n < 0 {
			return perr(off+pos, "", "bad value of birth metric field %d: %v", num, protowire.ParseError(n))
		}
		pos += n
	}
	if !hasAlias {
		return nil
	}
	if msg := checkSensor(name); msg != "" {
		return perr(off, "name", "birth metric with alias %d: %s", alias, msg)
	}
	dst[alias] = SparkplugMetric{Name: string(name), DataType: dtype}
	return nil
}

// Encode implements Codec. Every reading becomes a Double metric with its
// name and timestamp (milliseconds: sub-millisecond time is lost); a
// reading of quality bad becomes a null metric (its value is lost); other
// non-good qualities cannot be carried and are an error. All readings must
// share one Seq from 0 to 255, written as the payload's seq; the payload
// timestamp is the latest reading time.
func (SparkplugB) Encode(dst []byte, rs []reading.Reading) ([]byte, error) {
	if len(rs) > MaxReadings {
		return dst, fmt.Errorf("sparkplugb encode: %d readings exceed the limit of %d", len(rs), MaxReadings)
	}
	var latest time.Time
	for i := range rs {
		r := &rs[i]
		if err := checkEncode(NameSparkplugB, i, r); err != nil {
			return dst, err
		}
		if r.Sensor == "" {
			return dst, fmt.Errorf("sparkplugb encode: reading %d: a metric needs a name (empty sensor id)", i)
		}
		if r.Time.UnixMilli() < 0 {
			return dst, fmt.Errorf("sparkplugb encode: reading %d (sensor %q): time %s is before 1970", i, r.Sensor, r.Time.Format(time.RFC3339))
		}
		if r.Quality != reading.Good && r.Quality != reading.Bad {
			return dst, fmt.Errorf("sparkplugb encode: reading %d (sensor %q): quality %s cannot be carried (only good, or bad as a null metric)", i, r.Sensor, r.Quality)
		}
		if r.Seq != rs[0].Seq {
			return dst, fmt.Errorf("sparkplugb encode: reading %d (sensor %q): seq %d differs from reading 0's %d; a payload has one seq", i, r.Sensor, r.Seq, rs[0].Seq)
		}
		if r.Time.After(latest) {
			latest = r.Time
		}
	}
	if len(rs) > 0 && rs[0].Seq > 255 {
		return dst, fmt.Errorf("sparkplugb encode: seq %d is out of the range 0 to 255", rs[0].Seq)
	}
	if len(rs) > 0 {
		dst = protowire.AppendTag(dst, spPayloadTimestamp, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(latest.UnixMilli()))
	}
	for i := range rs {
		r := &rs[i]
		size := protowire.SizeTag(spMetricName) + protowire.SizeBytes(len(r.Sensor)) +
			protowire.SizeTag(spMetricTimestamp) + protowire.SizeVarint(uint64(r.Time.UnixMilli())) +
			protowire.SizeTag(spMetricDatatype) + protowire.SizeVarint(uint64(SparkplugDouble))
		if r.Quality == reading.Bad {
			size += protowire.SizeTag(spMetricIsNull) + 1
		} else {
			size += protowire.SizeTag(spMetricDoubleValue) + protowire.SizeFixed64()
		}
		dst = protowire.AppendTag(dst, spPayloadMetrics, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(size))
		dst = protowire.AppendTag(dst, spMetricName, protowire.BytesType)
		dst = protowire.AppendString(dst, r.Sensor)
		dst = protowire.AppendTag(dst, spMetricTimestamp, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(r.Time.UnixMilli()))
		dst = protowire.AppendTag(dst, spMetricDatatype, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(SparkplugDouble))
		if r.Quality == reading.Bad {
			dst = protowire.AppendTag(dst, spMetricIsNull, protowire.VarintType)
			dst = protowire.AppendVarint(dst, 1)
		} else {
			dst = protowire.AppendTag(dst, spMetricDoubleValue, protowire.Fixed64Type)
			dst = protowire.AppendFixed64(dst, math.Float64bits(r.Value))
		}
	}
	if len(rs) > 0 {
		dst = protowire.AppendTag(dst, spPayloadSeq, protowire.VarintType)
		dst = protowire.AppendVarint(dst, rs[0].Seq)
	}
	return dst, nil
}
