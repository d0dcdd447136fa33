package rigctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
	"github.com/hydrognn/hydrognn/tools/internal/cloudrun"
)

func init() {
	benchCommands["cloud"] = benchCommand{"rig-cloud on a throwaway database: diagnosis ingest rows/s, rig status and history latency under concurrent clients", runBenchCloud}
}

const benchCloudUsage = `bench cloud [--json] [--orgs N] [--rigs N] [--history-rigs N] [--days N] [--clients N]
       [--duration D] [--rate N] [--cloud FILE] [--database-url URL] [--keep-log FILE]

Starts rig-cloud (--cloud; else rig-cloud beside rigctl, else bin/rig-cloud in the repository,
else one built with go build) on a fresh database made on the server of --database-url (default
$DATABASE_URL) and dropped at the end. Seeds --orgs organisations and --rigs rigs (round robin)
through the fleet API; enrolls one agent on each of --history-rigs rigs, checks it in (with
what a current agent reports: its model and the bundle formats it reads), and
sends, through the agent API (POST /v1/agent/diagnoses, in batches of the max_batch_items the
check-in announced, --ingest-workers agents at once), one diagnosis per day for the --days
before now: ingest_rows_per_s is those rows over the time they took. Then --clients clients, each with its organisation's token, for --duration: each
request is, at random, a rig status (GET /v1/rigs/{rig}/status of any rig of the organisation)
or a 30-day history page (GET /v1/rigs/{rig}/diagnoses?from&to of a rig with diagnoses).

Without --rate (or --rate 0) the read phase is a closed loop ("mode": "closed"): each client
sends its next request when the last one is answered, with no pause, so with many clients the
latencies are mostly the queue (Little's law: p50 about clients / req_per_s). With --rate N it
is an open loop ("mode": "open"): N requests per second in all, evenly spaced, are due over
--duration, whatever the answers; each is sent by the first of the --clients clients that is
free, and its latency runs from when it was due, so a request that waited for a free client
counts the wait (no coordinated omission). Requests still waiting --duration after the last
one was due are not sent ("unsent"; counted in the percentiles with the wait until then, a
lower bound).

Prints ingest_rows_per_s, status_p50_ms, status_p99_ms, history_p99_ms, req_per_s (all
answered requests / the read phase's time) and errors (non-2xx answers and failed requests),
with mode and the run's sizes; in open mode also offered_per_s (--rate), achieved_per_s
(req_per_s), scheduled (requests due), unsent and send_delay_p99_ms (how late requests were
sent: the wait for a free client). Exit code 1 when there were errors.`

type cloudBenchResult struct {
	IngestRowsPerS float64 `json:"ingest_rows_per_s"`
	StatusP50Ms    float64 `json:"status_p50_ms"`
	StatusP99Ms    float64 `json:"status_p99_ms"`
	HistoryP99Ms   float64 `json:"history_p99_ms"`
	ReqPerS        float64 `json:"req_per_s"`
	Errors         int64   `json:"errors"`
	Mode           string  `json:"mode"` // "closed" or "open" (--rate)
	*openFigures

	HistoryP50Ms float64 `json:"history_p50_ms"`
	Requests     int64   `json:"requests"`
	StatusReqs   int     `json:"status_requests"`
	HistoryReqs  int     `json:"history_requests"`
	Rows         int     `json:"ingest_rows"`
	SeedRigsS    float64 `json:"seed_rigs_s"`
	Orgs         int     `json:"orgs"`
	Rigs         int     `json:"rigs"`
	HistoryRigs  int     `json:"history_rigs"`
	Days         int     `json:"days"`
	Clients      int     `json:"clients"`
	DurationS    float64 `json:"duration_s"`
}

// openFigures are the figures of an open-loop read phase (--rate).
type openFigures struct {
	OfferedPerS    float64 `json:"offered_per_s"`
	AchievedPerS   float64 `json:"achieved_per_s"`
	Scheduled      int     `json:"scheduled"`
	Unsent         int     `json:"unsent"`
	SendDelayP99Ms float64 `json:"send_delay_p99_ms"`
}

type cloudBenchOptions struct {
	orgs, rigs, historyRigs, days, clients, ingestWorkers int
	duration                                              time.Duration
	rate                                                  float64 // requests/s of an open-loop read phase; 0: closed loop
	cloudBin, dbURL, keepLog                              string
}

