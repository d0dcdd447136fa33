// Package server wires rig-cloud's parts for its subcommands. Serve opens
// the database, then the listener (/health/live answers 200 and
// /health/ready 503 "migrating" from then on), applies migrations, opens
// the release repository (when releases.repo_dir is set) and starts
// re-signing its online roles, starts the rollout engine and the
// authentication cache's listener (when auth.cache_ttl is not 0), then
// serves the API until its context ends. Then it shuts down in order:
// /health/ready answers 503 "draining" while requests are still served
// for the drain delay (server.drain_delay), stop accepting, let
// in-flight requests finish (server.shutdown_timeout; past it their
// connections are closed and their contexts cancelled), stop the cache's
// listener, the rollout engine and the re-signing, close the pool.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hydrognn/hydrognn/cloud/internal/authcache"
	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/blobgc"
	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/releases"
	"github.com/hydrognn/hydrognn/cloud/internal/rollout"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// OpenDB opens the configured pool. A database.url that cannot be parsed
// is a config.ErrInvalid (rig-cloud exits as for a config Load refuses:
// a restart reads the same URL); a database it cannot reach is not.
func OpenDB(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	pool, err := db.Open(ctx, cfg.Database.URL.Reveal(), db.Options{
		MaxConns:       int32(cfg.Database.MaxConns),
		MinConns:       int32(cfg.Database.MinConns),
		ConnectTimeout: cfg.Database.ConnectTimeout,
	})
	if errors.Is(err, db.ErrURL) {
		return nil, fmt.Errorf("%w: %w", config.ErrInvalid, err)
	}
	return pool, err
}

