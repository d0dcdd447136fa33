package rigctl

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/childproc"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/publish"
)

func init() {
	benchCommands["ingest"] = benchCommand{"readings/s, acknowledgement latency and memory of a running rig-agent fed over MQTT (embedded broker and Mosquitto)", runBenchIngest}
}

const benchIngestUsage = `bench ingest [--json] [--rate N] [--duration D] [--publishers N] [--batch N] [--codec NAME]
       [--brokers embedded,mosquitto] [--mqtt-url URL] [--agent FILE] [--rig FILE] [--bundle DIR] [--keep]

Runs the rig-agent binary (--agent; else rig-agent beside rigctl, else bin/rig-agent in the
repository, else one built with go build) as a subprocess with a generated config in a
temporary folder, once per broker: "embedded" (the agent's own broker, on a free port) and
"mosquitto" (--mqtt-url, else $MQTT_URL, else tcp://127.0.0.1:1883 when it answers, else a
throwaway mosquitto on a free port when the binary is installed; skipped with a note when
none). --publishers separate MQTT connections publish the rig's readings (a copy of --rig,
default firmware-configs/zema-testrig.yaml, with run-unique topics, and its bundle) at QoS 1,
each sensor at its own rate in simulated time that runs fast enough for --rate readings/s
in total, for --duration. Each connection sends, per simulated second, one message per topic
with its sensors' readings (split at --batch), in the topic's codec (--codec replaces every
topic's codec), with at most --window unacknowledged. Sparkplug B topics (spBv1.0/GROUP/...)
keep their layout with the run's id before GROUP; one publisher sends all of an edge node's
messages, numbered 0-255 as Sparkplug B's seq (no births: metrics carry their names).

Per broker: readings_per_s (stored / time from the first publish until the agent had stored
every acknowledged reading), p99_ack_ms and p50_ack_ms (the agent's: a message's arrival at
the ingest to its acknowledgement after the durable commit, from /status and /metrics), p99_puback_ms (the publisher's:
publish to PUBACK), published, acked (readings whose PUBACK arrived), stored (the agent's
buffer, from /status), lost (acked - stored; must be 0), gaps (readings the agent found missing by
the publishers' sequence numbers; 0 expected), rss_mb (the agent's peak resident
memory, VmHWM), agent_cpu_s, windows (diagnosed during the run) with p50_infer_us and
p99_infer_us (each diagnosis' inference_us: the model's time per window inside the running
agent, under the ingest load) and p50_infer_cpu_us and p99_infer_cpu_us (the CPU time of the
same calls, from the agent's rig_agent_inference_cpu_seconds histogram on /metrics,
interpolated linearly inside its buckets as PromQL's histogram_quantile does; wall well above
CPU is waiting for a core). Exit code 1 when anything was lost, rejected or not acknowledged.`

// ingestBenchResult is one broker's line of `rigctl bench ingest --json`.
type ingestBenchResult struct {
	Broker       string  `json:"broker"`
	ReadingsPerS float64 `json:"readings_per_s"`
	P99AckMs     float64 `json:"p99_ack_ms"`
	Published    int64   `json:"published"`
	Acked        int64   `json:"acked"`
	Stored       int64   `json:"stored"`
	Lost         int64   `json:"lost"`
	RSSMB        float64 `json:"rss_mb"`

	OfferedPerS float64 `json:"offered_per_s"`
	DurationS   float64 `json:"duration_s"`
	Messages    int64   `json:"messages"`
	P50AckMs    float64 `json:"p50_ack_ms"`
	P99PubackMs float64 `json:"p99_puback_ms"`
	Rejected    uint64  `json:"rejected"`
	// Gaps counts readings the agent found missing by the publishers'
	// sequence numbers (per sensor; per edge node and message for
	// Sparkplug B): 0 when the bench numbers them right.
	Gaps      uint64  `json:"gaps"`
	AgentCPUS float64 `json:"agent_cpu_s"`
	URL       string  `json:"url"`
	// Windows diagnosed while the agent ingested, and their inference
	// time inside the running agent (each diagnosis' inference_us:
	// agent/infer RunInto, the quantity of `rigctl bench infer`).
	Windows    int     `json:"windows"`
	P50InferUs float64 `json:"p50_infer_us"`
	P99InferUs float64 `json:"p99_infer_us"`
	// The CPU time the agent's thread spent in the same ONNX Runtime
	// calls (the agent's rig_agent_inference_cpu_seconds histogram on
	// /metrics, quantiles interpolated inside its buckets:
	// histogramQuantile); 0 when no window was diagnosed.
	P50InferCPUUs float64 `json:"p50_infer_cpu_us"`
	P99InferCPUUs float64 `json:"p99_infer_cpu_us"`
}

