package plugin

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/codec"
)

// A SIGTERM sent to the plugin's whole process group (a stop signal sent
// to every process of the agent's service, or a terminal's process group)
// ended the plugin at once: go-plugin traps only SIGINT, so the agent's
// plugins died before it closed them in order, failing the decodes of the
// messages it still drained. The plugin now ignores SIGTERM and keeps
// serving, the same process; the agent's Close still ends it.
func TestPluginIgnoresSIGTERM(t *testing.T) {
	h := newHost(t, HostOptions{})
	c, err := h.Codec("example")
	require.NoError(t, err)
	decodeUntilOK(t, c)
	pid := c.inst.cmd.Process.Pid
	require.NoError(t, syscall.Kill(-pid, syscall.SIGTERM))
	time.Sleep(300 * time.Millisecond) // time to die, had the signal ended it
	require.NoError(t, syscall.Kill(pid, 0), "the plugin died of SIGTERM")
	rs, err := c.Decode(codec.Binding{Topic: "t", Sensor: "PS1", Now: now}, []byte(";;2"), nil)
	require.NoError(t, err, "the plugin stopped serving after SIGTERM")
	require.Len(t, rs, 1)
	st := c.Stats()
	assert.Equal(t, uint64(1), st.Starts, "restarted: %+v", st)
	assert.Zero(t, st.Crashes)
	assert.Equal(t, pid, c.inst.cmd.Process.Pid)
	require.NoError(t, h.Close())
	assertGone(t, pid)
}

// helperAgentEnv, set to a plugin directory, makes TestHelperAgent act as
// an agent: it starts the example plugin, prints its pid and waits to be
// killed.
const helperAgentEnv = "HYDROGNN_PLUGIN_TEST_AGENT"

func TestHelperAgent(t *testing.T) {
	dir := os.Getenv(helperAgentEnv)
	if dir == "" {
		t.Skip("a helper process of TestPluginDiesWithAgent")
	}
	h, err := NewHost(HostOptions{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	c, err := h.Codec("example")
	require.NoError(t, err)
	decodeUntilOK(t, c)
	fmt.Printf("plugin pid %d\n", c.inst.cmd.Process.Pid)
	time.Sleep(time.Minute)
}

// An agent killed without closing its plugins (SIGKILL, a crash) left
// them running for good: go-plugin's plugin side ends only when the host
// asks, and it is in a process group of its own. The kernel now kills a
// plugin when the agent that started it dies (Pdeathsig).
func TestPluginDiesWithAgent(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgent$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperAgentEnv+"="+pluginDir(t))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "the helper agent printed %q", line)
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "plugin pid ")))
	require.NoError(t, err, "helper agent: %q", line)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	require.NoError(t, syscall.Kill(pid, 0), "the plugin runs")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	assertGone(t, pid)
}
