package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kubeServiceEnv is what Kubernetes gives every pod of the namespace for
// deploy/k8s/api-service.yaml (Service rig-cloud, port 80 named http)
// unless the pod sets enableServiceLinks: false.
var kubeServiceEnv = []string{
	"RIG_CLOUD_SERVICE_HOST=10.96.14.3",
	"RIG_CLOUD_SERVICE_PORT=80",
	"RIG_CLOUD_SERVICE_PORT_HTTP=80",
	"RIG_CLOUD_PORT=tcp://10.96.14.3:80",
	"RIG_CLOUD_PORT_80_TCP=tcp://10.96.14.3:80",
	"RIG_CLOUD_PORT_80_TCP_PROTO=tcp",
	"RIG_CLOUD_PORT_80_TCP_PORT=80",
	"RIG_CLOUD_PORT_80_TCP_ADDR=10.96.14.3",
}

// rig-cloud starts in a pod beside its own Service: the service-link
// variables are no config error (they made every pod exit 2).
func TestKubernetesServiceLinks(t *testing.T) {
	env := append([]string{"RIG_CLOUD_DATABASE_URL=" + testURL, "RIG_CLOUD_SERVER_LISTEN=:9090"}, kubeServiceEnv...)
	cfg, err := Parse("c.yaml", nil, env)
	require.NoError(t, err)
	assert.Equal(t, ":9090", cfg.Server.Listen)

	// A typo of the same prefix is still an error.
	_, err = Parse("c.yaml", nil, append(env, "RIG_CLOUD_SERVER_PORT=8080"))
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "environment RIG_CLOUD_SERVER_PORT: no config key has this variable")
}
