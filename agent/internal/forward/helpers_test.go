package forward

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/stretchr/testify/require"
)

const testAgent = "rig-001"

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fastClock runs scale times faster than the wall clock, from base.
// Sleep(d) waits d/scale of real time, so virtual time passes at least d:
// every "at least" the forwarder promises holds in virtual time.
type fastClock struct {
	base, start time.Time
	scale       float64
	manual      bool
	changed     chan struct{}
	// asleep counts the Sleeps of a manual clock blocked since its last
	// Advance (waiting for the next one).
	asleep int
	mu     sync.Mutex
	sleeps []time.Duration // Sleeps without a wake channel (backoff, caps)
}

func newClock(base time.Time, scale float64) *fastClock {
	return &fastClock{base: base, start: time.Now(), scale: scale}
}

// newManualClock returns a clock that stands still until Advance.
func newManualClock(base time.Time) *fastClock {
	return &fastClock{base: base, manual: true, changed: make(chan struct{})}
}

// Advance moves a manual clock on by d.
func (c *fastClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = c.base.Add(d)
	close(c.changed)
	c.changed = make(chan struct{})
	c.asleep = 0
}

// Asleep reports whether a Sleep of a manual clock is blocked since its
// last Advance: the forwarder (whose Run alone sleeps) went as far as it
// can at this time and waits for the clock, so that a test may Advance it
// without racing with what the forwarder does at the current time.
func (c *fastClock) Asleep() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asleep > 0
}

func (c *fastClock) Now() time.Time {
	if c.manual {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.base
	}
	return c.base.Add(time.Duration(float64(time.Since(c.start)) * c.scale))
}

func (c *fastClock) Sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	if wake == nil {
		c.mu.Lock()
		c.sleeps = append(c.sleeps, d)
		c.mu.Unlock()
	}
	if c.manual {
		until := c.Now().Add(d)
		for {
			c.mu.Lock()
			now, changed := c.base, c.changed
			if now.Before(until) {
				c.asleep++
			}
			c.mu.Unlock()
			if !now.Before(until) {
				return nil
			}
			var err error
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-wake:
			case <-changed:
				continue // Advance reset asleep
			}
			c.mu.Lock()
			if c.changed == changed {
				c.asleep--
			}
			c.mu.Unlock()
			return err
		}
	}
	t := time.NewTimer(time.Duration(float64(d) / c.scale))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-wake:
	}
	return nil
}

func (c *fastClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// fakeCloud is the server side of shared/cloudapi, in memory: it decodes
// and validates with the package's functions, stores each key once with
// its fingerprint and records what it saw.
type fakeCloud struct {
	t     testing.TB
	srv   *httptest.Server
	clock *fastClock

	mu sync.Mutex
	// behaviour
	cred       string
	mode       string // "": serve; "down": abort connections; "503", "429": refuse
	retryAfter string
	failNext   int             // with mode "", refuse this many requests with status failStatus first
	failStatus int             //
	storeAbort int             // store this many batches, then abort the connection (the 2xx is lost)
	rejectSeq  map[uint64]bool // answer these items with rejected
	refuseSeq  map[uint64]bool // refuse a whole batch holding one of them with 400
	refuseAll  bool            // 400 for every batch
	limits     cloudapi.Limits
	next       int
	uploadReqs []cloudapi.UploadRequest
	offer      any // the check-in answer's offer (nil: none), as JSON
	// preFormats: refuse check-ins holding bundle_formats as a cloud
	// older than the field does
	preFormats bool
	// preFirmware: refuse check-ins holding firmware_digest as a cloud
	// older than the field does
	preFirmware bool
	// preHighest: answer check-ins without highest_seq, as a cloud
	// older than the field does
	preHighest bool
	// records
	stored   map[uint64]string // seq -> fingerprint
	order    []uint64          // seqs in the order first stored
	dupes    int
	batches  [][]uint64
	keysOK   bool
	checkins int
	lastIn   *cloudapi.CheckinRequest
	requests []seen
	parts    []cloudapi.Upload
	partSeen map[string][32]byte // "request/part" -> cloudapi.UploadFingerprint
	// partConflicts counts parts sent again with other content (answered
	// conflict, as rig-cloud does)
	partConflicts int
}

type seen struct {
	path string
	at   time.Time
	wire int64
}

func newCloud(t testing.TB, clock *fastClock) *fakeCloud {
	c := &fakeCloud{t: t, clock: clock, cred: "secret-1", stored: map[uint64]string{}, keysOK: true,
		rejectSeq: map[uint64]bool{}, refuseSeq: map[uint64]bool{}, partSeen: map[string][32]byte{}}
	c.srv = httptest.NewTLSServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *fakeCloud) set(fn func(c *fakeCloud)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c)
}

