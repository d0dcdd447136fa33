package codec_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

func ExampleLookup() {
	for _, name := range []string{"json-batch", "plugin:modbus", "xml"} {
		c, err := codec.Lookup(name)
		switch {
		case errors.Is(err, codec.ErrPlugin):
			fmt.Println(name, "-> route to the plugin host")
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println(name, "->", c.Name())
		}
	}
	// Output:
	// json-batch -> json-batch
	// plugin:modbus -> route to the plugin host
	// codec "xml": unknown codec; known: json, json-batch, csv, binary, sparkplugb, or plugin:NAME for an out-of-process codec
}

func ExampleJSONBatch_Decode() {
	// Built once per rig; the agent reuses buf for every message.
	names := codec.NewNames("PS1", "TS1")
	var buf []reading.Reading

	payload := []byte(`{"seq":42,"ts":1772366400000,"readings":[
	  {"sensor":"PS1","v":151.2},
	  {"sensor":"TS1","v":35.6,"ts":"2026-03-01T12:00:00.5Z"}]}`)
	b := codec.Binding{Topic: "zema/gw1/batch", Now: time.Now(), Names: names}
	buf, err := codec.JSONBatch{}.Decode(b, payload, buf[:0])
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range buf {
		fmt.Println(r.Sensor, r.Time.Format(time.RFC3339Nano), r.Value, r.Seq)
	}

	_, err = codec.JSONBatch{}.Decode(b, []byte(`{"readings":[{"sensor":"PS1","v":"high"}]}`), buf[:0])
	fmt.Println(err)
	// Output:
	// PS1 2026-03-01T12:00:00Z 151.2 42
	// TS1 2026-03-01T12:00:00.5Z 35.6 42
	// json-batch payload on topic "zema/gw1/batch": byte 33: reading 0: field v: want a number, found '"'
}

func ExampleBinary_Encode() {
	r := reading.Reading{Sensor: "PS1", Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Value: 151.2, Seq: 17}
	p, _ := codec.Binary{}.Encode(nil, []reading.Reading{r})
	fmt.Printf("% x\n", p)
	fmt.Println(len(p), "bytes")
	// Output:
	// a7 01 00 01 03 50 53 31 00 80 d6 b3 d9 b5 98 18 66 66 66 66 66 e6 62 40 11 00 a0 a1 49 04
	// 30 bytes
}

func ExampleCSV_Decode() {
	b := codec.Binding{Topic: "zema/ps1", Sensor: "PS1", Now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	rs, err := codec.CSV{}.Decode(b, []byte("PS1,2026-03-01T12:00:00.125Z,151.2,17\n,,151.3\n"), nil)
	fmt.Println(rs, err)
	_, err = codec.CSV{}.Decode(b, []byte("PS1,,151.2\nPS1,noon,151.3\n"), nil)
	fmt.Println(err)
	// Output:
	// [{PS1 2026-03-01 12:00:00.125 +0000 UTC 151.2 17 good} {PS1 2026-03-01 12:00:00 +0000 UTC 151.3 0 good}] <nil>
	// csv payload on topic "zema/ps1": line 2: byte 15: field ts: bad timestamp "noon": want RFC 3339 like 2026-01-02T15:04:05.123Z or unix milliseconds
}
