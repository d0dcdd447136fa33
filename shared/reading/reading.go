// Package reading defines a sensor reading: the unit of data that flows from
// a rig's sensor gateways over MQTT into the edge agent's buffer.
//
// A Reading carries an engineering value (already scaled to the sensor's
// unit, see rig.Sensor.Scale) or a raw value before scaling, depending on
// where it is: codecs decode raw values and the agent applies the firmware
// config's scale and offset once, on ingest.
package reading

import "time"

// Quality is the quality flag of a reading, as field gateways report it.
type Quality uint8

// Quality values. The zero value is Good.
const (
	Good      Quality = 0
	Uncertain Quality = 1
	Bad       Quality = 2
)

// String returns "good", "uncertain" or "bad" (or "quality(N)").
func (q Quality) String() string {
	switch q {
	case Good:
		return "good"
	case Uncertain:
		return "uncertain"
	case Bad:
		return "bad"
	}
	return "quality(" + itoa(int(q)) + ")"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Reading is one sample of one sensor.
type Reading struct {
	// Sensor is the sensor id from the firmware config (e.g. "PS1").
	Sensor string `json:"sensor"`
	// Time is when the sample was taken (UTC, nanosecond precision kept).
	Time time.Time `json:"ts"`
	// Value is the sample in the sensor's unit (or raw, before scaling).
	Value float64 `json:"v"`
	// Seq is the publisher's sequence number for this sensor's stream
	// (0: none). Consumers use it to count readings lost on the way.
	Seq uint64 `json:"seq,omitempty"`
	// Quality is the gateway's quality flag (zero: good).
	Quality Quality `json:"q,omitempty"`
}
