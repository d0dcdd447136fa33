package codec_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// spSchema is the part of Eclipse Tahu's sparkplug_b.proto the codec
// reads, built as a descriptor so that the protobuf library itself can
// encode and decode test payloads independently of the codec.
func spSchema(t testing.TB) (payload, metric protoreflect.MessageDescriptor) {
	t.Helper()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	f := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, label descriptorpb.FieldDescriptorProto_Label, oneof bool) *descriptorpb.FieldDescriptorProto {
		fd := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Type: typ.Enum(), Label: label.Enum()}
		if typ == descriptorpb.FieldDescriptorProto_TYPE_MESSAGE {
			fd.TypeName = proto.String(".org.eclipse.tahu.protobuf.Payload.Metric")
		}
		if oneof {
			fd.OneofIndex = proto.Int32(0)
		}
		return fd
	}
	T := descriptorpb.FieldDescriptorProto_TYPE_UINT64
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("sparkplug_b_test.proto"),
		Package: proto.String("org.eclipse.tahu.protobuf"),
		Syntax:  proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Payload"),
			Field: []*descriptorpb.FieldDescriptorProto{
				f("timestamp", 1, T, opt, false),
				f("metrics", 2, descriptorpb.FieldDescriptorProto_TYPE_MESSAGE, rep, false),
				f("seq", 3, T, opt, false),
				f("uuid", 4, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, false),
				f("body", 5, descriptorpb.FieldDescriptorProto_TYPE_BYTES, opt, false),
			},
			NestedType: []*descriptorpb.DescriptorProto{{
				Name: proto.String("Metric"),
				Field: []*descriptorpb.FieldDescriptorProto{
					f("name", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, false),
					f("alias", 2, T, opt, false),
					f("timestamp", 3, T, opt, false),
					f("datatype", 4, descriptorpb.FieldDescriptorProto_TYPE_UINT32, opt, false),
					f("is_historical", 5, descriptorpb.FieldDescriptorProto_TYPE_BOOL, opt, false),
					f("is_transient", 6, descriptorpb.FieldDescriptorProto_TYPE_BOOL, opt, false),
					f("is_null", 7, descriptorpb.FieldDescriptorProto_TYPE_BOOL, opt, false),
					f("int_value", 10, descriptorpb.FieldDescriptorProto_TYPE_UINT32, opt, true),
					f("long_value", 11, T, opt, true),
					f("float_value", 12, descriptorpb.FieldDescriptorProto_TYPE_FLOAT, opt, true),
					f("double_value", 13, descriptorpb.FieldDescriptorProto_TYPE_DOUBLE, opt, true),
					f("boolean_value", 14, descriptorpb.FieldDescriptorProto_TYPE_BOOL, opt, true),
					f("string_value", 15, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt, true),
					f("bytes_value", 16, descriptorpb.FieldDescriptorProto_TYPE_BYTES, opt, true),
				},
				OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("value")}},
			}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload = fd.Messages().ByName("Payload")
	return payload, payload.Messages().ByName("Metric")
}

// spm is a metric for the protobuf library to encode: field name -> value.
type spm map[string]any

