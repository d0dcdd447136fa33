// Package server wires rig-cloud's parts for its subcommands: it opens the
// database, applies migrations, opens the release repository (when
// releases.repo_dir is set) and starts re-signing its online roles,
// starts the rollout engine and the authentication cache's listener (when
// auth.cache_ttl is not 0), builds the API and serves it until its
// context ends, then shuts down in order: stop accepting, let in-flight
// requests finish (server.shutdown_timeout), stop the cache's listener,
// the rollout engine and the re-signing, close the pool.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hydrognn/hydrognn/cloud/internal/authcache"
	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/releases"
	"github.com/hydrognn/hydrognn/cloud/internal/rollout"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// OpenDB opens the configured pool.
func OpenDB(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	return db.Open(ctx, cfg.Database.URL.Reveal(), db.Options{
		MaxConns:       int32(cfg.Database.MaxConns),
		MinConns:       int32(cfg.Database.MinConns),
		ConnectTimeout: cfg.Database.ConnectTimeout,
	})
}

// APIOptions maps the config onto the API's options.
func APIOptions(cfg *config.Config) httpapi.Options {
	return httpapi.Options{
		MaxBodyBytes:    int64(cfg.Server.MaxBodyBytes),
		RequestTimeout:  cfg.Server.RequestTimeout,
		RateLimit:       cfg.Auth.RateLimit,
		RateBurst:       cfg.Auth.RateBurst,
		MaxLimiters:     cfg.Auth.MaxLimiters,
		TrustedProxies:  cfg.Server.TrustedProxies,
		EnrollmentTTL:   cfg.Auth.EnrollmentTTL,
		MaxBatchItems:   cfg.Agents.MaxBatchItems,
		CheckinInterval: cfg.Agents.CheckinInterval,
		Metrics:         cfg.Server.MetricsOn(),
		UploadTimeout:   cfg.Blob.UploadTimeout,
		MaxAttempts:     cfg.Worker.MaxAttempts,
	}
}

// OpenBlobs opens the configured blob store.
func OpenBlobs(cfg *config.Config) (*blob.FS, error) {
	b, err := blob.NewFS(cfg.Blob.Dir, int64(cfg.Blob.MaxObjectBytes))
	if err != nil {
		return nil, fmt.Errorf("%w (set blob.dir to a writable folder)", err)
	}
	return b, nil
}

// OpenReleases opens the release repository's Service when
// releases.repo_dir is set (nil, nil when it is not).
func OpenReleases(pool *pgxpool.Pool, cfg *config.Config, log *slog.Logger) (*releases.Service, error) {
	r := cfg.Releases
	if !r.On() {
		return nil, nil
	}
	return releases.New(pool, releases.Options{RepoDir: r.RepoDir, KeysDir: r.OnlineKeysDir, CheckInterval: r.CheckInterval,
		TimestampExpiry: r.TimestampExpiry, TimestampRefresh: r.TimestampRefresh, SnapshotExpiry: r.SnapshotExpiry,
		SnapshotRefresh: r.SnapshotRefresh, MaxArchiveBytes: int64(r.MaxArchiveBytes), Log: log})
}

