package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("broker:\n  qos: 0\n"), 0o600))
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"version", []string{"--version"}, 0, "rig-agent dev", ""},
		{"no config", nil, exitUsage, "", "usage: rig-agent --config FILE"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, exitConfig, "", "no such file"},
		{"invalid", []string{"--config", bad}, exitConfig, "", "broker.qos: 0 is not 1 or 2"},
		{"unknown flag", []string{"--confg", bad}, exitUsage, "", "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, run(tc.args, &out, &errb))
			assert.Contains(t, out.String(), tc.out)
			assert.Contains(t, errb.String(), tc.err)
		})
	}
}

func TestCheckConfig(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:0")
	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"--config", cfg, "--check"}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "valid (agent main-test")
}

// TestCheckBundle: --check also checks the installed bundle against the
// config, as the agent's start would, without ONNX Runtime: a
// cycle-aligned bundle without windowing.cycle_anchor (the agent refuses
// to start, windowing.ErrNoAnchor) and a bundle made for another rig
// fail with exit code 1 and the start's error. Before, --check said
// "valid" to both.
func TestCheckBundle(t *testing.T) {
	check := func(cfg string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run([]string{"--config", cfg, "--check"}, &out, &errb)
		return code, out.String(), errb.String()
	}
	edit := func(t *testing.T, old, new string) string {
		t.Helper()
		path := writeConfig(t, t.TempDir(), "127.0.0.1:0")
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.True(t, bytes.Contains(b, []byte(old)), "%s in %s", old, b)
		require.NoError(t, os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o600))
		return path
	}

	code, out, errb := check(writeConfig(t, t.TempDir(), "127.0.0.1:0"))
	require.Equal(t, 0, code, errb)
	assert.Regexp(t, `valid \(agent main-test, rig \S+, bundle \S+ \S+ in .*zema-testrig\)`, out)

	t.Run("no cycle anchor", func(t *testing.T) {
		code, out, errb := check(edit(t, "  cycle_anchor: epoch # rigsim's cycles\n", ""))
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Contains(t, errb, "rig-agent: windowing (windowing.* and the bundle's input spec): windowing: the windows are cycle-aligned")
		assert.Contains(t, errb, "set windowing.cycle_anchor")
	})
	t.Run("sliding override needs no anchor", func(t *testing.T) {
		code, _, errb := check(edit(t, "  cycle_anchor: epoch # rigsim's cycles\n", "  alignment: sliding\n"))
		assert.Equal(t, 0, code, errb)
	})
	t.Run("bundle of another rig", func(t *testing.T) {
		code, out, errb := check(edit(t, "models/bundles/zema-testrig", "models/bundles/excavator"))
		assert.Equal(t, 1, code)
		assert.Empty(t, out)
		assert.Contains(t, errb, "rig-agent: open model bundle (model.bundle_dir): infer: open ")
		assert.Contains(t, errb, "excavator")
	})
}

func writeConfig(tb testing.TB, dir, api string) string {
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		require.NoError(tb, err)
		return a
	}
	yaml := fmt.Sprintf(`agent:
  id: main-test
  data_dir: %s
rig:
  firmware_config: %s
model:
  bundle_dir: %s
broker:
  embedded: true
  listen: 127.0.0.1:0
windowing:
  cycle_anchor: epoch # rigsim's cycles
api:
  listen: %s
logging:
  format: text
`, filepath.Join(dir, "data"), abs("../../../firmware-configs/zema-testrig.yaml"), abs("../../../models/bundles/zema-testrig"), api)
	path := filepath.Join(dir, "rig-agent.yaml")
	require.NoError(tb, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// syncBuffer is a bytes.Buffer safe for the agent's log goroutines.
type syncBuffer struct {
	ch chan []byte
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.ch <- append([]byte(nil), p...)
	return len(p), nil
}

// inProcess is the command run in this process by startInProcess.
type inProcess struct {
	logs *syncBuffer
	code chan int
	addr string // the HTTP API's address, as logged
}

// startInProcess runs the command with args in a goroutine, its logs
// captured, and waits up to within for it to log its API address; it
// fails the test if run returns first.
func startInProcess(t *testing.T, args []string, within time.Duration) *inProcess {
	t.Helper()
	a := &inProcess{logs: &syncBuffer{ch: make(chan []byte, 1024)}, code: make(chan int, 1)}
	go func() { a.code <- run(args, &bytes.Buffer{}, a.logs) }()
	apiRe := regexp.MustCompile(`msg="http api listening" part=api addr=(\S+)`)
	deadline := time.After(within)
	for a.addr == "" {
		select {
		case p := <-a.logs.ch:
			a.logs.b.Write(p)
			if m := apiRe.FindSubmatch(a.logs.b.Bytes()); m != nil {
				a.addr = string(m[1])
			}
		case c := <-a.code:
			t.Fatalf("run returned %d before serving: %s", c, a.logs.b.String())
		case <-deadline:
			t.Fatalf("no API address logged: %s", a.logs.b.String())
		}
	}
	return a
}

// waitReady waits up to within for /health/ready to answer 200.
func (a *inProcess) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + a.addr + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, within, 20*time.Millisecond, "agent ready")
}