func runBenchCloud(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "bench cloud", benchCloudUsage)
	asJSON := fs.Bool("json", false, "print one JSON object")
	var o cloudBenchOptions
	fs.IntVar(&o.orgs, "orgs", 20, "organisations")
	fs.IntVar(&o.rigs, "rigs", 10_000, "rigs, spread over the organisations")
	fs.IntVar(&o.historyRigs, "history-rigs", 100, "rigs with an agent and a diagnosis per day")
	fs.IntVar(&o.days, "days", 365, "days of daily diagnoses per history rig")
	fs.IntVar(&o.clients, "clients", 200, "concurrent clients of the read phase")
	fs.IntVar(&o.ingestWorkers, "ingest-workers", 8, "agents sending at once in the ingest phase")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "length of the read phase")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: requests per second offered in all by the clients (0: closed loop)")
	fs.StringVar(&o.cloudBin, "cloud", "", "rig-cloud binary `FILE` (default: beside rigctl, bin/rig-cloud, else go build)")
	fs.StringVar(&o.dbURL, "database-url", "", "PostgreSQL `URL` whose user may create databases (default $DATABASE_URL)")
	fs.StringVar(&o.keepLog, "keep-log", "", "write rig-cloud's log to `FILE`")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 || o.orgs < 1 || o.rigs < o.orgs || o.historyRigs < 1 || o.historyRigs > o.rigs || o.days < 1 || o.clients < 1 || o.ingestWorkers < 1 || o.duration <= 0 {
		errorf(env, "bench cloud: need 1 <= orgs <= rigs, 1 <= history-rigs <= rigs, days, clients and ingest-workers >= 1, duration > 0")
		return ExitUsage
	}
	if !(o.rate >= 0) || o.rate*o.duration.Seconds() > maxOpenRequests {
		errorf(env, "bench cloud: need 0 <= rate, and rate × duration <= %d requests", maxOpenRequests)
		return ExitUsage
	}
	if o.dbURL == "" {
		o.dbURL = os.Getenv("DATABASE_URL")
	}
	if o.dbURL == "" {
		errorf(env, "bench cloud: no PostgreSQL: give --database-url or set DATABASE_URL (eval \"$(make -s env)\")")
		return ExitUsage
	}
	tmp, err := os.MkdirTemp("", "rigctl-bench-cloud-")
	if err != nil {
		errorf(env, "bench cloud: %v", err)
		return ExitFailure
	}
	defer os.RemoveAll(tmp)
	bin, err := findCloud(ctx, env, o.cloudBin, tmp)
	if err != nil {
		errorf(env, "bench cloud: %v", err)
		return ExitFailure
	}
	var log io.Writer = io.Discard
	if o.keepLog != "" {
		f, err := os.Create(o.keepLog)
		if err != nil {
			errorf(env, "bench cloud: %v", err)
			return ExitFailure
		}
		defer f.Close()
		log = f
	}
	srv, err := cloudrun.Start(ctx, cloudrun.Options{Bin: bin, AdminURL: o.dbURL, Log: log,
		Env: []string{"RIG_CLOUD_AUTH_RATE_LIMIT=1000000", "RIG_CLOUD_AUTH_RATE_BURST=1000000"}})
	if err != nil {
		errorf(env, "bench cloud: %v", err)
		return ExitFailure
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			errorf(env, "bench cloud: %v", err)
		}
	}()
	res, err := benchCloud(ctx, env, srv, o)
	if err != nil {
		errorf(env, "bench cloud: %v", err)
		return ExitFailure
	}
	if *asJSON {
		if code := printJSON(env, res); code != ExitOK {
			return code
		}
	} else {
		fmt.Fprintf(env.Stdout, "ingest     %.0f rows/s (%d rows)\n", res.IngestRowsPerS, res.Rows)
		fmt.Fprintf(env.Stdout, "status     p50 %.2f ms  p99 %.2f ms  (%d requests)\n", res.StatusP50Ms, res.StatusP99Ms, res.StatusReqs)
		fmt.Fprintf(env.Stdout, "history    p50 %.2f ms  p99 %.2f ms  (%d requests)\n", res.HistoryP50Ms, res.HistoryP99Ms, res.HistoryReqs)
		if f := res.openFigures; f != nil {
			fmt.Fprintf(env.Stdout, "offered    %.0f requests/s (open loop, %d requests due), sent up to %.2f ms late (p99), %d unsent\n",
				f.OfferedPerS, f.Scheduled, f.SendDelayP99Ms, f.Unsent)
		}
		fmt.Fprintf(env.Stdout, "throughput %.0f requests/s with %d clients (%s loop), %d errors\n", res.ReqPerS, res.Clients, res.Mode, res.Errors)
	}
	if res.Errors > 0 {
		return ExitFailure
	}
	return ExitOK
}

