package jobs

import (
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/train"
)

// A seed above pipeline.MaxSeed (2^63-1) is refused naming config.seed:
// the bundle manifest records the seed as a signed 64-bit integer, and
// pipeline.Train would fail the job after loading its data.
func TestParseConfigSeedRange(t *testing.T) {
	c, err := ParseConfig([]byte(`{"seed":9223372036854775807}`))
	if err != nil || c.Seed != 1<<63-1 {
		t.Fatalf("largest seed: %+v, %v", c, err)
	}
	for _, raw := range []string{`{"seed":9223372036854775808}`, `{"seed":18446744073709551615}`} {
		_, err := ParseConfig([]byte(raw))
		if err == nil || !strings.Contains(err.Error(), "config.seed") || !strings.Contains(err.Error(), "9223372036854775807") {
			t.Errorf("%s: got %v, want an error naming config.seed and the maximum", raw, err)
		}
	}
}

// sensor_dropout means what rigctl train --sensor-dropout does: omitted is
// the trainer's default (0.2), 0 or negative off, [0, 1) taken, 1 or more
// a 400 naming config.sensor_dropout; the bundle's provenance records it
// (export.Hyperparameters).
func TestConfigSensorDropout(t *testing.T) {
	for _, tc := range []struct {
		raw        string
		want       float64 // train.Options.SensorDropout
		provenance any     // provenance.config.sensor_dropout; nil: none
	}{
		{`{}`, 0, 0.2},
		{`{"sensor_dropout":0.35}`, 0.35, 0.35},
		{`{"sensor_dropout":0}`, -1, nil},
		{`{"sensor_dropout":-0.5}`, -1, nil},
	} {
		c, err := ParseConfig([]byte(tc.raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		o := c.Options(7, "go").Train
		if o.SensorDropout != tc.want {
			t.Errorf("%s: train.Options.SensorDropout %v, want %v", tc.raw, o.SensorDropout, tc.want)
		}
		// Training drops (and lists) sensors only when dropout is on.
		res := &train.Result{}
		if o.SensorDropout >= 0 {
			res.DropoutSensors = []string{"SE"}
		}
		h := export.Hyperparameters(o, res)
		if got := h["sensor_dropout"]; got != tc.provenance {
			t.Errorf("%s: provenance sensor_dropout %v, want %v", tc.raw, got, tc.provenance)
		}
	}
	for _, raw := range []string{`{"sensor_dropout":1}`, `{"sensor_dropout":1.5}`} {
		_, err := ParseConfig([]byte(raw))
		if err == nil || !strings.Contains(err.Error(), "config.sensor_dropout") {
			t.Errorf("%s: got %v, want an error naming config.sensor_dropout", raw, err)
		}
	}
}
