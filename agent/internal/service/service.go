package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/forward"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/internal/publish"
	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// clockSynced is the ingest's Options.ClockSynced (nil: the kernel's
// adjtimex status); tests replace it.
var clockSynced func() bool

// Forwarder is the cloud store-and-forward as the agent runs it: a
// windowing.Sink for new diagnoses plus its own loop. The forwarder
// package (agent/internal/forward) provides one; Options.NewForwarder
// builds it. If it also has a Close() error method, Stop calls it after
// Run returned and before the buffer closes.
type Forwarder interface {
	windowing.Sink
	// Run sends until ctx is done, then returns nil (or the reason it
	// cannot go on).
	Run(ctx context.Context) error
}

// ForwarderDeps are what a forwarder may use: the reading buffer (cursor
// config.ForwardCursor is its consumer cursor), the diagnosis history (to
// resume with After and a cursor of its own), and Link to report the
// link's state and bytes sent for /status and /metrics.
type ForwarderDeps struct {
	Config  *config.Config
	Version string
	Buffer  *buffer.Buffer
	History *history.Store
	Link    *api.Link
	// Describe adds the served model and the update state to a check-in
	// (forward.Options.Describe).
	Describe func(*cloudapi.CheckinRequest)
	// Offer receives the offer of every check-in answer (nil: none;
	// forward.Options.Offer): the model updater installs only an offered
	// release.
	Offer  func(*cloudapi.Offer)
	Logger *slog.Logger
	// Heartbeat is the forwarder's loop in the agent's heartbeat registry
	// (forward.Options.Heartbeat): Run beats it while healthy.
	Heartbeat *liveness.Beater
}

// Options configure Start beyond the config file.
type Options struct {
	// Version is the agent's version (for /status and metrics).
	Version string
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// NewForwarder builds the cloud forwarder when cfg.Cloud.Enabled()
	// (nil: NewCloudForwarder, agent/internal/forward).
	NewForwarder func(ctx context.Context, deps ForwarderDeps) (Forwarder, error)
	// StartTimeout bounds the steps of Start after the reading buffer is
	// open (zero: ctx only). Opening the buffer, with its whole-file
	// check and a compaction, is bounded by ctx only: on a slow disk a
	// large buffer's check takes minutes, and cutting it short would keep
	// the agent from ever starting.
	StartTimeout time.Duration
	// UpdateOptions, when set, adjusts the model updater's options after
	// the config's are applied (tests inject a clock; nil: none).
	UpdateOptions func(*update.Options)

	// livenessNow is the heartbeat registry's clock (nil: time.Now);
	// tests in this package set it.
	livenessNow func() time.Time
}

// Agent is a started rig agent.
type Agent struct {
	cfg  *config.Config
	opts Options
	log  *slog.Logger

	buf     *buffer.Buffer
	hist    *history.Store
	model   *infer.Model // the model opened at start, until serving takes it
	brk     *broker.Broker
	host    *plugin.Host
	in      *ingest.Ingest
	pub     *publish.Publisher
	fwd     Forwarder
	srv     *api.Server
	link    *api.Link
	live    *liveness.Registry
	stopped atomic.Bool
	// stopping is closed when Stop begins: it ends a model swap's wait
	// for the old runner (Activate).
	stopping chan struct{}

	// The served model and its windowing runner: replaced as a whole by
	// Activate (see update.go); swapMu serializes the swaps with Stop
	// (it is not held while a swap waits for the old runner), activateMu
	// the swaps with each other.
	cur          atomic.Pointer[serving]
	swapMu       sync.Mutex
	activateMu   sync.Mutex
	runnerOpts   windowing.Options
	stride1      bool
	windowingOff bool            // under swapMu: Stop stopped the windowing
	winTotals    windowingTotals // the counters of runners Activate retired
	trend        *healthTrend    // set by the first newServing (trended), kept across updates
	upd          *update.Manager
	budget       linkBudget
	offers       offerBox // the last check-in's offer, for the updater

	cancelIngest, cancelSinks, cancelUpdate context.CancelFunc
	ingestDone, sinksDone, updateDone       chan struct{}
	failed                                  chan error
	failOnce                                sync.Once
	stopOnce                                sync.Once
	stopErr                                 error
	stopDeadline                            time.Time // Stop's, for the API's shutdown (zero: none)
	closers                                 []closer
}

type closer struct {
	name string
	fn   func() error
}