func (c *fakeCloud) get(fn func(c *fakeCloud)) { c.set(fn) }

func (c *fakeCloud) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode == "down" {
		panic(http.ErrAbortHandler) // the connection breaks: a network error
	}
	wire := r.ContentLength
	c.requests = append(c.requests, seen{path: r.URL.Path, at: c.clock.Now(), wire: wire})
	if !agenttest.Authorized(w, r, c.cred) {
		return
	}
	switch {
	case c.mode == "503" || c.mode == "429":
		if c.retryAfter != "" {
			w.Header().Set(cloudapi.HeaderRetryAfter, c.retryAfter)
		}
		if c.mode == "503" {
			cloudapi.NewProblem(cloudapi.ProblemUnavailable, 503, "draining").Write(w)
		} else {
			cloudapi.NewProblem(cloudapi.ProblemRateLimited, 429, "slow down").Write(w)
		}
		return
	case c.failNext > 0:
		c.failNext--
		if c.retryAfter != "" {
			w.Header().Set(cloudapi.HeaderRetryAfter, c.retryAfter)
		}
		cloudapi.NewProblem(cloudapi.ProblemUnavailable, c.failStatus, "failing on purpose").Write(w)
		return
	}
	body, err := cloudapi.ReadBody(r, c.limits.WithDefaults().MaxBodyBytes)
	if err != nil {
		err.(*cloudapi.Problem).Write(w)
		return
	}
	switch r.URL.Path {
	case cloudapi.PathCheckin:
		var fields map[string]json.RawMessage
		if c.preFormats && json.Unmarshal(body, &fields) == nil && fields[cloudapi.FieldBundleFormats] != nil {
			// What DecodeCheckin of a cloud without the field answers
			// (TestUnknownFieldRefused pins the wording).
			cloudapi.NewProblem(cloudapi.ProblemInvalidBody, 400, "check-in request: json: unknown field %q", cloudapi.FieldBundleFormats).Write(w)
			return
		}
		if c.preFirmware && json.Unmarshal(body, &fields) == nil && fields[cloudapi.FieldFirmwareDigest] != nil {
			cloudapi.NewProblem(cloudapi.ProblemInvalidBody, 400, "check-in request: json: unknown field %q", cloudapi.FieldFirmwareDigest).Write(w)
			return
		}
		req, err := cloudapi.DecodeCheckin(body)
		if err != nil {
			err.(*cloudapi.Problem).Write(w)
			return
		}
		if req.AgentID != testAgent {
			cloudapi.NewProblem(cloudapi.ProblemForbidden, 403, "agent %q", req.AgentID).Write(w)
			return
		}
		c.checkins++
		c.lastIn = req
		resp := cloudapi.CheckinResponse{ServerTime: c.clock.Now(), NextCheckinS: c.next, Limits: c.limits, UploadRequests: c.uploadReqs}
		if !c.preHighest && len(c.stored) > 0 {
			resp.HighestSeq = slices.Max(slices.Collect(maps.Keys(c.stored)))
		}
		writeJSON(w, struct {
			cloudapi.CheckinResponse
			Offer any `json:"offer,omitempty"`
		}{resp, c.offer})
	case cloudapi.PathDiagnoses:
		c.diagnoses(w, r, body)
	case cloudapi.PathUploads:
		u, err := cloudapi.DecodeUpload(body, c.limits)
		if err != nil {
			err.(*cloudapi.Problem).Write(w)
			return
		}
		if !slices.ContainsFunc(c.uploadReqs, func(q cloudapi.UploadRequest) bool { return q.ID == u.RequestID }) {
			cloudapi.NewProblem(cloudapi.ProblemNotFound, 404, "upload request %q", u.RequestID).Write(w)
			return
		}
		k := fmt.Sprintf("%s/%d", u.RequestID, u.Part)
		fp, err := cloudapi.UploadFingerprint(u)
		if err != nil {
			c.t.Errorf("fake cloud: %v", err)
		}
		res := cloudapi.UploadResponse{RequestID: u.RequestID, Part: u.Part, Status: cloudapi.ItemAccepted, Done: u.Last}
		if stored, ok := c.partSeen[k]; !ok {
			c.partSeen[k] = fp
			c.parts = append(c.parts, *u)
		} else if stored == fp {
			res.Status = cloudapi.ItemDuplicate
		} else {
			c.partConflicts++
			res.Status = cloudapi.ItemConflict
			res.Problem = &cloudapi.Problem{Type: cloudapi.ProblemConflict, Title: cloudapi.ProblemTitle(cloudapi.ProblemConflict),
				Detail: fmt.Sprintf("part %s was stored before with other content", k)}
		}
		writeJSON(w, res)
	default:
		cloudapi.NewProblem(cloudapi.ProblemNotFound, 404, "%s", r.URL.Path).Write(w)
	}
}

