package agenttest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/testenv"
)

// MosquittoURL returns $MQTT_URL, else the machine's Mosquitto at
// tcp://127.0.0.1:1883, or skips the test when no broker answers there
// within a second (fails it under HYDROGNN_REQUIRE_SERVICES=1:
// shared/testenv).
func MosquittoURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("MQTT_URL")
	if u == "" {
		u = "tcp://127.0.0.1:1883"
	}
	pu, err := url.Parse(u)
	require.NoError(tb, err)
	c, err := net.DialTimeout("tcp", pu.Host, time.Second)
	if err != nil {
		testenv.Missing(tb, testenv.Mosquitto, fmt.Sprintf("no MQTT broker answers at %s (%v)", u, err))
		return u
	}
	_ = c.Close()
	return u
}

// NeedORT skips the test (fails it under HYDROGNN_REQUIRE_SERVICES=1)
// when $ONNXRUNTIME_LIB, the ONNX Runtime library the agent's models run
// on, is not set.
func NeedORT(tb testing.TB) {
	tb.Helper()
	testenv.Env(tb, "ONNXRUNTIME_LIB", testenv.ONNXRuntime)
}

// IsolatedRig writes into dir a copy of the firmware config at fwSrc whose
// topics (under hydrognn/) start with prefix, and a copy of the bundle in
// bundleSrc bound to it (the config digest is the only change), so that a
// test on a shared Mosquitto sees no other test's or tool's traffic. It
// returns the config's path (dir/<base of fwSrc>) and the bundle folder
// (dir/bundle).
func IsolatedRig(tb testing.TB, dir, prefix, fwSrc, bundleSrc string) (fwPath, bundleDir string) {
	tb.Helper()
	data, err := os.ReadFile(fwSrc)
	require.NoError(tb, err)
	data = []byte(strings.ReplaceAll(string(data), "topic: hydrognn/", "topic: "+prefix+"/hydrognn/"))
	fwPath = filepath.Join(dir, filepath.Base(fwSrc))
	require.NoError(tb, os.WriteFile(fwPath, data, 0o600))
	fw, err := rig.Load(fwPath)
	require.NoError(tb, err)
	bundleDir = filepath.Join(dir, "bundle")
	require.NoError(tb, os.MkdirAll(bundleDir, 0o750))
	entries, err := os.ReadDir(bundleSrc)
	require.NoError(tb, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(bundleSrc, e.Name()))
		require.NoError(tb, err)
		if e.Name() == bundle.ManifestFile {
			var m map[string]json.RawMessage
			require.NoError(tb, json.Unmarshal(b, &m))
			m["config_digest"], err = json.Marshal(fw.Digest())
			require.NoError(tb, err)
			b, err = json.MarshalIndent(m, "", "  ")
			require.NoError(tb, err)
		}
		require.NoError(tb, os.WriteFile(filepath.Join(bundleDir, e.Name()), b, 0o600))
	}
	return fwPath, bundleDir
}