// spEncode encodes a Payload with the protobuf library.
func spEncode(t testing.TB, ts, seq uint64, metrics ...spm) []byte {
	t.Helper()
	pd, md := spSchema(t)
	p := dynamicpb.NewMessage(pd)
	if ts != 0 {
		p.Set(pd.Fields().ByName("timestamp"), protoreflect.ValueOfUint64(ts))
	}
	p.Set(pd.Fields().ByName("seq"), protoreflect.ValueOfUint64(seq))
	p.Set(pd.Fields().ByName("uuid"), protoreflect.ValueOfString("ignored"))
	list := p.Mutable(pd.Fields().ByName("metrics")).List()
	for _, m := range metrics {
		dm := dynamicpb.NewMessage(md)
		for k, v := range m {
			dm.Set(md.Fields().ByName(protoreflect.Name(k)), protoreflect.ValueOf(v))
		}
		list.Append(protoreflect.ValueOfMessage(dm))
	}
	b, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSparkplugDecode(t *testing.T) {
	b := binding()
	ms := uint64(1772366400125)
	at := time.UnixMilli(int64(ms)).UTC()
	pt := time.UnixMilli(1772366400000).UTC()
	u32 := func(v int32) uint32 { return uint32(v) }
	cases := []struct {
		name string
		m    spm
		want reading.Reading
	}{
		{"double", spm{"name": "PS1", "timestamp": ms, "datatype": uint32(10), "double_value": 151.2}, reading.Reading{Sensor: "PS1", Time: at, Value: 151.2}},
		{"float", spm{"name": "PS1", "datatype": uint32(9), "float_value": float32(1.5)}, reading.Reading{Sensor: "PS1", Time: pt, Value: 1.5}},
		{"int8 sign-extended", spm{"name": "A", "datatype": uint32(1), "int_value": u32(-5)}, reading.Reading{Sensor: "A", Time: pt, Value: -5}},
		{"int8 zero-extended", spm{"name": "A", "datatype": uint32(1), "int_value": uint32(0xFB)}, reading.Reading{Sensor: "A", Time: pt, Value: -5}},
		{"int16", spm{"name": "A", "datatype": uint32(2), "int_value": u32(-30000)}, reading.Reading{Sensor: "A", Time: pt, Value: -30000}},
		{"int32", spm{"name": "A", "datatype": uint32(3), "int_value": u32(math.MinInt32)}, reading.Reading{Sensor: "A", Time: pt, Value: math.MinInt32}},
		{"int32 in long", spm{"name": "A", "datatype": uint32(3), "long_value": uint64(math.MaxUint64)}, reading.Reading{Sensor: "A", Time: pt, Value: -1}},
		{"int64", spm{"name": "A", "datatype": uint32(4), "long_value": uint64(1 << 63)}, reading.Reading{Sensor: "A", Time: pt, Value: math.MinInt64}},
		{"uint8", spm{"name": "A", "datatype": uint32(5), "int_value": uint32(255)}, reading.Reading{Sensor: "A", Time: pt, Value: 255}},
		{"uint16", spm{"name": "A", "datatype": uint32(6), "int_value": uint32(65535)}, reading.Reading{Sensor: "A", Time: pt, Value: 65535}},
		{"uint32", spm{"name": "A", "datatype": uint32(7), "int_value": uint32(math.MaxUint32)}, reading.Reading{Sensor: "A", Time: pt, Value: math.MaxUint32}},
		{"uint32 in long", spm{"name": "A", "datatype": uint32(7), "long_value": uint64(7)}, reading.Reading{Sensor: "A", Time: pt, Value: 7}},
		{"uint64", spm{"name": "A", "datatype": uint32(8), "long_value": uint64(math.MaxUint64)}, reading.Reading{Sensor: "A", Time: pt, Value: math.MaxUint64}},
		{"boolean", spm{"name": "A", "datatype": uint32(11), "boolean_value": true}, reading.Reading{Sensor: "A", Time: pt, Value: 1}},
		{"no datatype", spm{"name": "A", "double_value": 2.5}, reading.Reading{Sensor: "A", Time: pt, Value: 2.5}},
		{"no datatype int", spm{"name": "A", "int_value": uint32(9)}, reading.Reading{Sensor: "A", Time: pt, Value: 9}},
		{"null", spm{"name": "A", "datatype": uint32(10), "is_null": true}, reading.Reading{Sensor: "A", Time: pt, Quality: reading.Bad}},
		{"historical", spm{"name": "A", "is_historical": true, "is_transient": true, "double_value": 1.0}, reading.Reading{Sensor: "A", Time: pt, Value: 1}},
		{"alias", spm{"alias": uint64(7), "int_value": u32(-2)}, reading.Reading{Sensor: "TS1", Time: pt, Value: -2}},
	}
	b.Aliases = map[uint64]codec.SparkplugMetric{7: {Name: "TS1", DataType: codec.SparkplugInt16}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := spEncode(t, 1772366400000, 200, tc.m)
			got, err := codec.SparkplugB{}.Decode(b, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Seq = 200
			equalReadings(t, got, []reading.Reading{tc.want})
		})
	}
	// No timestamps at all: arrival time; seq 0.
	got, err := codec.SparkplugB{}.Decode(b, spEncode(t, 0, 0, spm{"name": "A", "double_value": 1.0}), nil)
	if err != nil {
		t.Fatal(err)
	}
	equalReadings(t, got, []reading.Reading{{Sensor: "A", Time: b.Now, Value: 1}})
}

