package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/testpki"
)

// TestCheckRefusesWhatStartRefuses: --check runs the start's checks that
// need neither stores nor model nor network, so a config that cannot
// start is not called valid (review r3 finding 6). Before, each of these
// printed "valid" and exited 0, and the agent then failed at every start.
func TestCheckRefusesWhatStartRefuses(t *testing.T) {
	check := func(t *testing.T, cfg string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run([]string{"--config", cfg, "--check"}, &out, &errb)
		return code, out.String(), errb.String()
	}
	edit := func(t *testing.T, path, old, new string) {
		t.Helper()
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.True(t, bytes.Contains(b, []byte(old)), "%s in %s", old, b)
		require.NoError(t, os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o600))
	}
	config := func(t *testing.T, old, new string) string {
		t.Helper()
		path := writeConfig(t, t.TempDir(), "127.0.0.1:0")
		edit(t, path, old, new)
		return path
	}

	t.Run("embedded broker open to the network", func(t *testing.T) {
		code, out, errb := check(t, config(t, "  listen: 127.0.0.1:0\n", "  listen: 0.0.0.0:0\n"))
		assert.Equal(t, exitConfig, code)
		assert.Empty(t, out)
		assert.Regexp(t, `rig-agent\.yaml:\d+:\d+: broker\.listen: 0\.0\.0\.0:0 is not a loopback address`, errb)
	})
	t.Run("embedded broker user without password", func(t *testing.T) {
		code, _, errb := check(t, config(t, "  listen: 127.0.0.1:0\n", "  listen: 127.0.0.1:0\n  username: rig\n"))
		assert.Equal(t, exitConfig, code)
		assert.Contains(t, errb, `broker.username: "rig" is set without a password`)
	})
	t.Run("data_dir not creatable", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		path := writeConfig(t, t.TempDir(), "127.0.0.1:0")
		edit(t, path, "  data_dir: "+filepath.Join(filepath.Dir(path), "data")+"\n", "  data_dir: "+filepath.Join(file, "data")+"\n")
		code, out, errb := check(t, path)
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Contains(t, errb, "rig-agent: agent.data_dir "+filepath.Join(file, "data")+": "+file+" is not a directory")
	})
	t.Run("password file unreadable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads every file")
		}
		pw := filepath.Join(t.TempDir(), "password")
		require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o200))
		code, _, errb := check(t, config(t, "  listen: 127.0.0.1:0\n", "  listen: 127.0.0.1:0\n  username: rig\n  password_file: "+pw+"\n"))
		assert.Equal(t, exitConfig, code)
		assert.Contains(t, errb, `broker.password_file: "`+pw+`" cannot be read: permission denied`)
	})
	t.Run("external broker TLS file holds no certificate", func(t *testing.T) {
		ca := filepath.Join(t.TempDir(), "ca.pem")
		require.NoError(t, os.WriteFile(ca, []byte("not PEM\n"), 0o600))
		code, _, errb := check(t, config(t, "  embedded: true\n  listen: 127.0.0.1:0\n",
			"  url: ssl://127.0.0.1:8883\n  tls:\n    ca_file: "+ca+"\n"))
		assert.Equal(t, exitConfig, code)
		assert.Contains(t, errb, "broker.tls: broker CA file "+ca+": no PEM certificate in it")
	})
	t.Run("external broker TLS key does not match", func(t *testing.T) {
		pki := testpki.New(t, "rig CA")
		a, b := pki.Client("a"), pki.Client("b")
		code, _, errb := check(t, config(t, "  embedded: true\n  listen: 127.0.0.1:0\n",
			"  url: ssl://127.0.0.1:8883\n  tls:\n    ca_file: "+pki.File+"\n    cert_file: "+a.CertFile+"\n    key_file: "+b.KeyFile+"\n"))
		assert.Equal(t, exitConfig, code)
		assert.Contains(t, errb, "broker.tls: client certificate "+a.CertFile)
	})
	t.Run("plugin codec without its executable", func(t *testing.T) {
		dir := t.TempDir()
		fw, err := os.ReadFile("../../../firmware-configs/zema-testrig.yaml")
		require.NoError(t, err)
		fwPath := filepath.Join(dir, "rig.yaml")
		require.NoError(t, os.WriteFile(fwPath, bytes.ReplaceAll(fw, []byte("codec: binary"), []byte("codec: plugin:nope")), 0o600))
		abs, err := filepath.Abs("../../../firmware-configs/zema-testrig.yaml")
		require.NoError(t, err)
		path := writeConfig(t, dir, "127.0.0.1:0")
		edit(t, path, abs, fwPath)
		edit(t, path, "agent:\n", "agent:\n  plugin_dir: "+t.TempDir()+"\n")
		code, out, errb := check(t, path)
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Contains(t, errb, `rig-agent: ingest: `)
		assert.Contains(t, errb, `codec plugin "nope"`)
	})
}
