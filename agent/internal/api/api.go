package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/diskspace"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/internal/publish"
	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Defaults of Options.
const (
	DefaultListen          = "127.0.0.1:8080"
	DefaultMaxHistoryItems = 1000
	DefaultPageSize        = 100
	DefaultMaxConnections  = 64
)

// The parts the API reports on, as small interfaces (the agent's
// packages implement them).
type (
	// IngestStats is *ingest.Ingest.
	IngestStats interface{ Stats() ingest.Stats }
	// BufferStats is *buffer.Buffer.
	BufferStats interface{ Stats() buffer.Stats }
	// WindowingStats is *windowing.Runner.
	WindowingStats interface{ Stats() windowing.Stats }
	// PublisherStats is *publish.Publisher.
	PublisherStats interface{ Stats() publish.Stats }
	// BrokerStats is *broker.Broker (the embedded MQTT broker).
	BrokerStats interface{ Stats() broker.Stats }
	// UpdateStats is *update.Manager.
	UpdateStats interface{ Status() update.Status }
	// PluginStats is *plugin.Host.
	PluginStats interface{ Stats() []plugin.Stats }
	// DiskStats is *diskspace.Monitor: Sample returns within a short
	// bound, however slow a file system.
	DiskStats interface {
		Sample(ctx context.Context) []diskspace.Reading
	}
	// History is *history.Store.
	History interface {
		Latest(rigID string) (diag.Diagnosis, bool, error)
		Query(ctx context.Context, q history.Query) (history.Page, error)
		Stats() history.Stats
	}
)

// Served is the model the agent serves: its manifest, the inference
// session's info and its anomaly detector.
type Served struct {
	Manifest *bundle.Manifest
	Model    infer.Info
	// Detector is the bundle's anomaly detector (nil: none run);
	// NoDetector says why there is none.
	Detector   Detector
	NoDetector string
}

// served returns the model served now.
func (s *Server) served() Served {
	if s.opts.Served != nil {
		return s.opts.Served()
	}
	return Served{Manifest: s.opts.Manifest, Model: s.opts.Model, Detector: s.opts.Detector, NoDetector: s.opts.NoDetector}
}

// Options configure a Server. Rig, Manifest, History and the stats
// sources are required except Publisher (nil: publishing off).
type Options struct {
	// Listen is the address (zero: DefaultListen).
	Listen string
	// ReadHeaderTimeout, WriteTimeout, IdleTimeout bound connections
	// (zero: 5s, 30s, 60s); MaxHeaderBytes caps request headers (zero:
	// 64 KiB); MaxConnections caps concurrent connections (zero:
	// DefaultMaxConnections).
	ReadHeaderTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                               int
	MaxConnections                               int
	// MaxHistoryItems caps one history page (zero: DefaultMaxHistoryItems).
	MaxHistoryItems int

	// AgentID and Version identify the agent.
	AgentID, Version string
	// Rig is the firmware config; Manifest and Model the bundle in use.
	Rig      *rig.Config
	Manifest *bundle.Manifest
	Model    infer.Info
	// BrokerURL and Embedded describe the MQTT broker.
	BrokerURL string
	Embedded  bool
	// PublishTopic is where diagnoses are published ("" when off).
	PublishTopic string

	Ingest    IngestStats
	Buffer    BufferStats
	Windowing WindowingStats
	History   History
	Publisher PublisherStats
	// Broker is the embedded MQTT broker (nil: none, broker.url).
	Broker BrokerStats
	// Plugins are the codec plugins (nil: none configured).
	Plugins PluginStats
	// Link carries the cloud forwarder's state; CloudEnabled says whether
	// a cloud link is configured.
	Link         *Link
	CloudEnabled bool
	// Detector controls the bundle's anomaly detector (nil: none run);
	// NoDetector says why there is none, for POST /detector/recalibrate's
	// error (e.g. "the bundle has no SKAB detector").
	Detector   Detector
	NoDetector string
	// Served, when set, returns the model served now, which a model
	// update changes; it replaces Manifest, Model, Detector and NoDetector
	// (nil: those, fixed). Called for every request and scrape: cheap,
	// safe for concurrent use.
	Served func() Served
	// Disk samples the free space of the directories the agent writes at
	// every scrape (nil: no disk metrics).
	Disk DiskStats
	// Update reports the model updates (nil: update.url not configured;
	// /status has no "update" and the update metrics are not exported).
	Update UpdateStats
	// Inference is the inference latency histogram the windowing observes
	// (see NewInferenceHistogram; nil: none exported).
	Inference prometheus.Histogram
	// InferenceCPU is the histogram of the same calls' CPU time (see
	// NewInferenceCPUHistogram; nil: none exported).
	InferenceCPU prometheus.Histogram
	// Ready returns why the agent is not ready (nil or empty: ready).
	Ready func() []string
	// Liveness holds the heartbeats of the agent's loops: /health/live
	// answers 503 naming the stalled ones (nil: 200 while the process
	// serves HTTP).
	Liveness *liveness.Registry
	// Started is when the agent started (zero: New's time).
	Started time.Time

	// Token is the bearer token every route but /health/live and
	// /health/ready requires ("": none, api.token_file not set).
	Token string
	// AllowedHosts are the Host header names accepted besides localhost,
	// loopback addresses and Listen's host. The Host header is checked
	// when Listen is loopback (against DNS rebinding) or this is set.
	AllowedHosts []string
	// RecalibrateBurst and RecalibrateEvery limit POST
	// /detector/recalibrate per client address: RecalibrateBurst at once,
	// then one every RecalibrateEvery (zero: DefaultRecalibrateBurst,
	// DefaultRecalibrateEvery).
	RecalibrateBurst int
	RecalibrateEvery time.Duration

	Logger *slog.Logger
	Now    func() time.Time
}

