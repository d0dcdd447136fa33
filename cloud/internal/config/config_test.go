package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/confyaml/confyamltest"
	"github.com/hydrognn/hydrognn/shared/testpki"
)

const testURL = "postgres://u@127.0.0.1:5432/x?sslmode=disable"

func TestBadConfigs(t *testing.T) {
	confyamltest.BadFiles(t, "testdata/*.bad.yaml", 18, func(t *testing.T, f string, data []byte) error {
		name := filepath.Base(f)
		cfg, err := Parse(name, data, []string{"RIG_CLOUD_DATABASE_URL=" + testURL})
		require.Error(t, err)
		assert.Nil(t, cfg)
		assert.ErrorIs(t, err, ErrInvalid)
		var es Errors
		require.True(t, errors.As(err, &es), "want Errors, got %T", err)
		assert.NotContains(t, err.Error(), "hunter2", "a database URL is never quoted")
		return err
	})
}

// The example in deploy/ documents every key with its default: loaded, it
// equals Defaults with its database URL.
func TestExampleFile(t *testing.T) {
	path := filepath.Join("..", "..", "..", "deploy", "rig-cloud.example.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	cfg, err := Parse(path, data, nil)
	require.NoError(t, err)
	want := Defaults()
	want.File = path
	want.Database.URL = "postgres://rigcloud@127.0.0.1:5432/rigcloud?sslmode=disable"
	assert.Equal(t, want, *cfg)

	// Every key is in the example.
	for _, k := range Keys() {
		leaf := k.Path[strings.LastIndex(k.Path, ".")+1:]
		assert.Contains(t, string(data), "  "+leaf+":", "key %s is not documented in the example", k.Path)
	}

	// Load reads the same file.
	loaded, err := Load(path)
	if os.Getenv("RIG_CLOUD_DATABASE_URL") == "" {
		require.NoError(t, err)
		assert.Equal(t, cfg, loaded)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"RIG_CLOUD_DATABASE_URL=" + testURL,
		"RIG_CLOUD_SERVER_LISTEN=127.0.0.1:0",
		"RIG_CLOUD_SERVER_MAX_BODY_BYTES=8MiB",
		"RIG_CLOUD_SERVER_METRICS=false",
		"RIG_CLOUD_AUTH_RATE_LIMIT=2.5",
		"RIG_CLOUD_SERVER_REQUEST_TIMEOUT=5s",
		"RIG_CLOUD_WORKER_MAX_EXTRACT_BYTES=2GiB",
		"OTHER=1",
	}
	cfg, err := Parse("c.yaml", []byte("server:\n  listen: \":9\"\n"), env)
	require.NoError(t, err)
	assert.Equal(t, Secret(testURL), cfg.Database.URL)
	assert.Equal(t, "127.0.0.1:0", cfg.Server.Listen, "the environment wins over the file")
	assert.Equal(t, 8*MiB, cfg.Server.MaxBodyBytes)
	assert.False(t, cfg.Server.MetricsOn())
	assert.Equal(t, 2.5, cfg.Auth.RateLimit)
	assert.Equal(t, 5*time.Second, cfg.Server.RequestTimeout)
	assert.True(t, cfg.Database.MigrateOn())
	assert.Equal(t, 2*GiB, cfg.Worker.MaxExtractBytes)

	_, err = Parse("c.yaml", []byte("worker:\n  max_extract_bytes: 100KiB\n"), []string{"RIG_CLOUD_DATABASE_URL=" + testURL})
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "c.yaml:2:3: worker.max_extract_bytes: 100KiB is out of range [1MiB, 1TiB]")

	_, err = Parse("c.yaml", nil, []string{"RIG_CLOUD_DATABASE_URL=" + testURL, "RIG_CLOUD_SERVER_LISTN=:1"})
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "environment RIG_CLOUD_SERVER_LISTN: no config key has this variable")

	_, err = Parse("c.yaml", nil, []string{"RIG_CLOUD_DATABASE_URL=" + testURL, "RIG_CLOUD_AUTH_RATE_BURST=0"})
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "environment RIG_CLOUD_AUTH_RATE_BURST: auth.rate_burst: 0 is out of range")

	_, err = Parse("c.yaml", []byte("database:\n  url: \"mysql://root:hunter2@db/x\"\n"), nil)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "c.yaml:2:3: database.url: is not a postgres:// URL or a key=value DSN")
	assert.NotContains(t, err.Error(), "hunter2")

	_, err = Parse("c.yaml", nil, nil)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "c.yaml: database.url: is required (set it in RIG_CLOUD_DATABASE_URL, or in the file)")
}

func TestRelativeTLSPaths(t *testing.T) {
	ca := testpki.New(t, "config test CA")
	pair := ca.Server("c")
	cert, key := pair.CertFile, pair.KeyFile
	// c.yaml lies in the CA directory's parent: cert_file names a subdirectory.
	dir, sub := filepath.Split(ca.Dir)
	cfg, err := Parse(filepath.Join(dir, "c.yaml"), []byte("server:\n  tls:\n    cert_file: "+sub+"/c.pem\n    key_file: "+key+"\n"),
		[]string{"RIG_CLOUD_DATABASE_URL=" + testURL})
	require.NoError(t, err)
	assert.Equal(t, cert, cfg.Server.TLS.CertFile)
	assert.Equal(t, key, cfg.Server.TLS.KeyFile)
	assert.True(t, cfg.Server.TLSOn())
}