// APIOptions maps the config onto the API's options.
func APIOptions(cfg *config.Config) httpapi.Options {
	return httpapi.Options{
		MaxBodyBytes:         int64(cfg.Server.MaxBodyBytes),
		MaxBodyInflightBytes: int64(cfg.Server.MaxBodyInflightBytes),
		RequestTimeout:       cfg.Server.RequestTimeout,
		RateLimit:            cfg.Auth.RateLimit,
		RateBurst:            cfg.Auth.RateBurst,
		OrgRateLimit:         cfg.Auth.OrgRateLimit,
		OrgRateBurst:         cfg.Auth.OrgRateBurst,
		MaxLimiters:          cfg.Auth.MaxLimiters,
		TrustedProxies:       cfg.Server.TrustedProxies,
		EnrollmentTTL:        cfg.Auth.EnrollmentTTL,
		MaxBatchItems:        cfg.Agents.MaxBatchItems,
		CheckinInterval:      cfg.Agents.CheckinInterval,
		Metrics:              cfg.Server.MetricsOn() && cfg.Server.MetricsListen == "",
		MetricsToken:         cfg.Server.MetricsToken.Reveal(),
		UploadTimeout:        cfg.Blob.UploadTimeout,
		MaxAttempts:          cfg.Worker.MaxAttempts,
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

// ServeOptions tune Serve beyond the config.
type ServeOptions struct {
	// Ready, when not nil, is called with the listening address once the
	// listener is open: health probes are answered from then on, the
	// API once /health/ready answers 200.
	Ready func(addr net.Addr)
}

// Serve is ServeWith; ready is ServeOptions.Ready.
func Serve(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(addr net.Addr)) error {
	return ServeWith(ctx, cfg, log, ServeOptions{Ready: ready})
}

// ServeWith runs the API until ctx ends. It opens the database, then the
// listener, whose /health/live answers 200 and /health/ready 503
// (migrating) while migrations are applied (their advisory lock may be
// held by another replica for long) and the parts start; then it serves
// the API. When ctx ends, /health/ready answers 503 (draining) for
// server.drain_delay while requests are still served; then the listener
// closes and in-flight requests get server.shutdown_timeout to finish,
// past which their connections are closed and their contexts cancelled.
// The auth cache's listener, the rollout engine and the re-signing stop
// after that, then the pool closes.
func ServeWith(ctx context.Context, cfg *config.Config, log *slog.Logger, o ServeOptions) (err error) {
	// Checked here, not in the config: `rig-cloud worker` reads the same
	// file and runs no cache, so one connection is enough there.
	if cfg.Auth.CacheTTL > 0 && cfg.Database.MaxConns < 2 {
		// config.ErrInvalid: rig-cloud exits as for a config Load refuses.
		return fmt.Errorf("%w: database.max_conns: %d leaves no connection for requests: the auth cache's listener holds one "+
			"(set max_conns to 2 or more, or auth.cache_ttl to 0)", config.ErrInvalid, cfg.Database.MaxConns)
	}
	pool, err := OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	g := &gate{}
	// Handlers' contexts: cancelled when the shutdown times out.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		ReadTimeout:       cfg.Server.ReadTimeout,
		WriteTimeout:      cfg.Server.WriteTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
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
	log.Info("listening; ready once migrations are applied", "addr", ln.Addr().String(), "tls", cfg.Server.TLSOn())
	if o.Ready != nil {
		o.Ready(ln.Addr())
	}
	// The parts started below stop through their own cancel, never
	// through ctx, after the HTTP server has shut down (last started,
	// first stopped), before the pool closes.
	var stops []func()
	defer func() {
		serr := shutdown(ctx, srv, g, errc, cancelBase, cfg.Server.ShutdownTimeout, cfg.Server.DrainDelay, log)
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		err = errors.Join(err, serr)
	}()
	bg := context.WithoutCancel(ctx)

	if pending, err := migrateOrCheck(ctx, cfg, pool, log); err != nil {
		return err
	} else if len(pending) > 0 {
		log.Warn("migrations pending; /health/ready fails until `rig-cloud migrate` has run", "pending", pending)
	}
	blobs, err := OpenBlobs(cfg)
	if err != nil {
		return err
	}
	ao := APIOptions(cfg)
	ao.Blobs = blobs
	rel, err := OpenReleases(pool, cfg, log)
	if err != nil {
		return err
	}
	if rel != nil {
		ao.Releases = rel
		// Re-signs the online roles until stopped; waited for below.
		rctx, stop := context.WithCancel(bg)
		done := make(chan struct{})
		go func() { defer close(done); rel.Run(rctx) }()
		stops = append(stops, func() { stop(); <-done })
		log.Info("serving the release repository", "repo_dir", cfg.Releases.RepoDir)
	}
	st := store.New(pool)
	st.SetMaxFuture(cfg.Agents.MaxFuture)
	st.SetMaxPast(cfg.Agents.MaxPast)
	st.SetQuotas(store.Quotas{MaxOpenUploads: cfg.Quotas.MaxOpenUploads, MaxQueuedJobs: cfg.Quotas.MaxQueuedJobs,
		MaxLiveTokens: cfg.Quotas.MaxLiveTokens, MaxRigTypeVersions: cfg.Quotas.MaxRigTypeVersions})
	engine := rollout.NewEngine(st, rollout.Options{Interval: cfg.Releases.RolloutInterval, Log: log})
	ao.Registry = prometheus.NewRegistry()
	ao.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), engine)
	// Steps the running rollouts until stopped; waited for below.
	ectx, stopEngine := context.WithCancel(bg)
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		engine.Run(ectx)
	}()
	stops = append(stops, func() { stopEngine(); <-engineDone })
	if cfg.Auth.CacheTTL > 0 {
		ao.AuthCache = authcache.New(authcache.Options{TTL: cfg.Auth.CacheTTL, MaxEntries: cfg.Auth.CacheEntries})
		// Listens for revocations on one connection of the pool until
		// stopped; waited for below.
		lctx, stopListen := context.WithCancel(bg)
		listenDone := make(chan struct{})
		go func() {
			defer close(listenDone)
			ao.AuthCache.Listen(lctx, pool, log)
		}()
		stops = append(stops, func() { stopListen(); <-listenDone })
	}
	g.serve(httpapi.New(st, log, ao))
	if cfg.Server.MetricsOn() && cfg.Server.MetricsListen != "" {
		// The API's metrics on a listener of their own, not the API's
		// (which then has no /metrics): every organisation's activity.
		stop, err := serveMetrics("server.metrics_listen", cfg.Server.MetricsListen, ao.Registry, log)
		if err != nil {
			return err
		}
		stops = append(stops, stop)
	}
	log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		errc <- nil // reported here, not again by shutdown
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// shutdown stops srv: when ctx ended, /health/ready fails for drain
// while requests are served; then srv shuts down within timeout, past
// which its connections are closed and the handlers' contexts (base)
// cancelled. Only a replica that served the API and whose ctx ended
// drains.
func shutdown(ctx context.Context, srv *http.Server, g *gate, errc chan error, cancelBase context.CancelFunc,
	timeout, drain time.Duration, log *slog.Logger) error {
	serving := g.drain()
	if serving && ctx.Err() != nil && drain > 0 {
		log.Info("draining: /health/ready fails, requests are still served; a second SIGTERM or SIGINT stops at once", "drain_delay", drain.String())
		t := time.NewTimer(drain)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			errc <- err
		}
	}
	log.Info("shutting down", "timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	serr := srv.Shutdown(sctx)
	if serr != nil {
		// In-flight requests still run: close their connections and
		// cancel their contexts so that they release their pooled
		// connections (pool.Close waits for them).
		log.Warn("shutdown timed out: closing the connections of the requests still running", "err", serr)
		cancelBase()
		serr = errors.Join(serr, srv.Close())
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		serr = errors.Join(serr, err)
	}
	if serr != nil {
		return fmt.Errorf("shutdown: %w", serr)
	}
	log.Info("stopped")
	return nil
}

