package confyaml

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// k8sEnv is what Kubernetes puts in a pod's environment for a Service
// "test" (port 80, named http) and a Service "test-metrics" (port 9090,
// unnamed), with enableServiceLinks left on.
var k8sEnv = []string{
	"TEST_SERVICE_HOST=10.96.0.12",
	"TEST_SERVICE_PORT=80",
	"TEST_SERVICE_PORT_HTTP=80",
	"TEST_PORT=tcp://10.96.0.12:80",
	"TEST_PORT_80_TCP=tcp://10.96.0.12:80",
	"TEST_PORT_80_TCP_PROTO=tcp",
	"TEST_PORT_80_TCP_PORT=80",
	"TEST_PORT_80_TCP_ADDR=10.96.0.12",
	"TEST_METRICS_SERVICE_HOST=fd00::1",
	"TEST_METRICS_SERVICE_PORT=9090",
	"TEST_METRICS_PORT=udp://[fd00::1]:9090",
	"TEST_METRICS_PORT_9090_UDP=udp://[fd00::1]:9090",
	"TEST_METRICS_PORT_9090_UDP_PROTO=udp",
	"TEST_METRICS_PORT_9090_UDP_PORT=9090",
	"TEST_METRICS_PORT_9090_UDP_ADDR=fd00::1",
}

func TestServiceLinksSkipped(t *testing.T) {
	links := testSpec
	links.ServiceLinks = true
	cfg := defaults()
	_, es := links.Decode("c.yaml", nil, append([]string{"TEST_SERVER_LISTEN=:3"}, k8sEnv...), &cfg)
	require.Nil(t, es, "a Service's link variables are no config error")
	assert.Equal(t, ":3", cfg.Server.Listen, "the keys' variables still apply")

	cfg = defaults()
	_, es = testSpec.Decode("c.yaml", nil, k8sEnv, &cfg)
	assert.Len(t, es, len(k8sEnv), "without ServiceLinks each is an unknown variable")
}

func TestServiceLinksKeepTypos(t *testing.T) {
	links := testSpec
	links.ServiceLinks = true
	// Names of a link's shape with values a link never holds, and names
	// of no link's shape, are still unknown variables.
	for _, kv := range []string{
		"TEST_SERVER_PORT=8080",            // <S>_PORT holds proto://ip:port
		"TEST_SERVICE_HOST=db.example.com", // a host name, not an IP
		"TEST_SERVICE_PORT=http",
		"TEST_SERVICE_PORT=0",
		"TEST_PORT_80_TCP_PROTO=http",
		"TEST_PORT_80_TCP=tcp://host:80",
		"TEST_PORT_80_HTTP=tcp://10.0.0.1:80",
		"TEST_SERVER_LISTN=:1",
		"TEST_HOST=10.0.0.1",
	} {
		cfg := defaults()
		_, es := links.Decode("c.yaml", nil, []string{kv}, &cfg)
		if assert.Len(t, es, 1, kv) {
			assert.Contains(t, es[0].Error(), "no config key has this variable", kv)
		}
	}
}

func TestServiceLink(t *testing.T) {
	for _, kv := range k8sEnv {
		name, val, _ := strings.Cut(kv, "=")
		assert.True(t, ServiceLink(name, val), kv)
	}
	assert.False(t, ServiceLink("SERVICE_HOST", "10.0.0.1"), "no service name")
	assert.False(t, ServiceLink("X_SERVICE_PORT", "080"))
	assert.False(t, ServiceLink("X_SERVICE_PORT", "65536"))
	assert.False(t, ServiceLink("X_PORT", "tcp://10.0.0.1:99999"))
}
