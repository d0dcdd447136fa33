package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/childproc"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/testenv"
)

// TestCloudEndToEnd runs the real binaries together: rig-cloud on a
// throwaway database, a rig registered and an enrollment token made with
// rigctl (rigs create, rigs enroll), rig-agent enroll writing the agent's
// credential, rig-agent with it, the ZeMA test rig's firmware config and
// bundle and its embedded MQTT broker, rigsim publishing three load
// cycles of readings into it. The agent's diagnoses reach the cloud and
// rigctl lists them; an operator asks for the rig's readings (rigctl
// uploads request), the agent uploads them at its next check-in, and
// rigctl dataset create --from-uploads has a rig-cloud worker cut them
// into a data set.
func TestCloudEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the cloud end-to-end test builds and runs four binaries")
	}
	adminURL := testenv.Env(t, "DATABASE_URL", testenv.PostgreSQL)
	testenv.Env(t, "ONNXRUNTIME_LIB", testenv.ONNXRuntime) // rig-agent loads ONNX Runtime
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	root := repoRoot(t)
	bin := buildBinaries(t)
	dir := t.TempDir()
	began := time.Now()

	// rig-cloud on a database of its own, and an operator's token.
	dbURL := throwawayDatabase(ctx, t, adminURL)
	cloudEnv := append(cleanEnv("RIG_CLOUD_"), "RIG_CLOUD_DATABASE_URL="+dbURL,
		"RIG_CLOUD_BLOB_DIR="+filepath.Join(dir, "blobs"),
		"RIG_CLOUD_AGENTS_CHECKIN_INTERVAL=10s", // the shortest allowed: the upload request is seen within 10 s
		"RIG_CLOUD_SERVER_DRAIN_DELAY=0s",       // no load balancer to drain: stop at once, not after the default 5s
		"RIG_CLOUD_LOG_FORMAT=text")
	tok := exec.CommandContext(ctx, filepath.Join(bin, "rig-cloud"), "token", "create", "--org", "e2e", "--org-name", "End to end",
		"--role", "operator", "--name", "e2e")
	tok.Env = cloudEnv
	out, err := tok.Output()
	require.NoError(t, err, "rig-cloud token create: %s", exitStderr(err))
	token := strings.TrimSpace(string(out))
	require.True(t, strings.HasPrefix(token, "rgt_"), "token %q", token)

	cloudPort := freeTCPPort(t)
	cloudURL := fmt.Sprintf("http://127.0.0.1:%d", cloudPort)
	startProcess(ctx, t, "rig-cloud", filepath.Join(dir, "rig-cloud.log"), cloudURL+"/health/ready",
		append(cloudEnv, fmt.Sprintf("RIG_CLOUD_SERVER_LISTEN=127.0.0.1:%d", cloudPort)),
		filepath.Join(bin, "rig-cloud"), "serve")
	// A worker on the same database and blob store builds the fleet data
	// set below (it has no HTTP endpoint: the server's readiness stands
	// for the database they share).
	startProcess(ctx, t, "rig-cloud worker", filepath.Join(dir, "rig-cloud-worker.log"), cloudURL+"/health/ready",
		append(cloudEnv, "RIG_CLOUD_WORKER_POLL_INTERVAL=200ms"), filepath.Join(bin, "rig-cloud"), "worker")

	rigctl := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "rigctl"), args...)
		cmd.Env = append(cleanEnv("RIGCTL_"), "RIGCTL_SERVER="+cloudURL, "RIGCTL_TOKEN="+token, "XDG_CONFIG_HOME="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "rigctl %s: %s", strings.Join(args, " "), stderr.String())
		return out
	}

	// The rig (its id is the firmware config's equipment id) and the
	// agent's enrollment, as an operator and an installer do it: rigctl
	// rigs create and rigs enroll, then rig-agent enroll with the token.
	const rigID, agentID = "zema-rig-1", "e2e-agent"
	rigctl("rigs", "create", rigID, "--type", "zema-testrig")
	var enr fleetapi.Enrollment
	require.NoError(t, json.Unmarshal(rigctl("rigs", "enroll", rigID, "--json"), &enr))
	credFile := filepath.Join(dir, "credential")

	// rig-agent with its embedded broker.
	brokerPort, apiPort := freeTCPPort(t), freeTCPPort(t)
	cfgPath := filepath.Join(dir, "rig-agent.yaml")
	cfg := fmt.Sprintf(`agent:
  id: %s
  data_dir: %s
rig:
  firmware_config: %s
model:
  bundle_dir: %s
broker:
  embedded: true
  listen: 127.0.0.1:%d
windowing:
  cycle_anchor: epoch # rigsim's cycles
api:
  listen: 127.0.0.1:%d
cloud:
  url: %s
  credential_file: %s
  backoff_max: 2s
logging:
  level: info
  format: text
`, agentID, filepath.Join(dir, "agent"), filepath.Join(root, "firmware-configs", "zema-testrig.yaml"),
		filepath.Join(root, "models", "bundles", "zema-testrig"), brokerPort, apiPort, cloudURL, credFile)
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	tokenFile := filepath.Join(dir, "enrollment-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(enr.Token+"\n"), 0o600))
	enroll := exec.CommandContext(ctx, filepath.Join(bin, "rig-agent"), "enroll", "--config", cfgPath, "--token-file", tokenFile)
	enroll.Env = cleanEnv("RIG_AGENT_")
	enrollOut, err := enroll.CombinedOutput()
	require.NoError(t, err, "rig-agent enroll: %s", enrollOut)
	assert.Contains(t, string(enrollOut), "enrolled agent "+agentID+" for rig "+rigID+" (zema-testrig), generation 1")
	startProcess(ctx, t, "rig-agent", filepath.Join(dir, "rig-agent.log"), fmt.Sprintf("http://127.0.0.1:%d/health/ready", apiPort),
		cleanEnv("RIG_AGENT_"), filepath.Join(bin, "rig-agent"), "--config", cfgPath)

	// Three load cycles of readings, minutes old (the agent refuses
	// readings from the future), as fast as the broker takes them; 10 s
	// more so that the third window closes.
	start := time.Now().UTC().Add(-5 * time.Minute).Truncate(time.Minute)
	end := start.Add(3 * time.Minute)
	pub := exec.CommandContext(ctx, filepath.Join(bin, "rigsim"), "publish", "--rig", filepath.Join(root, "firmware-configs", "zema-testrig.yaml"),
		"--broker", fmt.Sprintf("tcp://127.0.0.1:%d", brokerPort), "--speed", "0", "--duration", "3m10s", "--seed", "7",
		"--start", start.Format(time.RFC3339))
	pubOut, err := pub.CombinedOutput()
	require.NoError(t, err, "rigsim publish: %s", pubOut)
	t.Logf("%s: %s", time.Since(began).Round(time.Millisecond), strings.TrimSpace(string(pubOut)))

	// The diagnoses of the three windows reach the cloud.
	var diags []diag.Diagnosis
	waitFor(ctx, t, 45*time.Second, "three diagnoses listed by rigctl diagnoses list", func() bool {
		diags = nil
		require.NoError(t, json.Unmarshal(rigctl("diagnoses", "list", "--rig", rigID, "--from", "1h", "--json"), &diags))
		return len(diags) >= 3
	})
	for i, d := range diags {
		assert.Equal(t, agentID, d.AgentID)
		assert.Equal(t, rigID, d.RigID)
		assert.Equal(t, start.Add(time.Duration(i)*time.Minute), d.Window.Start.UTC(), "window %d", i)
	}
	var st fleetapi.RigStatus
	require.NoError(t, json.Unmarshal(rigctl("rigs", "status", rigID, "--json"), &st))
	require.Len(t, st.Agents, 1)
	assert.Equal(t, fleetapi.LinkOnline, st.Agents[0].Link)
	require.NotNil(t, st.Agents[0].Model, "the agent's check-in names its model")
	require.NotNil(t, st.LastDiagnosis)
	assert.EqualValues(t, diags[len(diags)-1].Seq, st.LastDiagnosis.Seq)
	t.Logf("%s: %d diagnoses in the cloud", time.Since(began).Round(time.Millisecond), len(diags))

	// The operator asks for the readings of the three cycles; the agent
	// uploads them after its next check-in.
	var up fleetapi.FleetUpload
	require.NoError(t, json.Unmarshal(rigctl("uploads", "request", "--rig", rigID, "--from", start.Format(time.RFC3339),
		"--to", end.Format(time.RFC3339), "--json"), &up))
	assert.Equal(t, fleetapi.UploadOpen, up.State)
	waitFor(ctx, t, 45*time.Second, "the upload request done", func() bool {
		var ups []fleetapi.FleetUpload
		require.NoError(t, json.Unmarshal(rigctl("uploads", "list", "--rig", rigID, "--json"), &ups))
		require.Len(t, ups, 1)
		up = ups[0]
		return up.State == fleetapi.UploadDone
	})
	assert.Positive(t, up.Parts)
	assert.Greater(t, up.Readings, int64(3*60*17), "at least one reading a second of each sensor")
	t.Logf("%s: upload %s done: %d parts, %d readings", time.Since(began).Round(time.Millisecond), up.ID, up.Parts, up.Readings)

	// A data set from the uploads, built by the worker while rigctl
	// waits: the three cycles' windows.
	var ds fleetapi.Dataset
	require.NoError(t, json.Unmarshal(rigctl("dataset", "create", "--from-uploads", "--rigs", rigID,
		"--from", start.Format(time.RFC3339), "--to", end.Format(time.RFC3339),
		"--rig", filepath.Join(root, "firmware-configs", "zema-testrig.yaml"), "--name", "e2e-fleet", "--interval", "200ms", "--json"), &ds))
	assert.Equal(t, "ready", ds.State)
	assert.Equal(t, "fleet", ds.Source)
	assert.Equal(t, "zema-testrig", ds.RigType)
	require.NotNil(t, ds.Build)
	require.Len(t, ds.Build.Rigs, 1)
	assert.Equal(t, up.Readings, ds.Build.Rigs[0].Readings, "every uploaded reading is in the range")
	assert.Equal(t, 3, ds.Build.Windows, "one window per load cycle: %+v", ds.Build.Rigs[0])
	t.Logf("%s: data set %d %s: %d windows", time.Since(began).Round(time.Millisecond), ds.ID, ds.Name, ds.Build.Windows)
}

