package service

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// keyedCloud is the server side of shared/cloudapi keyed as rig-cloud
// keys diagnoses (cloud/internal/store/ingest.go): the first diagnosis of
// each seq is kept; the same one again is a duplicate, another one under
// that seq a conflict.
type keyedCloud struct {
	token     string
	mu        sync.Mutex
	stored    map[uint64]string // seq -> fingerprint
	conflicts []uint64
	// windows counts the diagnoses stored per rig and window start:
	// the cloud keys on (agent, seq) only, so a window diagnosed again
	// under a new seq is stored twice.
	windows map[string]int
	// down: answer every request 503 (the cloud unreachable).
	down bool
}

func (c *keyedCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	agenttest.Cloud{Token: c.token, Before: func(w http.ResponseWriter, _ *http.Request) bool {
		c.mu.Lock()
		down := c.down
		c.mu.Unlock()
		if down {
			cloudapi.NewProblem(cloudapi.ProblemUnavailable, 503, "down on purpose").Write(w)
		}
		return down
	}, Checkin: c.checkin, Batch: c.batch}.ServeHTTP(w, r)
}

// keyedCloudConfig serves a keyedCloud for the test and writes the
// config of an agent (cloud-1, in dir) that forwards to it; fwPath is
// the agent's firmware config.
func keyedCloudConfig(t *testing.T) (cloud *keyedCloud, dir, cfgPath, fwPath string) {
	t.Helper()
	cloud = &keyedCloud{token: "s3cret-token", stored: map[uint64]string{}}
	ts := httptest.NewServer(cloud)
	t.Cleanup(ts.Close)
	dir = t.TempDir()
	cfgPath = writeConfig(t, dir, "cloud-1", "")
	appendConfig(t, cfgPath, cloudSection(t, dir, ts.URL, cloud.token))
	return cloud, dir, cfgPath, filepath.Join(dir, "zema-testrig.yaml")
}

// checkin answers the highest seq stored, as rig-cloud does.
func (c *keyedCloud) checkin(*cloudapi.CheckinRequest) cloudapi.CheckinResponse {
	resp := cloudapi.CheckinResponse{ServerTime: time.Now(), NextCheckinS: 1}
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.stored {
		resp.HighestSeq = max(resp.HighestSeq, s)
	}
	return resp
}

func (c *keyedCloud) batch(b *cloudapi.DecodedBatch) (cloudapi.BatchResponse, error) {
	var resp cloudapi.BatchResponse
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range b.Items {
		res := cloudapi.ItemResult{Seq: it.Seq, Status: cloudapi.ItemAccepted, Problem: it.Problem}
		if it.Problem != nil {
			res.Status = cloudapi.ItemRejected
			resp.Results = append(resp.Results, res)
			continue
		}
		fp, err := cloudapi.Fingerprint(&it.Diagnosis)
		if err != nil {
			return resp, err
		}
		switch old, ok := c.stored[it.Seq]; {
		case !ok:
			c.stored[it.Seq] = fp
			if c.windows == nil {
				c.windows = map[string]int{}
			}
			c.windows[it.Diagnosis.RigID+"@"+it.Diagnosis.Window.Start.UTC().Format(time.RFC3339Nano)]++
		case old == fp:
			res.Status = cloudapi.ItemDuplicate
		default:
			res.Status = cloudapi.ItemConflict
			res.Problem = &cloudapi.Problem{Type: cloudapi.ProblemConflict, Title: cloudapi.ProblemTitle(cloudapi.ProblemConflict),
				Status: http.StatusConflict, Detail: fmt.Sprintf("seq %d stored before with another diagnosis", it.Seq)}
			c.conflicts = append(c.conflicts, it.Seq)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// state returns the stored seqs (sorted) and the conflicting ones.
func (c *keyedCloud) state() (stored, conflicts []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.stored {
		stored = append(stored, s)
	}
	slices.Sort(stored)
	return stored, slices.Clone(c.conflicts)
}

// TestHistoryRecoveryKeepsSeqsUnique: an agent forwards diagnoses to the
// cloud, its diagnoses.db is moved aside as docs/agent.md's history
// recovery says, and it starts again. The new history rescans the
// buffer but resumes after the last window the sequence mark holds:
// windows sent before are not diagnosed again (the cloud would store
// them twice, under new seqs); every new diagnosis gets a seq above the
// ones sent before and the cloud accepts it: none is a conflict with one
// stored under the same seq, with no manual step.
func TestHistoryRecoveryKeepsSeqsUnique(t *testing.T) {
	needORT(t)
	cloud, dir, cfgPath, fwPath := keyedCloudConfig(t)
	t0 := cycleStart(6)

	// First life: two diagnoses, both stored by the cloud.
	a := startAgent(t, cfgPath)
	gw := newGateway(t, a.BrokerURL(), fwPath)
	gw.publishCycle(t, t0, nil)
	gw.publishCycle(t, t0.Add(time.Minute), nil)
	waitFor(t, 30*time.Second, "2 diagnoses stored by the cloud", func() bool {
		s, _ := cloud.state()
		return len(s) >= 2
	})
	sentBefore := a.History().LastSeq()
	require.GreaterOrEqual(t, sentBefore, uint64(2))
	stopAgent(t, a)

	// Recovery: move the history aside, start again.
	histPath := filepath.Join(dir, "data", "diagnoses.db")
	require.NoError(t, os.Rename(histPath, histPath+".corrupt-"+time.Now().UTC().Format("20060102T150405Z")))
	a = startAgent(t, cfgPath)
	fwd := a.fwd.(*cloudForwarder)
	gw = newGateway(t, a.BrokerURL(), fwPath)
	gw.publishCycle(t, t0.Add(2*time.Minute), nil)
	var after []uint64
	waitFor(t, 30*time.Second, "the new life's diagnoses answered by the cloud", func() bool {
		page, err := a.History().After(context.Background(), 0, 100)
		require.NoError(t, err)
		after = after[:0]
		for _, d := range page {
			after = append(after, d.Seq)
		}
		s := fwd.Stats()
		return len(page) >= 1 && page[len(page)-1].Window.Start.Equal(t0.Add(2*time.Minute)) &&
			s.Queued == 0 && s.Accepted+s.Duplicates+s.Rejected+s.Conflicts >= uint64(len(page))
	})
	require.NotEmpty(t, after)
	assert.Greater(t, after[0], sentBefore, "the new history numbers above every seq sent before")
	stored, conflicts := cloud.state()
	assert.Empty(t, conflicts, "no new diagnosis reuses a seq the cloud stored")
	for _, s := range after {
		assert.Contains(t, stored, s, "diagnosis %d of the new history stored by the cloud", s)
	}
	s := fwd.Stats()
	assert.Zero(t, s.Conflicts+s.Rejected, "%+v", s)
	cloud.mu.Lock()
	defer cloud.mu.Unlock()
	for w, n := range cloud.windows {
		assert.Equal(t, 1, n, "window %s stored once, not diagnosed again after the recovery", w)
	}
	assert.Len(t, cloud.windows, 3, "the two windows of the first life and the new one")
}
