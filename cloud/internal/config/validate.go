package config

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/confyaml"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

// Accepted values of the enumerated fields.
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"json", "text"}
)

// Validate checks every value and returns Errors listing each problem
// with its key path and the bad value quoted, or nil. It reads no file.
func (c *Config) Validate() error {
	v := &confyaml.Validator{Spec: &spec}
	c.validate(v)
	if len(v.Problems) == 0 {
		return nil
	}
	return Errors(v.Problems)
}

func (c *Config) validate(v *confyaml.Validator) {
	s := c.Server
	v.HostPort("server.listen", s.Listen)
	if s.MetricsListen != "" {
		v.HostPort("server.metrics_listen", s.MetricsListen)
	}
	v.DurationIn("server.read_header_timeout", s.ReadHeaderTimeout, 100*time.Millisecond, time.Hour)
	v.DurationIn("server.read_timeout", s.ReadTimeout, 100*time.Millisecond, time.Hour)
	v.DurationIn("server.write_timeout", s.WriteTimeout, 100*time.Millisecond, time.Hour)
	v.DurationIn("server.idle_timeout", s.IdleTimeout, time.Second, 24*time.Hour)
	v.DurationIn("server.request_timeout", s.RequestTimeout, 100*time.Millisecond, time.Hour)
	// 0 would cut every request in flight at SIGTERM.
	v.DurationIn("server.shutdown_timeout", s.ShutdownTimeout, time.Second, time.Hour)
	v.DurationIn("server.drain_delay", s.DrainDelay, 0, 5*time.Minute)
	if s.WriteTimeout > 0 && s.RequestTimeout > 0 && s.WriteTimeout <= s.RequestTimeout {
		v.Add("server.write_timeout", "%s must be more than server.request_timeout (%s): a request that runs until its deadline would lose its 503 answer to a closed connection",
			s.WriteTimeout, s.RequestTimeout)
	}
	v.SizeIn("server.max_body_bytes", s.MaxBodyBytes, 4*MiB, 64*MiB)
	if s.MaxBodyInflightBytes < s.MaxBodyBytes || s.MaxBodyInflightBytes > TiB {
		v.Add("server.max_body_inflight_bytes", "%s is out of range [server.max_body_bytes (%s), 1TiB]", s.MaxBodyInflightBytes, s.MaxBodyBytes)
	}
	if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		v.Add("server.tls", "cert_file and key_file must be set together (cert_file %q, key_file %q)", s.TLS.CertFile, s.TLS.KeyFile)
	}

	for i, p := range s.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				v.Add(fmt.Sprintf("server.trusted_proxies[%d]", i), "%q is not an IP address or CIDR range", p)
			}
		}
	}

	d := c.Database
	switch u := strings.TrimSpace(d.URL.Reveal()); {
	case u == "":
		v.Add("database.url", "is required (set it in %s, or in the file)", spec.EnvName("database.url"))
	case !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") && !strings.Contains(u, "="):
		// Never quote the value: it may hold a password.
		v.Add("database.url", "is not a postgres:// URL or a key=value DSN")
	}
	v.IntIn("database.max_conns", d.MaxConns, 1, 10_000)
	v.IntIn("database.min_conns", d.MinConns, 0, d.MaxConns)
	v.DurationIn("database.connect_timeout", d.ConnectTimeout, 100*time.Millisecond, 10*time.Minute)

	a := c.Auth
	if !(a.RateLimit > 0 && a.RateLimit <= 1e6) {
		v.Add("auth.rate_limit", "%v is out of range (0, 1000000] requests per second", a.RateLimit)
	}
	v.IntIn("auth.rate_burst", a.RateBurst, 1, 1_000_000)
	if !(a.OrgRateLimit > 0 && a.OrgRateLimit <= 1e7) {
		v.Add("auth.org_rate_limit", "%v is out of range (0, 10000000] requests per second", a.OrgRateLimit)
	}
	v.IntIn("auth.org_rate_burst", a.OrgRateBurst, 1, 10_000_000)
	v.IntIn("auth.max_limiters", a.MaxLimiters, 100, 10_000_000)
	v.DurationIn("auth.enrollment_ttl", a.EnrollmentTTL, time.Minute, 90*24*time.Hour)
	if a.CacheTTL != 0 && (a.CacheTTL < 100*time.Millisecond || a.CacheTTL > 5*time.Minute) {
		v.Add("auth.cache_ttl", "%s is out of range: 0 (no cache) or [100ms, 5m0s]", a.CacheTTL)
	}
	v.IntIn("auth.cache_entries", a.CacheEntries, 100, 10_000_000)

	v.IntIn("agents.max_batch_items", c.Agents.MaxBatchItems, 1000, 10_000)
	v.DurationIn("agents.checkin_interval", c.Agents.CheckinInterval, 10*time.Second, 24*time.Hour)
	v.DurationIn("agents.max_future", c.Agents.MaxFuture, time.Minute, 30*24*time.Hour)
	v.DurationIn("agents.max_past", c.Agents.MaxPast, 24*time.Hour, 10*365*24*time.Hour)

	b := c.Blob
	v.Required("blob.dir", b.Dir)
	v.SizeIn("blob.max_object_bytes", b.MaxObjectBytes, MiB, TiB)
	v.DurationIn("blob.upload_timeout", b.UploadTimeout, time.Second, 24*time.Hour)

	w := c.Worker
	if w.Backend != "go" && !(strings.HasPrefix(w.Backend, "xla:") && len(w.Backend) > 4) {
		v.Add("worker.backend", "%q is not go, xla:cpu, xla:cuda or xla:/abs/plugin.so", w.Backend)
	}
	v.DurationIn("worker.poll_interval", w.PollInterval, 100*time.Millisecond, time.Hour)
	v.DurationIn("worker.lease", w.Lease, time.Second, 24*time.Hour)
	v.DurationIn("worker.heartbeat", w.Heartbeat, 100*time.Millisecond, w.Lease/3)
	v.IntIn("worker.max_attempts", w.MaxAttempts, 1, 10)
	v.IntIn("worker.max_log_lines", w.MaxLogLines, 100, 10_000_000)
	v.IntIn("worker.max_windows", w.MaxWindows, 1, 100_000_000)
	v.SizeIn("worker.max_extract_bytes", w.MaxExtractBytes, MiB, TiB)
	if w.MaxJobDuration < 0 {
		v.Add("worker.max_job_duration", "%s is negative: 0 (no limit) or a positive duration such as 24h", w.MaxJobDuration)
	}
	if w.BlobGCInterval != 0 && (w.BlobGCInterval < time.Minute || w.BlobGCInterval > 7*24*time.Hour) {
		v.Add("worker.blob_gc_interval", "%s is out of range: 0 (off) or [1m0s, 168h0m0s]", w.BlobGCInterval)
	}
	if w.MetricsListen != "" {
		v.HostPort("worker.metrics_listen", w.MetricsListen)
	}

	v.IntIn("quotas.max_open_uploads", c.Quotas.MaxOpenUploads, 1, 100_000)
	v.IntIn("quotas.max_queued_jobs", c.Quotas.MaxQueuedJobs, 1, 100_000)
	v.IntIn("quotas.max_live_tokens", c.Quotas.MaxLiveTokens, 1, 1_000_000)
	v.IntIn("quotas.max_rig_type_versions", c.Quotas.MaxRigTypeVersions, 1, 100_000)

	r := c.Releases
	if r.On() {
		v.Required("releases.online_keys_dir", r.OnlineKeysDir)
		if r.OnlineKeysDir != "" {
			// Resolved as the file system will (symbolic links too):
			// "..keys" in the repository is inside it.
			switch in, err := tufrepo.Inside(r.OnlineKeysDir, r.RepoDir); {
			case err != nil:
				v.Add("releases.online_keys_dir", "cannot check that %q is outside releases.repo_dir %q: %v", r.OnlineKeysDir, r.RepoDir, err)
			case in:
				v.Add("releases.online_keys_dir", "%q is inside releases.repo_dir %q, which is published: keep the keys elsewhere", r.OnlineKeysDir, r.RepoDir)
			}
		}
	}
	v.DurationIn("releases.check_interval", r.CheckInterval, time.Second, time.Hour)
	v.DurationIn("releases.timestamp_expiry", r.TimestampExpiry, time.Minute, 31*24*time.Hour)
	v.DurationIn("releases.snapshot_expiry", r.SnapshotExpiry, time.Minute, 366*24*time.Hour)
	for _, f := range []struct {
		role            string
		refresh, expiry time.Duration
	}{{"timestamp", r.TimestampRefresh, r.TimestampExpiry}, {"snapshot", r.SnapshotRefresh, r.SnapshotExpiry}} {
		if f.refresh <= r.CheckInterval || f.refresh >= f.expiry {
			v.Add("releases."+f.role+"_refresh", "%s must be more than releases.check_interval (%s) and less than releases.%s_expiry (%s)",
				f.refresh, r.CheckInterval, f.role, f.expiry)
		}
	}
	v.SizeIn("releases.max_archive_bytes", r.MaxArchiveBytes, MiB, TiB)
	v.DurationIn("releases.rollout_interval", r.RolloutInterval, time.Second, 10*time.Minute)

	v.OneOf("log.level", c.Log.Level, LogLevels)
	v.OneOf("log.format", c.Log.Format, LogFormats)
}