// Server is the HTTP API. Start it with Start, stop it with Shutdown.
type Server struct {
	opts Options
	log  *slog.Logger
	reg  *prometheus.Registry
	srv  *http.Server
	ln   net.Listener
	// serveEnd is closed when Serve returned, with serveErr its error
	// (nil for a shutdown).
	serveEnd chan struct{}
	serveErr error
	// inflight counts requests being served, so Shutdown can tell a
	// request cut short from a connection that never sent one.
	inflight atomic.Int64
	// access holds the Host, token and rate rules and their refusals.
	access *access
}

// Link holds the cloud link's state for /status and /metrics; the
// forwarder updates it. The zero value is ready to use (down, nothing
// sent); safe for concurrent use.
type Link struct {
	connected atomic.Bool
	bytesSent atomic.Uint64
	backlog   atomic.Int64
	lastOK    atomic.Int64 // Unix ns of the last successful upload
	source    atomic.Pointer[func() LinkState]
}

// SetSource makes State call fn instead of returning what the setters
// recorded: for a forwarder that keeps its own statistics (fn must be
// cheap and safe for concurrent use).
func (l *Link) SetSource(fn func() LinkState) { l.source.Store(&fn) }

// SetConnected records whether the last contact with the cloud worked.
func (l *Link) SetConnected(up bool) {
	l.connected.Store(up)
	if up {
		l.lastOK.Store(time.Now().UnixNano())
	}
}

// AddBytesSent adds n bytes sent to the cloud (request bodies).
func (l *Link) AddBytesSent(n int64) {
	if n > 0 {
		l.bytesSent.Add(uint64(n))
	}
}

// SetBacklog records how many items wait to be sent.
func (l *Link) SetBacklog(n int64) { l.backlog.Store(n) }