// ModelOptions maps the model section of cfg to infer.Options: the
// options Start opens the model with (rig-agent --check-model uses them
// too). log receives the provider fallback warnings.
func ModelOptions(cfg *config.Config, log *slog.Logger) infer.Options {
	o := infer.Options{
		Precision: bundle.Precision(cfg.Model.Precision), IntraOpThreads: cfg.Model.IntraOpThreads,
		InterOpThreads: cfg.Model.InterOpThreads, DeviceID: cfg.Model.DeviceID, MaxBatch: cfg.Model.MaxBatch,
		LibraryPath: cfg.Model.OnnxRuntimeLib, Logger: log, RunCPU: true,
	}
	for _, p := range cfg.Model.Providers {
		o.Providers = append(o.Providers, infer.Provider(p))
	}
	if trt := TensorRTOptions(cfg); trt != nil {
		o.ProviderOptions = map[infer.Provider]map[string]string{infer.TensorRT: trt}
	}
	return o
}

// TensorRTOptions returns the TensorRT provider options the model section
// asks for (model.tensorrt_engine_cache, model.tensorrt_cache_dir,
// model.tensorrt_fp16), keyed by ONNX Runtime's option names; nil when
// the tensorrt provider is not listed or nothing is set. device_id is
// added by agent/infer.
func TensorRTOptions(cfg *config.Config) map[string]string {
	m := cfg.Model
	if !slices.Contains(m.Providers, string(infer.TensorRT)) {
		return nil
	}
	o := map[string]string{}
	if m.TensorRTEngineCache && m.TensorRTCacheDir != "" {
		o["trt_engine_cache_enable"] = "1"
		o["trt_engine_cache_path"] = m.TensorRTCacheDir
		o["trt_timing_cache_enable"] = "1"
		o["trt_timing_cache_path"] = m.TensorRTCacheDir
	}
	if m.TensorRTFP16 {
		o["trt_fp16_enable"] = "1"
	}
	if len(o) == 0 {
		return nil
	}
	return o
}

// PrepareModel creates what opening the model as configured needs on
// disk: the TensorRT cache directory when the tensorrt provider and its
// engine cache are configured. Start calls it; so does rig-agent
// --check-model.
func PrepareModel(cfg *config.Config) error {
	if o := TensorRTOptions(cfg); o["trt_engine_cache_path"] != "" {
		if err := os.MkdirAll(o["trt_engine_cache_path"], 0o700); err != nil {
			return fmt.Errorf("model.tensorrt_cache_dir %s: %w (set another directory, or model.tensorrt_engine_cache: false)", o["trt_engine_cache_path"], err)
		}
	}
	return nil
}