type ingestBenchOptions struct {
	rate, publishers, batch, window int
	duration, drainTimeout          time.Duration
	codec                           string
	brokers                         []string
	mqttURL, agentBin               string
	rigPath, bundleDir              string
	keep                            bool
}

func runBenchIngest(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "bench ingest", benchIngestUsage)
	asJSON := fs.Bool("json", false, "print JSON: an array with one object per broker")
	var o ingestBenchOptions
	fs.IntVar(&o.rate, "rate", 100_000, "readings/s offered in total")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to publish")
	fs.IntVar(&o.publishers, "publishers", 4, "separate MQTT connections publishing")
	fs.IntVar(&o.batch, "batch", 100, "most readings per message")
	fs.IntVar(&o.window, "window", 256, "most unacknowledged messages per publisher")
	fs.StringVar(&o.codec, "codec", "", "codec for every topic, e.g. json-batch (default: each topic's codec in the firmware config)")
	brokers := fs.String("brokers", "embedded,mosquitto", "brokers to run, comma-separated: embedded, mosquitto")
	fs.StringVar(&o.mqttURL, "mqtt-url", "", "Mosquitto `URL` (default: $MQTT_URL, else tcp://127.0.0.1:1883, else a throwaway mosquitto)")
	fs.StringVar(&o.agentBin, "agent", "", "rig-agent binary `FILE` (default: beside rigctl, bin/rig-agent, else go build)")
	fs.StringVar(&o.rigPath, "rig", "", "firmware config `FILE` (default: firmware-configs/zema-testrig.yaml)")
	fs.StringVar(&o.bundleDir, "bundle", "", "model bundle `DIR` for the rig (default: models/bundles/<rig type>)")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", time.Minute, "longest wait after publishing for the agent to store what was acknowledged")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (configs, agent logs, data files)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	o.brokers = strings.Split(*brokers, ",")
	var bad []string
	switch {
	case fs.NArg() > 0:
		bad = append(bad, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	case o.rate <= 0 || o.publishers <= 0 || o.batch <= 0 || o.window <= 0:
		bad = append(bad, fmt.Sprintf("--rate %d, --publishers %d, --batch %d and --window %d must be positive", o.rate, o.publishers, o.batch, o.window))
	case o.duration <= 0:
		bad = append(bad, fmt.Sprintf("--duration %s must be positive", o.duration))
	}
	for _, b := range o.brokers {
		if b != "embedded" && b != "mosquitto" {
			bad = append(bad, fmt.Sprintf("--brokers: %q is not embedded or mosquitto", b))
		}
	}
	if o.codec != "" {
		if _, err := codec.Lookup(o.codec); err != nil {
			bad = append(bad, fmt.Sprintf("--codec: %v", err))
		}
	}
	if len(bad) > 0 {
		errorf(env, "bench ingest: %s", strings.Join(bad, "; "))
		return ExitUsage
	}
	if os.Getenv("ONNXRUNTIME_LIB") == "" {
		errorf(env, "bench ingest: $ONNXRUNTIME_LIB is not set; the agent needs ONNX Runtime (deploy/dev/onnxruntime.sh prints a path)")
		return ExitFailure
	}

	tmp, err := os.MkdirTemp("", "rigctl-bench-ingest-")
	if err != nil {
		errorf(env, "bench ingest: %v", err)
		return ExitFailure
	}
	if o.keep {
		fmt.Fprintf(env.Stderr, "bench ingest: files in %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin, err := findAgent(ctx, env, o.agentBin, tmp)
	if err != nil {
		errorf(env, "bench ingest: %v", err)
		return ExitFailure
	}
	var results []ingestBenchResult
	failed := false
	for _, b := range o.brokers {
		brokerURL := ""
		if b == "mosquitto" {
			u, stop, err := mosquittoFor(ctx, env, o.mqttURL, tmp)
			if err != nil {
				if o.mqttURL != "" || len(o.brokers) == 1 {
					errorf(env, "bench ingest: mosquitto: %v", err)
					return ExitFailure
				}
				fmt.Fprintf(env.Stderr, "bench ingest: skipping mosquitto: %v\n", err)
				continue
			}
			defer stop()
			brokerURL = u
		}
		r, err := benchIngestOnce(ctx, env, o, bin, filepath.Join(tmp, b), b, brokerURL)
		if err != nil {
			errorf(env, "bench ingest: %s: %v", b, err)
			return ExitFailure
		}
		if r.Lost != 0 || r.Rejected != 0 || r.Acked != r.Published {
			failed = true
			errorf(env, "bench ingest: %s: published %d, acked %d, stored %d, lost %d, rejected %d",
				b, r.Published, r.Acked, r.Stored, r.Lost, r.Rejected)
		}
		results = append(results, r)
	}
	if len(results) == 0 {
		errorf(env, "bench ingest: no broker ran")
		return ExitFailure
	}
	if *asJSON {
		if code := writeJSONOut(env, results); code != ExitOK {
			return code
		}
	} else {
		tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "broker\treadings/s\tp50 ack\tp99 ack\tp99 puback\tpublished\tacked\tstored\tlost\trss\tagent cpu\twindows\tp50 infer\tp99 infer\tp50 infer cpu\tp99 infer cpu")
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t%.0f\t%.1f ms\t%.1f ms\t%.1f ms\t%d\t%d\t%d\t%d\t%.1f MB\t%.1f s\t%d\t%.0f µs\t%.0f µs\t%.0f µs\t%.0f µs\n", r.Broker, r.ReadingsPerS, r.P50AckMs, r.P99AckMs,
				r.P99PubackMs, r.Published, r.Acked, r.Stored, r.Lost, r.RSSMB, r.AgentCPUS, r.Windows, r.P50InferUs, r.P99InferUs, r.P50InferCPUUs, r.P99InferCPUUs)
		}
		_ = tw.Flush()
	}
	if failed {
		return ExitFailure
	}
	return ExitOK
}

