package service

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// offlineCloud is a cloud (the server side of shared/cloudapi, through
// agenttest.Cloud) that can be down: while down it answers every
// authorized request 503, as a cloud behind a load balancer with no
// healthy backend does. Up, it stores each diagnosis once and records
// what a duplicate-free, gap-free drain needs checked.
type offlineCloud struct {
	token string
	mu    sync.Mutex
	down  bool
	// downHits counts the requests answered 503.
	downHits int
	// received counts each seq's deliveries (first stored or
	// duplicate); order is the seqs in the order first stored; dupes
	// counts items received again after they were stored.
	received map[uint64]int
	order    []uint64
	dupes    int
	// keys counts the Idempotency-Key of each batch answered; badKeys
	// lists the keys that are not cloudapi.BatchKey of their items.
	keys    map[string]int
	badKeys []string
	// bad lists the items the shared contract's validation rejected.
	bad []string
}

func newOfflineCloud(token string) *offlineCloud {
	return &offlineCloud{token: token, down: true, received: map[uint64]int{}, keys: map[string]int{}}
}

func (c *offlineCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	agenttest.Cloud{Token: c.token, Before: func(w http.ResponseWriter, _ *http.Request) bool {
		c.mu.Lock()
		down := c.down
		if down {
			c.downHits++
		}
		c.mu.Unlock()
		if down {
			cloudapi.NewProblem(cloudapi.ProblemUnavailable, http.StatusServiceUnavailable, "no backend available").Write(w)
		}
		return down
	}, Checkin: func(*cloudapi.CheckinRequest) cloudapi.CheckinResponse {
		return cloudapi.CheckinResponse{ServerTime: time.Now(), NextCheckinS: 1}
	}, Batch: func(b *cloudapi.DecodedBatch) (cloudapi.BatchResponse, error) {
		return c.batch(b, r.Header.Get(cloudapi.HeaderIdempotencyKey)), nil
	}}.ServeHTTP(w, r)
}

func (c *offlineCloud) batch(b *cloudapi.DecodedBatch, key string) cloudapi.BatchResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	seqs := make([]uint64, len(b.Items))
	for i, it := range b.Items {
		seqs[i] = it.Seq
	}
	c.keys[key]++
	// The cloud's generation is 0 (its check-ins name none).
	if key != cloudapi.BatchKey(b.AgentID, 0, seqs) {
		c.badKeys = append(c.badKeys, key)
	}
	var resp cloudapi.BatchResponse
	for _, it := range b.Items {
		st := cloudapi.ItemAccepted
		switch {
		case it.Problem != nil:
			st = cloudapi.ItemRejected
			c.bad = append(c.bad, it.Problem.Error())
		case c.received[it.Seq] > 0:
			st = cloudapi.ItemDuplicate
			c.dupes++
			c.received[it.Seq]++
		default:
			c.received[it.Seq]++
			c.order = append(c.order, it.Seq)
		}
		resp.Results = append(resp.Results, cloudapi.ItemResult{Seq: it.Seq, Status: st, Problem: it.Problem})
	}
	return resp
}

func (c *offlineCloud) setDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

func (c *offlineCloud) stored() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.order)
}

// refusingListener is the fake cloud's one listener, kept for the whole
// test so that no other listener can take its port: while refusing it
// accepts each connection and resets it at once (SetLinger(0): an RST,
// which the forwarder counts as a failed attempt, as a refused
// connection), else it hands connections to the server.
type refusingListener struct {
	net.Listener
	refusing atomic.Bool
}