// gate is the HTTP server's handler: until serve is called /health/live
// answers 200 and everything else 503 (/health/ready: migrating); then
// the API answers; after drain /health/ready answers 503 (draining).
type gate struct {
	api      atomic.Pointer[httpapi.API]
	draining atomic.Bool
}

func (g *gate) serve(api *httpapi.API) { g.api.Store(api) }

// drain makes /health/ready fail and reports whether the API was served.
func (g *gate) drain() bool {
	g.draining.Store(true)
	return g.api.Load() != nil
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api := g.api.Load()
	switch {
	case r.URL.Path == "/health/ready" && g.draining.Load():
		unavailable(w, "draining: this replica is shutting down")
	case api != nil:
		api.ServeHTTP(w, r)
	case r.URL.Path == "/health/live":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"status":"live"}`)
	case r.URL.Path == "/health/ready":
		unavailable(w, "migrating: applying database migrations, or starting")
	default:
		unavailable(w, "starting: applying database migrations")
	}
}

// unavailable answers a 503 problem document with Retry-After.
func unavailable(w http.ResponseWriter, detail string) {
	w.Header().Set(cloudapi.HeaderRetryAfter, "5")
	cloudapi.NewProblem(cloudapi.ProblemUnavailable, http.StatusServiceUnavailable, "%s", detail).Write(w)
}

// Work runs a training worker (`rig-cloud worker`) until ctx ends: it
// applies pending migrations when database.migrate is set; when it is
// false and migrations are pending, it waits (claims nothing, as serve
// is not ready) until `rig-cloud migrate` has applied them, looking
// every worker.poll_interval: a worker's writes need its schema. Then it
// claims and runs jobs (cloud/internal/jobs). A job running at the end is
// stopped and re-queued. Every worker.blob_gc_interval it sweeps the
// blob store of orphans (cloud/internal/blobgc). When worker.metrics_listen
// is set it serves /metrics (Prometheus: the blob sweep's counters, the
// attempts' ends and durations (jobs.Worker's), the abandoned trainers
// (jobs.Worker.Abandoned), Go and process metrics) and /health/live there, from before the migrations
// until Work returns.
func Work(ctx context.Context, cfg *config.Config, log *slog.Logger, version string) error {
	pool, err := OpenDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if addr := cfg.Worker.MetricsListen; addr != "" {
		stop, err := serveWorkerMetrics(addr, reg, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	pending, err := migrateOrCheck(ctx, cfg, pool, log)
	if err != nil {
		return err
	}
	if len(pending) > 0 && !awaitMigrations(ctx, pool, pending, cfg.Worker.PollInterval, log) {
		return nil // ctx ended while waiting, as when it ends later
	}
	blobs, err := OpenBlobs(cfg)
	if err != nil {
		return err
	}
	w := cfg.Worker
	if w.BlobGCInterval > 0 {
		// Sweeps orphaned blobs until Work returns; waited for before the
		// pool closes.
		gctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		sw := blobgc.New(pool, blobs, blobgc.Options{MinAge: blobgc.MinAge(cfg.Blob.UploadTimeout), Log: log})
		reg.MustRegister(sw)
		go func() { defer close(done); sw.Run(gctx, w.BlobGCInterval) }()
		defer func() { stop(); <-done }()
	}
	jw := jobs.NewWorker(store.New(pool), blobs, jobs.Options{
		Backend: w.Backend, WorkDir: w.WorkDir, PollInterval: w.PollInterval, Lease: w.Lease, Heartbeat: w.Heartbeat,
		MaxLogLines: w.MaxLogLines, MaxWindows: w.MaxWindows, MaxExtractBytes: int64(w.MaxExtractBytes),
		MaxJobDuration: w.MaxJobDuration, CodeVersion: version, Log: log,
	})
	reg.MustRegister(jw,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rig_cloud_worker_abandoned_trainers",
			Help: "Trainers that did not stop within jobs.Options.StopGrace of their attempt's end and still run."},
			func() float64 { n, _ := jw.Abandoned(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "rig_cloud_worker_abandoned_trainers_total",
			Help: "Trainers abandoned since the worker started (they did not stop within jobs.Options.StopGrace)."},
			func() float64 { _, n := jw.Abandoned(); return float64(n) }),
	)
	return jw.Run(ctx)
}

// serveWorkerMetrics serves reg at /metrics and a liveness answer at
// /health/live on addr (worker.metrics_listen) until stop is called.
func serveWorkerMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	return serveMetrics("worker.metrics_listen", addr, reg, log)
}

// serveMetrics is serveWorkerMetrics for the listener of config key key.
func serveMetrics(key, addr string, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", key, addr, err)
	}
	what := "worker" // the log lines' subject
	if key == "server.metrics_listen" {
		what = "API"
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"status":"live"}`)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" metrics listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info(what+" metrics listening", "addr", ln.Addr().String())
	return func() {
		// Scrapes are short: a second, then the connections are closed.
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close()
		}
		<-done
	}, nil
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