// repoRoot is the nearest folder at or above the working directory that
// holds go.work and firmware-configs/.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if fileExists(filepath.Join(d, "go.work")) && fileExists(filepath.Join(d, "firmware-configs")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("not inside the hydrognn repository (no go.work and firmware-configs/ in %s or its parents)", wd)
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// findAgent returns the rig-agent binary to run: path if given, else
// rig-agent beside this executable, else bin/rig-agent in the repository,
// else one built into dir with go build.
func findAgent(ctx context.Context, env Env, path, dir string) (string, error) {
	if path != "" {
		if !fileExists(path) {
			return "", fmt.Errorf("--agent %s: no such file", path)
		}
		return filepath.Abs(path)
	}
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "rig-agent"); fileExists(p) {
			fmt.Fprintf(env.Stderr, "bench ingest: agent %s (beside rigctl)\n", p)
			return p, nil
		}
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("no rig-agent beside rigctl and %v: give --agent FILE", err)
	}
	if p := filepath.Join(root, "bin", "rig-agent"); fileExists(p) {
		fmt.Fprintf(env.Stderr, "bench ingest: agent %s (make build; rebuild it after changes)\n", p)
		return p, nil
	}
	p := filepath.Join(dir, "rig-agent")
	fmt.Fprintf(env.Stderr, "bench ingest: building rig-agent with go build\n")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", p, "./agent/cmd/rig-agent")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build rig-agent: %w (give --agent FILE, or run make build)", err)
	}
	return p, nil
}

// localMosquitto is the machine's Mosquitto, tried after $MQTT_URL (a
// variable for tests).
var localMosquitto = "tcp://127.0.0.1:1883"

