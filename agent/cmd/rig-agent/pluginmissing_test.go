package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/internal/service"
)

// A plugin codec whose executable is missing at start (a plugin folder
// mounted late, a plugin package installed after the agent's) exits 1,
// which the unit restarts until the executable is there, not 2, which it
// never restarts (review r4 finding 1b). --check still reports it.
//
// The start's error is CheckStart's: both build the ingest with the
// plugin host the same way (Start would stop earlier here, at the bundle's
// firmware-config digest, since the test edits the firmware config).
func TestMissingPluginAtStartIsRetried(t *testing.T) {
	dir := t.TempDir()
	fw, err := os.ReadFile("../../../firmware-configs/zema-testrig.yaml")
	require.NoError(t, err)
	fwPath := filepath.Join(dir, "rig.yaml")
	require.NoError(t, os.WriteFile(fwPath, bytes.ReplaceAll(fw, []byte("codec: binary"), []byte("codec: plugin:nope")), 0o600))
	abs, err := filepath.Abs("../../../firmware-configs/zema-testrig.yaml")
	require.NoError(t, err)
	path := writeConfig(t, dir, "127.0.0.1:0")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Contains(b, []byte(abs)))
	b = bytes.Replace(b, []byte(abs), []byte(fwPath), 1)
	b = bytes.Replace(b, []byte("agent:\n"), []byte("agent:\n  plugin_dir: "+t.TempDir()+"\n"), 1)
	require.NoError(t, os.WriteFile(path, b, 0o600))

	cfg, err := config.Load(path)
	require.NoError(t, err)
	err = service.CheckStart(cfg)
	require.ErrorIs(t, err, plugin.ErrNotFound)
	assert.False(t, service.ConfigRefused(err), "%v", err)
	assert.Equal(t, 1, startFailureCode(err), "restarted: %v", err)

	var out, errb bytes.Buffer
	assert.Equal(t, 1, run([]string{"--config", path, "--check"}, &out, &errb), "--check still reports it")
	assert.Contains(t, errb.String(), `codec plugin "nope"`)
}
