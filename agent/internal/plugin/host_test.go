package plugin

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

func TestMain(m *testing.M) {
	code := m.Run()
	agenttest.RemovePlugins()
	os.Exit(code)
}

// pluginDir returns the directory of the built test plugins: the example
// plugin and those of testdata/, built on first use, once per test binary.
func pluginDir(tb testing.TB) string {
	tb.Helper()
	return agenttest.Plugins(tb, BinaryPrefix, "example", "crasher", "forker", "hanger", "liar", "staller")
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", tb.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newHost(tb testing.TB, opts HostOptions) *Host {
	tb.Helper()
	if opts.Dir == "" {
		opts.Dir = pluginDir(tb)
	}
	opts.Logger = testLogger(tb)
	h, err := NewHost(opts)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestExamplePlugin(t *testing.T) {
	h := newHost(t, HostOptions{})
	c, err := h.Codec("plugin:example")
	require.NoError(t, err)
	assert.Equal(t, "plugin:example", c.Name())
	c2, err := h.Codec("example")
	require.NoError(t, err)
	assert.Same(t, c, c2)

	b := codec.Binding{Topic: "t/x", Sensor: "PS1", Now: now}
	dst := []reading.Reading{{Sensor: "keep"}}
	got, err := c.Decode(b, []byte("PS2;1772366400125;151,2;17;WARN\n;;3.5\n"), dst)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, "keep", got[0].Sensor)
	assert.Equal(t, reading.Reading{Sensor: "PS2", Time: time.UnixMilli(1772366400125).UTC(), Value: 151.2, Seq: 17, Quality: reading.Uncertain}, got[1])
	assert.Equal(t, reading.Reading{Sensor: "PS1", Time: now, Value: 3.5}, got[2])

	got, err = c.Decode(b, []byte("PS1;1;x\n"), dst)
	var ce *codec.Error
	require.ErrorAs(t, err, &ce)
	assert.NotErrorIs(t, err, ErrFailed)
	assert.Contains(t, err.Error(), `plugin:example payload on topic "t/x": line 1: value "x" is not a decimal number`)
	assert.Len(t, got, 1, "dst keeps its length on error")

	// No default sensor: the host refuses a reading without one.
	_, err = c.Decode(codec.Binding{Topic: "t/x", Now: now}, []byte(";;1\n"), nil)
	require.ErrorAs(t, err, &ce)

	st := c.Stats()
	assert.Equal(t, Stats{Name: "example", Running: true, Calls: 3, Errors: 2, Starts: 1}, st)
	assert.Equal(t, []Stats{st}, h.Stats())

	_, err = c.Encode(nil, nil)
	assert.Error(t, err)
}

// decodeUntilOK retries a good payload until the restarted plugin
// answers, and returns how long that took.
func decodeUntilOK(t *testing.T, c *Codec) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		rs, err := c.Decode(codec.Binding{Topic: "t", Sensor: "PS1", Now: now}, []byte(";;1"), nil)
		if err == nil {
			require.Len(t, rs, 1)
			return time.Since(began)
		}
		require.ErrorIs(t, err, ErrFailed)
		require.Less(t, time.Since(began), 20*time.Second, "plugin never came back: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCrashingPluginIsRestarted(t *testing.T) {
	h := newHost(t, HostOptions{MinBackoff: 100 * time.Millisecond})
	c, err := h.Codec("crasher")
	require.NoError(t, err)
	decodeUntilOK(t, c)
	pid := c.inst.cmd.Process.Pid

	for round := 1; round <= 2; round++ {
		_, err = c.Decode(codec.Binding{Topic: "t"}, []byte("crash"), nil)
		require.ErrorIs(t, err, ErrFailed)
		assert.Contains(t, err.Error(), "died during the call")
		// Within the backoff, calls fail at once.
		_, err = c.Decode(codec.Binding{Topic: "t", Sensor: "PS1", Now: now}, []byte(";;1"), nil)
		require.ErrorIs(t, err, ErrFailed)
		require.ErrorIs(t, err, ErrRestarting)
		assert.Contains(t, err.Error(), "restarting in")
		took := decodeUntilOK(t, c)
		t.Logf("round %d: back after %s", round, took)
	}
	st := c.Stats()
	assert.EqualValues(t, 2, st.Crashes)
	assert.EqualValues(t, 2, st.Restarts)
	assert.EqualValues(t, 3, st.Starts)
	assert.Zero(t, st.Timeouts)
	assert.True(t, st.Running)
	assert.NotEqual(t, pid, c.inst.cmd.Process.Pid)
	assertGone(t, pid)
}

