package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// fatalRecorder stands in for a *testing.T in procGuard's methods: it
// keeps the first Fatalf's message and ends the goroutine as Fatalf does.
type fatalRecorder struct{ msg string }

func (*fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

// recordFatal runs fn and returns what it passed to the recorder's Fatalf
// ("": it returned without).
func recordFatal(fn func(*fatalRecorder)) (msg string) {
	f := &fatalRecorder{}
	defer func() {
		if r := recover(); r != nil && r != f {
			panic(r)
		}
		msg = f.msg
	}()
	fn(f)
	return ""
}

// TestProcGuardFailsAtOnceOnAnExit: a process that exits on its own while
// the end-to-end test waits fails the wait at once (not at its timeout),
// with its exit status and its log's last lines; one the test killed
// does not.
func TestProcGuardFailsAtOnceOnAnExit(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	var g procGuard
	killed := g.add(startProc(t, "sleeper", filepath.Join(dir, "sleeper.log"), nil, "sh", "-c", "sleep 60"))
	killed.kill(t)
	quitter := g.add(startProc(t, "quitter", filepath.Join(dir, "quitter.log"), nil, "sh", "-c",
		`i=0; while [ $i -lt 100 ]; do echo "line $i"; i=$((i+1)); done; echo "a part of the agent failed; stopping"; exit 3`))
	<-quitter.done
	began := time.Now()
	msg := recordFatal(func(f *fatalRecorder) {
		g.waitFor(context.Background(), f, time.Minute, "never", func() bool { return false }, nil)
	})
	require.NotEmpty(t, msg, "the wait goes on after the process exited")
	assert.Less(t, time.Since(began), 5*time.Second, "the wait fails at once")
	assert.Contains(t, msg, "quitter exited on its own")
	assert.Contains(t, msg, "exit status 3")
	assert.Contains(t, msg, "a part of the agent failed; stopping")
	assert.Contains(t, msg, "\nline 21\n", "the last 80 lines")
	assert.NotContains(t, msg, "line 20\n")
	assert.NotContains(t, msg, "sleeper")
	// Reported once: the cleanup does not fail the test for it again.
	assert.Empty(t, recordFatal(func(f *fatalRecorder) { g.check(f) }))
}

// TestProcGuardTimeoutExplains: a wait that times out says explain's text.
func TestProcGuardTimeoutExplains(t *testing.T) {
	var g procGuard
	msg := recordFatal(func(f *fatalRecorder) {
		g.waitFor(context.Background(), f, 10*time.Millisecond, "the rollout completed", func() bool { return false },
			func() string { return "agent-13 offered, last check-in 40s ago" })
	})
	assert.Contains(t, msg, "the rollout completed: not within 10ms")
	assert.Contains(t, msg, "agent-13 offered, last check-in 40s ago")
}

// TestRolloutReport: a rollout timeout's report shows, agent by agent, what
// rig-cloud thinks (rollout state, last check-in, the update state it
// reported) beside the agent's /status and its process; an agent that
// does not answer, or that never checked in, says so.
func TestRolloutReport(t *testing.T) {
	now := time.Now().UTC()
	seen := now.Add(-3 * time.Second)
	cloud := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
		switch r.URL.Path {
		case "/v1/rollouts/7":
			_ = json.NewEncoder(w).Encode(rolloutapi.Rollout{ID: 7, State: rolloutapi.Running, Cohort: 1,
				Cohorts: []rolloutapi.Cohort{{Index: 1, Size: 2, State: rolloutapi.CohortSoaking}},
				AgentStates: []rolloutapi.Member{
					{AgentID: "agent-12", Cohort: 1, State: rolloutapi.AgentCommitted, UpdatedAt: now},
					{AgentID: "agent-13", Cohort: 1, State: rolloutapi.AgentDownloading, UpdatedAt: now.Add(-time.Minute)},
				}})
		case "/v1/rigs/rig-1/status":
			_ = json.NewEncoder(w).Encode(fleetapi.RigStatus{Agents: []fleetapi.AgentStatus{
				{AgentID: "agent-12", Link: fleetapi.LinkOnline, LastCheckinAt: &seen,
					Update: &cloudapi.UpdateStatus{State: "committed", Installed: "1.1.0"}},
				{AgentID: "agent-13", Link: fleetapi.LinkNever},
			}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer cloud.Close()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"model":{"version":"1.1.0"},"update":{"state":"committed"}}`))
	}))
	defer agent.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // refuses connections, as an exited agent's port does
	dir := t.TempDir()
	log12 := filepath.Join(dir, "12.log")
	p12 := startProc(t, "agent-12", log12, nil, "sh", "-c", `trap "exit 0" TERM; echo ready; sleep 60 & wait`)
	// The cleanup's SIGTERM must find the trap set, or the shell dies of
	// the signal and the cleanup reports an error (a CI failure on a
	// loaded machine): wait until the shell says it is ready.
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(log12)
		return strings.Contains(string(b), "ready")
	}, 10*time.Second, 10*time.Millisecond, "the stand-in agent never started")
	p13 := startProc(t, "agent-13", filepath.Join(dir, "13.log"), nil, "sh", "-c", "exit 1")
	<-p13.done
	p13.reported.Store(true) // its exit is this test's point, not a failure of it
	out := rolloutReport(context.Background(), cloud.URL, "tok", "rig-1", 7,
		[]agentProc{{id: "agent-12", api: agent.URL, proc: p12}, {id: "agent-13", api: gone.URL, proc: p13}})
	assert.Contains(t, out, "rollout 7: running, cohort 1")
	assert.Regexp(t, `(?m)^agent-12\s+1\s+committed\s+\S+ ago\s+3(\.\d)?s ago\s+online\s+committed 1\.1\.0->\s+1\.1\.0 committed\s+running\s*$`, out)
	assert.Regexp(t, `(?m)^agent-13\s+1\s+downloading\s+1m\S* ago\s+never\s+never\s+-\s+unreachable\s+exited at \S+ \(exit status 1\)`, out)
}