// LinkState is a snapshot of a Link.
type LinkState struct {
	Connected bool       `json:"connected"`
	BytesSent uint64     `json:"bytes_sent"`
	Backlog   int64      `json:"backlog"`
	LastOK    *time.Time `json:"last_ok,omitempty"`
	// State is the forwarder's link state (up, down, unauthorized,
	// incompatible, day_cap; "" without a forwarder that reports one).
	State string `json:"state,omitempty"`
	// Dropped counts diagnoses dropped unsent from a full outbox, of
	// which DroppedAlerts were alerts.
	Dropped       uint64 `json:"dropped"`
	DroppedAlerts uint64 `json:"dropped_alerts"`
	// Invalid counts diagnoses the agent refused to queue (invalid for the
	// cloud contract, or too large); Rejected those the cloud refused
	// (rejected or in conflict). Neither is retried.
	Invalid  uint64 `json:"invalid"`
	Rejected uint64 `json:"rejected"`
	// Renumbered counts diagnoses the forwarder gave a new seq because
	// the cloud held their numbers already (the agent's numbering had
	// restarted, its history and sequence mark lost): sent, not lost.
	Renumbered uint64 `json:"renumbered"`
	// ReplaysIgnored counts diagnoses the forwarder did not queue again
	// because it had renumbered them when they were first queued (the
	// history replayed them after a stop): sent once, under the new seq.
	ReplaysIgnored uint64 `json:"replays_ignored"`
	// Failures counts requests to the cloud that failed (their items are
	// kept and retried); CredentialErrors counts requests not made because
	// the credential file could not be read (retried as well).
	Failures         uint64 `json:"request_failures"`
	CredentialErrors uint64 `json:"credential_errors"`
	// UploadReadingsLost counts readings of upload parts the buffer
	// removed before the cloud took the part (sent without them).
	UploadReadingsLost uint64 `json:"upload_readings_lost"`
	// UploadConflicts counts upload parts the cloud answered "conflict"
	// (it kept another copy of the part; the upload went on).
	UploadConflicts uint64 `json:"upload_conflicts"`
	// UploadPartsRefused counts the cloud's refusals of upload parts as
	// invalid (400, 413, 422); UploadPartsRebuilt the parts built anew
	// (refused once, or never fitting the day's byte budget).
	UploadPartsRefused uint64 `json:"upload_parts_refused"`
	UploadPartsRebuilt uint64 `json:"upload_parts_rebuilt"`
	// UploadsGone counts upload requests ended because the cloud
	// answered a part 404 or 410 (it no longer knows the request).
	UploadsGone uint64 `json:"uploads_gone"`
	// CheckinsRefused counts check-ins the cloud refused as invalid.
	CheckinsRefused uint64 `json:"checkins_refused"`
	// OutboxErrors counts failures of the forwarder's outbox file while
	// it sent (retried after a backoff; the agent keeps running).
	OutboxErrors uint64 `json:"outbox_errors"`
}

// State returns a snapshot.
func (l *Link) State() LinkState {
	if fn := l.source.Load(); fn != nil {
		return (*fn)()
	}
	s := LinkState{Connected: l.connected.Load(), BytesSent: l.bytesSent.Load(), Backlog: l.backlog.Load()}
	if ns := l.lastOK.Load(); ns != 0 {
		t := time.Unix(0, ns).UTC()
		s.LastOK = &t
	}
	return s
}

// NewInferenceHistogram returns the histogram of per-window inference
// time (rig_agent_inference_latency_seconds): 10 µs to 1 s.
func NewInferenceHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rig_agent_inference_latency_seconds",
		Help:    "ONNX Runtime time per window, as the agent measures it.",
		Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
	})
}

// NewInferenceCPUHistogram returns the histogram of per-window inference
// CPU time (rig_agent_inference_cpu_seconds): the CPU time the thread
// spent in the same ONNX Runtime calls as
// rig_agent_inference_latency_seconds, so the time they waited for a
// core is the difference. Same buckets.
func NewInferenceCPUHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "rig_agent_inference_cpu_seconds",
		Help:    "CPU time of the ONNX Runtime call per window (the latency histogram's calls, without waiting for a core).",
		Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
	})
}