// throwawayDatabase creates a database on adminURL's server for the test
// and drops it at the end; it returns its URL.
func throwawayDatabase(ctx context.Context, t *testing.T, adminURL string) string {
	t.Helper()
	u, err := url.Parse(adminURL)
	require.NoError(t, err, "DATABASE_URL")
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "hydrognn_e2e_" + hex.EncodeToString(b[:])
	admin := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	require.NoError(t, admin(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()), "create a database on DATABASE_URL's server")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		assert.NoError(t, admin(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"))
	})
	u.Path = "/" + name
	return u.String()
}

// startProcess starts argv with env, its output in logPath, waits until
// ready answers 200 and stops it (SIGTERM, then a clean exit within 30 s)
// at the end of the test. The log's tail is in every failure.
func startProcess(ctx context.Context, t *testing.T, name, logPath, ready string, env []string, argv ...string) {
	t.Helper()
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(argv[0], argv[1:]...)
	childproc.DieWithParent(cmd)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start(), "start %s", name)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			assert.NoError(t, err, "%s stopped with an error:\n%s", name, fileTail(logPath))
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("%s did not stop 30 s after SIGTERM:\n%s", name, fileTail(logPath))
		}
		if t.Failed() {
			t.Logf("%s log tail:\n%s", name, fileTail(logPath))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(ready)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("%s exited before it was ready (%v):\n%s", name, err, fileTail(logPath))
		case <-ctx.Done():
			t.Fatalf("%s: %v", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60 s:\n%s", name, fileTail(logPath))
		}
	}
}

// fleetHTTP calls the fleet and agent APIs with a bearer credential.
type fleetHTTP struct{ url, token string }

func (f fleetHTTP) do(ctx context.Context, t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.url+path, rd)
	require.NoError(t, err)
	req.Header.Set(cloudapi.HeaderAuthorization, "Bearer "+f.token)
	if body != nil {
		req.Header.Set("Content-Type", cloudapi.MediaJSON)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var raw json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&raw)
	require.Equal(t, want, res.StatusCode, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
	}
}

// waitFor polls ok every 250 ms until it holds or within passes.
func waitFor(ctx context.Context, t interface {
	Helper()
	Fatalf(format string, args ...any)
}, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// cleanEnv is the environment without variables starting with prefix (a
// stray override would change the configuration the test writes).
func cleanEnv(prefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, prefix) {
			env = append(env, kv)
		}
	}
	return env
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func fileTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-25):], "\n")
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