// findCloud returns the rig-cloud binary to run, as findAgent does for
// rig-agent.
func findCloud(ctx context.Context, env Env, path, dir string) (string, error) {
	if path != "" {
		if !fileExists(path) {
			return "", fmt.Errorf("--cloud %s: no such file", path)
		}
		return filepath.Abs(path)
	}
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "rig-cloud"); fileExists(p) {
			fmt.Fprintf(env.Stderr, "bench cloud: rig-cloud %s (beside rigctl)\n", p)
			return p, nil
		}
	}
	root, err := repoRoot()
	if err != nil {
		return "", fmt.Errorf("no rig-cloud beside rigctl and %v: give --cloud FILE", err)
	}
	if p := filepath.Join(root, "bin", "rig-cloud"); fileExists(p) {
		fmt.Fprintf(env.Stderr, "bench cloud: rig-cloud %s (make build; rebuild it after changes)\n", p)
		return p, nil
	}
	p := filepath.Join(dir, "rig-cloud")
	fmt.Fprintf(env.Stderr, "bench cloud: building rig-cloud with go build\n")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", p, "./cloud/cmd/rig-cloud")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = env.Stderr, env.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build rig-cloud: %w (give --cloud FILE, or run make build)", err)
	}
	return p, nil
}

// parallel runs f(0..n-1) on workers goroutines; the first error stops it.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func benchRigName(i int) string { return fmt.Sprintf("rig-%05d", i) }