// Start opens, checks and starts everything cfg describes (cfg must come
// from config.Load: its Firmware is set). On error nothing is left
// running. ctx bounds the start only (cancel it on a signal);
// Options.StartTimeout bounds what follows the buffer's open.
func Start(ctx context.Context, cfg *config.Config, opts Options) (a *Agent, err error) {
	if cfg == nil || cfg.Firmware == nil {
		return nil, errors.New("service: config without a loaded firmware config (use config.Load)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a = &Agent{cfg: cfg, opts: opts, log: opts.Logger, link: &api.Link{}, failed: make(chan error, 4),
		stopping: make(chan struct{})}
	started := a // a is nil in every error return
	// modelServes: the model opened (and its windowing did not fail).
	modelServes := false
	defer func() {
		if err != nil {
			started.closeAll()
			if started.upd != nil && modelServes {
				// A failure after the model was up (the API's port taken,
				// the broker, the start's deadline) is not the release's:
				// not counted against it at the next start. One before
				// (the model's open) leaves no marker: counted.
				if cerr := started.upd.Close(); cerr != nil {
					started.log.Warn("close update after failed start", "err", cerr)
				}
			}
		}
	}()
	log := a.log
	if err := a.openLiveness(); err != nil {
		return nil, err
	}

	// 1. State: buffer and history.
	if err := os.MkdirAll(cfg.Agent.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent.data_dir %s: %w", cfg.Agent.DataDir, err)
	}
	if cfg.Cloud.Enabled() {
		// The outbox is opened last (the forwarder, step 4); its check
		// comes first, before the buffer's check, the model and the
		// broker, so that a damaged outbox is found at little cost on
		// each restart.
		if err := forward.CheckOutbox(filepath.Join(cfg.Agent.DataDir, forward.DefaultFileName)); err != nil {
			return nil, fmt.Errorf("cloud outbox: %w", err)
		}
	}
	bopts := cfg.BufferOptions(log.With("part", "buffer"))
	// A compaction at runtime holds the ingest's appends for as long as
	// it copies (minutes on slow flash): its progress beats the ingest's
	// heartbeat, so a copy that moves is no stall and one hung in a write
	// is. Not watched until the ingest runs (Register again beats it).
	ingestBeat := a.beater(LoopIngest)
	ingestBeat.Done()
	bopts.OnProgress = ingestBeat.Beat
	if a.buf, err = openBuffer(ctx, cfg.Buffer.Path, bopts, log); err != nil {
		return nil, fmt.Errorf("open reading buffer (buffer.path): %w", err)
	}
	a.addCloser("buffer", a.buf.Close)
	if opts.StartTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.StartTimeout)
		defer cancel()
	}
	hopts := history.Options{
		MaxCount: cfg.Diagnoses.MaxCount, MaxBytes: int64(cfg.Diagnoses.MaxBytes), MaxAge: cfg.Diagnoses.MaxAge,
		SeqFile: config.HistorySeqFile(cfg.Diagnoses.Path), Logger: log.With("part", "history"),
	}
	if hopts.MaxAge == 0 {
		hopts.MaxAge = -1
	}
	if a.hist, err = history.Open(cfg.Diagnoses.Path, hopts); err != nil {
		return nil, fmt.Errorf("open diagnosis history (diagnoses.path): %w", err)
	}
	a.addCloser("history", a.hist.Close)

	// 2. Model updates (update.url), then the model: the updater's
	// recovery decides which bundle serves.
	if err := PrepareModel(cfg); err != nil {
		return nil, err
	}
	modelDir, what := cfg.Model.BundleDir, "model.bundle_dir"
	if cfg.Update.Enabled() {
		if a.upd, err = a.openUpdate(); err != nil {
			return nil, err
		}
		modelDir, what = a.upd.Current(), "the update's current bundle, "+filepath.Join(cfg.Update.Dir, "current")
	}
	if a.model, err = infer.Open(modelDir, cfg.Firmware, ModelOptions(cfg, log.With("part", "model"))); err != nil {
		return nil, fmt.Errorf("open model bundle (%s): %w", what, err)
	}
	a.addCloser("model", started.closeModel)
	modelServes = true

	// 3. Broker, plugins, ingest.
	password, err := cfg.Broker.PasswordValue()
	if err != nil {
		return nil, fmt.Errorf("broker password: %w", err)
	}
	brokerURL := cfg.Broker.URL
	if cfg.Broker.Embedded {
		users, err := embeddedUsers(cfg.Broker, string(password))
		if err != nil {
			return nil, err
		}
		l := cfg.Broker.Limits
		var reserved []string
		if cfg.Diagnoses.Publish {
			// The diagnosis publisher's client id is reserved to it too
			// (Login): a gateway using it would knock the publisher off.
			reserved = []string{pubClientID(cfg.Broker.ClientID)}
		}
		serverTLS, err := cfg.Broker.ListenTLS.ServerConfig() // nil: plain TCP
		if err != nil {
			return nil, err
		}
		a.brk, err = broker.Start(broker.Options{
			Addr: cfg.Broker.Listen, TLS: serverTLS, MaxConnecting: l.MaxConnecting,
			MaxClients: int64(l.MaxClients), MaxInflight: uint16(l.MaxInflight),
			MaxWritesPending: int32(l.MaxPendingWrites), MaxPacketSize: uint32(l.MaxPacketBytes),
			SessionExpiry: l.SessionExpiry, MaxSessions: l.MaxSessions,
			HighWater: min(broker.DefaultHighWater, l.MaxInflight/2, l.MaxPendingWrites/2),
			// Gateways are refused until the ingest subscribed: the broker
			// would acknowledge their backlog and drop it. The ingest's
			// client id is reserved to it (SubscriberLogin).
			Subscriber: cfg.Broker.ClientID,
			Reserved:   reserved,
			Users:      users,
			Logger:     log.With("part", "broker"),
		})
		if err != nil {
			return nil, fmt.Errorf("start embedded broker (broker.listen %s): %w", cfg.Broker.Listen, err)
		}
		a.addCloser("embedded broker", a.brk.Close)
		brokerURL = a.brk.URL()
	}
	tlsFiles := ingest.TLSFiles{CAFile: cfg.Broker.TLS.CAFile, CertFile: cfg.Broker.TLS.CertFile,
		KeyFile: cfg.Broker.TLS.KeyFile, ServerName: cfg.Broker.TLS.ServerName}
	iopt := ingest.Options{
		Broker: brokerURL, ClientID: cfg.Broker.ClientID, Username: cfg.Broker.Username, Password: string(password),
		KeepAlive: cfg.Broker.KeepAlive, ConnectTimeout: cfg.Broker.ConnectTimeout, Logger: log.With("part", "ingest"),
		ClockSynced: clockSynced, MaxPluginWait: cfg.Agent.PluginMaxWait, HeldRetry: cfg.Agent.PluginHeldRetry,
		Heartbeat: a.beater(LoopIngest),
	}
	if a.brk != nil {
		// The ingest's client id is reserved to a login the embedded
		// broker made at start: gateways, which share broker.username,
		// cannot take its session over.
		iopt.Username, iopt.Password = a.brk.SubscriberLogin()
		// With broker.listen_tls: the broker's own certificate, pinned,
		// and a client certificate it trusts (broker.tls is for an
		// external broker). The publisher uses it too.
		iopt.TLS = a.brk.ClientTLS()
		// Messages held for an unavailable codec plugin stay in the
		// broker's in-flight window for the ingest: per topic, well below
		// its HighWater (max_inflight/2), so a broken plugin cannot slow
		// every publisher or have the broker drop the other topics; and
		// over all the topics, below it too (max_inflight/4), however
		// many plugins are broken.
		iopt.MaxHeldPerTopic = max(1, min(ingest.DefaultMaxHeldPerTopic, cfg.Broker.Limits.MaxInflight/8))
		iopt.MaxHeld = max(1, min(ingest.DefaultMaxHeld, cfg.Broker.Limits.MaxInflight/4))
	} else if isTLS(brokerURL) {
		if iopt.TLS, err = ingest.TLSConfig(tlsFiles); err != nil {
			return nil, fmt.Errorf("broker.tls: %w", err)
		}
	}
	if usesPlugins(cfg) {
		if a.host, err = pluginHost(cfg, log.With("part", "plugins")); err != nil {
			return nil, err
		}
		a.addCloser("plugin host", a.host.Close)
		iopt.Plugins = func(name string) (ingest.Decoder, error) { return a.host.Codec(name) }
	}
	if a.in, err = ingest.New(cfg.Firmware, a.buf, iopt); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}

	// 4. Sinks and windowing.
	var sinks []windowing.Sink
	if cfg.Diagnoses.Publish {
		popt := publish.Options{
			Broker: brokerURL, ClientID: pubClientID(cfg.Broker.ClientID), Username: cfg.Broker.Username,
			Password: string(password), TLS: iopt.TLS, Topic: cfg.Diagnoses.Topic,
			ConnectTimeout: cfg.Broker.ConnectTimeout, KeepAlive: cfg.Broker.KeepAlive, Logger: log.With("part", "publish"),
			Heartbeat: a.beater(LoopPublisher),
		}
		if a.brk != nil {
			// Its client id is reserved to a login the embedded broker
			// made at start, like the ingest's.
			popt.Username, popt.Password = a.brk.Login(popt.ClientID)
		}
		a.pub, err = publish.New(popt)
		if err != nil {
			return nil, fmt.Errorf("diagnosis publisher: %w", err)
		}
		sinks = append(sinks, a.pub)
	}
	if cfg.Cloud.Enabled() {
		newForwarder := opts.NewForwarder
		if newForwarder == nil {
			newForwarder = NewCloudForwarder
		}
		a.fwd, err = newForwarder(ctx, ForwarderDeps{Config: cfg, Version: opts.Version, Buffer: a.buf, History: a.hist,
			Link: a.link, Describe: a.describe, Offer: a.offers.set, Logger: log.With("part", "forward"),
			Heartbeat: a.beater(LoopForwarder)})
		if err != nil {
			return nil, fmt.Errorf("cloud forwarder (cloud.*): %w", err)
		}
		sinks = append(sinks, a.fwd)
		if c, ok := a.fwd.(interface{ Close() error }); ok {
			a.addCloser("forwarder", c.Close)
		}
		if b, ok := a.fwd.(update.Budget); ok {
			a.budget.set(b) // downloads share cloud.bandwidth_bytes_per_day
		}
	}
	var anchor time.Time
	if cfg.Windowing.CycleAnchor != "" {
		anchor, _ = time.Parse(time.RFC3339Nano, cfg.Windowing.CycleAnchor) // validated by config
	}
	inferHist, inferCPUHist := api.NewInferenceHistogram(), api.NewInferenceCPUHistogram()
	a.stride1 = cfg.Windowing.StrideSteps <= 1 && (cfg.Windowing.Alignment == "" || cfg.Windowing.Alignment == string(prep.AlignSliding))
	a.runnerOpts = windowing.Options{
		AgentID: cfg.Agent.ID, Alignment: prep.Alignment(cfg.Windowing.Alignment), StrideSteps: cfg.Windowing.StrideSteps,
		CycleS: cfg.Firmware.Operation.CycleS, Anchor: anchor, Lateness: latenessOf(cfg.Windowing.Lateness),
		Sinks: sinks, OnInference: func(d time.Duration) { inferHist.Observe(d.Seconds()) },
		OnInferenceCPU: func(d time.Duration) { inferCPUHist.Observe(d.Seconds()) }, ReleaseCursor: config.WindowingCursor,
		Logger:    log.With("part", "windowing"),
		Heartbeat: a.beater(LoopWindowing),
	}
	first, err := a.newServing(modelDir, a.model)
	if err != nil {
		modelServes = false // the model's failure, maybe
		return nil, err
	}
	a.cur.Store(first)

	// 5. API.
	apiToken, err := cfg.API.TokenValue()
	if err != nil {
		return nil, fmt.Errorf("http api token: %w", err)
	}
	aopts := api.Options{
		Token: apiToken.Reveal(), AllowedHosts: cfg.API.AllowedHosts,
		Listen: cfg.API.Listen, ReadHeaderTimeout: cfg.API.ReadHeaderTimeout, WriteTimeout: cfg.API.WriteTimeout,
		IdleTimeout: cfg.API.IdleTimeout, MaxHeaderBytes: int(cfg.API.MaxHeaderBytes), MaxConnections: cfg.API.MaxConnections,
		MaxHistoryItems: cfg.API.MaxHistoryItems, AgentID: cfg.Agent.ID, Version: opts.Version, Rig: cfg.Firmware,
		Served: a.served, BrokerURL: brokerURL, Embedded: cfg.Broker.Embedded,
		Ingest: a.in, Buffer: a.buf, Windowing: servedWindowing{a}, History: a.hist, Link: a.link,
		CloudEnabled: cfg.Cloud.Enabled(), Inference: inferHist, InferenceCPU: inferCPUHist, Ready: a.NotReady, Logger: log.With("part", "api"),
		Liveness: a.live,
	}
	if a.upd != nil {
		aopts.Update = a.upd
	}
	if aopts.Disk, err = diskMonitor(cfg, a.upd != nil, log.With("part", "disk")); err != nil {
		return nil, fmt.Errorf("http api: %w", err)
	}
	if a.pub != nil {
		aopts.Publisher, aopts.PublishTopic = a.pub, cfg.Diagnoses.Topic
	}
	if a.host != nil {
		aopts.Plugins = a.host
	}
	if a.brk != nil {
		aopts.Broker = a.brk
	}
	if a.srv, err = api.New(aopts); err != nil {
		return nil, fmt.Errorf("http api: %w", err)
	}
	if err = a.srv.Start(); err != nil {
		return nil, err
	}
	a.addCloser("http api", a.shutdownAPI)
	// The API failing later (its listener) fails the agent, which is
	// restarted: unobserved, it would run on without /metrics and
	// /health.
	a.goRun("http api", a.srv.Wait)

	// Run.
	var ictx, sctx context.Context
	ictx, a.cancelIngest = context.WithCancel(context.Background())
	sctx, a.cancelSinks = context.WithCancel(context.Background())
	a.ingestDone = a.goRunBeating("ingest", iopt.Heartbeat, func() error { return a.in.Run(ictx) })
	a.startWindowing(first)
	var sinkRuns []func() error
	if a.pub != nil {
		sinkRuns = append(sinkRuns, func() error { defer a.beater(LoopPublisher).Done(); return a.pub.Run(sctx) })
	}
	if a.fwd != nil {
		sinkRuns = append(sinkRuns, func() error { defer a.beater(LoopForwarder).Done(); return a.fwd.Run(sctx) })
	}
	a.sinksDone = a.goRun("sinks", func() error {
		var wg sync.WaitGroup
		errs := make([]error, len(sinkRuns))
		for i, f := range sinkRuns {
			wg.Go(func() { errs[i] = f() })
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	if a.upd != nil {
		var uctx context.Context
		uctx, a.cancelUpdate = context.WithCancel(context.Background())
		a.updateDone = a.goRunBeating("update", a.beater(LoopUpdate), func() error { return a.upd.Run(uctx) })
	}
	log.Info("rig-agent started", "agent_id", cfg.Agent.ID, "rig", cfg.Firmware.Equipment.ID, "rig_type", cfg.Firmware.RigType,
		"bundle", a.model.Manifest().Name, "bundle_version", a.model.Manifest().Version, "broker", brokerURL,
		"embedded_broker", cfg.Broker.Embedded, "api", a.srv.Addr(), "publish_topic", topicIf(cfg), "cloud", cfg.Cloud.Enabled(),
		"update", cfg.Update.URL)
	return a, nil
}

// bufferProgressEvery is how often openBuffer logs that the buffer's
// check goes on.
var bufferProgressEvery = 15 * time.Second

// openBuffer opens the reading buffer, logging while its check and
// compaction take long (a large file on slow flash takes minutes).
func openBuffer(ctx context.Context, path string, o buffer.Options, log *slog.Logger) (*buffer.Buffer, error) {
	var size int64
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	if size > 0 && !o.SkipCheck {
		log.Info("opening the reading buffer: checking the whole file (buffer.skip_check skips it)", "file", path,
			"size_bytes", size)
	}
	began := time.Now()
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(bufferProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				log.Info("still checking the reading buffer; the agent starts when it is done (a signal stops it)",
					"file", path, "size_bytes", size, "elapsed", time.Since(began).Round(time.Second))
			}
		}
	}()
	b, err := buffer.Open(ctx, path, o)
	if err == nil && time.Since(began) > bufferProgressEvery {
		log.Info("reading buffer open", "file", path, "took", time.Since(began).Round(time.Second))
	}
	return b, err
}