// New checks opts and builds the server and its metrics registry. It
// does not listen yet.
func New(opts Options) (*Server, error) {
	if opts.Rig == nil || (opts.Manifest == nil && opts.Served == nil) || opts.History == nil || opts.Ingest == nil ||
		opts.Buffer == nil || opts.Windowing == nil {
		return nil, errors.New("api: rig, manifest (or served), history, ingest, buffer and windowing are required")
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = 5 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = 64 << 10
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.MaxHistoryItems <= 0 {
		opts.MaxHistoryItems = DefaultMaxHistoryItems
	}
	if opts.Link == nil {
		opts.Link = &Link{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Started.IsZero() {
		opts.Started = opts.Now()
	}
	s := &Server{opts: opts, log: opts.Logger, serveEnd: make(chan struct{}), access: newAccess(opts)}
	reg, err := s.registry()
	if err != nil {
		return nil, err
	}
	s.reg = reg
	s.srv = &http.Server{
		Handler:           s.counting(s.Handler()),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Registry returns the metrics registry (to add collectors).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Start listens on Options.Listen and serves in the background. A port
// already in use is an error here, before the agent reports ready.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("api: listen on %s (api.listen): %w", s.opts.Listen, err)
	}
	s.ln = netutil.LimitListener(ln, s.opts.MaxConnections)
	go func() {
		err := s.srv.Serve(s.ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr = err
		close(s.serveEnd)
	}()
	s.log.Info("http api listening", "addr", ln.Addr().String())
	return nil
}

// Wait waits until the server stops serving, after Start, and returns
// why: nil after Shutdown, else the error that ended it while it should
// have gone on (its listener failed): then /metrics and /health are gone,
// and the agent should fail rather than run on unobserved.
func (s *Server) Wait() error {
	<-s.serveEnd
	return s.serveErr
}

// Addr returns the address listened on (after Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// counting wraps h to keep Server.inflight.
func (s *Server) counting(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// Shutdown stops accepting connections and waits for active requests,
// bounded by ctx; then it closes what is left. Running out of time is an
// error only when a request was cut short: a client that opened a
// connection and sent nothing (net/http waits 5 s for such a one) is
// closed and logged. An error that ended serving before is not
// repeated here (see Wait).
func (s *Server) Shutdown(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		n := s.inflight.Load()
		_ = s.srv.Close()
		if n == 0 && errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("http api: closed connections that sent no request before the shutdown deadline")
			err = nil
		} else if n > 0 {
			err = fmt.Errorf("%w (%d request(s) cut short)", err, n)
		}
	}
	_ = s.Wait() // its error, a failure before the shutdown, is Wait's to report
	s.ln = nil
	return err
}

// Handler returns the routes behind the Host and token checks (for
// tests, or to mount elsewhere).
func (s *Server) Handler() http.Handler { return s.guard(s.routes()) }

// routes returns the routes.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /diagnoses/latest", s.latest)
	mux.HandleFunc("GET /diagnoses", s.diagnoses)
	mux.HandleFunc("GET /bundle", s.bundle)
	mux.HandleFunc("GET /rejections", s.rejections)
	mux.HandleFunc("GET /health/live", s.live)
	mux.HandleFunc("GET /health/ready", s.ready)
	mux.Handle("GET /metrics", s.metricsHandler())
	mux.HandleFunc("POST /detector/recalibrate", s.recalibrate)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/status", "/diagnoses/latest", "/diagnoses", "/bundle", "/rejections", "/health/live", "/health/ready", "/metrics":
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: this route is read-only, use GET", r.Method, r.URL.Path))
			return
		case "/detector/recalibrate":
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use POST (the detector's state is in /status)", r.Method, r.URL.Path))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s; routes: /status, /diagnoses/latest, /diagnoses, /bundle, /rejections, /health/live, /health/ready, /metrics (GET), /detector/recalibrate (POST)", r.Method, r.URL.Path))
	})
	return mux
}

// writeJSON writes v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg, Status: code})
}

// RejectionsBody is GET /rejections: the ingest's latest rejections,
// oldest first (at most its RecentRejections), each with what was wrong.
type RejectionsBody struct {
	Rejections []RejectionItem `json:"rejections"`
	Count      int             `json:"count"`
}

// RejectionItem is one rejected message or reading.
type RejectionItem struct {
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
	Topic  string    `json:"topic"`
	Sensor string    `json:"sensor,omitempty"`
	Detail string    `json:"detail"`
}

// rejectionSource is what /rejections reads from Options.Ingest when it
// has it; *ingest.Ingest does.
type rejectionSource interface{ Rejections() []ingest.Rejection }

var _ rejectionSource = (*ingest.Ingest)(nil)

func (s *Server) rejections(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("/rejections takes no parameters, got %q", r.URL.RawQuery))
		return
	}
	body := RejectionsBody{Rejections: []RejectionItem{}}
	if src, ok := s.opts.Ingest.(rejectionSource); ok {
		for _, x := range src.Rejections() {
			body.Rejections = append(body.Rejections, RejectionItem{Time: x.Time.UTC(), Reason: string(x.Reason), Topic: x.Topic,
				Sensor: x.Sensor, Detail: x.Detail})
		}
	}
	body.Count = len(body.Rejections)
	writeJSON(w, http.StatusOK, body)
}