// mosquittoFor returns the Mosquitto to use and a function that stops it
// when this process started it.
func mosquittoFor(ctx context.Context, env Env, given, dir string) (string, func(), error) {
	none := func() {}
	if given != "" {
		if err := dialBroker(given); err != nil {
			return "", none, err
		}
		return given, none, nil
	}
	if u := os.Getenv("MQTT_URL"); u != "" {
		if err := dialBroker(u); err != nil {
			return "", none, fmt.Errorf("$MQTT_URL: %w", err)
		}
		return u, none, nil
	}
	if dialBroker(localMosquitto) == nil {
		return localMosquitto, none, nil
	}
	bin, err := exec.LookPath("mosquitto")
	if err != nil && fileExists("/usr/sbin/mosquitto") {
		bin, err = "/usr/sbin/mosquitto", nil
	}
	if err != nil {
		return "", none, fmt.Errorf("no $MQTT_URL, nothing on %s and no mosquitto binary (apt-get install mosquitto, or deploy/dev/mosquitto.sh)", localMosquitto)
	}
	port, err := freePort()
	if err != nil {
		return "", none, err
	}
	// The queue settings of deploy/mosquitto/mosquitto-test.conf: without
	// them Mosquitto drops QoS 1 messages for a subscriber that falls behind.
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_queued_bytes 268435456\n"+
		"max_inflight_messages 0\nqueue_qos0_messages false\npersistence false\nmax_packet_size 1048576\nset_tcp_nodelay true\n", port)
	if os.Getuid() == 0 {
		conf += "user root\n"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", none, err
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return "", none, err
	}
	logf, err := os.Create(filepath.Join(dir, "mosquitto.log"))
	if err != nil {
		return "", none, err
	}
	cmd := exec.Command(bin, "-c", confPath)
	childproc.DieWithParent(cmd)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", none, fmt.Errorf("start %s: %w", bin, err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
	}
	u := fmt.Sprintf("tcp://127.0.0.1:%d", port)
	for start := time.Now(); dialBroker(u) != nil; {
		if time.Since(start) > 10*time.Second || ctx.Err() != nil {
			stop()
			return "", none, fmt.Errorf("mosquitto did not come up on %s (log: %s)", u, logf.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(env.Stderr, "bench ingest: started a throwaway mosquitto on %s\n", u)
	return u, stop, nil
}

func dialBroker(u string) error {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return fmt.Errorf("%q is not a broker URL like tcp://127.0.0.1:1883", u)
	}
	c, err := net.DialTimeout("tcp", pu.Host, time.Second)
	if err != nil {
		return fmt.Errorf("no MQTT broker at %s: %w", u, err)
	}
	return c.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sparkplugNamespace starts every Sparkplug B topic.
const sparkplugNamespace = "spBv1.0/"

// prefixTopics returns the firmware config text with every MQTT topic
// made run-unique with prefix: "PREFIX/" before a free-form topic, and
// "PREFIX-" before the group of a Sparkplug B topic
// (spBv1.0/PREFIX-GROUP/TYPE/NODE[/DEVICE]), which keeps the layout the
// agent reads edge nodes and births from.
func prefixTopics(text, prefix string) string {
	re := regexp.MustCompile(`(\btopic:\s*"?)(spBv1\.0/)?`)
	return re.ReplaceAllStringFunc(text, func(m string) string {
		sm := re.FindStringSubmatch(m)
		if sm[2] != "" {
			return sm[1] + sm[2] + prefix + "-"
		}
		return sm[1] + prefix + "/"
	})
}

// benchRig writes into dir a copy of the firmware config whose topics
// start with prefix (and, with codecName, use that codec), and a copy of
// its bundle bound to the copy (the config digest is the only change).
func benchRig(o ingestBenchOptions, dir, prefix string) (*rig.Config, *bundle.Manifest, string, string, error) {
	cfg, path, err := findRig(o.rigPath, "zema-testrig")
	if err != nil {
		return nil, nil, "", "", err
	}
	bundleDir := o.bundleDir
	if bundleDir == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, nil, "", "", fmt.Errorf("%v: give --bundle DIR", err)
		}
		bundleDir = filepath.Join(root, "models", "bundles", cfg.RigType)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, "", "", err
	}
	text := prefixTopics(string(data), prefix)
	if o.codec != "" {
		text = regexp.MustCompile(`(\bcodec:\s*)("?)[A-Za-z0-9:_-]+`).ReplaceAllString(text, "${1}${2}"+o.codec)
	}
	fwPath := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(fwPath, []byte(text), 0o600); err != nil {
		return nil, nil, "", "", err
	}
	fw, err := rig.Load(fwPath)
	if err != nil {
		return nil, nil, "", "", fmt.Errorf("bench copy of %s: %w", path, err)
	}
	for _, s := range fw.Sensors {
		if s.Inactive {
			continue
		}
		if !strings.HasPrefix(s.MQTT.Topic, prefix+"/") && !strings.HasPrefix(s.MQTT.Topic, sparkplugNamespace+prefix+"-") {
			return nil, nil, "", "", fmt.Errorf("sensor %s: topic %q was not prefixed in the bench copy", s.ID, s.MQTT.Topic)
		}
		if _, err := codec.Lookup(s.MQTT.Codec); err != nil {
			return nil, nil, "", "", fmt.Errorf("sensor %s: codec %q is not one the bench publishes (json, json-batch, csv, binary, sparkplugb): use --codec", s.ID, s.MQTT.Codec)
		}
	}
	man, err := bundle.Load(bundleDir)
	if err != nil {
		return nil, nil, "", "", err
	}
	out := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(out, 0o700); err != nil {
		return nil, nil, "", "", err
	}
	entries, err := os.ReadDir(bundleDir)
	if err != nil {
		return nil, nil, "", "", err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(bundleDir, e.Name()))
		if err != nil {
			return nil, nil, "", "", err
		}
		if e.Name() == bundle.ManifestFile {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, nil, "", "", fmt.Errorf("%s: %w", bundle.ManifestFile, err)
			}
			m["config_digest"], _ = json.Marshal(fw.Digest())
			if b, err = json.MarshalIndent(m, "", "  "); err != nil {
				return nil, nil, "", "", err
			}
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o600); err != nil {
			return nil, nil, "", "", err
		}
	}
	return fw, man, fwPath, out, nil
}

