package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/confyaml"
)

// IDPattern is the form of Agent.ID.
const IDPattern = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`

var idPattern = regexp.MustCompile(IDPattern)

// Accepted values of the enumerated fields.
var (
	Precisions    = []string{"", "fp32", "int8"}
	Providers     = []string{"cpu", "cuda", "tensorrt"}
	FullPolicies  = []string{"drop_oldest", "reject"}
	Alignments    = []string{"", "cycle", "sliding"}
	LogLevels     = []string{"debug", "info", "warn", "error"}
	LogFormats    = []string{"json", "text"}
	BrokerSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}
)

// Validate checks every value and returns Errors listing each problem
// with its key path and the bad value quoted, or nil. It reads no file
// (Load checks that the named files exist).
func (c *Config) Validate() error {
	v := &confyaml.Validator{Spec: &spec}
	c.validate(v)
	if len(v.Problems) == 0 {
		return nil
	}
	return Errors(v.Problems)
}

// MinStallAfter is the least agent.stall_after: well above the loops'
// heartbeat interval (2s).
const MinStallAfter = 30 * time.Second

func (c *Config) validate(v *confyaml.Validator) {
	// agent
	if v.Required("agent.id", c.Agent.ID) && !idPattern.MatchString(c.Agent.ID) {
		v.Add("agent.id", "%q does not match %s", c.Agent.ID, IDPattern)
	}
	v.Required("agent.data_dir", c.Agent.DataDir)
	v.DurationIn("agent.plugin_max_wait", c.Agent.PluginMaxWait, 100*time.Millisecond, time.Minute)
	// Only an explicit value can fail this: the default is at most half
	// of keep_alive (derive).
	if w, k := c.Agent.PluginMaxWait, c.Broker.KeepAlive; w >= 100*time.Millisecond && w <= time.Minute && k >= time.Second && w >= k {
		v.Add("agent.plugin_max_wait", "%s is not less than broker.keep_alive %s: the ingest reads nothing while a message waits for its plugin, and the broker would drop the connection",
			c.Agent.PluginMaxWait, c.Broker.KeepAlive)
	}
	v.DurationIn("agent.plugin_held_retry", c.Agent.PluginHeldRetry, time.Second, time.Hour)
	v.DurationIn("agent.stall_after", c.Agent.StallAfter, MinStallAfter, time.Hour)

	// rig, model
	v.Required("rig.firmware_config", c.Rig.FirmwareConfig)
	m := c.Model
	v.Required("model.bundle_dir", m.BundleDir)
	v.OneOf("model.precision", m.Precision, Precisions)
	v.IntIn("model.intra_op_threads", m.IntraOpThreads, 1, 64)
	v.IntIn("model.inter_op_threads", m.InterOpThreads, 1, 64)
	if len(m.Providers) == 0 {
		v.Add("model.providers", "is empty: list at least %q", "cpu")
	}
	for i, p := range m.Providers {
		path := fmt.Sprintf("model.providers[%d]", i)
		v.OneOf(path, p, Providers)
		if slices.Index(m.Providers, p) < i {
			v.Add(path, "%q is listed twice", p)
		}
	}
	v.IntIn("model.device_id", m.DeviceID, 0, 64)
	v.IntIn("model.max_batch", m.MaxBatch, 1, 65536)

	// broker
	b := c.Broker
	if !b.Embedded && v.Required("broker.url", b.URL) {
		c.validateBrokerURL(v)
	}
	if b.ClientID == "" && !idPattern.MatchString(c.Agent.ID) {
		// Derived from agent.id, whose error says what to fix.
	} else if v.Required("broker.client_id", b.ClientID) {
		if len(b.ClientID) > 64 || strings.IndexFunc(b.ClientID, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			v.Add("broker.client_id", "%q: want 1 to 64 printable ASCII characters without spaces", b.ClientID)
		}
	}
	if b.Password != "" && b.PasswordFile != "" {
		v.Add("broker.password_file", "%q is set together with broker.password: set one of them", b.PasswordFile)
	}
	if b.Password != "" && b.Username == "" {
		v.Add("broker.password", "is set without broker.username")
	}
	if (b.TLS.CertFile == "") != (b.TLS.KeyFile == "") {
		v.Add("broker.tls", "cert_file %q and key_file %q: set both or neither", b.TLS.CertFile, b.TLS.KeyFile)
	}
	if b.QoS != 1 && b.QoS != 2 {
		v.Add("broker.qos", "%d is not 1 or 2 (the agent acknowledges a message only after storing it, which needs QoS 1 or 2)", b.QoS)
	}
	v.DurationIn("broker.keep_alive", b.KeepAlive, time.Second, time.Hour)
	v.DurationIn("broker.connect_timeout", b.ConnectTimeout, 100*time.Millisecond, 5*time.Minute)
	if b.Embedded {
		v.HostPort("broker.listen", b.Listen)
		if _, _, err := net.SplitHostPort(b.Listen); err == nil {
			c.validateEmbeddedAccess(v)
		}
		if b.TLS != (TLS{}) {
			v.Add("broker.tls", "is set with embedded: true; broker.tls is for an external broker: the embedded broker's TLS is broker.listen_tls")
		}
	} else if b.ListenTLS != (ListenTLS{}) {
		v.Add("broker.listen_tls", "is set but broker.embedded is false: it configures the embedded broker's listener (an external broker's TLS is broker.tls)")
	}
	lt := b.ListenTLS
	switch {
	case lt.CertFile != "" && lt.KeyFile == "":
		v.Add("broker.listen_tls.key_file", "is empty but broker.listen_tls.cert_file %q is set: give the certificate's key", lt.CertFile)
	case lt.CertFile == "" && lt.KeyFile != "":
		v.Add("broker.listen_tls.cert_file", "is empty but broker.listen_tls.key_file %q is set: give the certificate of that key", lt.KeyFile)
	}
	if lt.ClientCAFile != "" && lt.CertFile == "" {
		v.Add("broker.listen_tls.client_ca_file", "%q is set without broker.listen_tls.cert_file: client certificates need a TLS listener (set cert_file and key_file)", lt.ClientCAFile)
	}
	l := b.Limits
	v.IntIn("broker.limits.max_clients", l.MaxClients, 1, 100_000)
	v.IntIn("broker.limits.max_connecting", l.MaxConnecting, 1, 100_000)
	// The broker holds a client's publishing at half of the smaller of
	// these (its high-water mark), which must be at least 1.
	brokerQueue(v, "broker.limits.max_inflight", l.MaxInflight, 65535)
	brokerQueue(v, "broker.limits.max_pending_writes", l.MaxPendingWrites, 10_000_000)
	v.SizeIn("broker.limits.max_packet_bytes", l.MaxPacketBytes, KiB, 256*MiB)
	v.DurationIn("broker.limits.session_expiry", l.SessionExpiry, time.Minute, 7*24*time.Hour)
	v.IntIn("broker.limits.max_sessions", l.MaxSessions, max(1, l.MaxClients), 1_000_000)

	// buffer
	bf := c.Buffer
	v.Required("buffer.path", bf.Path)
	v.SizeIn("buffer.max_bytes", bf.MaxBytes, MiB, 64*TiB)
	v.DurationIn("buffer.max_age", bf.MaxAge, 0, 100*365*24*time.Hour)
	v.IntIn("buffer.group_commit_count", bf.GroupCommitCount, 1, 1_000_000)
	v.DurationIn("buffer.group_commit_delay", bf.GroupCommitDelay, 0, time.Second)
	v.OneOf("buffer.full_policy", bf.FullPolicy, FullPolicies)
	if math.IsNaN(bf.CompactFreeRatio) || bf.CompactFreeRatio < 0 || bf.CompactFreeRatio >= 1 {
		v.Add("buffer.compact_free_ratio", "%v is out of range [0, 1) (0: never compact automatically)", bf.CompactFreeRatio)
	}
	v.SizeIn("buffer.compact_min_bytes", bf.CompactMinBytes, 0, 64*TiB)

	// windowing
	w := c.Windowing
	v.OneOf("windowing.alignment", w.Alignment, Alignments)
	if w.StrideSteps < 0 {
		v.Add("windowing.stride_steps", "%d is negative (0: the bundle's stride)", w.StrideSteps)
	} else if w.StrideSteps > 0 && w.Alignment != "sliding" {
		v.Add("windowing.stride_steps", "%d is set but windowing.alignment is %q: a stride only applies to \"sliding\"", w.StrideSteps, w.Alignment)
	}
	// Whether the bundle's windows are cycle-aligned is known only when it
	// is opened (agent/internal/windowing refuses them without an anchor);
	// here what the config alone says.
	if w.CycleAnchor != "" {
		if _, err := parseAnchor(w.CycleAnchor); err != nil {
			v.Add("windowing.cycle_anchor", "%q is not an RFC 3339 time (e.g. 2025-01-01T06:00:00Z) or %q", w.CycleAnchor, EpochAnchor)
		} else if w.Alignment == "sliding" {
			v.Add("windowing.cycle_anchor", "%q is set but windowing.alignment is \"sliding\"", w.CycleAnchor)
		}
	} else if w.Alignment == "cycle" {
		v.Add("windowing.cycle_anchor", "is required with windowing.alignment \"cycle\": the model is judged on windows aligned to the rig's load cycle "+
			"(1 s off is enough to make its diagnoses wrong); set the RFC 3339 time of one cycle start, or %q when cycles start at whole "+
			"multiples of the cycle length since the Unix epoch (rigsim)", EpochAnchor)
	}
	v.DurationIn("windowing.lateness", w.Lateness, 0, 10*time.Minute)

	// diagnoses
	dg := c.Diagnoses
	v.Required("diagnoses.path", dg.Path)
	c.validateFiles(v)
	v.IntIn("diagnoses.max_count", dg.MaxCount, 1, 100_000_000)
	v.SizeIn("diagnoses.max_bytes", dg.MaxBytes, MiB, 64*TiB)
	v.DurationIn("diagnoses.max_age", dg.MaxAge, 0, 100*365*24*time.Hour)
	if dg.Publish && v.Required("diagnoses.topic", dg.Topic) {
		if strings.ContainsAny(dg.Topic, "+#\x00") || strings.HasPrefix(dg.Topic, "$") || len(dg.Topic) > 1024 {
			v.Add("diagnoses.topic", "%q is not a topic to publish on (no +, # or NUL, not starting with $, at most 1024 bytes)", dg.Topic)
		}
	}

	// api
	a := c.API
	if v.Required("api.listen", a.Listen) {
		v.HostPort("api.listen", a.Listen)
	}
	v.DurationIn("api.read_header_timeout", a.ReadHeaderTimeout, 100*time.Millisecond, 5*time.Minute)
	v.DurationIn("api.write_timeout", a.WriteTimeout, 100*time.Millisecond, time.Hour)
	v.DurationIn("api.idle_timeout", a.IdleTimeout, time.Second, time.Hour)
	v.SizeIn("api.max_header_bytes", a.MaxHeaderBytes, KiB, 16*MiB)
	v.IntIn("api.max_connections", a.MaxConnections, 1, 100_000)
	v.IntIn("api.max_history_items", a.MaxHistoryItems, 1, 1_000_000)
	if c.Broker.Embedded && a.Listen == c.Broker.Listen && !strings.HasSuffix(a.Listen, ":0") { // port 0: two free ports
		v.Add("api.listen", "%q is also broker.listen", a.Listen)
	}
	c.validateAPIAccess(v)

	// cloud
	cl := c.Cloud
	if cl.URL != "" {
		c.validateCloudURL(v)
		v.Required("cloud.credential_file", cl.CredentialFile)
	} else if cl.CredentialFile != "" {
		v.Add("cloud.credential_file", "%q is set but cloud.url is empty (no cloud link)", cl.CredentialFile)
	}
	v.IntIn("cloud.batch_size", cl.BatchSize, 1, 10_000)
	v.SizeIn("cloud.batch_bytes", cl.BatchBytes, KiB, 64*MiB)
	v.SizeIn("cloud.bandwidth_bytes_per_s", cl.BandwidthBytesPerS, 0, 100*GiB)
	if cl.BandwidthBytesPerDay != 0 && cl.BandwidthBytesPerDay < cl.BatchBytes {
		v.Add("cloud.bandwidth_bytes_per_day", "%s is below cloud.batch_bytes %s: a full batch could never be sent (0: unlimited)", cl.BandwidthBytesPerDay, cl.BatchBytes)
	}
	if cl.BandwidthBytesPerS != 0 && cl.BandwidthBytesPerS < KiB {
		v.Add("cloud.bandwidth_bytes_per_s", "%s is below 1KiB (0: unlimited)", cl.BandwidthBytesPerS)
	}
	v.DurationIn("cloud.backoff_min", cl.BackoffMin, 10*time.Millisecond, time.Hour)
	v.DurationIn("cloud.backoff_max", cl.BackoffMax, 10*time.Millisecond, 24*time.Hour)
	if cl.BackoffMax < cl.BackoffMin {
		v.Add("cloud.backoff_max", "%s is below cloud.backoff_min %s", cl.BackoffMax, cl.BackoffMin)
	}
	v.DurationIn("cloud.timeout", cl.Timeout, 100*time.Millisecond, 10*time.Minute)
	v.IntIn("cloud.outbox_max_items", cl.OutboxMaxItems, 1, 100_000_000)
	v.SizeIn("cloud.outbox_max_bytes", cl.OutboxMaxBytes, MiB, 64*GiB)

	c.validateUpdate(v)

	// logging
	v.OneOf("logging.level", c.Logging.Level, LogLevels)
	v.OneOf("logging.format", c.Logging.Format, LogFormats)
}

// validateEmbeddedAccess checks that the embedded broker is not open to
// the network: broker.username needs a password, and without a username
// a listen address other than loopback needs client certificates
// (broker.listen_tls.client_ca_file: a credential) or
// broker.allow_anonymous, or anyone who reaches it could publish
// readings. Start applied this rule before; here `rig-agent --check` and
// every start refuse it with the key to fix.
func (c *Config) validateEmbeddedAccess(v *confyaml.Validator) {
	b := c.Broker
	if b.Username != "" {
		if b.Password == "" && b.PasswordFile == "" {
			v.Add("broker.username", "%q is set without a password: the embedded broker (broker.listen %s) needs both (broker.password_file, or RIG_AGENT_BROKER_PASSWORD)", b.Username, b.Listen)
		}
		return
	}
	if !IsLoopback(b.Listen) && !b.AllowAnonymous && b.ListenTLS.ClientCAFile == "" {
		v.Add("broker.listen", "%s is not a loopback address and the embedded broker has no credentials: anyone who reaches it can publish readings and take over the ingest's session; set broker.username and broker.password_file (the gateways log in with them), or require client certificates (broker.listen_tls.cert_file, key_file and client_ca_file), or bind broker.listen to 127.0.0.1, or set broker.allow_anonymous: true on a closed network", b.Listen)
	}
}

// validateAPIAccess checks that the local API is not open to the
// network, as validateEmbeddedAccess does for the broker: a listen
// address other than loopback needs api.token_file, or
// api.allow_unauthenticated on a closed network. The API's data (the
// diagnoses, the rig's configuration) and POST /detector/recalibrate
// would be anyone's otherwise.
func (c *Config) validateAPIAccess(v *confyaml.Validator) {
	a := c.API
	if a.TokenFile != "" && a.AllowUnauthenticated {
		v.Add("api.allow_unauthenticated", "is true but api.token_file %q is set: set one of them", a.TokenFile)
	}
	if a.Listen != "" && !IsLoopback(a.Listen) && a.TokenFile == "" && !a.AllowUnauthenticated {
		v.Add("api.listen", "%s is not a loopback address and the API has no token: anyone who reaches it reads the diagnoses and the rig's configuration and can recalibrate the detector; set api.token_file (clients send Authorization: Bearer TOKEN), or bind api.listen to 127.0.0.1, or set api.allow_unauthenticated: true on a closed network", a.Listen)
	}
	for i, h := range a.AllowedHosts {
		if h == "" || strings.ContainsAny(h, " /:@[]\t\r\n") && net.ParseIP(h) == nil {
			v.Add(fmt.Sprintf("api.allowed_hosts[%d]", i), "%q is not a host name or address (no port, scheme or path)", h)
		}
	}
}

// IsLoopback reports whether the listen address host:port binds to
// loopback only (an empty host or a name other than localhost does not).
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validateBrokerURL(v *confyaml.Validator) {
	u, err := url.Parse(c.Broker.URL)
	if err != nil || u.Host == "" {
		v.Add("broker.url", "%q is not a URL with a host, e.g. tcp://127.0.0.1:1883", c.Broker.URL)
		return
	}
	v.OneOf("broker.url", u.Scheme, BrokerSchemes)
	if u.Port() == "" {
		v.Add("broker.url", "%q has no port (1883 for tcp://, 8883 for ssl://)", c.Broker.URL)
	}
	if u.User != nil {
		v.Add("broker.url", "%q holds credentials: use broker.username and broker.password_file", u.Redacted())
	}
	tlsScheme := u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" || u.Scheme == "wss"
	if !tlsScheme && c.Broker.TLS != (TLS{}) {
		v.Add("broker.tls", "is set but broker.url %q is not a TLS URL (ssl://, tls://, mqtts://, wss://)", c.Broker.URL)
	}
}

func (c *Config) validateCloudURL(v *confyaml.Validator) {
	validateHTTPS(v, "cloud.url", c.Cloud.URL, "use cloud.credential_file")
}

// validateHTTPS checks an https:// base URL (http:// for localhost only).
func validateHTTPS(v *confyaml.Validator, path, raw, creds string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		v.Add(path, "%q is not a URL with a host, e.g. https://cloud.example.com", raw)
		return
	}
	if u.User != nil {
		v.Add(path, "%q holds credentials: %s", u.Redacted(), creds)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" && h != "::1" {
			v.Add(path, "%q is plain http: use https (http is accepted for localhost only)", raw)
		}
	default:
		v.Add(path, "%q: scheme %q is not https", raw, u.Scheme)
	}
}

// hardwarePattern is a release hardware token (shared/release).
var hardwarePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

func (c *Config) validateUpdate(v *confyaml.Validator) {
	u := c.Update
	if u.URL != "" {
		validateHTTPS(v, "update.url", u.URL, "on cloud.url's host the agent sends cloud.credential_file")
		v.Required("update.root_file", u.RootFile)
	} else if u.RootFile != "" {
		v.Add("update.root_file", "%q is set but update.url is empty (no updates)", u.RootFile)
	}
	v.Required("update.dir", u.Dir)
	v.DurationIn("update.check_interval", u.CheckInterval, time.Minute, 168*time.Hour)
	v.DurationIn("update.request_timeout", u.RequestTimeout, time.Second, 10*time.Minute)
	v.DurationIn("update.download_timeout", u.DownloadTimeout, 10*time.Second, 24*time.Hour)
	v.SizeIn("update.max_bundle_bytes", u.MaxBundleBytes, MiB, 16*GiB)
	v.SizeIn("update.disk_reserve", u.DiskReserve, MiB, 16*GiB)
	v.IntIn("update.max_attempts", u.MaxAttempts, 1, 100)
	for i, h := range u.Hardware {
		path := fmt.Sprintf("update.hardware[%d]", i)
		if !hardwarePattern.MatchString(h) {
			v.Add(path, "%q is not a hardware token (lowercase letters, digits, '.', '_', '-'; e.g. arm64, jetson-orin)", h)
		} else if slices.Index(u.Hardware, h) < i {
			v.Add(path, "%q is listed twice", h)
		}
	}
	cn := u.Canary
	v.IntIn("update.canary.windows", cn.Windows, 1, 10_000)
	v.IntIn("update.canary.min_windows", cn.MinWindows, 1, max(cn.Windows, 1))
	v.DurationIn("update.canary.max_latency", cn.MaxLatency, time.Millisecond, time.Minute)
	share(v, "update.canary.min_agreement", cn.MinAgreement, true)
	w := u.Watch
	v.DurationIn("update.watch.window", w.Window, time.Minute, 168*time.Hour)
	v.IntIn("update.watch.min_runs", w.MinRuns, 1, 1_000_000)
	share(v, "update.watch.max_error_rate", w.MaxErrorRate, false)
	v.DurationIn("update.watch.max_latency", w.MaxLatency, time.Millisecond, time.Minute)
	share(v, "update.watch.max_slow_rate", w.MaxSlowRate, false)
}

// EpochAnchor is the windowing.cycle_anchor that puts cycle starts at
// whole multiples of the cycle length since the Unix epoch (rigsim's
// cycles). Parse stores it as EpochAnchorTime.
const EpochAnchor = "epoch"

// EpochAnchorTime is EpochAnchor as an RFC 3339 time.
const EpochAnchorTime = "1970-01-01T00:00:00Z"

// parseAnchor parses a windowing.cycle_anchor: RFC 3339 or EpochAnchor.
func parseAnchor(s string) (time.Time, error) {
	if s == EpochAnchor {
		return time.Unix(0, 0), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// CycleAnchorTime returns windowing.cycle_anchor as a time: the zero time
// when it is empty (cycle-aligned windows are then refused by
// agent/internal/windowing), time.Unix(0, 0) for EpochAnchor. The value
// must have passed Validate.
func (w Windowing) CycleAnchorTime() time.Time {
	if w.CycleAnchor == "" {
		return time.Time{}
	}
	t, _ := parseAnchor(w.CycleAnchor)
	return t
}

// brokerQueue checks an embedded broker queue limit in [2, hi]: the
// broker's high-water mark is half the smaller one, and 1 would make it 0.
func brokerQueue(v *confyaml.Validator, path string, x, hi int) {
	if x < 2 || x > hi {
		v.Add(path, "%d is out of range [2, %d] (the embedded broker holds a client's publishing at half of it, which must be at least 1)", x, hi)
	}
}

// Files the agent keeps in agent.data_dir under fixed names.
const (
	// OutboxFile is the cloud forwarder's outbox (with a cloud link),
	// agent/internal/forward's DefaultFileName.
	OutboxFile = "outbox.db"
	// CalibrationFile is the SKAB detector's calibration,
	// agent/internal/service's CalibrationFile.
	CalibrationFile = "detector-calibration.json"
	// TrendFile is the health trend, agent/internal/service's
	// TrendFile.
	TrendFile = "health-trend.json"
)

// TempFile is the temporary file beside path that an atomic write of
// path (agent/internal/service's writeFileAtomic: the calibration and
// the trend) creates, truncates and renames over it.
func TempFile(path string) string { return path + ".tmp" }

// HistorySeqFile is the diagnosis history's sequence mark
// (history.Options.SeqFile) for the history at path: next to it, so that
// moving a damaged history aside (docs/agent.md, "History recovery")
// leaves the mark in place and the new history never reuses a Seq the
// forwarder may have sent (the cloud keys diagnoses on it).
func HistorySeqFile(path string) string { return path + ".seq" }

// validateFiles reports the files the agent writes that would be one
// file (compared cleaned): buffer.path, diagnoses.path, the fixed files in
// agent.data_dir and the temporary files of those written atomically
// (TempFile: truncated at each write), the history's sequence mark (HistorySeqFile), and anything at or under update.dir (the updater's). Two
// stores on one bbolt file would not start (the second open waits for the
// first's lock and times out), and a restart would fail the same way.
func (c *Config) validateFiles(v *confyaml.Validator) {
	type file struct{ key, desc, path string }
	var fixed []file
	if c.Agent.DataDir != "" {
		if c.Cloud.Enabled() {
			fixed = append(fixed, file{"", "the cloud outbox (agent.data_dir/" + OutboxFile + ")", filepath.Join(c.Agent.DataDir, OutboxFile)})
		}
		for _, f := range []struct{ desc, name string }{{"the detector calibration", CalibrationFile}, {"the health trend", TrendFile}} {
			path := filepath.Join(c.Agent.DataDir, f.name)
			fixed = append(fixed, file{"", f.desc + " (agent.data_dir/" + f.name + ")", path},
				file{"", f.desc + "'s temporary file (agent.data_dir/" + filepath.Base(TempFile(path)) + ")", TempFile(path)})
		}
	}
	if c.Diagnoses.Path != "" {
		fixed = append(fixed, file{"", "the history's sequence mark (diagnoses.path + .seq)", HistorySeqFile(c.Diagnoses.Path)})
	}
	var seen []file
	for _, f := range []file{{"buffer.path", "buffer.path", c.Buffer.Path}, {"diagnoses.path", "diagnoses.path", c.Diagnoses.Path}} {
		if f.path == "" {
			continue
		}
		p := filepath.Clean(f.path)
		if u := c.Update.Dir; u != "" {
			if rel, err := filepath.Rel(filepath.Clean(u), p); err == nil && (rel == "." || filepath.IsLocal(rel)) {
				v.Add(f.key, "%q is update.dir %q or in it: the updater owns that directory, give the file its own path", f.path, u)
				continue
			}
		}
		for _, o := range append(seen, fixed...) {
			if filepath.Clean(o.path) == p {
				v.Add(f.key, "%q is also %s: each needs its own file", f.path, o.desc)
				break
			}
		}
		seen = append(seen, file{f.key, f.desc, p})
	}
}

// share checks a fraction in (0, 1), or (0, 1] when one is allowed.
func share(v *confyaml.Validator, path string, x float64, one bool) {
	if math.IsNaN(x) || x <= 0 || x > 1 || x == 1 && !one {
		hi := "1)"
		if one {
			hi = "1]"
		}
		v.Add(path, "%v is out of range (0, %s", x, hi)
	}
}
