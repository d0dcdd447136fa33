package main

import (
	"bytes"
	"strings"
	"testing"
)

const zemaRig = "../../../../firmware-configs/zema-testrig.yaml"

// -sensor-dropout takes a probability in [0, 1) or a negative value for
// off; 0 is off too (train.Options' -1: the option's 0 is its default).
func TestSensorDropoutFlag(t *testing.T) {
	for _, c := range []struct {
		in, want float64
	}{{0.2, 0.2}, {0.35, 0.35}, {0, -1}, {-0.5, -1}} {
		got, err := sensorDropout(c.in)
		if err != nil || got != c.want {
			t.Errorf("sensorDropout(%v) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, v := range []string{"1", "1.5", "NaN", "x"} {
		var out, errOut bytes.Buffer
		err := run([]string{"-rig", zemaRig, "-params", "-sensor-dropout", v}, &out, &errOut)
		if err == nil {
			t.Errorf("-sensor-dropout %s accepted", v)
			continue
		}
		if msg := err.Error() + errOut.String(); !strings.Contains(msg, "sensor-dropout") {
			t.Errorf("-sensor-dropout %s: the error does not name the flag: %s", v, msg)
		}
		if out.Len() > 0 {
			t.Errorf("-sensor-dropout %s: work done before the refusal: %s", v, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"-rig", zemaRig, "-params", "-sensor-dropout", "0.3"}, &out, &errOut); err != nil {
		t.Fatalf("-sensor-dropout 0.3: %v (%s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "weights") {
		t.Errorf("-params printed %q", out.String())
	}
}