func TestSecretNeverPrinted(t *testing.T) {
	cfg, err := Parse("c.yaml", nil, []string{"RIG_CLOUD_DATABASE_URL=postgres://u:hunter2@h/db"})
	require.NoError(t, err)
	for _, s := range []string{fmt.Sprint(cfg.Database), fmt.Sprintf("%+v", cfg), cfg.Database.URL.String()} {
		assert.NotContains(t, s, "hunter2")
	}
	assert.Equal(t, "postgres://u:hunter2@h/db", cfg.Database.URL.Reveal())
}

func TestTrustedProxies(t *testing.T) {
	env := []string{"RIG_CLOUD_DATABASE_URL=" + testURL}
	cfg, err := Parse("c.yaml", []byte("server:\n  trusted_proxies: [10.0.0.0/8, \"192.0.2.7\", \"::1\"]\n"), env)
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.0/8", "192.0.2.7", "::1"}, cfg.Server.TrustedProxies)

	cfg, err = Parse("c.yaml", nil, append(env, "RIG_CLOUD_SERVER_TRUSTED_PROXIES=10.1.0.0/16, 10.2.0.1"))
	require.NoError(t, err)
	assert.Equal(t, []string{"10.1.0.0/16", "10.2.0.1"}, cfg.Server.TrustedProxies)

	cfg, err = Parse("c.yaml", nil, env)
	require.NoError(t, err)
	assert.Nil(t, cfg.Server.TrustedProxies, "the default trusts no proxy")

	_, err = Parse("c.yaml", []byte("server:\n  trusted_proxies: [10.0.0.0/33, proxy.local]\n"), env)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), `server.trusted_proxies[0]: "10.0.0.0/33" is not an IP address or CIDR range`)
	assert.Contains(t, err.Error(), `server.trusted_proxies[1]: "proxy.local"`)
}

// auth.cache_ttl 0 turns the cache off (it is not replaced by the
// default), from the file or the environment.
func TestAuthCacheOff(t *testing.T) {
	env := []string{"RIG_CLOUD_DATABASE_URL=" + testURL}
	cfg, err := Parse("c.yaml", nil, env)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, cfg.Auth.CacheTTL)
	assert.Equal(t, 10_000, cfg.Auth.CacheEntries)

	cfg, err = Parse("c.yaml", []byte("auth:\n  cache_ttl: 0s\ndatabase:\n  max_conns: 1\n"), env)
	require.NoError(t, err, "without a cache, one connection is enough")
	assert.Zero(t, cfg.Auth.CacheTTL)

	cfg, err = Parse("c.yaml", []byte("auth:\n  cache_ttl: 2s\n"), append(env, "RIG_CLOUD_AUTH_CACHE_TTL=0", "RIG_CLOUD_AUTH_CACHE_ENTRIES=500"))
	require.NoError(t, err)
	assert.Zero(t, cfg.Auth.CacheTTL, "the environment wins over the file")
	assert.Equal(t, 500, cfg.Auth.CacheEntries)
}

// worker.metrics_listen is off by default, and a value that is not
// host:port is refused naming the key.
func TestWorkerMetricsListen(t *testing.T) {
	env := []string{"RIG_CLOUD_DATABASE_URL=" + testURL}
	cfg, err := Parse("c.yaml", nil, env)
	require.NoError(t, err)
	assert.Empty(t, cfg.Worker.MetricsListen)
	cfg, err = Parse("c.yaml", nil, append(env, "RIG_CLOUD_WORKER_METRICS_LISTEN=127.0.0.1:9090"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:9090", cfg.Worker.MetricsListen)
	_, err = Parse("c.yaml", []byte("worker:\n  metrics_listen: \"9090\"\n"), env)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "c.yaml:2:3: worker.metrics_listen: \"9090\" is not host:port")
}

// worker.max_job_duration is 24h by default, 0 turns it off, and a
// negative value is refused naming the key.
func TestWorkerMaxJobDuration(t *testing.T) {
	env := []string{"RIG_CLOUD_DATABASE_URL=" + testURL}
	cfg, err := Parse("c.yaml", nil, env)
	require.NoError(t, err)
	assert.Equal(t, 24*time.Hour, cfg.Worker.MaxJobDuration)
	cfg, err = Parse("c.yaml", []byte("worker:\n  max_job_duration: 0s\n"), env)
	require.NoError(t, err)
	assert.Zero(t, cfg.Worker.MaxJobDuration)
	cfg, err = Parse("c.yaml", nil, append(env, "RIG_CLOUD_WORKER_MAX_JOB_DURATION=90m"))
	require.NoError(t, err)
	assert.Equal(t, 90*time.Minute, cfg.Worker.MaxJobDuration)
	_, err = Parse("c.yaml", []byte("worker:\n  max_job_duration: -1h\n"), env)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "c.yaml:2:3: worker.max_job_duration: -1h0m0s is negative: 0 (no limit) or a positive duration such as 24h")
}