func TestSparkplugRoundTrip(t *testing.T) {
	b := binding()
	for _, n := range []int{0, 1, 64} {
		rs := sample(n, true)
		for i := range rs {
			rs[i].Seq = 255
		}
		roundTrip(t, codec.SparkplugB{}, b, rs, rs)
	}
	rs := []reading.Reading{{Sensor: "PS1", Time: t0, Value: 0, Quality: reading.Bad}, {Sensor: "é/x", Time: t0.Add(time.Hour), Value: -1}}
	p := roundTrip(t, codec.SparkplugB{}, b, rs, rs)

	// The protobuf library reads what Encode wrote.
	pd, md := spSchema(t)
	msg := dynamicpb.NewMessage(pd)
	if err := proto.Unmarshal(p, msg); err != nil {
		t.Fatal(err)
	}
	if got := msg.Get(pd.Fields().ByName("timestamp")).Uint(); got != uint64(t0.Add(time.Hour).UnixMilli()) {
		t.Errorf("payload timestamp %d", got)
	}
	metrics := msg.Get(pd.Fields().ByName("metrics")).List()
	if metrics.Len() != 2 {
		t.Fatalf("%d metrics", metrics.Len())
	}
	m0, m1 := metrics.Get(0).Message(), metrics.Get(1).Message()
	if m0.Get(md.Fields().ByName("name")).String() != "PS1" || !m0.Get(md.Fields().ByName("is_null")).Bool() ||
		m0.Has(md.Fields().ByName("double_value")) {
		t.Errorf("metric 0: %v", m0)
	}
	if m1.Get(md.Fields().ByName("datatype")).Uint() != 10 || m1.Get(md.Fields().ByName("double_value")).Float() != -1 {
		t.Errorf("metric 1: %v", m1)
	}

	for _, tc := range []struct {
		name string
		rs   []reading.Reading
		want string
	}{
		{"no name", []reading.Reading{{Time: t0, Value: 1}}, "needs a name"},
		{"uncertain", []reading.Reading{{Sensor: "a", Time: t0, Quality: reading.Uncertain}}, "quality uncertain cannot be carried"},
		{"seq differs", []reading.Reading{{Sensor: "a", Time: t0, Seq: 1}, {Sensor: "a", Time: t0, Seq: 2}}, "seq 2 differs"},
		{"seq big", []reading.Reading{{Sensor: "a", Time: t0, Seq: 256}}, "seq 256 is out of the range 0 to 255"},
		{"pre-1970", []reading.Reading{{Sensor: "a", Time: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}}, "before 1970"},
	} {
		if _, err := (codec.SparkplugB{}).Encode(nil, tc.rs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSparkplugBad(t *testing.T) {
	b := binding()
	tag := func(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }
	metricRaw := func(m []byte) []byte {
		return protowire.AppendBytes(tag(2, protowire.BytesType), m)
	}
	cases := []struct {
		name    string
		b       codec.Binding
		payload []byte
		want    []string
	}{
		{"string metric of a sensor", b, spEncode(t, 1, 0, spm{"name": "status", "string_value": "ok"}, spm{"name": "PS2", "datatype": uint32(12), "string_value": "ok"}),
			[]string{"reading 1", "field string_value", `metric "PS2" has a non-numeric value`}},
		{"string datatype of a sensor", b, spEncode(t, 1, 0, spm{"name": "TS1", "datatype": uint32(12), "int_value": uint32(1)}), []string{"reading 0", `metric "TS1"`, "datatype String (12) is not numeric"}},
		{"datatype mismatch", b, spEncode(t, 1, 0, spm{"name": "s", "datatype": uint32(10), "int_value": uint32(1)}), []string{`metric "s"`, "datatype Double (10) does not match its value field 10"}},
		{"int8 range", b, spEncode(t, 1, 0, spm{"name": "s", "datatype": uint32(1), "int_value": uint32(0x1FF)}), []string{"value 511 is out of the Int8 (1) range"}},
		{"uint16 range", b, spEncode(t, 1, 0, spm{"name": "s", "datatype": uint32(6), "int_value": uint32(70000)}), []string{"out of the UInt16 (6) range"}},
		{"nan", b, spEncode(t, 1, 0, spm{"name": "s", "double_value": math.NaN()}), []string{"field value", "NaN"}},
		{"inf float", b, spEncode(t, 1, 0, spm{"name": "s", "float_value": float32(math.Inf(1))}), []string{"+Inf"}},
		{"no value", b, spEncode(t, 1, 0, spm{"name": "s", "datatype": uint32(10)}), []string{`metric "s" has no value and is not null`}},
		{"no name", b, spEncode(t, 1, 0, spm{"double_value": 1.0}), []string{"field name", "neither a name nor an alias"}},
		{"unknown alias", b, spEncode(t, 1, 0, spm{"alias": uint64(9), "double_value": 1.0}), []string{"field alias", "alias 9 is unknown"}},
		{"seq range", b, spEncode(t, 1, 256), []string{"field seq", "seq 256 is out of the range 0 to 255"}},
		{"no time", codec.Binding{}, spEncode(t, 0, 0, spm{"name": "s", "double_value": 1.0}), []string{"reading 0", "no timestamp in the metric or the payload"}},
		{"far time", b, spEncode(t, 1<<62, 0), []string{"field timestamp", "after the year 2262"}},
		{"garbage", b, []byte{0xff, 0xff}, []string{"byte 0", "bad field tag"}},
		{"truncated metric", b, append(tag(2, protowire.BytesType), 10, 1, 2), []string{"byte 1", "field metrics", "bad length"}},
		{"seq wire type", b, append(tag(3, protowire.Fixed64Type), make([]byte, 8)...), []string{"byte 0", "field seq", "wire type 1, want varint"}},
		{"name wire type", b, metricRaw(tag(1, protowire.VarintType)), []string{"field name", "wire type 0, want 2"}},
		{"bad metric tag", b, metricRaw([]byte{0x80}), []string{"byte 2", "bad field tag in metric"}},
		{"control name", b, spEncode(t, 1, 0, spm{"name": "a\x00", "double_value": 1.0}), []string{"field name", "control character"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decodeErr(t, codec.SparkplugB{}, tc.b, tc.payload, tc.want...)
		})
	}
}

func TestParseSparkplugBirth(t *testing.T) {
	p := spEncode(t, 1, 0,
		spm{"name": "PS1", "alias": uint64(1), "datatype": uint32(10), "double_value": 1.0},
		spm{"name": "TS1", "alias": uint64(2), "datatype": uint32(3), "int_value": uint32(0)},
		spm{"name": "bdSeq", "datatype": uint32(8), "long_value": uint64(0)},
	)
	aliases := map[uint64]codec.SparkplugMetric{}
	if err := codec.ParseSparkplugBirth(p, aliases); err != nil {
		t.Fatal(err)
	}
	want := map[uint64]codec.SparkplugMetric{1: {"PS1", codec.SparkplugDouble}, 2: {"TS1", codec.SparkplugInt32}}
	if len(aliases) != len(want) || aliases[1] != want[1] || aliases[2] != want[2] {
		t.Errorf("got %v, want %v", aliases, want)
	}
	if err := codec.ParseSparkplugBirth([]byte{0xff}, aliases); err == nil {
		t.Error("garbage birth: no error")
	}
	if err := codec.ParseSparkplugBirth(spEncode(t, 1, 0, spm{"alias": uint64(3)}), aliases); err == nil || !strings.Contains(err.Error(), "empty sensor id") {
		t.Errorf("nameless birth metric: %v", err)
	}
}

// A birth that is cut short or carries an out-of-range datatype is
// refused whole: a partial alias table would replace the node's table and
// make later DATA naming the lost aliases fail.
func TestParseSparkplugBirthBad(t *testing.T) {
	good := spEncode(t, 1, 0,
		spm{"name": "PS1", "alias": uint64(1), "datatype": uint32(10), "double_value": 1.0},
		spm{"name": "TS1", "alias": uint64(2), "datatype": uint32(3), "int_value": uint32(0)},
	)
	// A third metric whose length runs past the end of the payload.
	truncated := append(append([]byte(nil), good...), protowire.AppendTag(nil, 2, protowire.BytesType)...)
	truncated = append(truncated, 40, 0x0a, 0x03, 'F', 'S')
	// A metric whose datatype does not fit in uint32 (2^32 + 10 would
	// read as Double if truncated).
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.BytesType)
	m = protowire.AppendString(m, "FS1")
	m = protowire.AppendTag(m, 2, protowire.VarintType)
	m = protowire.AppendVarint(m, 3)
	m = protowire.AppendTag(m, 4, protowire.VarintType)
	m = protowire.AppendVarint(m, 1<<32+10)
	bigType := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), m)

	for _, tc := range []struct {
		name    string
		payload []byte
		want    []string
	}{
		{"truncated metric", truncated, []string{"sparkplugb", "field metrics", "bad length"}},
		{"datatype over uint32", bigType, []string{"sparkplugb", "field datatype", "4294967306", "out of the uint32 range"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := codec.ParseSparkplugBirth(tc.payload, map[uint64]codec.SparkplugMetric{})
			if err == nil {
				t.Fatal("no error")
			}
			var e *codec.Error
			if !errors.As(err, &e) {
				t.Errorf("error %T is not a *codec.Error: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not hold %q", err, w)
				}
			}
		})
	}
	if err := codec.ParseSparkplugBirth(good, map[uint64]codec.SparkplugMetric{}); err != nil {
		t.Errorf("complete birth: %v", err)
	}
}

