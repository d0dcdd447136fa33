package ingest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/rig"
)

func TestNewRejectsBadOptions(t *testing.T) {
	cfg := testRig("x", "g")
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no broker", Options{}, "no broker URL"},
		{"bad scheme", Options{Broker: "http://h:1"}, `scheme "http"`},
		{"no host", Options{Broker: "tcp://"}, "has no host"},
		{"password not echoed", Options{Broker: "ftp://u:s3cret@h:1"}, "u:xxx@h:1"},
		{"negative timeout", Options{Broker: "tcp://h:1", ConnectTimeout: -1}, "ConnectTimeout must not be negative"},
		{"negative in flight", Options{Broker: "tcp://h:1", MaxInFlight: -1}, "MaxInFlight must not be negative: -1"},
		{"keepalive", Options{Broker: "tcp://h:1", KeepAlive: time.Millisecond}, "under the MQTT resolution"},
		{"nan tolerance", Options{Broker: "tcp://h:1", RangeTolerance: math.NaN()}, "RangeTolerance is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(cfg, newStore(), tc.opts)
			require.ErrorIs(t, err, ErrOptions)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
	_, err := New(cfg, nil, Options{Broker: "tcp://h:1"})
	require.ErrorIs(t, err, ErrOptions)
}

func TestNewRejectsBadConfigs(t *testing.T) {
	qos := func(n int) *int { return &n }
	sensor := func(id, topic, c string) rig.Sensor {
		return rig.Sensor{ID: id, Range: rig.Range{Min: 0, Max: 1}, MQTT: rig.MQTTBinding{Topic: topic, Codec: c}}
	}
	for _, tc := range []struct {
		name    string
		sensors []rig.Sensor
		want    string
	}{
		{"no sensors", nil, "no active sensor"},
		{"no topic", []rig.Sensor{sensor("A", "", "json")}, `sensor "A" has no MQTT topic`},
		{"wildcard", []rig.Sensor{sensor("A", "a/#", "json")}, "wildcard"},
		{"unknown codec", []rig.Sensor{sensor("A", "a", "xml")}, `codec "xml"`},
		{"plugin without host", []rig.Sensor{sensor("A", "a", "plugin:v")}, "no plugin host configured"},
		{"two codecs", []rig.Sensor{sensor("A", "a", "json-batch"), sensor("B", "a", "csv")}, `topic "a" is bound to codec "json-batch"`},
		{"duplicate", []rig.Sensor{sensor("A", "a", "json"), sensor("A", "b", "json")}, "listed twice"},
		{"qos", []rig.Sensor{{ID: "A", MQTT: rig.MQTTBinding{Topic: "a", Codec: "json", QoS: qos(3)}}}, "qos value must be 0, 1, or 2: 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&rig.Config{RigType: "x", Sensors: tc.sensors}, newStore(), Options{Broker: "tcp://h:1"})
			require.ErrorIs(t, err, ErrConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := New(nil, newStore(), Options{Broker: "tcp://h:1"})
	require.ErrorIs(t, err, ErrConfig)

	_, err = New(&rig.Config{RigType: "x", Sensors: []rig.Sensor{sensor("A", "a", "plugin:v")}}, newStore(),
		Options{Broker: "tcp://h:1", Plugins: func(string) (Decoder, error) { return nil, errors.New("no such plugin") }})
	require.ErrorIs(t, err, ErrConfig)
	assert.Contains(t, err.Error(), "no such plugin")
}

func TestSubscriptionsAndDefaults(t *testing.T) {
	q0, q2 := 0, 2
	cfg := testRig("p", "g")
	cfg.Sensors[0].MQTT.QoS = &q0 // PS1 on p/fast at QoS 0, PS2 at the default 1: the topic gets 1
	cfg.Sensors[6].MQTT.QoS = &q2 // CE at QoS 2
	in, err := New(cfg, newStore(), Options{Broker: "tcp://h:1"})
	require.NoError(t, err)
	assert.Equal(t, map[string]byte{
		"p/fast": 1, "p/flow": 1, "p/slow": 1, "p/virtual/CE": 2,
		"spBv1.0/g/DDATA/edge1/pump": 1, "spBv1.0/g/NBIRTH/edge1": 1, "spBv1.0/g/DBIRTH/edge1/pump": 1,
	}, in.Subscriptions())
	assert.Equal(t, "rig-agent-test-g", in.ClientID())
	assert.Equal(t, DefaultMaxInFlight, in.opts.MaxInFlight)
	assert.Equal(t, "TS1", in.routes["p/slow"].def, "TS2 is inactive: TS1 is the topic's only sensor")
	assert.Empty(t, in.routes["p/fast"].def)

	// A topic of inactive sensors only is not subscribed.
	cfg = testRig("p", "g")
	cfg.Sensors[6].Inactive = true
	in, err = New(cfg, newStore(), Options{Broker: "tcp://h:1"})
	require.NoError(t, err)
	assert.NotContains(t, in.Subscriptions(), "p/virtual/CE")
}

func TestRedact(t *testing.T) {
	assert.Equal(t, "tcp://u:xxx@h:1", redact("tcp://u:pw@h:1"))
	assert.Equal(t, "tcp://h:1", redact("tcp://h:1"))
	assert.Equal(t, "tcp://u@h:1", redact("tcp://u@h:1"))
}
