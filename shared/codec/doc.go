// Package codec decodes and encodes MQTT sensor payloads: one payload in,
// zero or more reading.Reading out, and back. The edge agent decodes what
// gateways publish; the simulator and tests encode.
//
// # Basics
//
// A firmware config names each sensor's topic and codec
// (rig.MQTTBinding). Lookup turns the codec name into a Codec:
//
//	c, err := codec.Lookup(sensor.MQTT.Codec) // errors.Is(err, codec.ErrPlugin) for "plugin:NAME"
//	b := codec.Binding{Topic: topic, Sensor: sensor.ID, Now: arrival, Names: names}
//	buf, err = c.Decode(b, payload, buf[:0])
//
// Decode appends to a slice the caller owns and reuses, so the hot path
// does not allocate: with Binding.Names built once from the rig's sensor
// ids, decoding json, json-batch, csv, binary and sparkplugb payloads
// allocates nothing per reading (see the benchmarks in bench_test.go).
// Without Names every decoded sensor id is one small allocation.
//
// Every built-in codec is stateless and safe for concurrent use. Values
// are decoded as raw numbers; the agent applies the sensor's Scale and
// Offset once, on ingest.
//
// # Rules common to every codec
//
//   - A payload decodes whole or not at all: on error Decode returns dst
//     unchanged in length and an *Error that names the codec, the topic,
//     and where the problem is (byte offset, csv line, reading index,
//     field), quoting the bad value.
//   - Limits: a payload of at most MaxPayload bytes (4 MiB), at most
//     MaxReadings readings (65,536), sensor ids of 1 to MaxSensorLen bytes
//     (256) of UTF-8 without control characters. Decoders never panic and
//     never allocate more than these limits allow; nested JSON the decoder
//     skips may be at most 32 levels deep.
//   - NaN and infinite values are rejected, on decode and on encode: a
//     gateway that has no valid sample sends quality 2 (bad) instead.
//   - Times must be representable as int64 nanoseconds since 1970 (years
//     1678 to 2262). Decoded times are in UTC.
//   - A payload may leave out the sensor id (then Binding.Sensor is used)
//     and the timestamp (then Binding.Now is used); if the Binding has no
//     default either, the payload is rejected. On encode, a reading with
//     an empty Sensor is written without an id where the format allows.
//   - Reading.Seq is the publisher's sequence number; 0 means none.
//
// # json
//
// One reading per payload, a JSON object:
//
//	{"sensor":"PS1","ts":"2026-03-01T12:00:00.125Z","v":151.2,"seq":17,"q":0}
//
// Fields: "v" (number, required: the raw value); "sensor" (string,
// optional); "ts" (optional: an RFC 3339 string with a time zone and up to
// 9 fraction digits, or unix milliseconds as a number, e.g. 1772366400125
// or 1772366400125.5, or as a string of digits); "seq" (optional integer
// 0 to 2^64-1); "q" (optional quality, integer 0 to 255: 0 good, 1
// uncertain, 2 bad). Field names are compared after unescaping, so
// "\u0073ensor" is the sensor field (and a duplicate of "sensor"). Unknown
// fields are skipped; a duplicate known field is an error; null is not a
// value. Encode writes "ts" as RFC 3339 with
// nanoseconds and leaves out seq and q when zero.
//
// # json-batch
//
// Many readings per payload, from one or many sensors: an object with a
// "readings" array, whose batch-level "sensor", "ts" and "seq" are the
// defaults of readings that leave them out,
//
//	{"seq":42,"ts":1772366400000,"readings":[
//	  {"sensor":"PS1","v":151.2},
//	  {"sensor":"TS1","v":35.6,"ts":"2026-03-01T12:00:00.5Z"}]}
//
// or a bare array of reading objects: [{"sensor":"PS1","v":151.2,...},...].
// Reading objects are those of the json codec; a reading's seq of 0 or
// absent takes the batch seq. Encode writes {"readings":[...]} with every
// field on every reading.
//
// # csv
//
// One reading per line, fields separated by ',':
//
//	sensor,ts,value[,seq[,q]]
//	PS1,2026-03-01T12:00:00.125Z,151.2,17
//	TS1,1772366400125,35.6,17,1
//
// Lines end in "\n" or "\r\n"; blanks and tabs around fields are ignored;
// empty lines and lines starting with '#' are skipped; the first line is
// skipped as a header when its first field is "sensor". An empty sensor or
// ts field takes the Binding's default; seq and q may be empty. ts is as
// in json (a field holding ':' is RFC 3339, otherwise unix milliseconds);
// a space may stand for the 'T'. value is a decimal number (no hex, no
// NaN/Inf). There is no quoting: sensor ids holding ',' cannot be written.
//
// # binary
//
// A compact little-endian frame (version 1) with a CRC-32C trailer:
//
//	offset  size      field
//	0       1         magic 0xA7 (BinaryMagic)
//	1       1         version 1 (BinaryVersion)
//	2       1         flags: bit 0 = values are float32 (BinaryFlagFloat32); other bits 0
//	3       1-3       count of readings, uvarint, 0 to 65,536
//	then count readings, each:
//	        1-2       id length, uvarint, 0 to 256 (0: the Binding's sensor)
//	        n         sensor id, UTF-8
//	        8         time, int64 unix nanoseconds
//	        8 or 4    value, IEEE 754 float64 (float32 if flag bit 0)
//	        1-10      seq, uvarint
//	        1         quality
//	end     4         CRC-32C (Castagnoli) of all bytes before it, uint32
//
// Example: one reading of PS1 at 2026-03-01T12:00:00Z, value 151.2, seq 17,
// quality good is 30 bytes (see ExampleBinary_Encode):
//
//	a7 01 00 01                 magic, version, flags, count 1
//	03 50 53 31                 id "PS1"
//	00 80 d6 b3 d9 b5 98 18     time 1772366400000000000 ns
//	66 66 66 66 66 e6 62 40     value 151.2
//	11 00                       seq 17, quality 0
//	a0 a1 49 04                 CRC-32C
//
// Decode checks the CRC first, then the layout; bytes left between the
// last reading and the CRC are an error.
//
// # sparkplugb
//
// The Eclipse Sparkplug B Payload protobuf (field numbers of the official
// sparkplug_b.proto of Eclipse Tahu, encoded and decoded with protowire):
// each numeric metric is one reading, the metric name is the sensor id, the
// payload seq (0 to 255, wrapping) is every reading's Seq, the metric
// timestamp (unix ms) is the time, else the payload timestamp, else
// Binding.Now.
//
//	Payload{timestamp: 1772366400000, seq: 17, metrics: [
//	  Metric{name: "PS1", timestamp: 1772366400000, datatype: 10 (Double), double_value: 151.2}]}
//
// Values: datatypes Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32,
// UInt64 (in int_value or long_value; signed values may be zero- or
// sign-extended), Float, Double and Boolean (1 or 0). A metric with
// is_null is a reading of quality bad with value 0. Nodes publish
// non-numeric metrics (String, DateTime, Text, UUID, DataSet, Bytes, File,
// Template: by the datatype, on the wire or from the birth, or by the
// value field) beside their readings: such a metric is skipped, and
// counted nowhere, unless its name is in Binding.Names (when Names is nil
// every one is skipped); one whose name is in Names is refused with an
// error that names the metric. Numeric metrics are readings whatever their
// name (the agent's ingest counts those of no configured sensor as
// unknown_sensor). A value field that does not match the datatype is an
// error. In errors, "reading N" is the index of the metric in the payload,
// skipped metrics included. DATA messages may name metrics by alias only: pass
// the aliases of the birth certificate (ParseSparkplugBirth) in
// Binding.Aliases. A metric without a datatype (neither on the wire nor
// from the birth) takes its value field's protobuf type (int_value as
// UInt32, long_value as UInt64). Properties, metadata, uuid and body are
// ignored.
//
// Encode writes Double metrics with name and millisecond timestamp; a
// reading of quality bad becomes a null metric. Sub-millisecond time and
// the value of a bad reading are lost; quality uncertain, readings with
// different seqs, or a seq over 255 are an error. Note that a Sparkplug
// seq of 0 is a real sequence number here, though Reading.Seq 0 elsewhere
// means none: gap counters must treat 255 -> 0 as consecutive.
package codec