// agentProc is a running rig-agent subprocess.
type agentProc struct {
	cmd     *exec.Cmd
	api     string
	logPath string
	done    chan error
}

func startAgentProc(ctx context.Context, bin, cfgPath, api, logPath string) (*agentProc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	childproc.DieWithParent(cmd)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RIG_AGENT_") { // a stray override would change the generated config
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	a := &agentProc{cmd: cmd, api: api, logPath: logPath, done: make(chan error, 1)}
	go func() { a.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get("http://" + api + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return a, nil
			}
		}
		select {
		case err := <-a.done:
			a.done <- err
			return nil, fmt.Errorf("rig-agent exited before it was ready (%v):\n%s", err, logTail(logPath))
		case <-ctx.Done():
			_ = a.kill()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = a.kill()
			return nil, fmt.Errorf("rig-agent not ready after 90 s:\n%s", logTail(logPath))
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (a *agentProc) stop() error {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.done:
		a.done <- err
		if err != nil {
			return fmt.Errorf("rig-agent stopped with %v:\n%s", err, logTail(a.logPath))
		}
		return nil
	case <-time.After(45 * time.Second):
		_ = a.kill()
		return fmt.Errorf("rig-agent did not stop 45 s after SIGTERM:\n%s", logTail(a.logPath))
	}
}

func (a *agentProc) kill() error {
	_ = a.cmd.Process.Kill()
	err := <-a.done
	a.done <- err
	return err
}

func logTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// procStatus returns a /proc/PID/status field in kB (VmHWM, VmRSS).
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// procCPU returns the user + system CPU seconds of a process.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (u + st) / 100, nil // USER_HZ is 100 on Linux
}

// agentStatus is the part of the agent's /status the bench reads.
type agentStatus struct {
	Ingest struct {
		Readings uint64            `json:"readings"`
		Messages uint64            `json:"messages"`
		Rejected map[string]uint64 `json:"rejected"`
		Gaps     uint64            `json:"gaps"`
		AckP99Ms float64           `json:"ack_p99_ms"`
	} `json:"ingest"`
	Buffer struct {
		Readings uint64 `json:"readings"`
		LastSeq  uint64 `json:"last_seq"`
	} `json:"buffer"`
}

