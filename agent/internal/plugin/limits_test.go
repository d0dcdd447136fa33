package plugin

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// within runs f in a goroutine and fails the test if it has not returned
// after a generous bound: the calls checked with it used to block forever.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still blocked after 30s", what)
	}
}

// stallerPid waits for the staller plugin to write its pid.
func stallerPid(t *testing.T, dir string) int {
	t.Helper()
	path := filepath.Join(dir, "staller.pid")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			require.NoError(t, err)
			require.NoError(t, os.Remove(path))
			return pid
		}
		require.True(t, time.Now().Before(deadline), "staller never started")
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStallAfterHandshake: a plugin that completes the handshake and then
// never answers is killed when the start timeout passes, counted as a
// start failure, and the call fails with ErrFailed.
func TestStallAfterHandshake(t *testing.T) {
	dir := pluginDir(t)
	h := newHost(t, HostOptions{StartTimeout: 500 * time.Millisecond, MinBackoff: time.Hour})
	c, err := h.Codec("staller")
	require.NoError(t, err)
	within(t, "Decode", func() {
		_, err = c.Decode(codec.Binding{Topic: "t", Sensor: "PS1", Now: now}, []byte(";;1"), nil)
	})
	require.ErrorIs(t, err, ErrFailed)
	assert.Contains(t, err.Error(), "start timeout")
	assertGone(t, stallerPid(t, dir))
	st := c.Stats()
	assert.EqualValues(t, 1, st.StartFailures)
	assert.Zero(t, st.Starts)
	assert.False(t, st.Running)
}

// TestStatsAndCloseDuringStart: while a start hangs, other calls give up
// after the call timeout, Stats answers, and Close aborts the start and
// kills the process.
func TestStatsAndCloseDuringStart(t *testing.T) {
	dir := pluginDir(t)
	h := newHost(t, HostOptions{StartTimeout: time.Hour, CallTimeout: 200 * time.Millisecond})
	c, err := h.Codec("staller")
	require.NoError(t, err)
	first := make(chan error, 1)
	go func() {
		_, err := c.Decode(codec.Binding{Topic: "t", Sensor: "PS1", Now: now}, []byte(";;1"), nil)
		first <- err
	}()
	pid := stallerPid(t, dir)

	within(t, "a second Decode", func() {
		_, err = c.Decode(codec.Binding{Topic: "t", Sensor: "PS1", Now: now}, []byte(";;1"), nil)
	})
	require.ErrorIs(t, err, ErrFailed)
	require.ErrorIs(t, err, ErrRestarting)
	assert.Contains(t, err.Error(), "still starting")

	var st []Stats
	within(t, "Stats", func() { st = h.Stats() })
	require.Len(t, st, 1)
	assert.False(t, st[0].Running)

	within(t, "Close", func() { require.NoError(t, h.Close()) })
	within(t, "the starting Decode", func() { err = <-first })
	require.ErrorIs(t, err, ErrFailed)
	require.ErrorIs(t, err, ErrClosed)
	assertGone(t, pid)
}

// TestKillStartedBeforeCloseReturns: a plugin killed by a failed call is
// gone when a Close that ran right after the failure returns (the kill
// used to be started after c.mu was released, where Close did not see it).
func TestKillStartedBeforeCloseReturns(t *testing.T) {
	h := newHost(t, HostOptions{CallTimeout: 300 * time.Millisecond})
	c, err := h.Codec("hanger")
	require.NoError(t, err)
	decodeUntilOK(t, c)
	pid := c.inst.cmd.Process.Pid
	closed := false
	testHookFailed = func() {
		require.NoError(t, h.Close())
		closed = true
	}
	t.Cleanup(func() { testHookFailed = nil })
	_, err = c.Decode(codec.Binding{Topic: "t"}, []byte("hang"), nil)
	require.ErrorIs(t, err, ErrFailed)
	require.True(t, closed)
	// Close has returned: the process must be killed and reaped already.
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "plugin process %d still exists after Close", pid)
}

// TestBadReadingsAreRejected: readings a plugin returns are checked as
// those of built-in codecs are; a bad one rejects the payload with an
// *codec.Error naming the reading.
func TestBadReadingsAreRejected(t *testing.T) {
	h := newHost(t, HostOptions{})
	c, err := h.Codec("liar")
	require.NoError(t, err)
	b := codec.Binding{Topic: "t", Sensor: "PS1", Now: now}
	for _, tc := range []struct{ payload, field, msg string }{
		{"nan", "v", "NaN"},
		{"inf", "v", "+Inf"},
		{"nul", "sensor", "control character"},
		{"newline", "sensor", "control character"},
		{"long", "sensor", "10000 bytes exceeds the limit of 256"},
		{"y9999", "ts", "outside years 1678 to 2262"},
	} {
		t.Run(tc.payload, func(t *testing.T) {
			dst := []reading.Reading{{Sensor: "keep"}}
			got, err := c.Decode(b, []byte(tc.payload), dst)
			var ce *codec.Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, 1, ce.Reading)
			assert.Equal(t, tc.field, ce.Field)
			assert.Contains(t, ce.Msg, tc.msg)
			assert.Less(t, len(ce.Error()), 1000)
			assert.Len(t, got, 1)
		})
	}
	got, err := c.Decode(b, []byte(";;1"), nil)
	require.NoError(t, err)
	assert.Equal(t, []reading.Reading{{Sensor: "PS1", Time: now, Value: 1}}, got)

	// Any quality 0 to 255 is valid, as with the built-in codecs (prep
	// treats the unknown codes as bad).
	got, err = c.Decode(b, []byte("q200"), nil)
	require.NoError(t, err, "quality 200 as the built-in codecs accept it")
	require.Len(t, got, 2)
	assert.Equal(t, reading.Quality(200), got[1].Quality)
}

// TestReplyTooLarge: a reply over MaxReplyBytes is not read whole: the
// plugin is killed, counted and restarted. A reply of MaxReadings
// readings with the longest sensor ids still fits.
func TestReplyTooLarge(t *testing.T) {
	h := newHost(t, HostOptions{CallTimeout: 30 * time.Second, MinBackoff: 50 * time.Millisecond})
	c, err := h.Codec("liar")
	require.NoError(t, err)
	b := codec.Binding{Topic: "t", Sensor: "PS1", Now: now}
	got, err := c.Decode(b, []byte("max"), nil)
	require.NoError(t, err)
	require.Len(t, got, codec.MaxReadings)
	pid := c.inst.cmd.Process.Pid

	_, err = c.Decode(b, []byte("huge"), nil)
	require.ErrorIs(t, err, ErrFailed)
	assert.Contains(t, err.Error(), "reply exceeded")
	assertGone(t, pid)
	decodeUntilOK(t, c)
	st := c.Stats()
	assert.EqualValues(t, 1, st.TooLarge)
	assert.Zero(t, st.Crashes)
	assert.EqualValues(t, 1, st.Restarts)
}
