package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/testenv"
)

// arm64Sysroot is where Debian's cross packages (libc6-arm64-cross,
// libstdc++6-arm64-cross) put the arm64 dynamic loader and libraries.
const arm64Sysroot = "/usr/aarch64-linux-gnu"

// arm64Tol bounds |arm64 - host| for every number rig-agent --check-model
// prints: 1e-4, relative above 1 (anomaly scores are errors divided by
// small thresholds and reach tens).
const arm64Tol = 1e-4

// TestARM64InferenceUnderQEMU runs the linux/arm64 rig-agent (cgo, cross-
// compiled as `make build-arm64` does) with the arm64 ONNX Runtime library
// under qemu-user: `rig-agent --check-model` opens the shipped zema-testrig
// bundle and runs it on one window (some sensors missing, one stale), for
// both precisions, and the outputs must equal the host build's within
// arm64Tol. The arm64 run lists tensorrt and cuda first, as a Jetson config
// does, and must log the fallback to the CPU (the npm build has no GPU
// providers).
//
// It runs under `make test-arm64` (HYDROGNN_TEST_ARM64=1), which installs
// the cross compiler and qemu-user, and skips otherwise: building rig-agent
// for arm64 takes over a minute on a cold cache.
func TestARM64InferenceUnderQEMU(t *testing.T) {
	if os.Getenv("HYDROGNN_TEST_ARM64") == "" {
		t.Skip("the arm64 test runs with `make test-arm64` (HYDROGNN_TEST_ARM64=1): it cross-compiles rig-agent and runs it under qemu-user")
	}
	if runtime.GOARCH != "amd64" {
		t.Skipf("the host is %s: this test compares an arm64 build under qemu with an amd64 host build", runtime.GOARCH)
	}
	hostLib := testenv.Env(t, "ONNXRUNTIME_LIB", testenv.ONNXRuntime)
	root := repoRoot(t)
	armLib := os.Getenv("ONNXRUNTIME_LIB_ARM64")
	if armLib == "" {
		armLib = filepath.Join(root, ".cache/onnxruntime/1.30.0/linux-arm64/libonnxruntime.so.1")
	}
	if _, err := os.Stat(armLib); err != nil {
		testenv.Missing(t, testenv.ONNXRuntime, fmt.Sprintf("no arm64 ONNX Runtime library (%v): run `deploy/dev/onnxruntime.sh --arch arm64` (make test-arm64 does) or set ONNXRUNTIME_LIB_ARM64", err))
		return
	}
	var qemu string
	for _, q := range []string{"qemu-aarch64", "qemu-aarch64-static"} {
		if p, err := exec.LookPath(q); err == nil {
			qemu = p
			break
		}
	}
	if qemu == "" {
		t.Skip("qemu-user is not installed (no qemu-aarch64 or qemu-aarch64-static): apt-get install qemu-user")
	}
	for _, f := range []string{"lib/ld-linux-aarch64.so.1", "lib/libstdc++.so.6"} {
		if _, err := os.Stat(filepath.Join(arm64Sysroot, f)); err != nil {
			t.Skipf("no arm64 %s under %s: apt-get install libc6-arm64-cross libstdc++6-arm64-cross", f, arm64Sysroot)
		}
	}

	dir := t.TempDir()
	armBin := os.Getenv("HYDROGNN_ARM64_RIG_AGENT") // make test-arm64: bin/linux-arm64/rig-agent
	if armBin == "" {
		if _, err := exec.LookPath("aarch64-linux-gnu-gcc"); err != nil {
			t.Skip("no aarch64-linux-gnu-gcc to build rig-agent for arm64: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross (make build-arm64 does)")
		}
		armBin = filepath.Join(dir, "arm64", "rig-agent")
		goBuild(t, root, armBin, "CGO_ENABLED=1", "CC=aarch64-linux-gnu-gcc", "GOOS=linux", "GOARCH=arm64")
	} else if !filepath.IsAbs(armBin) {
		armBin = filepath.Join(root, armBin)
	}
	hostBin := filepath.Join(dir, "host", "rig-agent")
	goBuild(t, root, hostBin)

	cfg := filepath.Join(dir, "rig-agent.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `agent:
  id: arm64-test
  data_dir: %s
rig:
  firmware_config: %s
model:
  bundle_dir: %s
windowing:
  cycle_anchor: epoch
logging:
  format: text
`, filepath.Join(dir, "data"), filepath.Join(root, "firmware-configs/zema-testrig.yaml"),
		filepath.Join(root, "models/bundles/zema-testrig")), 0o600))
	sysroot := qemuSysroot(t, dir)
	window := filepath.Join(dir, "window.json")
	require.NoError(t, os.WriteFile(window, testWindow(), 0o600))

	for _, precision := range []string{"int8", "fp32"} {
		t.Run(precision, func(t *testing.T) {
			env := []string{"RIG_AGENT_MODEL_PRECISION=" + precision}
			host, _ := checkModel(t, []string{hostBin}, cfg, window, append(env, "ONNXRUNTIME_LIB="+hostLib))
			start := time.Now()
			arm, logs := checkModel(t, []string{qemu, "-L", sysroot, armBin}, cfg, window,
				append(env, "ONNXRUNTIME_LIB="+armLib, "RIG_AGENT_MODEL_PROVIDERS=tensorrt,cuda,cpu"))
			t.Logf("%s: arm64 rig-agent --check-model under qemu: %v (ONNX Runtime call %.0f µs emulated, %.0f µs native)",
				precision, time.Since(start).Round(time.Millisecond), arm["run_us"], host["run_us"])

			assert.Equal(t, "linux/arm64", arm["arch"])
			assert.Equal(t, "linux/amd64", host["arch"])
			assert.Equal(t, "1.30.0", arm["onnxruntime"])
			assert.Equal(t, precision, arm["precision"])
			assert.Equal(t, []any{"cpu"}, arm["providers"])
			for _, p := range []string{"tensorrt", "cuda"} {
				assert.Contains(t, logs, `msg="execution provider unavailable, falling back" part=model provider=`+p)
			}
			assert.Equal(t, []any{"SE"}, arm["missing"], "the window leaves SE out")
			assert.Equal(t, []any{"TS1"}, arm["stale"], "the window's TS1 stops half way")
			for _, k := range []string{"arch", "open_ms", "run_us"} {
				delete(host, k)
				delete(arm, k)
			}
			t.Logf("%s: largest difference arm64 - host: %.2g (relative above 1)", precision, compareJSON(t, "", host, arm))
		})
	}
}

// qemuSysroot makes the folder qemu-user's -L points at: lib/ is
// arm64Sysroot's (the dynamic loader, libc, libstdc++), and proc/cpuinfo
// describes arm64 cores. qemu 7.2 (Debian 12) passes the host's x86
// /proc/cpuinfo through to an aarch64 guest, and ONNX Runtime's cpuinfo
// library, run when libonnxruntime.so is loaded, dereferences NULL when it
// finds no ARM core there (a plain C dlopen crashes the same way). qemu
// opens a guest path under -L first when it exists there, so the guest
// reads this file instead. The cores are Cortex-A78AE, as on a Jetson
// AGX Orin, one per CPU present on the host.
func qemuSysroot(t *testing.T, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "sysroot")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "proc"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(arm64Sysroot, "lib"), filepath.Join(root, "lib")))
	n := runtime.NumCPU()
	if b, err := os.ReadFile("/sys/devices/system/cpu/present"); err == nil { // e.g. "0-1" or "0,2-3"
		f := strings.FieldsFunc(strings.TrimSpace(string(b)), func(r rune) bool { return r == ',' || r == '-' })
		if last, err := strconv.Atoi(f[len(f)-1]); err == nil {
			n = last + 1
		}
	}
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "processor\t: %d\nBogoMIPS\t: 62.50\n"+
			"Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n"+
			"CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd42\nCPU revision\t: 1\n\n", i)
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "proc", "cpuinfo"), []byte(b.String()), 0o644))
	return root
}

// goBuild builds rig-agent into out with extra environment variables.
func goBuild(t *testing.T, root, out string, env ...string) {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", out, "./agent/cmd/rig-agent")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s go build: %s", strings.Join(env, " "), b)
	t.Logf("%s go build ./agent/cmd/rig-agent: %v", strings.Join(env, " "), time.Since(start).Round(time.Millisecond))
}

// checkModel runs argv --config cfg --check-model --window window and
// returns its JSON output and its log.
func checkModel(t *testing.T, argv []string, cfg, window string, env []string) (map[string]any, string) {
	t.Helper()
	cmd := exec.Command(argv[0], append(argv[1:], "--config", cfg, "--check-model", "--window", window)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The agent refuses unknown RIG_AGENT_ variables, and the caller's
	// own overrides must not change the config.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RIG_AGENT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	require.NoError(t, cmd.Run(), "%s: %s", strings.Join(cmd.Args, " "), stderr.String())
	var out map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out), "%s printed: %s", argv[len(argv)-1], stdout.String())
	return out, stderr.String()
}

// testWindow is a window file for the zema-testrig bundle: every sensor on
// a smooth curve around a typical level, TS1 missing from step 30 on
// (stale), SE absent (missing).
func testWindow() []byte {
	ids := []string{"PS1", "PS2", "PS3", "PS4", "PS5", "PS6", "EPS1", "FS1", "FS2", "TS1", "TS2", "TS3", "TS4", "VS1", "CE", "CP"}
	level := []float64{160, 110, 1.8, 2.9, 9.2, 9.1, 2500, 6.2, 9.6, 45, 50, 47.6, 40.7, 0.6, 31, 1.8}
	w := map[string][]*float64{}
	for i, id := range ids {
		row := make([]*float64, 60)
		for t := range row {
			if id == "TS1" && t >= 30 {
				continue
			}
			v := level[i] * (1 + 0.05*math.Sin(2*math.Pi*float64(t)/60+float64(i)))
			row[t] = &v
		}
		w[id] = row
	}
	b, _ := json.Marshal(w)
	return b
}

// compareJSON holds two decoded JSON values equal, numbers within arm64Tol
// (relative above 1). "anomalous" is not compared: it is score >= 1, which
// may flip for a score within the tolerance of 1. It returns the largest
// difference seen.
func compareJSON(t *testing.T, path string, want, got any) (diff float64) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !assert.Truef(t, ok, "%s: got %T, want an object", path, got) {
			return
		}
		assert.Equal(t, len(w), len(g), "%s: keys", path)
		for k, v := range w {
			if k != "anomalous" {
				diff = max(diff, compareJSON(t, path+"."+k, v, g[k]))
			}
		}
	case []any:
		g, ok := got.([]any)
		if !assert.Truef(t, ok, "%s: got %T, want an array", path, got) || !assert.Len(t, g, len(w), path) {
			return
		}
		for i := range w {
			diff = max(diff, compareJSON(t, fmt.Sprintf("%s[%d]", path, i), w[i], g[i]))
		}
	case float64:
		g, ok := got.(float64)
		if assert.Truef(t, ok, "%s: got %v, want a number", path, got) {
			diff = math.Abs(g-w) / max(1, math.Abs(w))
			assert.LessOrEqualf(t, diff, arm64Tol, "%s: arm64 %v, host %v", path, g, w)
		}
	default:
		assert.Equal(t, want, got, path)
	}
	return diff
}