// embeddedUsers returns the embedded broker's users: broker.username
// with its password, the gateways' login (the ingest and the diagnosis
// publisher have their own, see broker.Options.Subscriber and
// Reserved); none when no username is set. config.Validate refuses a
// username without a password setting and a listen address open to the
// network without credentials; here the password's value is known
// (broker.password_file may be empty).
func embeddedUsers(b config.Broker, password string) (map[string]string, error) {
	if b.Username == "" {
		return nil, nil
	}
	if password == "" {
		return nil, fmt.Errorf("%w: broker.username %q is set without a password: the embedded broker (broker.listen %s) needs both (broker.password_file, or RIG_AGENT_BROKER_PASSWORD)", config.ErrInvalid, b.Username, b.Listen)
	}
	return map[string]string{b.Username: password}, nil
}

func latenessOf(d time.Duration) time.Duration {
	if d == 0 {
		return -1 // the config's 0s means no wait; windowing's 0 means its default
	}
	return d
}

func topicIf(cfg *config.Config) string {
	if cfg.Diagnoses.Publish {
		return cfg.Diagnoses.Topic
	}
	return ""
}

func pubClientID(id string) string {
	if len(id) > 60 {
		id = id[:60]
	}
	return id + "-pub"
}

func isTLS(url string) bool {
	for _, p := range []string{"ssl://", "tls://", "mqtts://", "wss://"} {
		if strings.HasPrefix(url, p) {
			return true
		}
	}
	return false
}

