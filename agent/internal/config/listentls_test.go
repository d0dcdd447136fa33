package config

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/shared/testpki"
)

func TestMaxConnecting(t *testing.T) {
	cfg, err := Parse("/etc/a.yaml", []byte("rig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n"), nil)
	require.NoError(t, err)
	assert.Equal(t, broker.DefaultMaxConnecting, cfg.Broker.Limits.MaxConnecting)
	cfg, err = Parse("/etc/a.yaml", []byte("rig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\nbroker: {embedded: true, limits: {max_connecting: 16}}\n"),
		[]string{"RIG_AGENT_BROKER_LIMITS_MAX_CONNECTING=17"})
	require.NoError(t, err)
	assert.Equal(t, 17, cfg.Broker.Limits.MaxConnecting, "the environment overrides the file")
	for _, n := range []string{"0", "-1", "100001"} {
		errs := parseErrs(t, "broker:\n  embedded: true\n  limits: {max_connecting: "+n+"}\n")
		assert.Equal(t, []string{"broker.limits.max_connecting: " + n + " is out of range [1, 100000]"}, errs)
	}
	assert.Nil(t, parseErrs(t, "broker:\n  embedded: true\n  limits: {max_connecting: 1}\n"))
}

// The listen_tls keys: paths resolved, the URL becomes ssl://, and what
// the config alone can tell is wrong is refused naming the key.
func TestListenTLSParse(t *testing.T) {
	cfg, err := Parse("/etc/rig/a.yaml", []byte(`rig: {firmware_config: /r.yaml}
model: {bundle_dir: /b}
broker:
  embedded: true
  listen: 0.0.0.0:8883
  listen_tls: {cert_file: broker.pem, key_file: /k/broker.key, client_ca_file: gateways-ca.pem}
`), nil)
	require.NoError(t, err)
	assert.Equal(t, ListenTLS{CertFile: "/etc/rig/broker.pem", KeyFile: "/k/broker.key", ClientCAFile: "/etc/rig/gateways-ca.pem"}, cfg.Broker.ListenTLS)
	assert.Equal(t, "ssl://0.0.0.0:8883", cfg.Broker.URL)

	for _, tc := range []struct{ yaml, want string }{
		{"  embedded: true\n  listen_tls: {cert_file: c.pem}\n",
			`broker.listen_tls.key_file: is empty but broker.listen_tls.cert_file "/etc/c.pem" is set: give the certificate's key`},
		{"  embedded: true\n  listen_tls: {key_file: k.pem}\n",
			`broker.listen_tls.cert_file: is empty but broker.listen_tls.key_file "/etc/k.pem" is set: give the certificate of that key`},
		{"  embedded: true\n  listen_tls: {client_ca_file: ca.pem}\n",
			`broker.listen_tls.client_ca_file: "/etc/ca.pem" is set without broker.listen_tls.cert_file: client certificates need a TLS listener (set cert_file and key_file)`},
		{"  url: tcp://b:1883\n  listen_tls: {cert_file: c.pem, key_file: k.pem}\n",
			"broker.listen_tls: is set but broker.embedded is false: it configures the embedded broker's listener (an external broker's TLS is broker.tls)"},
		{"  embedded: true\n  tls: {ca_file: ca.pem}\n",
			"broker.tls: is set with embedded: true; broker.tls is for an external broker: the embedded broker's TLS is broker.listen_tls"},
	} {
		assert.Equal(t, []string{tc.want}, parseErrs(t, "broker:\n"+tc.yaml), tc.yaml)
	}
}

