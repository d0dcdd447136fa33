package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// exitTailLines is how much of the log of a process that exited on its
// own a failure shows: enough for the error that stopped it and what led
// to it.
const exitTailLines = 80

// keptLogDir makes the folder the processes of an end-to-end test log
// into, under os.TempDir() rather than t.TempDir(): when the test fails
// it is kept, and its path logged, for the whole logs (the failure shows
// only their tails); when it passes it is removed. Call it before
// starting the processes, so that its cleanup runs after theirs.
func keptLogDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", name+"-logs-"+time.Now().UTC().Format("20060102T150405Z")+"-")
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the processes' whole logs are kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

// fileTailN returns the last n lines of the file at path.
func fileTailN(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// crashMarks start what a Go runtime crash (panic, fatal error, a signal
// in native code such as ONNX Runtime's) prints before its goroutine
// dump, which a log's tail alone shows only the end of.
var crashMarks = []string{"panic: ", "fatal error: ", "SIGSEGV", "SIGABRT", "SIGBUS", "SIGILL"}

// crashExcerpt returns the first 30 lines of the log at path from the
// first crash mark on ("": none).
func crashExcerpt(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		for _, m := range crashMarks {
			if strings.Contains(l, m) {
				return strings.Join(lines[i:min(len(lines), i+30)], "\n")
			}
		}
	}
	return ""
}

// raceReport returns the first data race report in the log at path (up
// to 60 lines; "": none), as a binary built with -race prints it.
func raceReport(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.Contains(l, "WARNING: DATA RACE") {
			return strings.Join(lines[i:min(len(lines), i+60)], "\n")
		}
	}
	return ""
}

// procGuard holds the processes of a test that must not exit unless the
// test stops them: check fails the test at once when one did.
type procGuard struct {
	mu    sync.Mutex
	procs []*proc
}

func (g *procGuard) add(p *proc) *proc {
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p
}

// check fails t (Fatalf) with the exit status and log tail of the first
// process that exited on its own.
func (g *procGuard) check(t interface {
	Helper()
	Fatalf(format string, args ...any)
}) {
	t.Helper()
	g.mu.Lock()
	procs := append([]*proc(nil), g.procs...)
	g.mu.Unlock()
	for _, p := range procs {
		if p.exitedOnItsOwn() && p.reported.CompareAndSwap(false, true) {
			t.Fatalf("%s exited on its own %s", p.name, p.exitReport())
		}
	}
}

// waitFor is waitFor that also fails at once when a process of g exited
// on its own, and whose timeout adds explain's text (nil: none), e.g.
// the state of each agent of a rollout.
func (g *procGuard) waitFor(ctx context.Context, t interface {
	Helper()
	Fatalf(format string, args ...any)
}, within time.Duration, what string, ok func() bool, explain func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		g.check(t)
		if ok() {
			return
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%s: not within %s", what, within)
			if explain != nil {
				msg += "\n" + explain()
			}
			t.Fatalf("%s", msg)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// getJSON reads url with a bearer token into out; unlike fleetHTTP.do it
// returns its error (for failure reports, which must not fail again).
func getJSON(ctx context.Context, url, token string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set(cloudapi.HeaderAuthorization, "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return nil
}

// rolloutReport describes rollout id agent by agent, for a rollout that
// did not get where the test waited for it to: what rig-cloud thinks (the
// agent's rollout state and detail, its last check-in and the update
// state reported in it) beside what the agent says (its /status) and
// whether its process runs.
func rolloutReport(ctx context.Context, cloudURL, token, rigID string, id int64, agents []agentProc) string {
	var b strings.Builder
	var r rolloutapi.Rollout
	if err := getJSON(ctx, fmt.Sprintf("%s/v1/rollouts/%d", cloudURL, id), token, &r); err != nil {
		fmt.Fprintf(&b, "rollout %d: %v\n", id, err)
	} else {
		fmt.Fprintf(&b, "rollout %d: %s, cohort %d, reason %q, counts %v\n", r.ID, r.State, r.Cohort, r.Reason, r.Counts)
		for _, c := range r.Cohorts {
			fmt.Fprintf(&b, "  cohort %d: %s, size %d, counts %v\n", c.Index, c.State, c.Size, c.Counts)
		}
	}
	members := map[string]rolloutapi.Member{}
	for _, m := range r.AgentStates {
		members[m.AgentID] = m
	}
	var rs fleetapi.RigStatus
	checkins := map[string]fleetapi.AgentStatus{}
	if err := getJSON(ctx, cloudURL+"/v1/rigs/"+rigID+"/status", token, &rs); err != nil {
		fmt.Fprintf(&b, "rig %s: %v\n", rigID, err)
	}
	for _, a := range rs.Agents {
		checkins[a.AgentID] = a
	}
	now := time.Now()
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tCOHORT\tROLLOUT STATE\tSINCE\tLAST CHECK-IN\tLINK\tREPORTED UPDATE\tAGENT /status\tPROCESS\tDETAIL")
	for _, a := range agents {
		m, ok := members[a.id]
		cohort, state, since := "-", "-", "-"
		if ok {
			cohort, state, since = fmt.Sprint(m.Cohort), string(m.State), ago(now, &m.UpdatedAt)
		}
		c := checkins[a.id]
		reported := "-"
		if u := c.Update; u != nil {
			reported = fmt.Sprintf("%s %s->%s", u.State, u.Installed, u.TargetVersion)
			if u.LastError != "" {
				reported += " (" + u.LastError + ")"
			}
		}
		local := "-"
		var st struct {
			Update *struct {
				State     string `json:"state"`
				LastError string `json:"last_error"`
			} `json:"update"`
			Model struct {
				Version string `json:"version"`
			} `json:"model"`
		}
		if err := getJSON(ctx, a.api+"/status", "", &st); err != nil {
			local = "unreachable"
		} else if st.Update != nil {
			local = st.Model.Version + " " + st.Update.State
			if st.Update.LastError != "" {
				local += " (" + st.Update.LastError + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.id, cohort, state, since, ago(now, c.LastCheckinAt),
			c.Link, reported, local, a.proc.state(), m.Detail)
	}
	_ = tw.Flush()
	return b.String()
}

// ago says how long before now t was ("never": nil).
func ago(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s ago", now.Sub(*t).Round(100*time.Millisecond))
}

// agentProc is a rig-agent process of TestRolloutEndToEnd.
type agentProc struct {
	id, api string
	proc    *proc
}