func usesPlugins(cfg *config.Config) bool {
	return slices.ContainsFunc(cfg.Firmware.Sensors, func(s rig.Sensor) bool {
		return strings.HasPrefix(s.MQTT.Codec, codec.PluginPrefix)
	})
}

func (a *Agent) addCloser(name string, fn func() error) {
	a.closers = append(a.closers, closer{name, fn})
}

// goRun runs fn; an error while the agent is not stopping is a failure
// (see Failed).
func (a *Agent) goRun(name string, fn func() error) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fn(); err != nil && !a.stopped.Load() {
			a.failOnce.Do(func() { a.failed <- fmt.Errorf("%s stopped: %w", name, err) })
		}
	}()
	return done
}

// Failed delivers the first error of a part that stopped on its own (the
// agent should then Stop and exit non-zero).
func (a *Agent) Failed() <-chan error { return a.failed }

// APIAddr is the HTTP API's address.
func (a *Agent) APIAddr() string { return a.srv.Addr() }

// BrokerURL is the broker the agent uses (the embedded one's when
// embedded).
func (a *Agent) BrokerURL() string {
	if a.brk != nil {
		return a.brk.URL()
	}
	return a.cfg.Broker.URL
}

// Link returns the cloud link state the forwarder reports into.
func (a *Agent) Link() *api.Link { return a.link }