func getStatus(api string) (agentStatus, error) {
	var st agentStatus
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + api + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// inferenceMicros returns the inference_us of the agent's diagnoses (the
// newest 1000, the API's default page cap).
func inferenceMicros(api string) ([]int64, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + api + "/diagnoses?limit=1000&order=desc")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /diagnoses: %s", resp.Status)
	}
	var page struct {
		Diagnoses []struct {
			InferenceUs int64 `json:"inference_us"`
		} `json:"diagnoses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, fmt.Errorf("GET /diagnoses: %w", err)
	}
	out := make([]int64, len(page.Diagnoses))
	for i, d := range page.Diagnoses {
		out[i] = d.InferenceUs
	}
	return out, nil
}

// nearestRank returns the q quantile of v by the nearest-rank rule (v is
// sorted in place; it must not be empty).
func nearestRank(v []int64, q float64) int64 {
	slices.Sort(v)
	return v[min(len(v)-1, max(0, int(math.Ceil(q*float64(len(v))))-1))]
}

// metricsQuantile estimates quantile q of a Prometheus histogram on the
// agent's /metrics (histogramQuantile).
func metricsQuantile(api, name string, q float64) (float64, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + api + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return histogramQuantile(resp.Body, name, q)
}

// histogramQuantile estimates quantile q of the histogram name in the
// Prometheus text exposition r (its name_bucket{le="..."} lines, no other
// labels), as PromQL's histogram_quantile does: the rank q x count falls
// into the first bucket whose cumulative count reaches it, and the value
// is interpolated linearly between that bucket's lower bound (the previous
// bucket's le; 0 for the first) and its le; in the +Inf bucket it is the
// highest finite le. Buckets must come in ascending le with non-decreasing
// counts, +Inf last; an error when they do not or when nothing was observed.
func histogramQuantile(r io.Reader, name string, q float64) (float64, error) {
	type bucket struct{ le, n float64 }
	var bs []bucket
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := name + `_bucket{le="`
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, n, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		lv, err1 := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		nv, err2 := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err1 != nil || err2 != nil || math.IsNaN(lv) || math.IsInf(lv, -1) || math.IsNaN(nv) || math.IsInf(nv, 0) {
			return 0, fmt.Errorf("%s: bad bucket line %q", name, sc.Text())
		}
		if k := len(bs); k > 0 && (lv <= bs[k-1].le || nv < bs[k-1].n) {
			return 0, fmt.Errorf("%s: bucket line %q out of order", name, sc.Text())
		}
		bs = append(bs, bucket{lv, nv})
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if len(bs) == 0 || bs[len(bs)-1].n <= 0 {
		return 0, fmt.Errorf("no observations of %s", name)
	}
	rank := q * bs[len(bs)-1].n
	lo, below := 0.0, 0.0
	for _, b := range bs {
		if b.n >= rank {
			if math.IsInf(b.le, 1) {
				return lo, nil
			}
			if b.n == below {
				return b.le, nil
			}
			// Weighted so that no intermediate overflows (bounds near ±MaxFloat64).
			f := (rank - below) / (b.n - below)
			return lo*(1-f) + b.le*f, nil
		}
		lo, below = b.le, b.n
	}
	return lo, nil
}

// benchSensor is one sensor a publisher owns.
type benchSensor struct {
	id     string
	rate   float64
	mean   float64
	lo, hi float64
	seq    uint64
}

// benchTopic is one topic of a publisher: its sensors and codec.
type benchTopic struct {
	name    string
	codec   codec.Codec
	single  bool
	sensors []*benchSensor
	// spSeq is the Sparkplug B message seq (0-255) of the topic's edge
	// node, shared by the node's topics; nil for other codecs.
	spSeq *uint64
}

type pubAck struct {
	tok  mqtt.Token
	sent time.Time
	n    int
}

// benchIngestOnce runs one agent against one broker (brokerURL ""
// for the embedded one) and publishes to it.
func benchIngestOnce(ctx context.Context, env Env, o ingestBenchOptions, bin, dir, name, brokerURL string) (ingestBenchResult, error) {
	res := ingestBenchResult{Broker: name}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	id := "bench-ingest-" + randomID()
	fw, man, fwPath, bundleDir, err := benchRig(o, dir, id)
	if err != nil {
		return res, err
	}
	apiPort, err := freePort()
	if err != nil {
		return res, err
	}
	brokerSection := ""
	if brokerURL == "" {
		port, err := freePort()
		if err != nil {
			return res, err
		}
		brokerURL = fmt.Sprintf("tcp://127.0.0.1:%d", port)
		brokerSection = fmt.Sprintf("  embedded: true\n  listen: 127.0.0.1:%d\n", port)
	} else {
		brokerSection = fmt.Sprintf("  url: %s\n", brokerURL)
	}
	res.URL = brokerURL
	clientID := "rig-agent-" + id
	cfgPath := filepath.Join(dir, "rig-agent.yaml")
	cfgText := fmt.Sprintf("agent:\n  id: %s\n  data_dir: %s\nrig:\n  firmware_config: %s\nmodel:\n  bundle_dir: %s\n"+
		"broker:\n%s  client_id: %s\nwindowing:\n  cycle_anchor: epoch\napi:\n  listen: 127.0.0.1:%d\nlogging:\n  level: warn\n  format: text\n",
		id, filepath.Join(dir, "data"), fwPath, bundleDir, brokerSection, clientID, apiPort)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return res, err
	}
	a, err := startAgentProc(ctx, bin, cfgPath, fmt.Sprintf("127.0.0.1:%d", apiPort), filepath.Join(dir, "rig-agent.log"))
	if err != nil {
		return res, err
	}
	defer func() {
		if a != nil {
			_ = a.kill()
		}
	}()
	if name == "mosquitto" {
		defer cleanMQTTSession(brokerURL, clientID)
	}

	// The sensors, spread over the publishers by rate (largest first, each
	// to the least loaded), and the simulated time's speed.
	means := map[string]float64{}
	for _, s := range man.Input.Sensors {
		means[s.ID] = s.Mean
	}
	type pub struct {
		load   float64
		topics []*benchTopic
	}
	pubs := make([]*pub, o.publishers)
	for i := range pubs {
		pubs[i] = &pub{}
	}
	var sensors []rig.Sensor
	native := 0.0
	for _, s := range fw.Sensors {
		if !s.Inactive && s.RateHz > 0 {
			sensors = append(sensors, s)
			native += s.RateHz
		}
	}
	if native == 0 {
		return res, errors.New("the rig has no active sensor with a rate")
	}
	slices.SortStableFunc(sensors, func(a, b rig.Sensor) int { return cmp.Compare(b.RateHz, a.RateHz) })
	// A Sparkplug B edge node numbers its messages with one seq across its
	// topics: one publisher sends all of a node's readings, in order.
	spPub := map[string]*pub{}
	spSeq := map[string]*uint64{}
	for _, s := range sensors {
		p := pubs[0]
		for _, q := range pubs[1:] {
			if q.load < p.load {
				p = q
			}
		}
		sparkplug := s.MQTT.Codec == codec.NameSparkplugB
		node := publish.SparkplugNode(s.MQTT.Topic)
		if sparkplug {
			if np := spPub[node]; np != nil {
				p = np
			}
			spPub[node] = p
		}
		p.load += s.RateHz
		var t *benchTopic
		for _, x := range p.topics {
			if x.name == s.MQTT.Topic {
				t = x
			}
		}
		if t == nil {
			c, err := codec.Lookup(s.MQTT.Codec)
			if err != nil {
				return res, err
			}
			t = &benchTopic{name: s.MQTT.Topic, codec: c, single: s.MQTT.Codec == codec.NameJSON}
			if sparkplug {
				if spSeq[node] == nil {
					spSeq[node] = new(uint64)
				}
				t.spSeq = spSeq[node]
			}
			p.topics = append(p.topics, t)
		}
		mean, ok := means[s.ID]
		if !ok || mean < s.Range.Min || mean > s.Range.Max {
			mean = (s.Range.Min + s.Range.Max) / 2
		}
		t.sensors = append(t.sensors, &benchSensor{id: s.ID, rate: s.RateHz, mean: mean, lo: s.Range.Min, hi: s.Range.Max})
	}
	speed := float64(o.rate) / native // simulated seconds per second
	simSeconds := int(math.Ceil(o.duration.Seconds() * speed))
	// Simulated time ends a minute before now (the agent refuses readings
	// from the future), at a cycle boundary.
	simStart := time.Now().UTC().Add(-time.Duration(simSeconds+120) * time.Second).Truncate(time.Minute)

	clients := make([]mqtt.Client, len(pubs))
	for i := range clients {
		co := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("%s-pub%d", id, i)).
			SetCleanSession(true).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
			SetKeepAlive(30 * time.Second)
		c := mqtt.NewClient(co)
		tok := c.Connect()
		if !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			return res, fmt.Errorf("publisher %d: connect to %s: %v", i, brokerURL, tok.Error())
		}
		defer c.Disconnect(250)
		clients[i] = c
	}

	var published, acked, messages, failures atomic.Int64
	lats := make([][]time.Duration, len(pubs))
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	var wg sync.WaitGroup
	start := time.Now()
	for i, p := range pubs {
		acks := make(chan pubAck, o.window)
		wg.Go(func() {
			for pa := range acks {
				if !pa.tok.WaitTimeout(time.Minute) {
					failures.Add(1)
					fail(fmt.Errorf("publisher %d: no PUBACK within a minute", i))
					continue
				}
				if err := pa.tok.Error(); err != nil {
					failures.Add(1)
					fail(fmt.Errorf("publisher %d: %w", i, err))
					continue
				}
				acked.Add(int64(pa.n))
				lats[i] = append(lats[i], time.Since(pa.sent))
			}
		})
		wg.Go(func() {
			defer close(acks)
			rs := make([]reading.Reading, 0, 256)
			var payload []byte
			for s := range simSeconds {
				if ctx.Err() != nil {
					return
				}
				if d := time.Until(start.Add(time.Duration(float64(s) / speed * float64(time.Second)))); d > 0 {
					time.Sleep(d)
				}
				sec := simStart.Add(time.Duration(s) * time.Second)
				for _, t := range p.topics {
					rs = rs[:0]
					for _, bs := range t.sensors {
						k0, k1 := int(math.Ceil(float64(s)*bs.rate)), int(math.Ceil(float64(s+1)*bs.rate))
						for k := k0; k < k1; k++ {
							bs.seq++
							v := bs.mean * (1 + 0.01*math.Sin(float64(k)/7))
							v = min(max(v, bs.lo), bs.hi)
							at := sec.Add(time.Duration((float64(k)/bs.rate - float64(s)) * float64(time.Second)))
							if t.spSeq != nil {
								at = at.Round(time.Millisecond) // Sparkplug B carries milliseconds
							}
							rs = append(rs, reading.Reading{Sensor: bs.id, Time: at, Value: v, Seq: bs.seq})
						}
					}
					per := o.batch
					if t.single {
						per = 1
					}
					for j := 0; j < len(rs); j += per {
						chunk := rs[j:min(j+per, len(rs))]
						if t.spSeq != nil {
							// One seq per message, 0-255, per edge node.
							for k := range chunk {
								chunk[k].Seq = *t.spSeq
							}
							*t.spSeq = (*t.spSeq + 1) % 256
						}
						var err error
						if payload, err = t.codec.Encode(payload[:0], chunk); err != nil {
							fail(fmt.Errorf("encode %s: %w", t.name, err))
							return
						}
						now := time.Now()
						tok := clients[i].Publish(t.name, 1, false, slices.Clone(payload))
						published.Add(int64(len(chunk)))
						messages.Add(1)
						acks <- pubAck{tok: tok, sent: now, n: len(chunk)}
					}
				}
			}
		})
	}
	wg.Wait()
	pubDone := time.Now()
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Published, res.Acked, res.Messages = published.Load(), acked.Load(), messages.Load()
	if firstErr != nil {
		fmt.Fprintf(env.Stderr, "bench ingest: %s: %d publishes failed, first: %v\n", name, failures.Load(), firstErr)
	}

	// Wait until the agent has stored every acknowledged reading.
	var st agentStatus
	end := pubDone
	for deadline := pubDone.Add(o.drainTimeout); ; {
		st, err = getStatus(a.api)
		if err != nil {
			return res, err
		}
		end = time.Now()
		if int64(st.Buffer.LastSeq) >= res.Acked || end.After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The agent's peak memory and CPU, before it stops.
	if hwm, err := procStatus(a.cmd.Process.Pid, "VmHWM"); err == nil {
		res.RSSMB = roundTo(float64(hwm)/1024, 0.1)
	}
	if cpu, err := procCPU(a.cmd.Process.Pid); err == nil {
		res.AgentCPUS = roundTo(cpu, 0.01)
	}
	res.Stored = int64(st.Buffer.LastSeq)
	res.Lost = res.Acked - res.Stored
	for _, n := range st.Ingest.Rejected {
		res.Rejected += n
	}
	res.Gaps = st.Ingest.Gaps
	res.P99AckMs = roundTo(st.Ingest.AckP99Ms, 0.01)
	if p50, err := metricsQuantile(a.api, "rig_agent_ingest_ack_latency_seconds", 0.5); err == nil {
		res.P50AckMs = roundTo(p50*1000, 0.01)
	} else {
		fmt.Fprintf(env.Stderr, "bench ingest: %s: p50 from /metrics: %v\n", name, err)
	}
	if us, err := inferenceMicros(a.api); err == nil {
		res.Windows = len(us)
		if len(us) > 0 {
			res.P50InferUs, res.P99InferUs = float64(nearestRank(us, 0.5)), float64(nearestRank(us, 0.99))
		}
	} else {
		fmt.Fprintf(env.Stderr, "bench ingest: %s: inference times from /diagnoses: %v\n", name, err)
	}
	if res.Windows > 0 {
		for _, f := range []struct {
			q   float64
			dst *float64
		}{{0.5, &res.P50InferCPUUs}, {0.99, &res.P99InferCPUUs}} {
			v, err := metricsQuantile(a.api, "rig_agent_inference_cpu_seconds", f.q)
			if err != nil {
				fmt.Fprintf(env.Stderr, "bench ingest: %s: inference CPU time from /metrics: %v\n", name, err)
				break
			}
			*f.dst = roundTo(v*1e6, 0.1)
		}
	}
	// Publishing covers simSeconds ticks of 1/speed s each; the agent may
	// take longer to store them.
	elapsed := max(end.Sub(start).Seconds(), float64(simSeconds)/speed)
	res.DurationS = roundTo(elapsed, 0.001)
	res.ReadingsPerS = math.Round(float64(res.Stored) / elapsed)
	res.OfferedPerS = math.Round(float64(res.Published) / max(float64(simSeconds)/speed, pubDone.Sub(start).Seconds()))
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if len(all) > 0 {
		slices.Sort(all)
		res.P99PubackMs = roundTo(float64(all[min(len(all)-1, int(math.Ceil(0.99*float64(len(all))))-1)].Microseconds())/1000, 0.01)
	}
	err = a.stop()
	a = nil
	return res, err
}

// cleanMQTTSession removes a persistent session from a shared broker.
func cleanMQTTSession(brokerURL, clientID string) {
	co := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).SetCleanSession(true).
		SetProtocolVersion(4).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(co)
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(100)
	}
}
