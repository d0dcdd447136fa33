package rollout

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

func TestPlan(t *testing.T) {
	sizes := func(p []Planned) []int {
		var out []int
		for _, c := range p {
			out = append(out, c.Size)
		}
		return out
	}
	def := rolloutapi.DefaultCohorts
	for _, c := range []struct {
		n    int
		want []int
	}{{1, []int{1}}, {2, []int{1, 1}}, {10, []int{1, 4, 5}}, {20, []int{1, 1, 8, 10}}, {1000, []int{1, 99, 400, 500}}} {
		assert.Equal(t, c.want, sizes(Plan(def, 60, c.n)), "n=%d", c.n)
	}
	p := Plan([]rolloutapi.CohortSpec{{Agents: 2, SoakS: 0.5}, {Percent: 100}}, 60, 3)
	assert.Equal(t, []Planned{{Size: 2, Soak: 500 * time.Millisecond}, {Size: 1, Soak: time.Minute}}, p)
}

func TestObserve(t *testing.T) {
	rel := rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0"}
	prev := &rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.0.0.tar.gz", Version: "1.0.0"}
	upd := func(state, installed, target, lastErr string) *cloudapi.CheckinRequest {
		return &cloudapi.CheckinRequest{Model: &diag.ModelRef{Version: installed},
			Update: &cloudapi.UpdateStatus{State: state, Installed: installed, Target: target, LastError: lastErr}}
	}
	O := rolloutapi.AgentOffered
	for _, c := range []struct {
		name string
		prev rolloutapi.AgentState
		back *rolloutapi.Release
		req  *cloudapi.CheckinRequest
		want rolloutapi.AgentState
	}{
		{"no news", O, nil, upd("idle", "1.0.0", "", ""), O},
		{"downloading", O, nil, upd("downloading", "1.0.0", rel.Target, ""), rolloutapi.AgentDownloading},
		{"staged", O, nil, upd("staged", "1.0.0", rel.Target, ""), rolloutapi.AgentDownloading},
		{"canary", O, nil, upd("canary", "1.0.0", rel.Target, ""), rolloutapi.AgentCanary},
		{"failed", rolloutapi.AgentCanary, nil, upd("failed", "1.0.0", rel.Target, "canary failed"), rolloutapi.AgentFailed},
		{"another release fails", O, nil, upd("failed", "1.0.0", "x/y.tar.gz", "boom"), O},
		{"committed", rolloutapi.AgentCanary, nil, upd("committed", "1.1.0", "", ""), rolloutapi.AgentCommitted},
		{"model only", O, nil, &cloudapi.CheckinRequest{Model: &diag.ModelRef{Version: "1.1.0"}}, rolloutapi.AgentCommitted},
		{"watchdog rollback", rolloutapi.AgentCommitted, nil, upd("rolling_back", "1.1.0", rel.Target, "error rate"), rolloutapi.AgentRolledBack},
		{"back on the old one", rolloutapi.AgentCommitted, nil, upd("idle", "1.0.0", "", ""), rolloutapi.AgentRolledBack},
		{"fleet rollback done", rolloutapi.AgentCommitted, prev, upd("idle", "1.0.0", "", ""), rolloutapi.AgentRolledBack},
		{"fleet rollback pending", rolloutapi.AgentCommitted, prev, upd("idle", "1.1.0", "", ""), rolloutapi.AgentCommitted},
		// update.rollout names the rollout whose offer the agent follows.
		{"this rollout", O, nil, inRollout(upd("canary", "1.0.0", rel.Target, ""), 7), rolloutapi.AgentCanary},
		{"this rollout fails", rolloutapi.AgentCanary, nil, inRollout(upd("failed", "1.0.0", rel.Target, "boom"), 7), rolloutapi.AgentFailed},
		{"another rollout of the same target fails", rolloutapi.AgentCanary, nil, inRollout(upd("failed", "1.0.0", rel.Target, "boom"), 6), rolloutapi.AgentCanary},
		{"another rollout of the same target downloads", O, nil, inRollout(upd("downloading", "1.0.0", rel.Target, ""), 8), O},
		{"another rollout rolls back", rolloutapi.AgentCommitted, nil, inRollout(upd("rolling_back", "1.1.0", rel.Target, "error rate"), 6), rolloutapi.AgentCommitted},
		{"this rollback's download of the previous release", rolloutapi.AgentCommitted, prev, inRollout(upd("downloading", "1.1.0", prev.Target, ""), 7), rolloutapi.AgentCommitted},
		{"this rollback's reinstall of the previous release fails", rolloutapi.AgentCommitted, prev, inRollout(upd("failed", "1.1.0", prev.Target, "x"), 7), rolloutapi.AgentFailed},
		{"the reinstall fails, no rollout said", rolloutapi.AgentCommitted, prev, upd("failed", "1.1.0", prev.Target, "x"), rolloutapi.AgentFailed},
		{"the reinstall fails, by version", rolloutapi.AgentCommitted, prev, &cloudapi.CheckinRequest{Update: &cloudapi.UpdateStatus{State: "failed", Installed: "1.1.0", TargetVersion: "1.0.0"}}, rolloutapi.AgentFailed},
		{"another rollout's reinstall fails", rolloutapi.AgentCommitted, prev, inRollout(upd("failed", "1.1.0", prev.Target, "x"), 6), rolloutapi.AgentCommitted},
		{"the previous release fails in a rollout not rolled back", rolloutapi.AgentCommitted, nil, inRollout(upd("failed", "1.1.0", prev.Target, "x"), 7), rolloutapi.AgentCommitted},
		{"failed reinstall, still on the release", rolloutapi.AgentFailed, prev, upd("idle", "1.1.0", "", ""), rolloutapi.AgentFailed},
		{"failed reinstall, retrying", rolloutapi.AgentFailed, prev, inRollout(upd("canary", "1.1.0", prev.Target, ""), 7), rolloutapi.AgentFailed},
		{"failed reinstall, then reinstalled", rolloutapi.AgentFailed, prev, inRollout(upd("idle", "1.0.0", "", ""), 7), rolloutapi.AgentRolledBack},
		{"target version only", O, nil, inRollout(&cloudapi.CheckinRequest{Update: &cloudapi.UpdateStatus{State: "staged", Installed: "1.0.0", TargetVersion: "1.1.0"}}, 7), rolloutapi.AgentDownloading},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, Observe(c.prev, 7, rel, c.back, c.req).State)
		})
	}
	got := Observe(rolloutapi.AgentCommitted, 7, rel, prev, inRollout(upd("failed", "1.1.0", prev.Target, "canary of 1.0.0: agreement 0.2"), 7))
	assert.Equal(t, Observed{State: rolloutapi.AgentFailed, Detail: "canary of 1.0.0: agreement 0.2"}, got, "the detail says why the reinstall failed")
	got = Observe(rolloutapi.AgentFailed, 7, rel, prev, upd("idle", "1.1.0", "", ""))
	assert.Empty(t, got.Detail, "kept as it is: the store keeps the detail")
}