// History returns the diagnosis history.
func (a *Agent) History() *history.Store { return a.hist }

// Windowing returns the windowing runner of the model served now (a
// model update replaces it).
func (a *Agent) Windowing() *windowing.Runner { return a.cur.Load().runner }

// Update returns the model-update manager (nil: update.url not set).
func (a *Agent) Update() *update.Manager { return a.upd }

// NotReady returns why the agent is not ready (empty: ready).
func (a *Agent) NotReady() []string {
	var why []string
	if a.stopped.Load() {
		why = append(why, "stopping")
	}
	if a.buf == nil {
		why = append(why, "buffer not open")
	}
	if a.cur.Load() == nil {
		why = append(why, "model not loaded")
	}
	if a.in == nil || !a.in.Stats().Connected {
		why = append(why, "broker not connected (ingest session not up)")
	}
	if of, ok := a.fwd.(outboxReporter); ok {
		if n, since, err := of.OutboxFailing(); n >= forward.OutboxNotReadyAfter {
			why = append(why, fmt.Sprintf("cloud outbox failing since %s (%d failures in a row; diagnoses stay in the history): %v",
				since.UTC().Format(time.RFC3339), n, err))
		}
	}
	return why
}

// Stop shuts the agent down in order (see the package doc), each step
// bounded by ctx. It is idempotent; the first call's error is returned.
func (a *Agent) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() { a.stopErr = a.stop(ctx) })
	return a.stopErr
}