// Serve runs the API until ctx ends. ready, when not nil, is called with
// the listening address once requests are accepted.
func Serve(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(addr net.Addr)) error {
	// Checked here, not in the config: `rig-cloud worker` reads the same
	// file and runs no cache, so one connection is enough there.
	if cfg.Auth.CacheTTL > 0 && cfg.Database.MaxConns < 2 {
		return fmt.Errorf("database.max_conns: %d leaves no connection for requests: the auth cache's listener holds one "+
			"(set max_conns to 2 or more, or auth.cache_ttl to 0)", cfg.Database.MaxConns)
	}
	pool, err := OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.Database.MigrateOn() {
		applied, err := db.Migrate(ctx, pool, log)
		if err != nil {
			return err
		}
		log.Info("schema up to date", "applied_now", applied)
	} else if st, err := db.Status(ctx, pool); err != nil {
		return err
	} else if len(st.Pending) > 0 {
		log.Warn("migrations pending; /health/ready fails until `rig-cloud migrate` has run", "pending", st.Pending)
	}
	blobs, err := OpenBlobs(cfg)
	if err != nil {
		return err
	}
	o := APIOptions(cfg)
	o.Blobs = blobs
	rel, err := OpenReleases(pool, cfg, log)
	if err != nil {
		return err
	}
	if rel != nil {
		o.Releases = rel
		// Re-signs the online roles until ctx ends; waited for below.
		rctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); rel.Run(rctx) }()
		defer func() { stop(); <-done }()
		log.Info("serving the release repository", "repo_dir", cfg.Releases.RepoDir)
	}
	st := store.New(pool)
	st.SetMaxFuture(cfg.Agents.MaxFuture)
	engine := rollout.NewEngine(st, rollout.Options{Interval: cfg.Releases.RolloutInterval, Log: log})
	o.Registry = prometheus.NewRegistry()
	o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), engine)
	// Steps the running rollouts until ctx ends; waited for below (after
	// the HTTP server has shut down: deferred calls run last first).
	ectx, stopEngine := context.WithCancel(ctx)
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		engine.Run(ectx)
	}()
	defer func() { stopEngine(); <-engineDone }()
	if cfg.Auth.CacheTTL > 0 {
		o.AuthCache = authcache.New(authcache.Options{TTL: cfg.Auth.CacheTTL, MaxEntries: cfg.Auth.CacheEntries})
		// Listens for revocations on one connection of the pool until ctx
		// ends; waited for below (after the HTTP server has shut down,
		// before the pool closes).
		lctx, stopListen := context.WithCancel(ctx)
		listenDone := make(chan struct{})
		go func() {
			defer close(listenDone)
			o.AuthCache.Listen(lctx, pool, log)
		}()
		defer func() { stopListen(); <-listenDone }()
	}
	api := httpapi.New(st, log, o)
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	errc := make(chan error, 1)
	go func() {
		if cfg.Server.TLSOn() {
			errc <- srv.ServeTLS(ln, cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	log.Info("serving", "addr", ln.Addr().String(), "tls", cfg.Server.TLSOn())
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Server.ShutdownTimeout)
	defer cancel()
	serr := srv.Shutdown(sctx)
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		serr = errors.Join(serr, err)
	}
	if serr != nil {
		return fmt.Errorf("shutdown: %w", serr)
	}
	log.Info("stopped")
	return nil
}

// Work runs a training worker (`rig-cloud worker`) until ctx ends: it
// applies pending migrations when database.migrate is set, then claims
// and runs jobs (cloud/internal/jobs). A job running at the end is
// stopped and re-queued.
func Work(ctx context.Context, cfg *config.Config, log *slog.Logger, version string) error {
	pool, err := OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.Database.MigrateOn() {
		if _, err := db.Migrate(ctx, pool, log); err != nil {
			return err
		}
	}
	blobs, err := OpenBlobs(cfg)
	if err != nil {
		return err
	}
	w := cfg.Worker
	return jobs.NewWorker(store.New(pool), blobs, jobs.Options{
		Backend: w.Backend, WorkDir: w.WorkDir, PollInterval: w.PollInterval, Lease: w.Lease, Heartbeat: w.Heartbeat,
		MaxLogLines: w.MaxLogLines, MaxWindows: w.MaxWindows, MaxExtractBytes: int64(w.MaxExtractBytes), CodeVersion: version, Log: log,
	}).Run(ctx)
}

// Migrate applies pending migrations and returns the versions applied.
func Migrate(ctx context.Context, cfg *config.Config, log *slog.Logger) ([]int, error) {
	pool, err := OpenDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return db.Migrate(ctx, pool, log)
}

// CreateToken makes an API token: a system or release token (no org), or
// one of org (its slug; created with orgName when missing and orgName is
// set). It returns the token's secret, shown once.
func CreateToken(ctx context.Context, cfg *config.Config, org, orgName, name string, role store.Role, ttl time.Duration) (string, error) {
	pool, err := OpenDB(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	if _, err := db.Migrate(ctx, pool, nil); err != nil {
		return "", err
	}
	st := store.New(pool)
	var orgID int64
	if !role.Deployment() {
		o, err := st.OrgBySlug(ctx, org)
		if errors.Is(err, store.ErrNotFound) && orgName != "" {
			o, err = st.CreateOrg(ctx, org, orgName)
		}
		if err != nil {
			return "", fmt.Errorf("organisation %q: %w", org, err)
		}
		orgID = o.ID
	}
	var exp time.Time
	if ttl > 0 {
		exp = time.Now().Add(ttl)
	}
	_, secret, err := st.CreateToken(ctx, orgID, name, role, exp)
	return secret, err
}
