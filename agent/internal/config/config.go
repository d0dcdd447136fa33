package config

import (
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Config is the rig agent's configuration: one YAML file, then
// environment overrides, then defaults for what neither set. Every field
// documents its default. Load and Parse return a Config that passed
// Validate; a Config built in code must pass Validate before use.
//
// A Config is plain data, safe for concurrent reads once loaded.
type Config struct {
	Agent     Agent     `yaml:"agent"`
	Rig       Rig       `yaml:"rig"`
	Model     Model     `yaml:"model"`
	Broker    Broker    `yaml:"broker"`
	Buffer    Buffer    `yaml:"buffer"`
	Windowing Windowing `yaml:"windowing"`
	Diagnoses Diagnoses `yaml:"diagnoses"`
	API       API       `yaml:"api"`
	Cloud     Cloud     `yaml:"cloud"`
	Update    Update    `yaml:"update"`
	Logging   Logging   `yaml:"logging"`

	// File is the path the config was loaded from ("" for Parse's name
	// when not a file). Not a YAML key.
	File string `yaml:"-"`
	// Firmware is the rig's firmware config, loaded and validated by Load
	// from Rig.FirmwareConfig (nil after Parse). Not a YAML key.
	Firmware *rig.Config `yaml:"-"`
}

// Agent identifies the agent and where it keeps its state.
type Agent struct {
	// ID names this agent to the cloud and in MQTT client ids (default:
	// the host name, with characters outside [A-Za-z0-9_.-] replaced by
	// '-'). 1-64 characters from [A-Za-z0-9_.-], starting with a letter or
	// digit.
	ID string `yaml:"id"`
	// DataDir holds the agent's state: the buffer, the diagnosis store,
	// the outbox (default: /var/lib/rig-agent).
	DataDir string `yaml:"data_dir"`
	// PluginDir holds the codec plugins (hydrognn-codec-NAME) that
	// "plugin:NAME" codecs of the firmware config run (default: "": the
	// directory of the rig-agent executable, where make build puts them).
	PluginDir string `yaml:"plugin_dir"`
	// PluginMaxWait bounds how long one message holds the (serial) MQTT
	// ingest waiting for a codec plugin that cannot start or is
	// restarting; past it the message's topic is held unacknowledged for
	// the rest of the session while the other topics go on
	// (ingest.Options.MaxPluginWait; default and 0: the lesser of 5s and
	// half broker.keep_alive; 100ms-1m, and less than broker.keep_alive:
	// the ingest reads nothing meanwhile).
	PluginMaxWait time.Duration `yaml:"plugin_max_wait"`
	// PluginHeldRetry is how long after a topic is first held for its
	// plugin the ingest session ends, for the broker to deliver the held
	// messages again (ingest.Options.HeldRetry; default: 10s; 1s-1h).
	PluginHeldRetry time.Duration `yaml:"plugin_held_retry"`
	// StallAfter is how long one of the agent's loops (ingest, windowing,
	// publisher, forwarder, updater) may go without a heartbeat before it
	// counts as stalled: /health/live answers 503 and the systemd
	// watchdog is no longer fed (default: 2m; 30s-1h; keep the unit's
	// WatchdogSec= above it). The loops beat every 2s, idle or busy.
	StallAfter time.Duration `yaml:"stall_after"`
}

// Rig points at the rig's firmware config.
type Rig struct {
	// FirmwareConfig is the path of the rig's firmware config (required;
	// see docs/firmware-configs.md). Load reads and validates it with
	// shared/rig.
	FirmwareConfig string `yaml:"firmware_config"`
}

// Model selects the model bundle and how ONNX Runtime runs it (see
// agent/infer.Options and docs/inference.md).
type Model struct {
	// BundleDir is the directory of the model bundle for this rig
	// (required).
	BundleDir string `yaml:"bundle_dir"`
	// Precision is "" (default: the bundle's int8 model when it has one,
	// else fp32), "fp32" or "int8".
	Precision string `yaml:"precision"`
	// IntraOpThreads and InterOpThreads are ONNX Runtime's thread counts
	// (default: 1 each, the fastest for the project's small graphs;
	// 1-64).
	IntraOpThreads int `yaml:"intra_op_threads"`
	InterOpThreads int `yaml:"inter_op_threads"`
	// Providers are the execution providers to try, most preferred first,
	// from "cpu", "cuda", "tensorrt" (default: [cpu]). A GPU provider
	// that cannot be added is skipped with a log line; CPU is always the
	// last fallback.
	Providers []string `yaml:"providers"`
	// DeviceID is the GPU for cuda and tensorrt (default: 0).
	DeviceID int `yaml:"device_id"`
	// MaxBatch caps the windows per inference run (default: 256).
	MaxBatch int `yaml:"max_batch"`
	// OnnxRuntimeLib is the path of libonnxruntime.so (default: "", which
	// means $ONNXRUNTIME_LIB).
	OnnxRuntimeLib string `yaml:"onnxruntime_lib"`
	// TensorRTEngineCache keeps the engines TensorRT compiles (and its
	// timing cache) in TensorRTCacheDir, so that a restart reuses them
	// instead of compiling again (default: true). Used only with the
	// tensorrt provider.
	TensorRTEngineCache bool `yaml:"tensorrt_engine_cache"`
	// TensorRTCacheDir is the directory of the TensorRT engine and timing
	// caches (default: "<agent.data_dir>/tensorrt"); the agent creates it
	// when the tensorrt provider is listed. Each model file's engines go
	// to a folder of its own in it; the folders beyond the 3 models last
	// opened are removed (agent/infer, docs/jetson.md).
	TensorRTCacheDir string `yaml:"tensorrt_cache_dir"`
	// TensorRTFP16 lets TensorRT use fp16 kernels (default: false): faster
	// on a Jetson, slightly different outputs (compare with rig-agent
	// --check-model first).
	TensorRTFP16 bool `yaml:"tensorrt_fp16"`
}

// Broker configures the MQTT connection, or the embedded broker.
type Broker struct {
	// Embedded starts an in-process MQTT broker (mochi-mqtt) on Listen
	// and connects the agent to it, so a single rig needs nothing else
	// (default: false: connect to URL).
	Embedded bool `yaml:"embedded"`
	// URL is the broker to connect to: tcp://, mqtt://, ssl://, tls://,
	// mqtts://, ws:// or wss:// with host and port (default:
	// tcp://127.0.0.1:1883; with embedded: true, derived from Listen and
	// ignored).
	URL string `yaml:"url"`
	// ClientID is the MQTT client id; with a persistent session it must
	// be stable and unique on the broker (default: rig-agent-<agent.id>;
	// 1-64 printable ASCII characters).
	ClientID string `yaml:"client_id"`
	// Username for the broker (default: none).
	Username string `yaml:"username"`
	// Password for the broker (default: none). Prefer PasswordFile or
	// the environment (RIG_AGENT_BROKER_PASSWORD); never logged.
	Password Secret `yaml:"password"`
	// PasswordFile is a file whose content (trailing newline removed) is
	// the password (default: none; exclusive with Password).
	PasswordFile string `yaml:"password_file"`
	// TLS holds certificates for ssl://, tls://, mqtts:// and wss://.
	TLS TLS `yaml:"tls"`
	// QoS is the subscription QoS: 1 or 2 (default: 1). The agent
	// acknowledges a message only after its readings are durably stored,
	// which QoS 0 cannot express.
	QoS int `yaml:"qos"`
	// KeepAlive is the MQTT keep-alive (default: 30s; 1s-1h).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// ConnectTimeout bounds one connection attempt (default: 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Listen is the embedded broker's TCP listen address, host:port
	// (default: 127.0.0.1:1883). Plain TCP unless ListenTLS is set: bind
	// it to a private interface then.
	Listen string `yaml:"listen"`
	// ListenTLS makes the embedded broker's listener serve TLS, and
	// optionally require client certificates (default: none: plain
	// TCP). Embedded only; broker.tls is for an external broker.
	ListenTLS ListenTLS `yaml:"listen_tls"`
	// AllowAnonymous lets the embedded broker listen on an address other
	// than loopback without Username and a password, or client
	// certificates (ListenTLS.ClientCAFile) (default: false: the agent
	// refuses to start so; anyone reaching it could publish and take
	// over the ingest's session).
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// Limits bound the embedded broker.
	Limits BrokerLimits `yaml:"limits"`
}

// TLS names the PEM files of a TLS connection.
type TLS struct {
	// CAFile verifies the broker's certificate (default: none: the
	// system's roots).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and its key, both
	// or neither (default: none).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the broker's certificate
	// (default: the URL's host).
	ServerName string `yaml:"server_name"`
}

// ListenTLS names the PEM files of the embedded broker's TLS listener:
// the server side of what TLS names for an external broker. The files
// are read at start: restart the agent to rotate them.
type ListenTLS struct {
	// CertFile and KeyFile are the broker's server certificate (any
	// intermediates after it) and its key, both or neither (default:
	// none: plain TCP). TLS 1.2 or later. The agent's own clients connect
	// through the listener too, and accept exactly this certificate (no
	// name is checked), so any broker.listen address works.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile requires every client to present a certificate signed
	// by one of the CAs in it, for client authentication (default: none:
	// no client certificate asked). Needs CertFile. A client certificate
	// is a credential: with it, broker.listen may be an address other
	// than loopback without broker.username. The agent's own clients
	// present a certificate made at start, which the broker trusts too.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether the embedded broker serves TLS.
func (t ListenTLS) Enabled() bool { return t.CertFile != "" }

// BrokerLimits are the embedded broker's limits (see
// docs/architecture.md: broker settings are part of the product).
type BrokerLimits struct {
	// MaxClients caps concurrent client connections (default: 64).
	MaxClients int `yaml:"max_clients"`
	// MaxConnecting caps the connections that have not sent their
	// CONNECT (or finished their TLS handshake) yet; max_clients counts
	// only those that did. A connection beyond it is closed at once and
	// counted (rig_agent_broker_refused_connections_total{reason=
	// "connecting"}); each may wait up to 10 s (default: 256, the
	// broker's DefaultMaxConnecting; 1-100000).
	MaxConnecting int `yaml:"max_connecting"`
	// MaxInflight caps unacknowledged QoS 1/2 messages per client
	// (default: 1024; 2-65535: the broker holds a client's publishing at
	// half of it).
	MaxInflight int `yaml:"max_inflight"`
	// MaxPendingWrites caps messages queued for one client's connection
	// before it counts as a slow consumer (default: 8192; 2-10000000).
	MaxPendingWrites int `yaml:"max_pending_writes"`
	// MaxPacketBytes caps one MQTT packet (default: 1MiB; 1KiB-256MiB).
	MaxPacketBytes ByteSize `yaml:"max_packet_bytes"`
	// SessionExpiry is how long the broker keeps the session (its
	// subscriptions and the messages held for it) of a client that went
	// away with a persistent session (default: 1h; 1m-168h, whole
	// seconds).
	SessionExpiry time.Duration `yaml:"session_expiry"`
	// MaxSessions caps the stored sessions, connected or away: a new
	// client id beyond it evicts the session away the longest (default,
	// or 0: 4 × MaxClients; MaxClients-1000000).
	MaxSessions int `yaml:"max_sessions"`
}

// Buffer configures the durable reading buffer (agent/internal/buffer).
type Buffer struct {
	// Path is the buffer's bbolt file (default: <data_dir>/buffer.db).
	Path string `yaml:"path"`
	// MaxBytes caps the stored readings' encoded size (default: 1GiB; at
	// least 1MiB). The file is larger by bbolt's page overhead (typically
	// 5-30 %).
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxAge removes readings ingested longer ago, forwarded or not
	// (default: 720h, 30 days; 0s: no age limit).
	MaxAge time.Duration `yaml:"max_age"`
	// GroupCommitCount ends a commit group at this many readings
	// (default: 8192; 1-1000000).
	GroupCommitCount int `yaml:"group_commit_count"`
	// GroupCommitDelay is the longest a reading waits for others to share
	// its commit and fsync (default: 0s: no wait; a group is what queued up
	// while the previous commit ran; at most 1s).
	GroupCommitDelay time.Duration `yaml:"group_commit_delay"`
	// FullPolicy says what happens at MaxBytes once every forwarded
	// reading is gone: "drop_oldest" (default: remove the oldest
	// unforwarded readings, counted and reported) or "reject" (refuse new
	// readings; the broker keeps them unacknowledged).
	FullPolicy string `yaml:"full_policy"`
	// CompactFreeRatio compacts the file when free pages are at least this
	// fraction of it (default: 0.5; 0: never automatically; below 1).
	CompactFreeRatio float64 `yaml:"compact_free_ratio"`
	// CompactMinBytes: smaller files are never compacted automatically
	// (default: 64MiB).
	CompactMinBytes ByteSize `yaml:"compact_min_bytes"`
	// SkipCheck skips the integrity check of the whole file at start
	// (default: false).
	SkipCheck bool `yaml:"skip_check"`
}

// Windowing overrides how windows are cut; by default the model bundle's
// input spec decides (cycle-aligned or sliding, see shared/prep).
type Windowing struct {
	// Alignment overrides the bundle's: "" (default: the bundle's),
	// "cycle" or "sliding".
	Alignment string `yaml:"alignment"`
	// StrideSteps overrides the sliding stride in grid cells (default: 0:
	// the bundle's). Only with sliding alignment.
	StrideSteps int `yaml:"stride_steps"`
	// CycleAnchor is a time at which a load cycle started, RFC 3339, or
	// "epoch" (EpochAnchor: cycles start at whole multiples of the cycle
	// length since the Unix epoch, as rigsim's; Parse stores it as
	// EpochAnchorTime). Required with cycle alignment (default: "": the
	// agent refuses a cycle-aligned bundle, whose windows must line up
	// with the rig's cycles: 1 s off makes the UCI bundle's diagnoses
	// wrong). CycleAnchorTime returns it as a time.
	CycleAnchor string `yaml:"cycle_anchor"`
	// Lateness is how long after a window's end the agent waits for late
	// readings before closing it (default: 2s; 0s-10m).
	Lateness time.Duration `yaml:"lateness"`
}

// Diagnoses configures the local diagnosis history
// (agent/internal/history) and the MQTT topic diagnoses are published on.
type Diagnoses struct {
	// Path is the history's bbolt file (default:
	// <data_dir>/diagnoses.db).
	Path string `yaml:"path"`
	// MaxCount, MaxBytes and MaxAge cap the history; the oldest diagnoses
	// are removed first when any is exceeded, and counted (default:
	// 100000, 256MiB and 2160h, 90 days; MaxAge 0s: no age limit).
	MaxCount int           `yaml:"max_count"`
	MaxBytes ByteSize      `yaml:"max_bytes"`
	MaxAge   time.Duration `yaml:"max_age"`
	// Publish sends every diagnosis to Topic on the broker, QoS 1
	// (default: true).
	Publish bool `yaml:"publish"`
	// Topic is the MQTT topic of diagnoses (default:
	// hydrognn/agents/<agent.id>/diagnoses). No wildcards.
	Topic string `yaml:"topic"`
}

// API configures the local HTTP API (status, diagnoses, health, metrics).
type API struct {
	// Listen is the HTTP listen address, host:port (default:
	// 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// ReadHeaderTimeout bounds reading a request's headers (default: 5s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// WriteTimeout bounds writing a response (default: 30s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections (default: 60s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes caps request headers (default: 64KiB; at least 1KiB).
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxConnections caps concurrent connections (default: 64).
	MaxConnections int `yaml:"max_connections"`
	// MaxHistoryItems caps the diagnoses one history request returns
	// (default: 1000).
	MaxHistoryItems int `yaml:"max_history_items"`
	// TokenFile is a file whose content (trailing newline removed, at
	// least 16 characters) is the bearer token every route but
	// /health/live and /health/ready requires, /metrics included
	// (Authorization: Bearer TOKEN). Read once at start (default: none).
	TokenFile string `yaml:"token_file"`
	// AllowUnauthenticated lets api.listen be an address other than
	// loopback without api.token_file: anyone who reaches the port reads
	// the diagnoses and can recalibrate the detector (default: false).
	AllowUnauthenticated bool `yaml:"allow_unauthenticated"`
	// AllowedHosts are further host names (or addresses) a request's Host
	// header may name, besides localhost, loopback addresses and
	// api.listen's host. Checked when api.listen is loopback (against DNS
	// rebinding) or when the list is not empty (default: []).
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// Cloud configures store-and-forward to the cloud. Optional: with no URL
// the agent is fully autonomous and forwards nothing.
type Cloud struct {
	// URL is the cloud API's base URL, https:// (default: "": no cloud;
	// http:// is accepted only for localhost, for tests).
	URL string `yaml:"url"`
	// CredentialFile holds the agent's credential (required with URL;
	// never logged).
	CredentialFile string `yaml:"credential_file"`
	// BatchSize caps the items per upload (default: 500; 1-10000).
	BatchSize int `yaml:"batch_size"`
	// BatchBytes caps the encoded size of an upload (default: 1MiB;
	// 1KiB-64MiB).
	BatchBytes ByteSize `yaml:"batch_bytes"`
	// BandwidthBytesPerS caps the average upload rate (default: 0:
	// unlimited).
	BandwidthBytesPerS ByteSize `yaml:"bandwidth_bytes_per_s"`
	// BandwidthBytesPerDay caps the bytes uploaded per UTC day, for
	// metered links (default: 0: unlimited; else at least batch_bytes).
	BandwidthBytesPerDay ByteSize `yaml:"bandwidth_bytes_per_day"`
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// between failed uploads (default: 1s and 5m).
	BackoffMin time.Duration `yaml:"backoff_min"`
	BackoffMax time.Duration `yaml:"backoff_max"`
	// Timeout bounds one upload request (default: 30s).
	Timeout time.Duration `yaml:"timeout"`
	// OutboxMaxItems and OutboxMaxBytes cap the outbox of diagnoses not
	// yet accepted by the cloud (<data_dir>/outbox.db); when full, the
	// oldest non-alert diagnoses are dropped first, and counted (default:
	// 100000 and 256MiB; 1-100000000 and 1MiB-64GiB).
	OutboxMaxItems int      `yaml:"outbox_max_items"`
	OutboxMaxBytes ByteSize `yaml:"outbox_max_bytes"`
}

// Enabled reports whether a cloud link is configured.
func (c Cloud) Enabled() bool { return c.URL != "" }

// Update configures model updates from the signed TUF repository of
// releases (agent/internal/update, docs/releases.md). Optional: with no URL
// the agent serves model.bundle_dir and never updates it.
type Update struct {
	// URL is the TUF repository's base URL, https:// (default: "": no
	// updates; http:// is accepted only for localhost, for tests).
	URL string `yaml:"url"`
	// RootFile is the root metadata the agent trusts first, e.g. the
	// repository's 1.root.json copied at install (required with URL). Later
	// roots are followed and kept in Dir.
	RootFile string `yaml:"root_file"`
	// Dir holds the updater's state, TUF metadata, downloads and installed
	// bundles (default: <agent.data_dir>/update).
	Dir string `yaml:"dir"`
	// CheckInterval is the time between checks, jittered by ±10% (default:
	// 1h; 1m-168h).
	CheckInterval time.Duration `yaml:"check_interval"`
	// RequestTimeout bounds one metadata request (default: 30s; 1s-10m).
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// DownloadTimeout bounds one archive request; a cut download resumes
	// after the updater's short backoff, 5s doubling to 5m, at most
	// CheckInterval (default: 10m; 10s-24h).
	DownloadTimeout time.Duration `yaml:"download_timeout"`
	// MaxBundleBytes caps a release archive (default: 512MiB; 1MiB-16GiB).
	MaxBundleBytes ByteSize `yaml:"max_bundle_bytes"`
	// DiskReserve is the space a download or an extracted file leaves
	// free on Dir's file system, which the reading buffer shares: with
	// less free than it writes plus this, the step waits for the next
	// check (default: 64MiB, update.DefaultDiskReserve; 1MiB-16GiB).
	DiskReserve ByteSize `yaml:"disk_reserve"`
	// MaxAttempts is how many failed attempts a release gets before it is
	// given up (default: 3; 1-100).
	MaxAttempts int `yaml:"max_attempts"`
	// Hardware lists this machine's hardware tokens; a release must name
	// one (default: []: the agent's architecture, amd64 or arm64). E.g.
	// [arm64, jetson-orin].
	Hardware []string `yaml:"hardware"`
	// Canary is the trial of a staged model before commit.
	Canary UpdateCanary `yaml:"canary"`
	// Watch is the watch of a committed model.
	Watch UpdateWatch `yaml:"watch"`
}

// UpdateCanary configures the canary (update.ModelCanary).
type UpdateCanary struct {
	// Windows is how many recent windows the staged model runs (default:
	// 32; 1-10000).
	Windows int `yaml:"windows"`
	// MinWindows is the fewest recent windows to judge by; with fewer the
	// update waits (default: 8; 1 to windows).
	MinWindows int `yaml:"min_windows"`
	// MaxLatency bounds the 95th percentile of one window's inference
	// (default: 500ms; 1ms-1m).
	MaxLatency time.Duration `yaml:"max_latency"`
	// MinAgreement is the least share of the windows the running model
	// calls healthy that the staged model must call healthy too (default:
	// 0.9; above 0, at most 1).
	MinAgreement float64 `yaml:"min_agreement"`
}

// UpdateWatch configures the post-commit watchdog (update.Watch).
type UpdateWatch struct {
	// Window is how long a committed model is watched (default: 1h;
	// 1m-168h).
	Window time.Duration `yaml:"window"`
	// MinRuns is the fewest runs before judging (default: 20; 1-1000000).
	MinRuns int `yaml:"min_runs"`
	// MaxErrorRate is the highest share of failed runs (default: 0.05;
	// above 0, below 1).
	MaxErrorRate float64 `yaml:"max_error_rate"`
	// MaxLatency marks a run as slow (default: 1s; 1ms-1m).
	MaxLatency time.Duration `yaml:"max_latency"`
	// MaxSlowRate is the highest share of slow runs (default: 0.05; above
	// 0, below 1).
	MaxSlowRate float64 `yaml:"max_slow_rate"`
}

// Enabled reports whether model updates are configured.
func (u Update) Enabled() bool { return u.URL != "" }

// Logging configures the agent's log (log/slog on stderr).
type Logging struct {
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `yaml:"level"`
	// Format is "json" (default) or "text".
	Format string `yaml:"format"`
}

// Defaults returns the configuration every file starts from. Agent.ID,
// Broker.ClientID, Broker.URL (embedded) and Buffer.Path are derived after
// decoding when left empty.
func Defaults() Config {
	return Config{
		Agent: Agent{DataDir: "/var/lib/rig-agent", PluginHeldRetry: ingest.DefaultHeldRetry, StallAfter: liveness.DefaultStallAfter},
		Model: Model{IntraOpThreads: 1, InterOpThreads: 1, Providers: []string{"cpu"}, MaxBatch: 256, TensorRTEngineCache: true},
		Broker: Broker{
			URL: "tcp://127.0.0.1:1883", QoS: 1, KeepAlive: 30 * time.Second, ConnectTimeout: 10 * time.Second,
			Listen: "127.0.0.1:1883",
			Limits: BrokerLimits{MaxClients: 64, MaxConnecting: broker.DefaultMaxConnecting, MaxInflight: 1024, MaxPendingWrites: 8192, MaxPacketBytes: MiB,
				SessionExpiry: broker.DefaultSessionExpiry},
		},
		Buffer: Buffer{
			MaxBytes: GiB, MaxAge: 30 * 24 * time.Hour, GroupCommitCount: 8192, GroupCommitDelay: 0,
			FullPolicy: "drop_oldest", CompactFreeRatio: 0.5, CompactMinBytes: 64 * MiB,
		},
		Windowing: Windowing{Lateness: 2 * time.Second},
		Diagnoses: Diagnoses{MaxCount: 100_000, MaxBytes: 256 * MiB, MaxAge: 90 * 24 * time.Hour, Publish: true},
		API: API{
			Listen: "127.0.0.1:8080", ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second,
			IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 * KiB, MaxConnections: 64, MaxHistoryItems: 1000,
		},
		Cloud: Cloud{
			BatchSize: 500, BatchBytes: MiB, BackoffMin: time.Second, BackoffMax: 5 * time.Minute, Timeout: 30 * time.Second,
			OutboxMaxItems: 100_000, OutboxMaxBytes: 256 * MiB,
		},
		Update: Update{
			CheckInterval: time.Hour, RequestTimeout: 30 * time.Second, DownloadTimeout: 10 * time.Minute,
			MaxBundleBytes: 512 * MiB, DiskReserve: 64 * MiB, MaxAttempts: 3,
			Canary: UpdateCanary{Windows: 32, MinWindows: 8, MaxLatency: 500 * time.Millisecond, MinAgreement: 0.9},
			Watch:  UpdateWatch{Window: time.Hour, MinRuns: 20, MaxErrorRate: 0.05, MaxLatency: time.Second, MaxSlowRate: 0.05},
		},
		Logging: Logging{Level: "info", Format: "json"},
	}
}