func benchCloud(ctx context.Context, env Env, srv *cloudrun.Server, o cloudBenchOptions) (*cloudBenchResult, error) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: o.clients + 64, MaxIdleConnsPerHost: o.clients + 64}}
	client := func(token string) *cloudclient.Client {
		c := cloudclient.New(srv.URL, token)
		c.HTTP = hc
		return c
	}
	sys := client(srv.SystemToken)
	res := &cloudBenchResult{Orgs: o.orgs, Rigs: o.rigs, HistoryRigs: o.historyRigs, Days: o.days, Clients: o.clients}

	// Organisations and their operator tokens.
	tokens := make([]string, o.orgs)
	if err := parallel(ctx, o.orgs, 8, func(ctx context.Context, i int) error {
		var org fleetapi.Org
		if err := sys.Do(ctx, "POST", "/v1/orgs", nil, map[string]string{"slug": fmt.Sprintf("org-%02d", i), "name": fmt.Sprintf("Organisation %d", i)}, &org); err != nil {
			return fmt.Errorf("create organisation: %s", cloudclient.Describe(err))
		}
		var tok fleetapi.TokenResponse
		if err := sys.Do(ctx, "POST", fmt.Sprintf("/v1/orgs/%d/tokens", org.ID), nil, map[string]string{"name": "bench", "role": "operator"}, &tok); err != nil {
			return fmt.Errorf("create token: %s", cloudclient.Describe(err))
		}
		tokens[i] = tok.Secret
		return nil
	}); err != nil {
		return nil, err
	}

	// Rigs: rig i belongs to organisation i % orgs.
	start := time.Now()
	if err := parallel(ctx, o.rigs, 16, func(ctx context.Context, i int) error {
		body := map[string]string{"rig_id": benchRigName(i), "rig_type": "zema-testrig"}
		if err := client(tokens[i%o.orgs]).Do(ctx, "POST", "/v1/rigs", nil, body, nil); err != nil {
			return fmt.Errorf("create rig: %s", cloudclient.Describe(err))
		}
		return nil
	}); err != nil {
		return nil, err
	}
	res.SeedRigsS = time.Since(start).Seconds()
	fmt.Fprintf(env.Stderr, "bench cloud: %d organisations, %d rigs in %.1f s\n", o.orgs, o.rigs, res.SeedRigsS)

	// Agents on the history rigs (the first historyRigs rigs).
	creds := make([]string, o.historyRigs)
	var maxBatch int
	if err := parallel(ctx, o.historyRigs, 8, func(ctx context.Context, i int) error {
		var en fleetapi.Enrollment
		if err := client(tokens[i%o.orgs]).Do(ctx, "POST", "/v1/rigs/"+benchRigName(i)+"/enrollments", nil, nil, &en); err != nil {
			return fmt.Errorf("create enrollment: %s", cloudclient.Describe(err))
		}
		var ag cloudapi.EnrollResponse
		if err := client(en.Token).Do(ctx, "POST", cloudapi.PathEnroll, nil, cloudapi.EnrollRequest{AgentID: "agent-" + benchRigName(i)}, &ag); err != nil {
			return fmt.Errorf("enroll: %s", cloudclient.Describe(err))
		}
		creds[i] = ag.Credential
		// Check in as an agent does on start: the answer announces the
		// server's batch limit (agents.max_batch_items).
		var cr cloudapi.CheckinResponse
		if err := client(ag.Credential).Do(ctx, "POST", cloudapi.PathCheckin, nil, benchCheckin(ag, time.Now()), &cr); err != nil {
			return fmt.Errorf("check-in: %s", cloudclient.Describe(err))
		}
		if i == 0 {
			maxBatch = cr.Limits.MaxBatchItems
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if maxBatch < 1 || maxBatch > cloudapi.MaxBatchItems {
		return nil, fmt.Errorf("check-in: max_batch_items %d is outside 1..%d", maxBatch, cloudapi.MaxBatchItems)
	}

	// Ingest: a diagnosis per day per history rig, built and encoded
	// before the clock starts, sent in the largest batches the server
	// announced at check-in (an agent's batch holds only its own
	// diagnoses, so a year of daily ones is one batch of 365).
	now := time.Now().UTC().Truncate(24 * time.Hour)
	type batch struct {
		cred string
		n    int
		body []byte
	}
	var batches []batch
	for i := range o.historyRigs {
		agent := "agent-" + benchRigName(i)
		var ds []diag.Diagnosis
		for d := range o.days {
			ds = append(ds, benchDiagnosis(benchRigName(i), agent, uint64(d+1), now.AddDate(0, 0, d-o.days)))
		}
		for len(ds) > 0 {
			n := min(len(ds), maxBatch)
			body, err := json.Marshal(cloudapi.DiagnosisBatch{AgentID: agent, Diagnoses: ds[:n]})
			if err != nil {
				return nil, err
			}
			batches = append(batches, batch{creds[i], n, body})
			ds = ds[n:]
		}
	}
	start = time.Now()
	var rows atomic.Int64
	if err := parallel(ctx, len(batches), o.ingestWorkers, func(ctx context.Context, i int) error {
		var br cloudapi.BatchResponse
		b := batches[i]
		if err := client(b.cred).Upload(ctx, "POST", cloudapi.PathDiagnoses, cloudapi.MediaJSON, bytes.NewReader(b.body), &br); err != nil {
			return fmt.Errorf("ingest: %s", cloudclient.Describe(err))
		}
		if br.Accepted != b.n {
			return fmt.Errorf("ingest: %d of %d accepted: %+v", br.Accepted, b.n, br.Results[0])
		}
		rows.Add(int64(br.Accepted))
		return nil
	}); err != nil {
		return nil, err
	}
	res.Rows = int(rows.Load())
	res.IngestRowsPerS = float64(res.Rows) / time.Since(start).Seconds()
	fmt.Fprintf(env.Stderr, "bench cloud: ingested %d diagnoses at %.0f rows/s; reading with %d clients for %s\n",
		res.Rows, res.IngestRowsPerS, o.clients, o.duration)

	// Reads.
	orgClients := make([]*cloudclient.Client, o.orgs)
	for i, tok := range tokens {
		orgClients[i] = client(tok)
	}
	if o.rate > 0 {
		benchReadsOpen(ctx, env, orgClients, o, now, res)
	} else {
		benchReadsClosed(ctx, env, orgClients, o, now, res)
	}
	return res, nil
}

// benchRead is a request of the read phase.
type benchRead struct {
	history bool // a history page, else a rig status
	path    string
	q       url.Values
}

// pickRead draws a request of organisation org: at random, a rig status of
// any of its rigs or a 30-day history page, ending up to days-30 days
// before now, of one of its rigs with diagnoses.
func (o cloudBenchOptions) pickRead(rnd *rand.Rand, org int, now time.Time) benchRead {
	nOrgRigs := (o.rigs - org + o.orgs - 1) / o.orgs
	nOrgHist := (o.historyRigs - org + o.orgs - 1) / o.orgs
	if nOrgHist > 0 && rnd.IntN(2) == 0 {
		rig := org + o.orgs*rnd.IntN(nOrgHist)
		to := now.AddDate(0, 0, -rnd.IntN(max(o.days-30, 1)))
		return benchRead{history: true, path: "/v1/rigs/" + benchRigName(rig) + "/diagnoses",
			q: url.Values{"from": {to.AddDate(0, 0, -30).Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}}
	}
	return benchRead{path: "/v1/rigs/" + benchRigName(org+o.orgs*rnd.IntN(nOrgRigs)) + "/status"}
}

// benchMs is the q quantile of sorted xs in milliseconds (0 when empty).
func benchMs(xs []time.Duration, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return float64(xs[min(len(xs)-1, int(q*float64(len(xs))))].Microseconds()) / 1000
}

// setLatencies sets res's latency figures from the status and history
// latencies.
func (res *cloudBenchResult) setLatencies(status, history []time.Duration) {
	slices.Sort(status)
	slices.Sort(history)
	res.StatusP50Ms, res.StatusP99Ms = benchMs(status, 0.50), benchMs(status, 0.99)
	res.HistoryP50Ms, res.HistoryP99Ms = benchMs(history, 0.50), benchMs(history, 0.99)
	res.StatusReqs, res.HistoryReqs = len(status), len(history)
}

// benchReadsClosed is the closed-loop read phase: o.clients clients, each
// of one organisation, each sending its next request as soon as the last
// one is answered, for o.duration.
func benchReadsClosed(ctx context.Context, env Env, orgClients []*cloudclient.Client, o cloudBenchOptions, now time.Time, res *cloudBenchResult) {
	type lat struct{ status, history []time.Duration }
	lats := make([]lat, o.clients)
	var errs, reqs atomic.Int64
	var firstErr atomic.Value
	rctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for ci := range o.clients {
		wg.Go(func() {
			org := ci % o.orgs
			c := orgClients[org]
			rnd := rand.New(rand.NewPCG(uint64(ci), 42))
			for rctx.Err() == nil {
				r := o.pickRead(rnd, org, now)
				t0 := time.Now()
				err := c.Do(ctx, "GET", r.path, r.q, nil, nil)
				d := time.Since(t0)
				if rctx.Err() != nil && err != nil {
					return // cut by the end of the run
				}
				reqs.Add(1)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, cloudclient.Describe(err))
					continue
				}
				if r.history {
					lats[ci].history = append(lats[ci].history, d)
				} else {
					lats[ci].status = append(lats[ci].status, d)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var status, history []time.Duration
	for _, l := range lats {
		status = append(status, l.status...)
		history = append(history, l.history...)
	}
	res.Mode = "closed"
	res.setLatencies(status, history)
	res.Requests = reqs.Load()
	res.Errors = errs.Load()
	res.DurationS = elapsed.Seconds()
	res.ReqPerS = float64(res.Requests) / elapsed.Seconds()
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(env.Stderr, "bench cloud: %d errors; the first: %s\n", res.Errors, e)
	}
}

// maxOpenRequests bounds the requests of an open-loop read phase (--rate
// × --duration): the bench keeps a sample of each.
const maxOpenRequests = 10_000_000

// benchReadsOpen is the open-loop read phase (openLoop): o.rate requests
// per second due over o.duration, sent by o.clients clients. Request k is
// of organisation k % orgs, drawn as the closed loop draws its requests
// (pickRead) from a generator seeded with k, so the mix is the same and
// an unsent request is still a status or a history request.
func benchReadsOpen(ctx context.Context, env Env, orgClients []*cloudclient.Client, o cloudBenchOptions, now time.Time, res *cloudBenchResult) {
	read := func(k int) (org int, r benchRead) {
		org = k % o.orgs
		return org, o.pickRead(rand.New(rand.NewPCG(uint64(k), 42)), org, now)
	}
	var firstErr atomic.Value
	l := openLoop{rate: o.rate, duration: o.duration, grace: o.duration, clients: o.clients}
	run := l.run(ctx, func(ctx context.Context, k int) error {
		org, r := read(k)
		err := orgClients[org].Do(ctx, "GET", r.path, r.q, nil, nil)
		if err != nil {
			firstErr.CompareAndSwap(nil, cloudclient.Describe(err))
		}
		return err
	})
	var status, history, delays []time.Duration
	f := &openFigures{OfferedPerS: o.rate, Scheduled: len(run.samples)}
	for k, s := range run.samples {
		switch s.outcome {
		case openFailed:
			res.Errors++
			res.Requests++
			delays = append(delays, s.delay)
			continue
		case openOK:
			res.Requests++
			delays = append(delays, s.delay)
		case openUnsent:
			f.Unsent++
		}
		if _, r := read(k); r.history {
			history = append(history, s.latency)
		} else {
			status = append(status, s.latency)
		}
	}
	slices.Sort(delays)
	f.SendDelayP99Ms = benchMs(delays, 0.99)
	res.Mode = "open"
	res.setLatencies(status, history)
	res.DurationS = run.elapsed.Seconds()
	res.ReqPerS = float64(res.Requests) / run.elapsed.Seconds()
	f.AchievedPerS = res.ReqPerS
	res.openFigures = f
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(env.Stderr, "bench cloud: %d errors; the first: %s\n", res.Errors, e)
	}
	if f.Unsent > 0 {
		fmt.Fprintf(env.Stderr, "bench cloud: %d of %d requests not sent: still waiting for a free client %s after the last one was due (the server answers fewer than the %.0f requests/s offered)\n",
			f.Unsent, f.Scheduled, o.duration, o.rate)
	}
}

// benchCheckin is the check-in of the agent ag as a current agent sends it
// on start: its version, the model it serves (the one of benchDiagnosis)
// and the bundle formats it reads (shared/bundle, as
// agent/internal/forward reports them), with an empty outbox.
func benchCheckin(ag cloudapi.EnrollResponse, now time.Time) cloudapi.CheckinRequest {
	m := benchModel
	return cloudapi.CheckinRequest{AgentID: ag.AgentID, RigID: ag.RigID, RigType: ag.RigType, AgentVersion: "bench",
		Time: now.UTC(), Model: &m, BundleFormats: &cloudapi.BundleFormats{Min: bundle.MinFormatVersion, Max: bundle.FormatVersion}}
}

// benchModel is the model of the bench's agents and diagnoses.
var benchModel = diag.ModelRef{Version: "zema-2025.03", Digest: "sha256:9f2c", Precision: "int8"}

// benchDiagnosis is a plausible daily diagnosis of a zema-testrig.
func benchDiagnosis(rigID, agent string, seq uint64, day time.Time) diag.Diagnosis {
	h := 0.7 + 0.3*float64(seq%10)/10
	st := diag.Healthy
	if h < 0.8 {
		st = diag.Warning
	}
	return diag.Diagnosis{RigID: rigID, RigType: "zema-testrig", AgentID: agent, Seq: seq, CreatedAt: day.Add(61 * time.Second),
		Window: diag.Window{Start: day, End: day.Add(time.Minute), Steps: 60, Coverage: 1},
		Model:  benchModel, InferenceMicros: 70,
		Health: h, Status: st,
		Components: []diag.ComponentHealth{
			{ID: "pump", Health: h, Status: st, AnomalyScore: 0.4, Drivers: []diag.Driver{{Sensor: "PS1", Weight: 0.6}}},
			{ID: "cooler", Health: 0.95, Status: diag.Healthy, AnomalyScore: 0.2},
			{ID: "valve", Health: 0.97, Status: diag.Healthy, AnomalyScore: 0.1},
			{ID: "accumulator", Health: 0.9, Status: diag.Healthy, AnomalyScore: 0.3},
		},
		Sensors: []diag.SensorScore{{ID: "PS1", Score: 0.4}, {ID: "TS1", Score: 0.2}, {ID: "FS1", Score: 0.3}},
	}
}