// stop sends SIGTERM to the process (run's signal handler takes it) and
// waits up to within for run to return; it returns run's exit code and
// everything the command logged.
func (a *inProcess) stop(t *testing.T, within time.Duration) (code int, logs string) {
	t.Helper()
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	deadline := time.After(within)
	for done := false; !done; {
		select {
		case p := <-a.logs.ch:
			a.logs.b.Write(p)
		case code = <-a.code:
			done = true
		case <-deadline:
			t.Fatal("run did not return after SIGTERM")
		}
	}
	for len(a.logs.ch) > 0 {
		a.logs.b.Write(<-a.logs.ch)
	}
	return code, a.logs.b.String()
}

// TestSignalStopsInOrder runs the command in process, waits until it is
// ready, sends SIGTERM to the process (run's signal handler takes it) and
// expects a clean stop with exit code 0.
func TestSignalStopsInOrder(t *testing.T) {
	needORT(t)
	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:0")
	a := startInProcess(t, []string{"--config", cfg}, 30*time.Second)
	a.waitReady(t, 15*time.Second)
	c, out := a.stop(t, 30*time.Second)
	assert.Equal(t, 0, c, out)
	order := []string{"signal received", "rig-agent stopping", "embedded MQTT broker stopped", "rig-agent stopped"}
	last := -1
	for _, s := range order {
		i := bytes.Index([]byte(out), []byte(s))
		assert.Greater(t, i, last, "%q logged after the previous step", s)
		last = i
	}
}

func TestCheckModel(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:0")
	t.Setenv("RIG_AGENT_MODEL_PROVIDERS", "cuda,cpu")

	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"--config", cfg, "--check-model"}, &out, &errb), errb.String())
	var got struct {
		Arch, Window, Precision string
		Providers               []string
		Health                  []struct {
			Component string
			Health    float64
		}
		Targets []struct{ Name string }
		Sensors []struct {
			ID    string
			Score float64
		}
		Missing []string
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	assert.Equal(t, runtime.GOOS+"/"+runtime.GOARCH, got.Arch)
	assert.Equal(t, "probe", got.Window)
	assert.Equal(t, "int8", got.Precision)
	if len(got.Providers) == 1 { // the CPU-only library: cuda fell back
		assert.Equal(t, []string{"cpu"}, got.Providers)
		assert.Contains(t, errb.String(), `msg="execution provider unavailable, falling back" part=model provider=cuda`)
	}
	require.Len(t, got.Health, 9)
	assert.Equal(t, "tank", got.Health[0].Component)
	for _, h := range got.Health {
		assert.True(t, h.Health >= 0 && h.Health <= 1, "%+v", h)
	}
	assert.Len(t, got.Targets, 5)
	assert.Len(t, got.Sensors, 17)
	assert.Empty(t, got.Missing)

	// A window file: PS1 absent, the others constant.
	rows := map[string][]*float64{}
	for _, id := range []string{"PS2", "PS3", "PS4", "PS5", "PS6", "EPS1", "FS1", "FS2", "TS1", "TS2", "TS3", "TS4", "VS1", "CE", "CP", "SE"} {
		v := 1.0
		rows[id] = slices.Repeat([]*float64{&v}, 60)
	}
	win := filepath.Join(dir, "window.json")
	b, err := json.Marshal(rows)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(win, b, 0o600))
	out.Reset()
	errb.Reset()
	require.Equal(t, 0, run([]string{"--config", cfg, "--check-model", "--window", win}, &out, &errb), errb.String())
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	assert.Equal(t, []string{"PS1"}, got.Missing)
	assert.Equal(t, win, got.Window)

	for _, tc := range []struct{ body, err string }{
		{`[1, 2]`, "want a JSON object of sensor id to 60 values"},
		{`{"PS1": [1, 2]}`, "sensor PS1 has 2 values, the bundle's window has 60 steps"},
		{`{"XX1": []}`, `sensor "XX1" is not an input of the bundle`},
	} {
		require.NoError(t, os.WriteFile(win, []byte(tc.body), 0o600))
		errb.Reset()
		assert.Equal(t, exitUsage, run([]string{"--config", cfg, "--check-model", "--window", win}, &bytes.Buffer{}, &errb))
		assert.Contains(t, errb.String(), tc.err)
	}
	errb.Reset()
	assert.Equal(t, exitUsage, run([]string{"--config", cfg, "--window", win}, &bytes.Buffer{}, &errb))
	assert.Contains(t, errb.String(), "usage: rig-agent --config FILE [--check | --check-model [--window FILE]]")
}
