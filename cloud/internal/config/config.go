package config

import (
	"log/slog"
	"time"
)

// Config is the whole rig-cloud configuration. The zero value of a field
// means its default (Defaults) unless the field says otherwise.
type Config struct {
	// File is the path the config was loaded from ("" when built in code).
	File string `yaml:"-"`

	Server   Server   `yaml:"server"`
	Database Database `yaml:"database"`
	Auth     Auth     `yaml:"auth"`
	Agents   Agents   `yaml:"agents"`
	Blob     Blob     `yaml:"blob"`
	Worker   Worker   `yaml:"worker"`
	Releases Releases `yaml:"releases"`
	Quotas   Quotas   `yaml:"quotas"`
	Log      Log      `yaml:"log"`
}

// Quotas cap what one organisation may have waiting at once, so that one
// tenant cannot fill the upload and job queues every tenant shares. A
// request past a cap is refused with 409 quota-exceeded naming the key
// (counted in rig_cloud_quota_refusals_total); nothing is stored.
type Quotas struct {
	// MaxOpenUploads caps an organisation's open, unexpired upload
	// requests (default 100; 1..100000).
	MaxOpenUploads int `yaml:"max_open_uploads"`
	// MaxQueuedJobs caps an organisation's queued jobs, training jobs and
	// data set builds from fleet uploads together, not yet claimed by a
	// worker (default 50; 1..100000).
	MaxQueuedJobs int `yaml:"max_queued_jobs"`
	// MaxLiveTokens caps an organisation's live API tokens (neither
	// revoked nor expired), each of which has its own rate-limit bucket
	// (default 1000; 1..1000000).
	MaxLiveTokens int `yaml:"max_live_tokens"`
	// MaxRigTypeVersions caps an organisation's stored rig-type versions,
	// all rig types together; an admin deletes unneeded ones (DELETE
	// /v1/rig-types/{name}?version=N) (default 1000; 1..100000).
	MaxRigTypeVersions int `yaml:"max_rig_type_versions"`
}