// writeTLSConfig writes an agent config with an embedded broker and
// listen_tls (the rig and bundle of the repository) into dir.
func writeTLSConfig(t *testing.T, dir string, lt ListenTLS) string {
	t.Helper()
	yaml := fmt.Sprintf(`agent: {data_dir: %q}
rig: {firmware_config: %q}
model: {bundle_dir: %q}
windowing: {cycle_anchor: epoch}
broker:
  embedded: true
  listen_tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
`, dir, mustAbs(t, "../../../firmware-configs/zema-testrig.yaml"), mustAbs(t, "../../../models/bundles/zema-testrig"),
		lt.CertFile, lt.KeyFile, lt.ClientCAFile)
	path := filepath.Join(dir, "rig-agent.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// Load reads the listen_tls files: a missing, unreadable or wrong one is
// refused naming its key; good ones give a TLS 1.2+ server config that
// requires client certificates with client_ca_file.
func TestListenTLSLoad(t *testing.T) {
	ca := testpki.New(t, "config test CA")
	srv := ca.Server("broker")
	other := ca.Server("other")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not PEM\n"), 0o600))
	unreadable := filepath.Join(dir, "unreadable.pem")
	require.NoError(t, os.WriteFile(unreadable, []byte("x"), 0o000))
	_, rerr := os.ReadFile(unreadable)

	for _, tc := range []struct {
		name string
		lt   ListenTLS
		want string
		skip bool
	}{
		{"missing cert", ListenTLS{CertFile: filepath.Join(dir, "nope.pem"), KeyFile: srv.KeyFile},
			`broker.listen_tls.cert_file: "` + filepath.Join(dir, "nope.pem") + `": no such file or directory`, false},
		{"missing client CA", ListenTLS{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: filepath.Join(dir, "nope.pem")},
			`broker.listen_tls.client_ca_file: "` + filepath.Join(dir, "nope.pem") + `": no such file or directory`, false},
		{"cert not PEM", ListenTLS{CertFile: garbage, KeyFile: srv.KeyFile},
			`broker.listen_tls.cert_file: "` + garbage + `" holds no PEM certificate`, false},
		{"key not PEM", ListenTLS{CertFile: srv.CertFile, KeyFile: garbage},
			`broker.listen_tls.key_file: "` + garbage + `" is not the PEM private key of broker.listen_tls.cert_file`, false},
		{"key of another certificate", ListenTLS{CertFile: srv.CertFile, KeyFile: other.KeyFile},
			`broker.listen_tls.key_file: "` + other.KeyFile + `" is not the PEM private key of broker.listen_tls.cert_file "` + srv.CertFile + `"`, false},
		{"client CA not PEM", ListenTLS{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: garbage},
			`broker.listen_tls.client_ca_file: "` + garbage + `" holds no PEM certificate`, false},
		{"unreadable key", ListenTLS{CertFile: srv.CertFile, KeyFile: unreadable},
			`broker.listen_tls.key_file: "` + unreadable + `": permission denied`, rerr == nil}, // root reads it
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip {
				t.Skip("running as root: a mode 000 file is readable")
			}
			_, err := Load(writeTLSConfig(t, t.TempDir(), tc.lt))
			require.Error(t, err)
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
			// ServerConfig says the same (it runs at start).
			_, err = tc.lt.ServerConfig()
			require.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	cfg, err := Load(writeTLSConfig(t, t.TempDir(), ListenTLS{CertFile: srv.CertFile, KeyFile: srv.KeyFile}))
	require.NoError(t, err)
	c, err := cfg.Broker.ListenTLS.ServerConfig()
	require.NoError(t, err)
	assert.EqualValues(t, tls.VersionTLS12, c.MinVersion)
	assert.Equal(t, tls.NoClientCert, c.ClientAuth)
	require.Len(t, c.Certificates, 1)
	assert.Equal(t, srv.TLS.Certificate[0], c.Certificates[0].Certificate[0])

	cfg, err = Load(writeTLSConfig(t, t.TempDir(), ListenTLS{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: ca.File}))
	require.NoError(t, err)
	c, err = cfg.Broker.ListenTLS.ServerConfig()
	require.NoError(t, err)
	assert.Equal(t, tls.RequireAndVerifyClientCert, c.ClientAuth)
	assert.True(t, c.ClientCAs.Equal(ca.Pool))

	c, err = ListenTLS{}.ServerConfig()
	assert.NoError(t, err)
	assert.Nil(t, c, "no TLS")
}
