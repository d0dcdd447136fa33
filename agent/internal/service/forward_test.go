package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// fakeCloud is the server side of shared/cloudapi, as small as the
// contract allows: it accepts every valid diagnosis once.
type fakeCloud struct {
	token string
	// tuf, when set, serves GET /tuf/... (a TUF repository, behind the
	// same credential check as the API, as rig-cloud serves it).
	tuf  http.Handler
	mu   sync.Mutex
	seqs []uint64
	bad  []string
	// offer is the check-in answers' offer (nil: none); updates the
	// update states the check-ins reported; refused counts requests
	// refused for their credential.
	offer   *cloudapi.Offer
	updates []cloudapi.UpdateStatus
	refused int
	// unexplained counts accepted anomalies with an empty fault.
	unexplained int
}

func (c *fakeCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	agenttest.Cloud{Token: c.token, Refused: func() {
		c.mu.Lock()
		c.refused++
		c.mu.Unlock()
	}, Before: func(w http.ResponseWriter, r *http.Request) bool {
		if c.tuf != nil && strings.HasPrefix(r.URL.Path, "/tuf/") {
			http.StripPrefix("/tuf", c.tuf).ServeHTTP(w, r)
			return true
		}
		return false
	}, Checkin: c.checkin, Batch: c.batch}.ServeHTTP(w, r)
}

func (c *fakeCloud) checkin(req *cloudapi.CheckinRequest) cloudapi.CheckinResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Update != nil {
		c.updates = append(c.updates, *req.Update)
	}
	return cloudapi.CheckinResponse{ServerTime: time.Now(), NextCheckinS: 1, Offer: c.offer}
}

func (c *fakeCloud) batch(b *cloudapi.DecodedBatch) (cloudapi.BatchResponse, error) {
	var resp cloudapi.BatchResponse
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range b.Items {
		st := cloudapi.ItemAccepted
		switch {
		case it.Problem != nil:
			st = cloudapi.ItemRejected
			c.bad = append(c.bad, it.Problem.Error())
		case slices.Contains(c.seqs, it.Seq):
			st = cloudapi.ItemDuplicate
		default:
			c.seqs = append(c.seqs, it.Seq)
			for _, a := range it.Diagnosis.Anomalies {
				if a.Fault == "" {
					c.unexplained++
				}
			}
		}
		resp.Results = append(resp.Results, cloudapi.ItemResult{Seq: it.Seq, Status: st, Problem: it.Problem})
	}
	return resp, nil
}

// cloudSection writes token to dir/credential and returns an agent
// config's cloud section for the cloud at url, with a backoff of 20 ms
// to 200 ms.
func cloudSection(tb testing.TB, dir, url, token string) string {
	tb.Helper()
	cred := filepath.Join(dir, "credential")
	require.NoError(tb, os.WriteFile(cred, []byte(token+"\n"), 0o600))
	return fmt.Sprintf("cloud:\n  url: %s\n  credential_file: %s\n  backoff_min: 20ms\n  backoff_max: 200ms\n", url, cred)
}

// appendConfig appends text to the agent config at cfgPath.
func appendConfig(tb testing.TB, cfgPath, text string) {
	tb.Helper()
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(tb, err)
	_, err = f.WriteString(text)
	require.NoError(tb, err)
	require.NoError(tb, f.Close())
}

// setOffer makes the next check-in answers offer o (nil: none).
func (c *fakeCloud) setOffer(o *cloudapi.Offer) {
	c.mu.Lock()
	c.offer = o
	c.mu.Unlock()
}

// lastUpdate is the update state of the last check-in (zero: none yet).
func (c *fakeCloud) lastUpdate() cloudapi.UpdateStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.updates) == 0 {
		return cloudapi.UpdateStatus{}
	}
	return c.updates[len(c.updates)-1]
}

func (c *fakeCloud) received() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := slices.Clone(c.seqs)
	slices.Sort(s)
	return s
}

