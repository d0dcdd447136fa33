package codec

import (
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// CheckReading returns why r breaks the rules every decoder enforces (see
// the package documentation), naming the field at fault ("sensor", "v" or
// "ts"), or "", "" when r is valid. It is for decoders outside this
// package, such as the agent's codec plugins, and applies the same checks
// as the built-in codecs: a sensor id of 1 to MaxSensorLen bytes of UTF-8
// without control characters, a finite value, a non-zero time
// representable as int64 nanoseconds since 1970 (years 1678 to 2262).
// Fill in the Binding's defaults (sensor, time) before checking.
//
// Every quality, 0 to 255, is valid, as the built-in codecs accept it: 0
// good, 1 uncertain, 2 bad; shared/prep uses only good readings, and
// treats any other code as bad (not a reason to refuse the payload: a
// gateway's own code still says the sample is not good).
func CheckReading(r *reading.Reading) (field, msg string) {
	if len(r.Sensor) == 0 || len(r.Sensor) > MaxSensorLen {
		// Before checkSensorString, which would quote a long id whole.
		return "sensor", checkSensorBytes([]byte(r.Sensor))
	}
	if msg := checkSensorString(r.Sensor); msg != "" {
		return "sensor", msg
	}
	if msg := checkValue(r.Value); msg != "" {
		return "v", msg
	}
	if r.Time.IsZero() {
		return "ts", "zero time"
	}
	if r.Time.Before(minTime) || r.Time.After(maxTime) {
		return "ts", "time " + r.Time.UTC().Format(time.RFC3339Nano) + " is outside years 1678 to 2262"
	}
	return "", ""
}