// StalledLoop is a loop of /health/live's answer that has not beaten
// for more than the stall limit.
type StalledLoop struct {
	Loop string `json:"loop"`
	// Since is its last beat.
	Since time.Time `json:"since"`
	// For is the time since, in seconds.
	For float64 `json:"stalled_for_seconds"`
}

// LiveBody is /health/live's answer: status "ok", or "stalled" with the
// stalled loops and the limit (agent.stall_after).
type LiveBody struct {
	Status     string        `json:"status"`
	Stalled    []StalledLoop `json:"stalled,omitempty"`
	StallAfter string        `json:"stall_after,omitempty"`
}

func (s *Server) live(w http.ResponseWriter, _ *http.Request) {
	if s.opts.Liveness != nil {
		if st := s.opts.Liveness.Stalled(); len(st) > 0 {
			body := LiveBody{Status: "stalled", StallAfter: s.opts.Liveness.Limit().String()}
			for _, l := range st {
				body.Stalled = append(body.Stalled, StalledLoop{Loop: l.Name, Since: l.LastBeat.UTC(), For: l.Silent.Seconds()})
			}
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
	}
	writeJSON(w, http.StatusOK, LiveBody{Status: "ok"})
}

func (s *Server) notReady() []string {
	if s.opts.Ready == nil {
		return nil
	}
	return s.opts.Ready()
}

type readyBody struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if why := s.notReady(); len(why) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, readyBody{Reasons: why})
		return
	}
	writeJSON(w, http.StatusOK, readyBody{Ready: true})
}