// TestCloudForwarding: a first run without a cloud link makes two
// diagnoses; the second run has one: it forwards the history the first
// made (replay from the history cursor) and its own, each once.
func TestCloudForwarding(t *testing.T) {
	needORT(t)
	cloud := &fakeCloud{token: "s3cret-token"}
	ts := httptest.NewServer(cloud)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "cloud-1", "")
	fwPath := filepath.Join(dir, "zema-testrig.yaml")
	t0 := cycleStart(6)

	a := startAgent(t, cfgPath)
	gw := newGateway(t, a.BrokerURL(), fwPath)
	gw.publishCycle(t, t0, nil)
	gw.publishCycle(t, t0.Add(time.Minute), nil)
	waitDiagnoses(t, a.APIAddr(), 2)
	stopAgent(t, a)

	appendConfig(t, cfgPath, cloudSection(t, dir, ts.URL, cloud.token))

	a = startAgent(t, cfgPath)
	fwd := a.fwd.(*cloudForwarder)
	// Every diagnosis is accepted by the cloud: none is refused by the
	// forwarder as invalid (Stats.Invalid), none rejected by the server.
	// zema diagnoses carry unexplained anomalies (empty fault) that
	// shared/cloudapi allows when they name a component or sensor.
	accepted := func(n int) func() bool {
		return func() bool { return len(cloud.received()) >= n || fwd.Stats().Invalid > 0 }
	}
	waitFor(t, 15*time.Second, "the first run's diagnoses accepted", accepted(2))
	gw = newGateway(t, a.BrokerURL(), fwPath)
	gw.publishCycle(t, t0.Add(2*time.Minute), nil)
	waitFor(t, 30*time.Second, "3 diagnoses accepted", accepted(3))
	require.Zero(t, fwd.Stats().Invalid, "the forwarder refused diagnoses as invalid for shared/cloudapi")
	assert.Equal(t, []uint64{1, 2, 3}, cloud.received(), "each diagnosis accepted once, none missing")
	assert.Empty(t, cloud.bad, "what the forwarder sends passes the cloud's validation")
	waitFor(t, 10*time.Second, "outbox drained", func() bool { return fwd.Stats().Queued == 0 })
	s := fwd.Stats()
	assert.Equal(t, uint64(3), s.Accepted, "forwarder counts 3 accepted: %+v", s)
	assert.Zero(t, s.Rejected+s.Conflicts+s.Dropped, "%+v", s)
	cur, err := a.History().Cursor(HistoryForwardCursor)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), cur, "the history cursor passed every diagnosis")
	cloud.mu.Lock()
	assert.Positive(t, cloud.unexplained, "the zema cycles give unexplained anomalies (empty fault), the case this test covers")
	cloud.mu.Unlock()

	var st api.StatusBody
	require.Equal(t, http.StatusOK, getJSON(t, a.APIAddr(), "/status", &st))
	assert.True(t, st.Cloud.Enabled)
	waitFor(t, 10*time.Second, "link up (check-in)", func() bool { return a.Link().State().Connected })
	m := getText(t, a.APIAddr(), "/metrics")
	assert.Contains(t, m, "rig_agent_cloud_enabled 1")
	assert.Contains(t, m, "rig_agent_cloud_link_up 1")
	assert.Contains(t, m, `rig_agent_cloud_link_state{state="up"} 1`)
	assert.Contains(t, m, `rig_agent_cloud_refused_total{by="agent"} 0`)
	assert.Contains(t, m, `rig_agent_cloud_dropped_total{alert="true"} 0`)
	assert.False(t, strings.Contains(m, "rig_agent_cloud_bytes_sent_total 0\n"), "bytes sent are counted")
}

// flakyOutbox fails Enqueue for the seqs in fail (each failure used once)
// and records what it queued.
type flakyOutbox struct {
	fail map[uint64]int
	got  []uint64
}

func (o *flakyOutbox) Enqueue(_ context.Context, d diag.Diagnosis) error {
	if o.fail[d.Seq] > 0 {
		o.fail[d.Seq]--
		return errors.New("outbox: write: no space left on device")
	}
	if !slices.Contains(o.got, d.Seq) { // the outbox ignores a seq it holds
		o.got = append(o.got, d.Seq)
	}
	return nil
}

// TestFailedEnqueueIsNotSkipped: a diagnosis whose Enqueue failed (a full
// disk) is queued by a later Enqueue, which replays the history from the
// forwarder's cursor; the cursor never passes a diagnosis not queued.
func TestFailedEnqueueIsNotSkipped(t *testing.T) {
	ctx := context.Background()
	h, err := history.Open(filepath.Join(t.TempDir(), "diagnoses.db"), history.Options{MaxAge: -1, Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	ob := &flakyOutbox{fail: map[uint64]int{2: 2}}
	c := &cloudForwarder{ob: ob, hist: h, log: testLogger(t)}
	s := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	next := func() diag.Diagnosis {
		s = s.Add(time.Minute)
		d, err := h.Append(ctx, &diag.Diagnosis{RigID: "rig-1", CreatedAt: s.Add(time.Minute),
			Window: diag.Window{Start: s, End: s.Add(time.Minute)}, Status: diag.Healthy, Health: 0.9}, history.Progress{})
		require.NoError(t, err)
		return d
	}
	cursor := func() uint64 {
		cur, err := h.Cursor(HistoryForwardCursor)
		require.NoError(t, err)
		return cur
	}
	require.NoError(t, c.Enqueue(ctx, next())) // 1
	require.Error(t, c.Enqueue(ctx, next()))   // 2 fails
	assert.Equal(t, uint64(1), cursor())
	require.Error(t, c.Enqueue(ctx, next()), "3: the replay of 2 fails again") // 3
	assert.Equal(t, uint64(1), cursor(), "the cursor waits before 2")
	require.NoError(t, c.Enqueue(ctx, next())) // 4: replays 2, 3, 4
	assert.Equal(t, []uint64{1, 2, 3, 4}, ob.got)
	assert.Equal(t, uint64(4), cursor())
	require.NoError(t, c.Enqueue(ctx, next())) // 5: back to one at a time
	assert.Equal(t, []uint64{1, 2, 3, 4, 5}, ob.got)
}