func (l *refusingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.refusing.Load() {
			return c, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// bytesSent matches the forwarder's bytes-sent counter in /metrics.
var bytesSent = regexp.MustCompile(`(?m)^rig_agent_cloud_bytes_sent_total (\S+)$`)

// offlineCycles is the number of 60 s load cycles the rig runs while the
// cloud is unreachable: two hours of the rig's time, published as fast
// as the agent takes it (the readings' own times, minutes to hours old,
// drive the windows: see writeConfigLateness).
const offlineCycles = 120

// TestOfflineBacklogDrains is the offline test on the whole agent
// (embedded broker, reading buffer, windowing, ONNX Runtime inference,
// history, MQTT publisher, outbox, forwarder): the cloud answers 503 for
// the first half of a long run of cycles and then resets every
// connection (on the same listener: its port is never given up).
// Diagnosis goes on meanwhile (every window diagnosed, stored, served on
// /diagnoses and published on MQTT), the link reads down, and the outbox
// grows by one per diagnosis, dropping none. When the cloud returns the
// backlog drains in sequence order, each of seq 1..N exactly once (no gap,
// no duplicate), every request under its own Idempotency-Key, and the
// outbox ends empty.
func TestOfflineBacklogDrains(t *testing.T) {
	needORT(t)
	cloud := newOfflineCloud("offline-token-1")
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := &refusingListener{Listener: inner}
	addr := ln.Addr().String()
	srv := httptest.NewUnstartedServer(cloud)
	require.NoError(t, srv.Listener.Close())
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	agentID := fmt.Sprintf("offline-%d", time.Now().UnixNano()%1_000_000_000)
	// Windows close by the data only (lateness 5m; see
	// writeConfigLateness): the run is independent of the machine's speed.
	cfgPath := writeConfigLateness(t, dir, agentID, "", "5m")
	appendConfig(t, cfgPath, cloudSection(t, dir, "http://"+addr, cloud.token))
	a := startAgent(t, cfgPath)
	fwd := a.fwd.(*cloudForwarder)
	apiAddr := a.APIAddr()
	sub := subscribe(t, a.BrokerURL(), "hydrognn/agents/"+agentID+"/diagnoses")
	gw := newGateway(t, a.BrokerURL(), filepath.Join(dir, "zema-testrig.yaml"))

	t0 := cycleStart(offlineCycles + 10)
	var backlog []int64 // the outbox depth after each cycle
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			gw.publishCycle(t, t0.Add(time.Duration(i)*time.Minute), nil)
			backlog = append(backlog, a.Link().State().Backlog)
		}
	}
	diagnosed := func() int {
		var st api.StatusBody
		getJSON(t, apiAddr, "/status", &st)
		return int(st.Diagnoses.LastSeq)
	}

	// Phase 1: the cloud answers 503.
	half := offlineCycles / 2
	publish(0, half)
	// The windows of cycles 0..half-7 are closed by the data (a reading
	// at or after their end + 5m was seen).
	waitFor(t, 60*time.Second, "the first half's windows diagnosed", func() bool { return diagnosed() >= half-6 })
	waitFor(t, 10*time.Second, "the first half's diagnoses queued in the outbox", func() bool {
		return a.Link().State().Backlog >= int64(half-6)
	})
	waitFor(t, 10*time.Second, "link down (503)", func() bool { return a.Link().State().State == "down" })
	cloud.mu.Lock()
	hits := cloud.downHits
	cloud.mu.Unlock()
	assert.Positive(t, hits, "the agent tried the cloud while it answered 503")

	// Phase 2: the cloud is gone (every connection reset, the open ones
	// closed).
	ln.refusing.Store(true)
	srv.CloseClientConnections()
	fails := fwd.Stats().Failures
	publish(half, offlineCycles)
	gw.publishAt(t, t0.Add(time.Duration(offlineCycles+6)*time.Minute)) // closes every cycle's window; its own stays open
	waitFor(t, 60*time.Second, "every window diagnosed", func() bool { return diagnosed() >= offlineCycles })
	waitFor(t, 10*time.Second, "every diagnosis queued in the outbox", func() bool {
		return a.Link().State().Backlog >= offlineCycles
	})
	waitFor(t, 10*time.Second, "failed attempts on the refused connection", func() bool { return fwd.Stats().Failures >= fails+3 })

	// Diagnosis went on offline: stored, served and published, in order.
	var page api.DiagnosesPage
	require.Equal(t, http.StatusOK, getJSON(t, apiAddr, "/diagnoses?limit=1000", &page))
	require.Equal(t, offlineCycles, page.Count, "one diagnosis per cycle")
	var alerts, others []uint64
	for i, d := range page.Diagnoses {
		require.Equal(t, uint64(i+1), d.Seq)
		assert.True(t, t0.Add(time.Duration(i)*time.Minute).Equal(d.Window.Start), "window %d at %v", i, d.Window.Start)
		if cloudapi.IsAlert(&d) {
			alerts = append(alerts, d.Seq)
		} else {
			others = append(others, d.Seq)
		}
	}
	// The gateway's cycles (each sensor near its mean, not the rig's
	// cycle shape) diagnose critical: every diagnosis is an alert, so
	// this test checks the drain's sequence order only, not alerts
	// overtaking older non-alerts (forward's TestOfflineBacklogDrains
	// covers that). publishCalm's windows are alerts too here.
	require.NotEmpty(t, alerts, "the zema fixture's diagnoses are alerts")
	waitFor(t, 10*time.Second, "every diagnosis on MQTT", func() bool { return len(sub.diagnoses()) >= offlineCycles })
	var mqttSeqs []uint64
	for _, d := range sub.diagnoses() {
		mqttSeqs = append(mqttSeqs, d.Seq)
	}
	assert.Equal(t, seqRange(offlineCycles), mqttSeqs, "published on the local topic while offline")

	// The link reads down, the outbox holds every diagnosis and dropped none.
	assert.True(t, slices.IsSorted(backlog), "the outbox only grows while offline: %v", backlog)
	var st api.StatusBody
	require.Equal(t, http.StatusOK, getJSON(t, apiAddr, "/status", &st))
	assert.True(t, st.Ready, "offline is no reason to be unready")
	assert.True(t, st.Cloud.Enabled)
	assert.False(t, st.Cloud.Connected)
	assert.Equal(t, "down", st.Cloud.State)
	assert.Equal(t, int64(offlineCycles), st.Cloud.Backlog)
	assert.Zero(t, st.Cloud.Dropped)
	assert.Equal(t, uint64(offlineCycles), st.Windowing.Diagnosed)
	s := fwd.Stats()
	assert.Equal(t, offlineCycles, s.Queued)
	assert.Equal(t, len(alerts), s.QueuedAlerts)
	assert.Zero(t, s.Accepted)
	assert.Greater(t, s.Failures, uint64(10), "it kept trying while offline")
	m := getText(t, apiAddr, "/metrics")
	for _, want := range []string{
		"rig_agent_cloud_link_up 0\n",
		`rig_agent_cloud_link_state{state="down"} 1` + "\n",
		fmt.Sprintf("rig_agent_cloud_backlog %d\n", offlineCycles),
		`rig_agent_cloud_dropped_total{alert="false"} 0` + "\n",
		`rig_agent_cloud_dropped_total{alert="true"} 0` + "\n",
		fmt.Sprintf(`rig_agent_windows_total{result="diagnosed"} %d`+"\n", offlineCycles),
	} {
		assert.Contains(t, m, want)
	}
	assert.Zero(t, cloud.stored(), "nothing reached the cloud")

	// Phase 3: the cloud returns on the same address.
	cloud.setDown(false)
	ln.refusing.Store(false)
	waitFor(t, 60*time.Second, "backlog drained", func() bool {
		return fwd.Stats().Queued == 0 && cloud.stored() >= offlineCycles
	})

	cloud.mu.Lock()
	want := append(slices.Clone(alerts), others...)
	assert.Equal(t, want, cloud.order, "in sequence order (every diagnosis an alert)")
	for seq := uint64(1); seq <= offlineCycles; seq++ {
		assert.Equal(t, 1, cloud.received[seq], "diagnosis %d delivered once", seq)
	}
	assert.Len(t, cloud.received, offlineCycles, "no seq beyond 1..%d", offlineCycles)
	assert.Zero(t, cloud.dupes, "nothing sent again after the cloud stored it")
	assert.Empty(t, cloud.badKeys, "every Idempotency-Key is cloudapi.BatchKey of its items")
	for k, n := range cloud.keys {
		assert.Equal(t, 1, n, "Idempotency-Key %s used by one answered request", k)
	}
	assert.Empty(t, cloud.bad, "what the forwarder sends passes the cloud's validation")
	cloud.mu.Unlock()

	s = fwd.Stats()
	assert.Equal(t, uint64(offlineCycles), s.Accepted)
	assert.Zero(t, s.Rejected+s.Conflicts+s.Dropped+s.Invalid, "%+v", s)
	waitFor(t, 10*time.Second, "link up", func() bool { return a.Link().State().Connected })
	m = getText(t, apiAddr, "/metrics")
	for _, want := range []string{
		"rig_agent_cloud_link_up 1\n",
		`rig_agent_cloud_link_state{state="up"} 1` + "\n",
		"rig_agent_cloud_backlog 0\n",
	} {
		assert.Contains(t, m, want)
	}
	cur, err := a.History().Cursor(HistoryForwardCursor)
	require.NoError(t, err)
	assert.Equal(t, uint64(offlineCycles), cur, "the history cursor passed every diagnosis")
	sent := bytesSent.FindStringSubmatch(m)
	require.NotNil(t, sent, "rig_agent_cloud_bytes_sent_total in /metrics")
	n, err := strconv.ParseFloat(sent[1], 64)
	require.NoError(t, err, "rig_agent_cloud_bytes_sent_total %q", sent[1])
	assert.Positive(t, n, "bytes sent are counted")
}

// seqRange returns 1..n.
func seqRange(n int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}