func (c *fakeCloud) diagnoses(w http.ResponseWriter, r *http.Request, body []byte) {
	b, err := cloudapi.DecodeDiagnosisBatch(body, c.limits)
	if err != nil {
		err.(*cloudapi.Problem).Write(w)
		return
	}
	if b.AgentID != testAgent {
		cloudapi.NewProblem(cloudapi.ProblemForbidden, 403, "agent %q", b.AgentID).Write(w)
		return
	}
	seqs := make([]uint64, len(b.Items))
	for i, it := range b.Items {
		seqs[i] = it.Seq
	}
	if r.Header.Get(cloudapi.HeaderIdempotencyKey) != cloudapi.BatchKey(b.AgentID, 0, seqs) {
		c.keysOK = false
	}
	if c.refuseAll || slices.ContainsFunc(seqs, func(s uint64) bool { return c.refuseSeq[s] }) {
		cloudapi.NewProblem(cloudapi.ProblemInvalidBody, 400, "refused on purpose").Write(w)
		return
	}
	c.batches = append(c.batches, seqs)
	var resp cloudapi.BatchResponse
	for _, it := range b.Items {
		res := cloudapi.ItemResult{Seq: it.Seq}
		switch fp, _ := cloudapi.Fingerprint(&it.Diagnosis); {
		case it.Problem != nil:
			res.Status, res.Problem = cloudapi.ItemRejected, it.Problem
		case c.rejectSeq[it.Seq]:
			res.Status, res.Problem = cloudapi.ItemRejected, &cloudapi.Problem{Type: cloudapi.ProblemInvalidItem, Title: "Invalid item", Detail: "on purpose"}
		case c.stored[it.Seq] == fp:
			res.Status = cloudapi.ItemDuplicate
			c.dupes++
		case c.stored[it.Seq] != "":
			res.Status = cloudapi.ItemConflict
		default:
			c.stored[it.Seq] = fp
			c.order = append(c.order, it.Seq)
			res.Status = cloudapi.ItemAccepted
		}
		resp.Results = append(resp.Results, res)
	}
	resp.Count()
	if c.storeAbort > 0 {
		c.storeAbort--
		panic(http.ErrAbortHandler)
	}
	writeJSON(w, resp)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", cloudapi.MediaJSON)
	_ = json.NewEncoder(w).Encode(v)
}

// newForwarder returns a forwarder on a fresh outbox (or path, when set)
// talking to c.
func newForwarder(t testing.TB, c *fakeCloud, path string, mod func(*Options)) *Forwarder {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "outbox.db")
	}
	var cred atomic.Value
	cred.Store("secret-1")
	o := Options{
		Path: path, URL: c.srv.URL, AgentID: testAgent, RigID: "zema-1", RigType: "zema-testrig", Version: "test",
		Credential: func() (string, error) { return cred.Load().(string), nil },
		HTTPClient: c.srv.Client(), BatchItems: 50, BackoffMin: time.Second, BackoffMax: time.Minute,
		NoSync: true, Clock: c.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&o)
	}
	f, err := New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// run starts f.Run and returns a function that stops it and checks its
// result.
func run(t testing.TB, f *Forwarder) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	return func() {
		cancel()
		require.NoError(t, <-done)
	}
}