func (s *Server) latest(w http.ResponseWriter, r *http.Request) {
	d, ok, err := s.opts.History.Latest(s.opts.Rig.Equipment.ID)
	if err != nil {
		s.log.Error("history read failed", "route", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "reading the diagnosis history failed: "+err.Error())
		return
	}
	if !ok {
		writeError(w, http.StatusNotFound, "no diagnosis yet: the first comes when the first window closes (see /status, windowing)")
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// DiagnosesPage is the body of GET /diagnoses.
type DiagnosesPage struct {
	Diagnoses []diag.Diagnosis `json:"diagnoses"`
	Count     int              `json:"count"`
	More      bool             `json:"more"`
	// Next is the URL of the next page (when More).
	Next string `json:"next,omitempty"`
}

func (s *Server) diagnoses(w http.ResponseWriter, r *http.Request) {
	q, err := s.parseQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, err := s.opts.History.Query(r.Context(), q)
	if err != nil {
		s.log.Error("history read failed", "route", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "reading the diagnosis history failed: "+err.Error())
		return
	}
	out := DiagnosesPage{Diagnoses: p.Diagnoses, Count: len(p.Diagnoses), More: p.More}
	if out.Diagnoses == nil {
		out.Diagnoses = []diag.Diagnosis{}
	}
	if p.More && len(p.Diagnoses) > 0 {
		// The next page resumes after the last diagnosis' key (window
		// start and Seq), not its window start: diagnoses sharing that
		// start but not on this page are neither skipped nor repeated.
		v := url.Values{}
		v.Set("limit", strconv.Itoa(q.Limit))
		v.Set("cursor", formatCursor(history.KeyOf(&p.Diagnoses[len(p.Diagnoses)-1])))
		if q.Desc {
			v.Set("order", "desc")
		}
		if !q.From.IsZero() {
			v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
		}
		if !q.To.IsZero() {
			v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
		}
		out.Next = "/diagnoses?" + v.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

// formatCursor is the cursor parameter of a next link: the history key
// of the page's last diagnosis, "<window start in Unix ns>_<seq>". Clients
// pass it back as given.
func formatCursor(k history.Key) string {
	return strconv.FormatInt(k.Start, 10) + "_" + strconv.FormatUint(k.Seq, 10)
}

// parseCursor reads formatCursor's form.
func parseCursor(val string) (history.Key, error) {
	start, seq, ok := strings.Cut(val, "_")
	if !ok {
		return history.Key{}, errors.New("no '_'")
	}
	ns, err := strconv.ParseInt(start, 10, 64)
	if err != nil {
		return history.Key{}, err
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return history.Key{}, err
	}
	return history.Key{Start: ns, Seq: n}, nil
}

// parseQuery checks the history parameters.
func (s *Server) parseQuery(v url.Values) (history.Query, error) {
	q := history.Query{Limit: min(DefaultPageSize, s.opts.MaxHistoryItems)}
	for k, vals := range v {
		if len(vals) > 1 {
			return q, fmt.Errorf("parameter %q is given %d times; give it once", k, len(vals))
		}
		val := vals[0]
		switch k {
		case "from", "to":
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				return q, fmt.Errorf("parameter %s=%q is not an RFC 3339 time (e.g. 2026-03-01T12:00:00Z)", k, val)
			}
			if k == "from" {
				q.From = t
			} else {
				q.To = t
			}
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > s.opts.MaxHistoryItems {
				return q, fmt.Errorf("parameter limit=%q is not an integer in [1, %d] (api.max_history_items)", val, s.opts.MaxHistoryItems)
			}
			q.Limit = n
		case "order":
			switch val {
			case "asc":
			case "desc":
				q.Desc = true
			default:
				return q, fmt.Errorf("parameter order=%q is not asc or desc", val)
			}
		case "cursor":
			key, err := parseCursor(val)
			if err != nil {
				return q, fmt.Errorf("parameter cursor=%q is not a page cursor (pass back the one of a \"next\" link as given)", val)
			}
			q.After = &key
		default:
			return q, fmt.Errorf("unknown parameter %q (want from, to, limit, order, cursor)", k)
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, fmt.Errorf("from %s is not before to %s", q.From.Format(time.RFC3339Nano), q.To.Format(time.RFC3339Nano))
	}
	return q, nil
}

// BundleBody is the body of GET /bundle.
type BundleBody struct {
	Name           string             `json:"name"`
	Version        string             `json:"version"`
	Digest         string             `json:"digest"`
	RigType        string             `json:"rig_type"`
	ConfigDigest   string             `json:"config_digest"`
	CreatedAt      time.Time          `json:"created_at"`
	Components     []string           `json:"components"`
	Sensors        []string           `json:"sensors"`
	GridHz         float64            `json:"grid_hz"`
	Steps          int                `json:"steps"`
	Alignment      string             `json:"alignment"`
	Heads          []string           `json:"heads"`
	Metrics        map[string]float64 `json:"metrics,omitempty"`
	File           string             `json:"file"`
	Precision      string             `json:"precision"`
	Quantization   string             `json:"quantization"`
	Providers      []infer.Provider   `json:"providers"`
	IntraOpThreads int                `json:"intra_op_threads"`
	ONNXRuntime    string             `json:"onnxruntime"`
	// WarmupMS is the wall time of the warm-up run made when the model
	// was opened (one fully masked zero window), in milliseconds.
	WarmupMS        float64 `json:"warmup_ms"`
	WindowAlignment string  `json:"window_alignment"`
	WindowPeriodS   float64 `json:"window_period_s"`
	// Detector is the anomaly detector's calibration state (absent when
	// the bundle has none, or it is not run).
	Detector *DetectorState `json:"detector,omitempty"`
	// Update is the model-update state (absent when update.url is not
	// configured): which release is installed, in progress, rolled back.
	Update *UpdateStatus `json:"update,omitempty"`
}

func (s *Server) bundle(w http.ResponseWriter, _ *http.Request) {
	sv := s.served()
	m, info := sv.Manifest, sv.Model
	b := BundleBody{
		Name: m.Name, Version: m.Version, Digest: m.Digest(), RigType: m.RigType, ConfigDigest: m.ConfigDigest,
		CreatedAt: m.CreatedAt, Components: m.Components, GridHz: m.Input.GridHz, Steps: m.Input.Steps,
		Alignment: string(m.Input.Alignment), Metrics: m.Metrics,
		File: info.File, Precision: string(info.Precision), Quantization: string(info.Quantization),
		Providers: info.Providers, IntraOpThreads: info.IntraOpThreads, ONNXRuntime: info.ORTVersion,
		WarmupMS: info.WarmupMS,
	}
	for _, ss := range m.Input.Sensors {
		b.Sensors = append(b.Sensors, ss.ID)
	}
	for _, h := range m.Heads {
		b.Heads = append(b.Heads, h.Output)
	}
	ws := s.opts.Windowing.Stats()
	b.WindowAlignment, b.WindowPeriodS = string(ws.Alignment), ws.Schedule.Period.Seconds()
	b.Detector = detectorState(sv)
	b.Update = s.updateStatus()
	writeJSON(w, http.StatusOK, b)
}
