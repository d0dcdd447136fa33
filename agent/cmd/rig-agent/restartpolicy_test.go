package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// A damaged store and a config the start refuses are not mended by a
// restart: rig-agent exits 65 and 78 for them, and the unit does not
// restart after those codes (review r3 finding 4). Before, both exited 1
// and the unit restarted every 2 s for ever, checking the whole buffer
// and loading the model each time.
func TestUnitDoesNotRestartWhatNeedsAnOperator(t *testing.T) {
	u := unitfiletest.Read(t, agentUnit)
	prevent := u.Values("RestartPreventExitStatus")
	require.Len(t, prevent, 1)
	codes := strings.Fields(prevent[0])
	assert.True(t, slices.Contains(codes, fmt.Sprint(exitStore)) && slices.Contains(codes, fmt.Sprint(exitConfig)), "RestartPreventExitStatus=%s", prevent[0])
	assert.NotContains(t, codes, "1", "a failed part is restarted")
	assert.Equal(t, []string{"always"}, u.Values("Restart"))
	// systemd 249 (JetPack 6): no RestartSteps=/RestartMaxDelaySec=.
	assert.Empty(t, u.Values("RestartSteps"))
	assert.Empty(t, u.Values("RestartMaxDelaySec"))
	assert.Equal(t, []string{"50"}, u.Values("IOWeight"), "the controller keeps its share of the eMMC")
	assert.Equal(t, []string{"50"}, u.Values("CPUWeight"))
}

// A damaged outbox is found before the buffer is opened (and so before
// its whole-file check, the model and the broker), and rig-agent exits 65.
func TestDamagedOutboxExitsForOperator(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:0")
	cred := filepath.Join(dir, "credential")
	require.NoError(t, os.WriteFile(cred, []byte("token\n"), 0o600))
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fmt.Fprintf(f, "cloud:\n  url: http://127.0.0.1:9\n  credential_file: %s\n", cred)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	data := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(data, "outbox.db"), []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600))

	var out, errb bytes.Buffer
	assert.Equal(t, exitStore, run([]string{"--config", cfg}, &out, &errb), errb.String())
	assert.Contains(t, errb.String(), "outbox file is corrupted")
	assert.NoFileExists(t, filepath.Join(data, "buffer.db"), "the buffer is not opened (nor checked) before the outbox")
}

// A config the start refuses (here an empty broker.password_file for the
// embedded broker's user, which config.Load cannot see) exits 78, as a
// config Load refuses, not 1.
func TestConfigRefusedAtStartExitsConfig(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:0")
	pw := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pw, []byte("\n"), 0o600))
	b, err := os.ReadFile(cfg)
	require.NoError(t, err)
	b = bytes.Replace(b, []byte("  listen: 127.0.0.1:0\n"), []byte("  listen: 127.0.0.1:0\n  username: rig\n  password_file: "+pw+"\n"), 1)
	require.NoError(t, os.WriteFile(cfg, b, 0o600))

	var out, errb bytes.Buffer
	assert.Equal(t, exitConfig, run([]string{"--config", cfg}, &out, &errb), errb.String())
	assert.Contains(t, errb.String(), `broker.username \"rig\" is set without a password`)
}