// eventually waits (real time, at most 10 s) for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	// A liveness wait, not a timing assertion: generous enough for a
	// loaded CI machine running every package under -race.
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// diagnosis returns a valid diagnosis; alert ones are critical.
func diagnosis(seq uint64, alert bool) diag.Diagnosis {
	st, h := diag.Healthy, 0.9
	if alert {
		st, h = diag.Critical, 0.3
	}
	return diag.Diagnosis{
		RigID: "zema-1", RigType: "zema-testrig", Seq: seq, CreatedAt: t0.Add(time.Duration(seq) * time.Minute),
		Window: diag.Window{Start: t0, End: t0.Add(time.Minute), Steps: 60, Coverage: 1},
		Model:  diag.ModelRef{Version: "v1", Precision: "int8"}, InferenceMicros: 70, Health: h, Status: st,
		Components: []diag.ComponentHealth{{ID: "pump", Health: h, Status: st, AnomalyScore: 0.5,
			Drivers: []diag.Driver{{Sensor: "PS1", Weight: 0.5}}}, {ID: "cooler", Health: 0.95, Status: diag.Healthy}},
		Sensors: []diag.SensorScore{{ID: "PS1", Score: 0.4}, {ID: "TS1", Score: 0.2}},
	}
}

func enqueue(t testing.TB, f *Forwarder, seqs []uint64, alert func(uint64) bool) {
	t.Helper()
	for _, s := range seqs {
		require.NoError(t, f.Enqueue(context.Background(), diagnosis(s, alert != nil && alert(s))))
	}
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// memReadings is an in-memory reading buffer.
type memReadings struct {
	mu     sync.Mutex
	recs   []buffer.Record
	cursor map[string]uint64
	onSet  func()
}

func (m *memReadings) Range(ctx context.Context, from, to time.Time, fn func(buffer.Record) error) error {
	m.mu.Lock()
	recs := slices.Clone(m.recs)
	m.mu.Unlock()
	slices.SortStableFunc(recs, func(a, b buffer.Record) int {
		if d := a.Reading.Time.Unix() - b.Reading.Time.Unix(); d != 0 {
			return int(d)
		}
		return int(a.Seq) - int(b.Seq)
	})
	for _, r := range recs {
		if r.Reading.Time.Before(from) || !r.Reading.Time.Before(to) {
			continue
		}
		if err := fn(r); err == buffer.ErrStop {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (m *memReadings) LastSeq() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.recs))
}

func (m *memReadings) SetCursor(_ context.Context, name string, seq uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cursor == nil {
		m.cursor = map[string]uint64{}
	}
	m.cursor[name] = seq
	if m.onSet != nil {
		m.onSet()
	}
	return nil
}

func (m *memReadings) Cursor(name string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cursor[name]
}

func (m *memReadings) add(sensor string, at time.Time, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, buffer.Record{Seq: uint64(len(m.recs) + 1), Ingested: at, Reading: reading.Reading{Sensor: sensor, Time: at, Value: v}})
}

// evict drops the n oldest readings, as a full buffer does.
func (m *memReadings) evict(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = m.recs[n:]
}

func mustJSON(t testing.TB, d diag.Diagnosis) []byte {
	b, err := json.Marshal(d)
	require.NoError(t, err)
	return b
}

// newHistory opens a history with its sequence mark in a folder of its
// own.
func newHistory(t *testing.T) *history.Store {
	t.Helper()
	dir := t.TempDir()
	return openHistory(t, filepath.Join(dir, "diagnoses.db"), filepath.Join(dir, "diagnoses.db.seq"))
}

// raisedLife is a lost life (lostLife, the cloud holding seqs 1 to 10)
// with a forwarder f on the outbox at path: it ran until its check-in
// raised the sequence above the cloud's highest seq, and then queued d,
// numbered 1 by the new history before the raise (renumbered as it was
// queued). f is still running: stop stops it.
type raisedLife struct {
	c    *fakeCloud
	h    *history.Store
	path string
	f    *Forwarder
	d    diag.Diagnosis
	stop func()
}

func queuedAfterRaise(t *testing.T) raisedLife {
	t.Helper()
	l := raisedLife{path: filepath.Join(t.TempDir(), "outbox.db")}
	l.c, l.h, _ = lostLife(t, 10)
	l.f = newForwarder(t, l.c, l.path, func(o *Options) { o.Seqs = l.h })
	l.d = appendTo(t, l.h, 1)[0]
	l.stop = run(t, l.f)
	eventually(t, "the sequence raised", func() bool { return l.h.LastSeq() >= 10 })
	require.NoError(t, l.f.Enqueue(context.Background(), l.d))
	return l
}