func (a *Agent) stop(ctx context.Context) error {
	// The updater's ctx is cancelled first: an activation that the stop
	// makes give up (errStopping, on stopped or stopping) is then seen by
	// the updater as a stop (the release staged again), never as the
	// release's failure (an attempt counted). Its Run returns nil on a
	// cancelled ctx, so this is no failure of a part either.
	if a.cancelUpdate != nil {
		a.cancelUpdate()
	}
	a.stopped.Store(true)
	close(a.stopping)
	if dl, ok := ctx.Deadline(); ok {
		a.stopDeadline = dl
	}
	log := a.log
	log.Info("rig-agent stopping")
	var errs []error
	wait := func(name string, done chan struct{}) bool {
		if !waitDone(ctx, done) {
			errs = append(errs, fmt.Errorf("%s did not stop in time", name))
			log.Error("part did not stop in time", "part", name)
			return false
		}
		return true
	}
	// 0. The updater: a download, verification, canary or activation in
	// progress is cancelled (above; resumed at the next start) and gives
	// up within moments, a model open or bundle check left to end on its
	// own; no model is swapped from here on. It gets at most
	// updateStopBudget of the stop's time, so that a step that still does
	// not return cannot starve the broker's drain and the ingest.
	if a.cancelUpdate != nil {
		budget := updateStopBudget(ctx)
		uctx, cancel := context.WithTimeout(ctx, budget)
		if !waitDone(uctx, a.updateDone) {
			errs = append(errs, errors.New("update did not stop in time"))
			log.Error("part did not stop in time; stopping the rest without it", "part", "update", "waited", budget)
		}
		cancel()
	}
	// 1. Drain the embedded broker: intake stops at the source.
	if a.brk != nil {
		if err := a.drain(ctx); err != nil {
			errs = append(errs, fmt.Errorf("drain embedded broker: %w", err))
			log.Warn("embedded broker drain incomplete: the rest stays with the gateways or is lost with the broker", "err", err)
		}
	}
	// 2. Ingest: stores and acknowledges what it holds.
	a.cancelIngest()
	wait("ingest", a.ingestDone)
	// 3. Windowing, then the sinks it feeds. A runner that does not stop
	// in the time left is running the served model (a run hung in
	// RunInto): see 6.
	modelHung := false
	a.swapMu.Lock()
	a.windowingOff = true
	if s := a.cur.Load(); s != nil && s.cancel != nil {
		timeLeft := ctx.Err() == nil
		s.cancel()
		modelHung = !wait("windowing", s.done) && timeLeft
	}
	a.swapMu.Unlock()
	if a.trend != nil {
		a.trend.save() // after the windowing's last diagnosis
	}
	a.cancelSinks()
	wait("publisher and forwarder", a.sinksDone)
	// 4, 5. API, model, history, buffer, plugins, broker: reverse of start
	// (the closers were added in start order: buffer, history, model,
	// broker, plugins, api). The stated order is api, model, history,
	// buffer, plugins, broker.
	order := []string{"http api", "forwarder", "model", "history", "buffer", "plugin host", "embedded broker"}
	for _, name := range order {
		for _, c := range a.closers {
			if c.name == name {
				if err := c.fn(); err != nil {
					errs = append(errs, fmt.Errorf("close %s: %w", name, err))
				}
			}
		}
	}
	a.closers = nil
	// 6. Last, the updater's clean-stop marker: this stop, even one whose
	// deadline passed during a slow canary or activation, counts no
	// attempt and no watch restart against the release at the next start.
	// Not when the served model did not stop (the windowing was asked to
	// stop with time left and did not): a hung model is the release's
	// failure, and the next start counts it like a crash. A stop whose
	// time was used up before the windowing (a slow canary or
	// activation) cannot tell, and leaves the marker.
	if a.upd != nil && modelHung {
		log.Warn("no clean-stop marker for the updater: the served model did not stop in time; the next start counts this stop against the release under watch or in progress")
	} else if a.upd != nil {
		if err := a.upd.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close update: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		log.Error("rig-agent stopped with errors", "err", err)
		return err
	}
	log.Info("rig-agent stopped")
	return nil
}