func TestHangingPluginIsKilled(t *testing.T) {
	h := newHost(t, HostOptions{CallTimeout: 300 * time.Millisecond, MinBackoff: 50 * time.Millisecond})
	c, err := h.Codec("hanger")
	require.NoError(t, err)
	decodeUntilOK(t, c)
	pid := c.inst.cmd.Process.Pid

	began := time.Now()
	_, err = c.Decode(codec.Binding{Topic: "t"}, []byte("hang"), nil)
	took := time.Since(began)
	require.ErrorIs(t, err, ErrFailed)
	assert.Contains(t, err.Error(), "no answer within 300ms")
	assert.GreaterOrEqual(t, took, 300*time.Millisecond)
	assert.Less(t, took, 2*time.Second)

	decodeUntilOK(t, c)
	st := c.Stats()
	assert.EqualValues(t, 1, st.Timeouts)
	assert.EqualValues(t, 1, st.Restarts)
	assert.Zero(t, st.Crashes)
	assertGone(t, pid)
}

// TestConcurrentCallsDuringCrash: calls in flight when the plugin dies
// all fail with ErrFailed, the crash counts once, and the host goes on.
func TestConcurrentCallsDuringCrash(t *testing.T) {
	h := newHost(t, HostOptions{CallTimeout: 2 * time.Second, MinBackoff: 50 * time.Millisecond})
	c, err := h.Codec("hanger")
	require.NoError(t, err)
	decodeUntilOK(t, c)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			payload := []byte(";;1")
			if i%2 == 0 {
				payload = []byte("hang")
			}
			_, errs[i] = c.Decode(codec.Binding{Topic: "t", Sensor: "PS1", Now: now}, payload, nil)
		})
	}
	time.Sleep(100 * time.Millisecond)
	// Kill the process under the hanging calls: they fail as crashes.
	c.mu.Lock()
	inst := c.inst
	c.mu.Unlock()
	require.NotNil(t, inst)
	require.NoError(t, inst.cmd.Process.Kill())
	wg.Wait()
	for i, err := range errs {
		if i%2 == 0 {
			require.ErrorIs(t, err, ErrFailed, "call %d", i)
		}
	}
	decodeUntilOK(t, c)
	st := c.Stats()
	assert.EqualValues(t, 1, st.Crashes, "one process died")
	assert.EqualValues(t, 1, st.Restarts)
}

func TestPanicIsAPayloadError(t *testing.T) {
	h := newHost(t, HostOptions{})
	c, err := h.Codec("crasher")
	require.NoError(t, err)
	_, err = c.Decode(codec.Binding{Topic: "t"}, []byte("panic"), nil)
	var ce *codec.Error
	require.ErrorAs(t, err, &ce)
	assert.Contains(t, err.Error(), "plugin panicked: test panic")
	decodeUntilOK(t, c)
	st := c.Stats()
	assert.Zero(t, st.Crashes)
	assert.EqualValues(t, 1, st.Starts)
}

func TestStartFailure(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, BinaryPrefix+"broken"), []byte("#!/bin/sh\necho not a plugin\nexit 1\n"), 0o755))
	h := newHost(t, HostOptions{Dir: dir, StartTimeout: 2 * time.Second, MinBackoff: time.Hour})
	c, err := h.Codec("broken")
	require.NoError(t, err)
	_, err = c.Decode(codec.Binding{Topic: "t"}, []byte("x"), nil)
	require.ErrorIs(t, err, ErrFailed)
	t.Log(err)
	_, err = c.Decode(codec.Binding{Topic: "t"}, []byte("x"), nil)
	require.ErrorIs(t, err, ErrFailed)
	assert.Contains(t, err.Error(), "restarting in")
	st := c.Stats()
	assert.EqualValues(t, 1, st.StartFailures)
	assert.EqualValues(t, 2, st.Failed)
	assert.False(t, st.Running)
}

func TestCodecLookupErrors(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, BinaryPrefix+"noexec"), []byte("x"), 0o644))
	h := newHost(t, HostOptions{Dir: dir})
	for _, tc := range []struct {
		name string
		want error
		msg  string
	}{
		{"missing", ErrNotFound, "no such file"},
		{"noexec", ErrNotFound, "not an executable"},
		{"", ErrName, "1 to 64"},
		{"Bad", ErrName, "lowercase"},
		{"../x", ErrName, "lowercase"},
		{"-x", ErrName, "starting with"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Codec(tc.name)
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	_, err := NewHost(HostOptions{Dir: filepath.Join(dir, "nope")})
	require.Error(t, err)
	_, err = NewHost(HostOptions{})
	require.Error(t, err)
}

func TestCloseEndsPlugins(t *testing.T) {
	h := newHost(t, HostOptions{})
	c, err := h.Codec("example")
	require.NoError(t, err)
	decodeUntilOK(t, c)
	pid := c.inst.cmd.Process.Pid
	require.NoError(t, h.Close())
	require.NoError(t, h.Close())
	assertGone(t, pid)
	_, err = c.Decode(codec.Binding{Topic: "t"}, []byte(";;1"), nil)
	require.ErrorIs(t, err, ErrClosed)
	_, err = h.Codec("example")
	require.ErrorIs(t, err, ErrClosed)
}

// assertGone waits until process pid no longer exists (killed and
// reaped).
func assertGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still exists (%v)", pid, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