// Non-numeric metrics (String, DateTime, Text, ...) that are no configured
// sensor are skipped: real Sparkplug B nodes publish them beside their
// numeric readings, which must not be lost with them. One that names a
// sensor of Binding.Names is still an error.
func TestSparkplugSkipsNonNumeric(t *testing.T) {
	aliases := map[uint64]codec.SparkplugMetric{}
	birth := spEncode(t, 1, 0,
		spm{"name": "PS1", "alias": uint64(1), "datatype": uint32(10), "double_value": 0.0},
		spm{"name": "Properties/Firmware", "alias": uint64(2), "datatype": uint32(12), "string_value": "1.2"},
		spm{"name": "FS1", "alias": uint64(3), "datatype": uint32(12), "string_value": "x"},
	)
	if err := codec.ParseSparkplugBirth(birth, aliases); err != nil {
		t.Fatal(err)
	}
	b := binding()
	b.Aliases = aliases
	ms := uint64(t0.UnixMilli())
	p := spEncode(t, ms, 9,
		spm{"name": "Properties/Status", "datatype": uint32(12), "string_value": "running"},
		spm{"alias": uint64(1), "double_value": 151.2},
		spm{"name": "Last Service", "datatype": uint32(13), "long_value": ms},
		spm{"name": "Notes", "datatype": uint32(14), "string_value": "ok"},
		spm{"name": "Serial", "string_value": "A-17"},  // no datatype: the value field says String
		spm{"alias": uint64(2), "string_value": "1.3"}, // String by the birth
		spm{"name": "Blob", "datatype": uint32(17), "bytes_value": []byte{1, 2}},
		spm{"name": "TS1", "datatype": uint32(3), "int_value": uint32(35)},
	)
	want := []reading.Reading{
		{Sensor: "PS1", Time: t0, Value: 151.2, Seq: 9},
		{Sensor: "TS1", Time: t0, Value: 35, Seq: 9},
	}
	got, err := codec.SparkplugB{}.Decode(b, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	equalReadings(t, got, want)

	// Without Names the codec knows no sensors: every non-numeric metric
	// is skipped.
	b.Names = nil
	got, err = codec.SparkplugB{}.Decode(b, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	equalReadings(t, got, want)

	// A non-numeric metric of a configured sensor, named by alias.
	b = binding()
	b.Aliases = aliases
	decodeErr(t, codec.SparkplugB{}, b, spEncode(t, ms, 0, spm{"name": "PS2", "double_value": 1.0}, spm{"alias": uint64(3), "string_value": "x"}),
		"reading 1", `metric "FS1"`, "non-numeric value")
	// A missing time is reported at the metric's index, skipped metrics
	// counted.
	decodeErr(t, codec.SparkplugB{}, codec.Binding{Names: b.Names}, spEncode(t, 0, 0, spm{"name": "Notes", "string_value": "x"}, spm{"name": "PS2", "double_value": 1.0}),
		"reading 1", "no timestamp")
}