// inRollout sets req's update.rollout to id.
func inRollout(req *cloudapi.CheckinRequest, id int64) *cloudapi.CheckinRequest {
	req.Update.Rollout = id
	return req
}

func TestDecide(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	soaking := func(size, failed, ok int) CohortStatus {
		return CohortStatus{Index: 0, Size: size, Soak: time.Hour, State: rolloutapi.CohortSoaking, StartedAt: t0, Failed: failed, Succeeded: ok}
	}
	assert.Equal(t, Decision{}, Decide([]CohortStatus{soaking(10, 0, 10)}, false, 0.9, 0.1, t0.Add(59*time.Minute)), "soak not over")
	d := Decide([]CohortStatus{soaking(10, 0, 9)}, false, 0.9, 0.1, t0.Add(time.Hour))
	assert.True(t, d.Advance && !d.Complete, "%+v", d)
	assert.Equal(t, Decision{}, Decide([]CohortStatus{soaking(10, 0, 8)}, false, 0.9, 0.5, t0.Add(2*time.Hour)), "below the success threshold")
	d = Decide([]CohortStatus{soaking(10, 0, 10)}, true, 0.9, 0.1, t0.Add(time.Hour))
	assert.True(t, d.Advance && d.Complete)
	d = Decide([]CohortStatus{soaking(10, 1, 0)}, false, 0.9, 0.1, t0)
	assert.True(t, d.Halt, "failures halt at once")
	assert.Contains(t, d.Reason, "1 of 10 agents failed or rolled back")
	done := soaking(1, 1, 0)
	done.State = rolloutapi.CohortSucceeded
	d = Decide([]CohortStatus{done, {Index: 1, Size: 4, State: rolloutapi.CohortSoaking, StartedAt: t0}}, false, 0.9, 0.5, t0)
	assert.True(t, d.Halt && d.HaltCohort == 0, "a late rollback in an earlier cohort halts too")
	assert.False(t, Decide([]CohortStatus{soaking(10, 1, 0)}, false, 0.9, 0.2, t0).Halt)
}
