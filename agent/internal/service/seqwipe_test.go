package service

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWipedDataDirKeepsDiagnoses: the agent's data directory is wiped
// (history, sequence mark, outbox and buffer all lost; the credential,
// outside it, survives), so its sequence restarts at 1 under the same
// identity. The first diagnoses of the new life are made while the cloud
// is unreachable; once it answers, the check-in's highest_seq raises the
// sequence and renumbers them before any is sent: the cloud stores every
// new diagnosis, none is answered as a conflict (lost) of the first
// life's, and the renumbering is counted on /metrics.
func TestWipedDataDirKeepsDiagnoses(t *testing.T) {
	needORT(t)
	cloud, dir, cfgPath, fwPath := keyedCloudConfig(t)
	t0 := cycleStart(6)

	// First life: three diagnoses, all stored by the cloud.
	a := startAgent(t, cfgPath)
	gw := newGateway(t, a.BrokerURL(), fwPath)
	for i := range 3 {
		gw.publishCycle(t, t0.Add(time.Duration(i)*time.Minute), nil)
	}
	waitFor(t, 30*time.Second, "3 diagnoses stored by the cloud", func() bool {
		s, _ := cloud.state()
		return len(s) >= 3
	})
	firstLife, _ := cloud.state()
	stopAgent(t, a)

	// The data directory is wiped; the cloud is down while the new life
	// makes its first diagnosis.
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "data")))
	cloud.mu.Lock()
	cloud.down = true
	cloud.mu.Unlock()
	a = startAgent(t, cfgPath)
	fwd := a.fwd.(*cloudForwarder)
	gw = newGateway(t, a.BrokerURL(), fwPath)
	gw.publishCycle(t, t0.Add(3*time.Minute), nil)
	waitFor(t, 30*time.Second, "a diagnosis of the new life queued", func() bool { return fwd.Stats().Queued >= 1 })
	require.LessOrEqual(t, a.History().LastSeq(), uint64(len(firstLife)), "the new life numbers from 1 again")

	cloud.mu.Lock()
	cloud.down = false
	cloud.mu.Unlock()
	gw.publishCycle(t, t0.Add(4*time.Minute), nil)
	var n int
	waitFor(t, 30*time.Second, "the new life's diagnoses answered by the cloud", func() bool {
		page, err := a.History().After(context.Background(), 0, 100)
		require.NoError(t, err)
		n = len(page)
		s := fwd.Stats()
		return n >= 2 && page[n-1].Window.Start.Equal(t0.Add(4*time.Minute)) &&
			s.Queued == 0 && s.Accepted+s.Duplicates+s.Rejected+s.Conflicts >= uint64(n)
	})
	stored, conflicts := cloud.state()
	assert.Empty(t, conflicts, "no new diagnosis sent under a seq of the first life")
	s := fwd.Stats()
	assert.Zero(t, s.Conflicts+s.Rejected+s.Duplicates, "%+v", s)
	assert.Equal(t, uint64(n), s.Accepted, "every diagnosis of the new life stored")
	assert.Len(t, stored, len(firstLife)+n)
	assert.GreaterOrEqual(t, s.Renumbered, uint64(1), "the one queued while the cloud was down")
	assert.Greater(t, a.History().LastSeq(), firstLife[len(firstLife)-1], "the history numbers on above the cloud's")

	m := getText(t, a.APIAddr(), "/metrics")
	got := regexp.MustCompile(`(?m)^rig_agent_cloud_renumbered_total (\d+)$`).FindStringSubmatch(m)
	require.NotNil(t, got, "renumbering exported on /metrics")
	v, err := strconv.ParseUint(got[1], 10, 64)
	require.NoError(t, err)
	assert.Equal(t, s.Renumbered, v)
	assert.Regexp(t, `(?m)^rig_agent_cloud_replays_ignored_total 0$`, m, "no replay ignored, and the counter exported")
}