// openStore opens the database for a one-shot command, applying pending
// migrations unless database.migrate is false (then it refuses to run on
// an outdated schema). close releases it.
func openStore(ctx context.Context, cfg *config.Config) (st *store.Store, close func(), err error) {
	pool, err := OpenDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if pending, err := migrateOrCheck(ctx, cfg, pool, nil); err != nil {
		pool.Close()
		return nil, nil, err
	} else if len(pending) > 0 {
		pool.Close()
		return nil, nil, fmt.Errorf("migrations %v are not applied and database.migrate is false: run `rig-cloud migrate` first", pending)
	}
	return store.New(pool), pool.Close, nil
}

// migrateOrCheck applies the pending migrations when database.migrate is
// set (log, when not nil, says so) and returns none; when it is false it
// applies nothing and returns the versions of this binary the database
// lacks. Serve, Work and the one-shot commands all decide here; each
// says what pending versions mean to it.
func migrateOrCheck(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool, log *slog.Logger) (pending []int, err error) {
	if cfg.Database.MigrateOn() {
		applied, err := db.Migrate(ctx, pool, log)
		if err != nil {
			return nil, err
		}
		if log != nil {
			log.Info("schema up to date", "applied_now", applied)
		}
		return nil, nil
	}
	st, err := db.Status(ctx, pool)
	if err != nil {
		return nil, err
	}
	return st.Pending, nil
}

// awaitMigrations waits until no migration of this binary is pending
// (pending: those found), looking every interval (a failed look is
// logged and tried again); false when ctx ended first.
func awaitMigrations(ctx context.Context, pool *pgxpool.Pool, pending []int, every time.Duration, log *slog.Logger) bool {
	log.Warn("migrations pending and database.migrate is false: no job is claimed until `rig-cloud migrate` has run",
		"pending", pending)
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(every):
		}
		st, err := db.Status(ctx, pool)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("schema status not read; trying again", "err", err)
			}
			continue
		}
		pending = st.Pending
	}
	log.Info("migrations applied: claiming jobs")
	return true
}

// ListTokens lists the API tokens of organisation org (its slug), or with
// org "" the deployment's (system and release), revoked and expired ones
// included, by id (rig-cloud token list).
func ListTokens(ctx context.Context, cfg *config.Config, org string) ([]store.Token, error) {
	st, done, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer done()
	var orgID int64
	if org != "" {
		o, err := st.OrgBySlug(ctx, org)
		if err != nil {
			return nil, fmt.Errorf("organisation %q: %w", org, err)
		}
		orgID = o.ID
	}
	var out []store.Token
	for after := int64(0); ; {
		page, err := st.Tokens(ctx, orgID, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// RevokeToken revokes API token id, of any organisation or of none (a
// system or release token), and with cascade every token it made,
// recursively (rig-cloud token revoke); it notifies every replica's
// authentication cache. It returns the ids revoked now.
func RevokeToken(ctx context.Context, cfg *config.Config, id int64, cascade bool) ([]int64, error) {
	st, done, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer done()
	return st.RevokeTokenWith(ctx, 0, id, store.RevokeOptions{AnyOrg: true, Cascade: cascade})
}

// CreateToken makes an API token: a system or release token (no org), or
// one of org (its slug; created with orgName when missing and orgName is
// set). It returns the token's secret, shown once.
func CreateToken(ctx context.Context, cfg *config.Config, org, orgName, name string, role store.Role, ttl time.Duration) (string, error) {
	st, done, err := openStore(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer done()
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