// maxUpdateStop bounds the time Stop waits for the updater to return.
const maxUpdateStop = 5 * time.Second

// updateStopBudget is the part of the stop's time the updater may use:
// a fifth of what is left before ctx's deadline, at most maxUpdateStop
// (maxUpdateStop without a deadline).
func updateStopBudget(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(min(time.Until(dl)/5, maxUpdateStop), 0)
	}
	return maxUpdateStop
}

// DefaultDrainTimeout bounds the embedded broker's drain when Stop's ctx
// has no deadline; with one, the drain gets a third of the time left
// (see drainBudget).
const DefaultDrainTimeout = 10 * time.Second

// drainBudget is the part of the stop's time the broker's drain may use:
// a third of what is left before ctx's deadline, so that the ingest, the
// windowing, the sinks and the closers still have theirs.
func drainBudget(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl)/3, 0)
	}
	return DefaultDrainTimeout
}

// errIngestRefusing ends a drain early: the ingest fails to store (or
// decode) what the broker delivers, so waiting for its acknowledgements
// only uses up the stop's time.
var errIngestRefusing = errors.New("the ingest is not storing what it receives (store errors or decode failures)")

// drain drains the embedded broker within drainBudget, ending early when
// the ingest is refusing what it gets.
func (a *Agent) drain(ctx context.Context) error {
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dctx, cancelT := context.WithTimeoutCause(dctx, drainBudget(ctx), errors.New("drain budget (a third of the stop timeout) used up"))
	defer cancelT()
	failures := func() uint64 { st := a.in.Stats(); return st.StoreErrors + st.DecodeFailures }
	base := failures()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-dctx.Done():
				return
			case <-t.C:
				if failures() > base {
					cancel(errIngestRefusing)
					return
				}
			}
		}
	}()
	err := a.brk.Drain(dctx, a.in.ClientID())
	cancel(nil)
	<-watched
	if err != nil {
		if cause := context.Cause(dctx); cause != nil && !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
	}
	return err
}

// waitDone waits until done is closed (true) or ctx is done (false); a
// part that has stopped counts as stopped even when ctx is done too.
func waitDone(ctx context.Context, done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	select {
	case <-done:
		return true
	case <-ctx.Done():
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// apiShutdownTimeout bounds the HTTP API's shutdown; within a Stop it
// never goes past Stop's deadline.
const apiShutdownTimeout = 5 * time.Second

// shutdownAPI shuts the HTTP API down (its closer).
func (a *Agent) shutdownAPI() error {
	dl := time.Now().Add(apiShutdownTimeout)
	if !a.stopDeadline.IsZero() && a.stopDeadline.Before(dl) {
		dl = a.stopDeadline
	}
	ctx, cancel := context.WithDeadline(context.Background(), dl)
	defer cancel()
	return a.srv.Shutdown(ctx)
}

// closeModel closes the model served (the one opened at start when none
// serves yet) once its runner has stopped. A runner that has not (a run
// hung in RunInto: Stop's time ran out) still uses the model: closing it
// would wait for the run (infer.Model.Close takes the lock the run holds)
// or free what it uses, so the model is closed when its runner stops, if
// ever; the process usually exits first.
func (a *Agent) closeModel() error {
	s := a.cur.Load()
	if s == nil {
		return a.model.Close()
	}
	if s.done != nil && !isClosed(s.done) {
		a.log.Warn("model left open: its windowing runner has not stopped (a run hung in the model); it is closed when the runner stops", "dir", s.dir)
		go func() {
			<-s.done
			if err := s.model.Close(); err != nil {
				a.log.Warn("close the model after its runner stopped", "dir", s.dir, "err", err)
			}
		}()
		return nil
	}
	return s.model.Close()
}

// isClosed reports whether done is closed, without waiting.
func isClosed(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// closeAll undoes a failed Start, in reverse order.
func (a *Agent) closeAll() {
	a.stopped.Store(true)
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i].fn(); err != nil {
			a.log.Warn("close after failed start", "part", a.closers[i].name, "err", err)
		}
	}
	a.closers = nil
}