// Server is the HTTP listener and its limits.
type Server struct {
	// Listen is the host:port of the API (default ":8080"; port 0 picks a
	// free port, for tests).
	Listen string `yaml:"listen"`
	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request (default 60s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing the response (default 60s), counted from
	// the end of the request's headers: it must be more than
	// RequestTimeout, so that a request that runs to its deadline still
	// gets its 503. Archive uploads and downloads move it (UploadTimeout).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections (default 120s).
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// RequestTimeout is the deadline of a handler's context, database
	// work included (default 30s); past it the request fails with 503.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// ShutdownTimeout bounds the graceful shutdown: in-flight requests get
	// this long to finish (default 20s; 1s..1h).
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// DrainDelay: at the first SIGTERM or SIGINT, /health/ready answers
	// 503 (draining) while requests are still served this long before the
	// listener closes, so that load balancers stop sending first (default
	// 5s; 0s..5m; 0: close at once).
	DrainDelay time.Duration `yaml:"drain_delay"`
	// MaxBodyBytes caps every request body, on the wire and after gzip
	// decoding (default 4MiB, the contract's minimum; at most 64MiB).
	// Larger bodies get 413.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxBodyInflightBytes caps the memory request bodies may hold at once
	// in one replica (default 64MiB, for a 512Mi container at GOGC=200;
	// max_body_bytes..1TiB). Each request with a body reserves its length
	// (max_body_bytes without one) plus max_body_bytes for a gzip body's
	// decoded copy, at most the whole cap, until its handler returns; one
	// that finds no room waits up to a second, then gets 503 with
	// Retry-After. Streamed uploads (data set archives, releases) are not
	// counted.
	MaxBodyInflightBytes ByteSize `yaml:"max_body_inflight_bytes"`
	// Metrics serves Prometheus metrics at /metrics (default true): on
	// MetricsListen when set, else on Listen to MetricsToken's bearer, or
	// without one only to a loopback peer sending no forwarding header
	// (the metrics show every organisation's activity).
	Metrics *bool `yaml:"metrics"`
	// MetricsListen is a host:port of its own for /metrics (default "":
	// /metrics is on Listen, guarded as above); keep it off the internet.
	MetricsListen string `yaml:"metrics_listen"`
	// MetricsToken, when set, is the bearer token /metrics on Listen
	// needs (Authorization: Bearer ...; a scraper's credentials).
	MetricsToken Secret `yaml:"metrics_token"`
	// TLS serves HTTPS when both files are set (default: plain HTTP,
	// for a TLS-terminating proxy in front).
	TLS TLS `yaml:"tls"`
	// TrustedProxies lists the addresses or CIDR ranges of the proxies in
	// front whose X-Forwarded-For and X-Real-IP are believed (default
	// none: the client's address is the connection's peer). The per-address
	// rate limits key on that address.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// TLS names a certificate and its key (PEM). Parse and Load load the
// pair (tls.X509KeyPair): one that does not load is a config error.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Database is the PostgreSQL connection.
type Database struct {
	// URL is a PostgreSQL connection URL or DSN (required; prefer the
	// environment: RIG_CLOUD_DATABASE_URL). Never logged.
	URL Secret `yaml:"url"`
	// MaxConns caps the pool (default 20).
	MaxConns int `yaml:"max_conns"`
	// MinConns keeps this many connections open (default 0).
	MinConns int `yaml:"min_conns"`
	// ConnectTimeout bounds the first connection at start (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// Migrate applies pending migrations at start, under an advisory lock
	// (default true). With false, `rig-cloud migrate` must be run first;
	// /health/ready stays failing until it has.
	Migrate *bool `yaml:"migrate"`
}

// Auth holds the rate limits and token lifetimes.
type Auth struct {
	// RateLimit is each credential's sustained request rate per second
	// (default 50; 0 is not allowed: set a high value to turn it off).
	RateLimit float64 `yaml:"rate_limit"`
	// RateBurst is how many requests a credential may send at once
	// (default 100).
	RateBurst int `yaml:"rate_burst"`
	// OrgRateLimit and OrgRateBurst are each organisation's bucket,
	// shared by all its credentials and checked after theirs, so that
	// minting tokens does not multiply an organisation's rate (default
	// 500/s, burst 1000: ten credentials at full rate).
	OrgRateLimit float64 `yaml:"org_rate_limit"`
	OrgRateBurst int     `yaml:"org_rate_burst"`
	// MaxLimiters caps the per-credential limiters kept in memory
	// (default 100000); when full, the least recently used is dropped.
	MaxLimiters int `yaml:"max_limiters"`
	// EnrollmentTTL is how long an enrollment token stays usable
	// (default 24h).
	EnrollmentTTL time.Duration `yaml:"enrollment_ttl"`
	// CacheTTL is how long a replica reuses the principal of a credential
	// it looked up, so that most requests need no lookup (default 5s; 0
	// turns the cache off; at most 5m). Failed lookups are never cached.
	// Revocations reach every replica's cache at once (PostgreSQL
	// NOTIFY, on one connection of the pool held per replica: max_conns
	// must then be 2 or more); while that connection is down nothing is
	// served from the cache. A token is never served past its expiry.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// CacheEntries caps the principals cached per replica (default
	// 10000; 100..10000000); when full, the least recently used is
	// dropped.
	CacheEntries int `yaml:"cache_entries"`
}

// Agents holds what the agent API announces and accepts.
type Agents struct {
	// MaxBatchItems is the most diagnoses per batch (default 1000, the
	// contract's minimum; at most 10000), announced at check-in.
	MaxBatchItems int `yaml:"max_batch_items"`
	// CheckinInterval is the next_checkin_s the cloud answers (default 5m).
	CheckinInterval time.Duration `yaml:"checkin_interval"`
	// MaxFuture is how far after the cloud's clock a diagnosis window may
	// start (default 24h; 1m..30d); a later one is a rejected item (an
	// agent with a broken clock would otherwise make a diagnoses
	// partition per month it names).
	MaxFuture time.Duration `yaml:"max_future"`
	// MaxPast is how long before the cloud's clock a diagnosis window may
	// start (default 400 days, so an agent's offline backlog of up to a
	// year still lands; 24h..87600h, ten years); an earlier one is a
	// rejected item (a rig whose clock reset to 1970 or 2000 before NTP,
	// or an old replay, would otherwise make a diagnoses partition per
	// month it names).
	MaxPast time.Duration `yaml:"max_past"`
}

// Blob is the store of data set archives and trained bundles
// (cloud/internal/blob). Every replica and worker must see the same
// store: on several machines, a shared volume.
type Blob struct {
	// Dir is the filesystem store's folder (default
	// /var/lib/rig-cloud/blobs; relative paths are against the config
	// file's folder). Created at start.
	Dir string `yaml:"dir"`
	// MaxObjectBytes caps one object: a data set archive or a bundle
	// (default 4GiB; 1MiB..1TiB). A larger upload gets 413 and nothing is
	// stored.
	MaxObjectBytes ByteSize `yaml:"max_object_bytes"`
	// UploadTimeout bounds one archive upload, read deadline included,
	// in place of server.request_timeout, server.read_timeout and
	// server.write_timeout (default 1h; the write deadline is a minute
	// more, for the answer).
	UploadTimeout time.Duration `yaml:"upload_timeout"`
}

// Worker configures `rig-cloud worker`, the training worker (one job at
// a time per process; run as many processes as there are GPUs or cores).
type Worker struct {
	// Backend is the GoMLX backend jobs train on: "go" (pure Go, CPU;
	// default), "xla:cpu", "xla:cuda" or "xla:/abs/plugin.so" (binaries
	// built with cgo and the XLA plugin installed: docs/model.md).
	Backend string `yaml:"backend"`
	// WorkDir holds each job's data set and bundle while it runs, removed
	// after ("" : the system's temporary folder).
	WorkDir string `yaml:"work_dir"`
	// PollInterval is how long an idle worker waits before looking for a
	// queued job again (default 5s).
	PollInterval time.Duration `yaml:"poll_interval"`
	// Lease is how long a job stays the worker's without a heartbeat
	// (default 2m); past it another worker's next claim re-queues the job.
	Lease time.Duration `yaml:"lease"`
	// Heartbeat is how often the lease is renewed and progress stored
	// (default 15s; at most a third of Lease).
	Heartbeat time.Duration `yaml:"heartbeat"`
	// MaxAttempts is a job's attempts when its request names none
	// (default 3; 1..10): a job whose worker failed or vanished this many
	// times fails.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxLogLines caps the log lines stored per attempt (default 10000);
	// later lines are dropped, and one line says how many.
	MaxLogLines int `yaml:"max_log_lines"`
	// MaxWindows caps the windows of a data set built from fleet uploads
	// (default 1000000; 1..100000000); a build over it fails. Windows are
	// written to WorkDir as they are cut: the cap bounds the disk, not
	// the memory, of a build.
	MaxWindows int `yaml:"max_windows"`
	// MaxExtractBytes caps the files of one data set on a worker's disk
	// (default 16GiB; 1MiB..1TiB): a training job's data set is refused
	// when it would extract to more, and a build from fleet uploads fails
	// as soon as its files pass it.
	MaxExtractBytes ByteSize `yaml:"max_extract_bytes"`
	// MaxJobDuration bounds one attempt of a job (a training job or a data
	// set's build), from its claim to its end (default 24h; 0: no limit;
	// negative: an error). Past it the attempt's work is stopped and the
	// job fails, not re-queued, with the error "exceeded
	// worker.max_job_duration 24h0m0s": the same data and config would
	// take as long again, holding a worker each time. It stops a trainer
	// that hangs while its heartbeats still renew the lease.
	MaxJobDuration time.Duration `yaml:"max_job_duration"`
	// BlobGCInterval is how often a worker sweeps the blob store of
	// orphans, objects no database row names older than a day plus
	// blob.upload_timeout (default 6h; 0: off; else 1m..168h; one worker
	// sweeps at a time: cloud/internal/blobgc).
	BlobGCInterval time.Duration `yaml:"blob_gc_interval"`
	// MetricsListen is the host:port where the worker serves /metrics
	// (Prometheus: the blob sweep's counters, Go and process metrics) and
	// /health/live ("" : off, the default; port 0 picks a free one).
	MetricsListen string `yaml:"metrics_listen"`
}

// Releases serves the TUF repository of signed model releases at /tuf/
// and re-signs its online roles (docs/releases.md). It is off while
// RepoDir is empty (the default): /tuf/ and POST /v1/releases then answer
// 503. Every replica must see the same repository folder (a shared
// volume); writes are serialised by a PostgreSQL advisory lock.
type Releases struct {
	// RepoDir is the repository folder, made by `rigctl keys init`
	// (default "": releases off; relative paths are against the config
	// file's folder).
	RepoDir string `yaml:"repo_dir"`
	// OnlineKeysDir holds the snapshot and timestamp keys only (required
	// with repo_dir; never inside it). rig-cloud refuses to start when it
	// also holds a root or targets key the current root lists.
	OnlineKeysDir string `yaml:"online_keys_dir"`
	// CheckInterval is how often each replica looks at the expiry of the
	// online roles (default 10m; 1s..1h).
	CheckInterval time.Duration `yaml:"check_interval"`
	// TimestampExpiry is how long a timestamp rig-cloud signs stays valid
	// (default 24h; 1m..31 days).
	TimestampExpiry time.Duration `yaml:"timestamp_expiry"`
	// TimestampRefresh: the timestamp is re-signed once it has less than
	// this left (default 12h; more than check_interval, less than
	// timestamp_expiry).
	TimestampRefresh time.Duration `yaml:"timestamp_refresh"`
	// SnapshotExpiry is how long a snapshot rig-cloud signs stays valid
	// (default 168h; 1m..366 days).
	SnapshotExpiry time.Duration `yaml:"snapshot_expiry"`
	// SnapshotRefresh: snapshot and timestamp are re-signed once the
	// snapshot has less than this left (default 72h; more than
	// check_interval, less than snapshot_expiry).
	SnapshotRefresh time.Duration `yaml:"snapshot_refresh"`
	// MaxArchiveBytes caps the archive of a published release (default
	// 2GiB; 1MiB..1TiB); a larger upload gets 413.
	MaxArchiveBytes ByteSize `yaml:"max_archive_bytes"`
	// RolloutInterval is how often each replica's rollout engine steps
	// the running rollouts (advance, complete, halt; docs/releases.md,
	// "Rollouts"), plus up to 10 % at random (default 10s; 1s..10m). The
	// engine runs whether or not repo_dir is set.
	RolloutInterval time.Duration `yaml:"rollout_interval"`
}

// On reports whether the TUF repository is served.
func (r Releases) On() bool { return r.RepoDir != "" }

// Log is the process log.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format"`
}

// Defaults returns the configuration every key falls back to.
func Defaults() Config {
	t := true
	return Config{
		Server: Server{
			Listen:               ":8080",
			ReadHeaderTimeout:    10 * time.Second,
			ReadTimeout:          60 * time.Second,
			WriteTimeout:         60 * time.Second,
			IdleTimeout:          120 * time.Second,
			RequestTimeout:       30 * time.Second,
			ShutdownTimeout:      20 * time.Second,
			DrainDelay:           5 * time.Second,
			MaxBodyBytes:         4 * MiB,
			MaxBodyInflightBytes: 64 * MiB,
			Metrics:              &t,
		},
		Database: Database{MaxConns: 20, ConnectTimeout: 10 * time.Second, Migrate: &t},
		Auth: Auth{RateLimit: 50, RateBurst: 100, OrgRateLimit: 500, OrgRateBurst: 1000, MaxLimiters: 100_000, EnrollmentTTL: 24 * time.Hour,
			CacheTTL: 5 * time.Second, CacheEntries: 10_000},
		Agents: Agents{MaxBatchItems: 1000, CheckinInterval: 5 * time.Minute, MaxFuture: 24 * time.Hour,
			MaxPast: 400 * 24 * time.Hour},
		Blob: Blob{Dir: "/var/lib/rig-cloud/blobs", MaxObjectBytes: 4 * GiB, UploadTimeout: time.Hour},
		Worker: Worker{Backend: "go", PollInterval: 5 * time.Second, Lease: 2 * time.Minute, Heartbeat: 15 * time.Second,
			MaxAttempts: 3, MaxLogLines: 10_000, MaxWindows: 1_000_000,
			MaxExtractBytes: 16 * GiB, MaxJobDuration: 24 * time.Hour, BlobGCInterval: 6 * time.Hour},
		Releases: Releases{CheckInterval: 10 * time.Minute, TimestampExpiry: 24 * time.Hour, TimestampRefresh: 12 * time.Hour,
			SnapshotExpiry: 7 * 24 * time.Hour, SnapshotRefresh: 72 * time.Hour, MaxArchiveBytes: 2 * GiB,
			RolloutInterval: 10 * time.Second},
		Quotas: Quotas{MaxOpenUploads: 100, MaxQueuedJobs: 50, MaxLiveTokens: 1000, MaxRigTypeVersions: 1000},
		Log:    Log{Level: "info", Format: "json"},
	}
}

// MetricsOn reports whether /metrics is served.
func (s Server) MetricsOn() bool { return s.Metrics == nil || *s.Metrics }

// MigrateOn reports whether migrations are applied at start.
func (d Database) MigrateOn() bool { return d.Migrate == nil || *d.Migrate }

// TLSOn reports whether the server speaks HTTPS.
func (s Server) TLSOn() bool { return s.TLS.CertFile != "" }

// SlogLevel returns Log.Level as a slog.Level.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
