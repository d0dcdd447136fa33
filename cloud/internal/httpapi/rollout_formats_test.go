package httpapi_test

import (
	"context"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/releases"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// skabAgent makes a skab-testbed rig and enrolls an agent for it.
func (e *env) skabAgent(tn *tenant, rig, agent string) member {
	e.t.Helper()
	return e.enrollAgent(tn, fleetapi.RigRequest{RigID: rig, RigType: "skab-testbed"}, agent, nil)
}

// postSkabRollout asks to roll release out to every skab-testbed rig of
// tn, in one cohort soaking 60 s, and returns the answer.
func (e *env) postSkabRollout(tn *tenant, release string) resp {
	e.t.Helper()
	return e.do("POST", "/v1/rollouts", tn.operator, rolloutapi.CreateRequest{Release: release,
		Selection: rolloutapi.Selection{RigType: "skab-testbed"}, Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}, SoakS: 60})
}

// skabRollout is postSkabRollout, which must succeed; it returns the
// rollout created.
func (e *env) skabRollout(tn *tenant, release string) rolloutapi.Rollout {
	e.t.Helper()
	r := e.postSkabRollout(tn, release)
	require.Equal(e.t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(e.t, &ro)
	return ro
}

// checkinFormats is a skab-testbed agent's check-in reporting installed,
// upd and the bundle formats it reads (nil: an agent older than the
// field); it returns the offer answered.
func (e *env) checkinFormats(m member, installed string, upd *cloudapi.UpdateStatus, formats *cloudapi.BundleFormats) *cloudapi.Offer {
	e.t.Helper()
	req := cloudapi.CheckinRequest{AgentID: m.agent, RigID: m.rig, RigType: "skab-testbed", Time: time.Now().UTC(),
		Model: &diag.ModelRef{Version: installed}, Update: upd, BundleFormats: formats}
	return e.offer(m, req)
}

func memberState(ro rolloutapi.Rollout, agent string) rolloutapi.Member {
	for _, m := range ro.AgentStates {
		if m.AgentID == agent {
			return m
		}
	}
	return rolloutapi.Member{}
}

// A rollout offers a release only to agents that read its bundle's
// manifest format, read from the published archive: an agent that does
// not say which it reads (older than bundle_formats: format 1 only) is
// offered a format-1 release but not a format-2 one; it shows as
// incompatible with the reason, neither fails nor holds up the cohorts,
// and is offered the release once it reports reading the format. An
// agent that never checked in is judged at its first check-in.
func TestRolloutBundleFormats(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	acme := e.tenant("acme")
	ctx := context.Background()
	relTok := e.releaseToken()
	publish := func(version string, format int) string {
		dir := testBundle(t, version)
		if format == 1 {
			m, err := bundle.Load(dir)
			require.NoError(t, err)
			m.FormatVersion = 1
			for i := range m.Models {
				m.Models[i].Thresholds = nil
			}
			require.NoError(t, bundle.Write(dir, m))
		}
		return e.publish(tr, relTok, dir)
	}
	v1, v2 := publish("1.0.0", 1), publish("1.1.0", 2)
	for p, want := range map[string]int{v1: 1, v2: 2} {
		got, err := tr.svc.BundleFormat(ctx, p)
		require.NoError(t, err)
		assert.Equal(t, want, got, p)
	}

	old, upgraded := e.skabAgent(acme, "skab-old", "agent-old"), e.skabAgent(acme, "skab-new", "agent-new")
	reads12 := &cloudapi.BundleFormats{Min: 1, Max: 2}
	e.checkinFormats(old, "0.9.0", nil, nil)
	e.checkinFormats(upgraded, "0.9.0", nil, reads12)

	// A format-1 release: offered to both.
	ro := e.skabRollout(acme, v1)
	assert.Equal(t, 1, ro.Release.BundleFormat)
	assert.Equal(t, 0, ro.Counts[rolloutapi.AgentIncompatible])
	assert.Equal(t, 2, ro.Counts[rolloutapi.AgentOffered])
	for _, m := range []member{old, upgraded} {
		var f *cloudapi.BundleFormats
		if m == upgraded {
			f = reads12
		}
		o := e.checkinFormats(m, "0.9.0", nil, f)
		require.NotNil(t, o, m.agent)
		assert.Equal(t, v1, o.Target)
		e.checkinFormats(m, "1.0.0", nil, f)
	}
	assert.Equal(t, []string{"1:completed:0"}, events(tick(t, e.st, time.Now().Add(2*time.Minute))))

	// A format-2 release: the old agent is incompatible from the start;
	// one that never checked in is offered it until its first check-in
	// says otherwise.
	fresh := e.skabAgent(acme, "skab-fresh", "agent-fresh")
	ro = e.skabRollout(acme, v2)
	require.NotNil(t, ro.Previous)
	assert.Equal(t, 2, ro.Release.BundleFormat)
	assert.Equal(t, 1, ro.Previous.BundleFormat)
	assert.Equal(t, 1, ro.Counts[rolloutapi.AgentIncompatible])
	assert.Equal(t, 1, ro.Cohorts[0].Counts[rolloutapi.AgentIncompatible])
	assert.Equal(t, rolloutapi.AgentOffered, memberState(ro, "agent-fresh").State)
	assert.Nil(t, e.checkinFormats(fresh, "1.0.0", nil, nil), "not offered")
	assert.Equal(t, rolloutapi.AgentIncompatible, memberState(e.rollout(acme.viewer, ro.ID), "agent-fresh").State)
	want := rolloutapi.Member{AgentID: "agent-old", RigID: "skab-old", State: rolloutapi.AgentIncompatible,
		Detail: "agent reads bundle formats 1..1, release is format 2"}
	got := memberState(ro, "agent-old")
	got.UpdatedAt, got.LastCheckinAt = time.Time{}, nil // when, not what
	assert.Equal(t, want, got)
	assert.Nil(t, e.checkinFormats(old, "1.0.0", nil, nil), "not offered")
	o := e.checkinFormats(upgraded, "1.0.0", nil, reads12)
	require.NotNil(t, o)
	assert.Equal(t, v2, o.Target)
	// An old agent that installs without offers fails on it: still
	// incompatible, not a failure (1 of 2 would halt at 0.1).
	fail := &cloudapi.UpdateStatus{State: "failed", Installed: "1.0.0", Target: v2, Attempts: 1,
		LastError: "manifest format_version 2 is not supported", Changed: time.Now().UTC()}
	assert.Nil(t, e.checkinFormats(old, "1.0.0", fail, nil))
	assert.Empty(t, events(tick(t, e.st, time.Now())), "no halt")
	ro = e.rollout(acme.viewer, ro.ID)
	assert.Equal(t, rolloutapi.Running, ro.State)
	assert.Equal(t, 0, ro.Counts[rolloutapi.AgentFailed])
	assert.Equal(t, 2, ro.Counts[rolloutapi.AgentIncompatible])
	// The compatible agent commits: the cohort, and the rollout,
	// complete without the incompatible one.
	e.checkinFormats(upgraded, "1.1.0", nil, reads12)
	assert.Equal(t, []string{"2:completed:0"}, events(tick(t, e.st, time.Now().Add(2*time.Minute))))
	ro = e.rollout(acme.viewer, ro.ID)
	assert.Equal(t, rolloutapi.Completed, ro.State)
	assert.Contains(t, ro.Reason, "1 of 1 compatible agents (2 more incompatible: they do not read the release's bundle format or it does not fit them, not counted)")
	assert.Equal(t, 2, ro.Counts[rolloutapi.AgentIncompatible])

	// The old agent upgraded: it reads format 2 now and is offered the
	// release the completed rollout goes on offering.
	o = e.checkinFormats(old, "1.0.0", nil, reads12)
	require.NotNil(t, o)
	assert.Equal(t, v2, o.Target)
	ro = e.rollout(acme.viewer, ro.ID)
	assert.Equal(t, rolloutapi.AgentOffered, memberState(ro, "agent-old").State)
	assert.Empty(t, memberState(ro, "agent-old").Detail)
	assert.Equal(t, 1, ro.Counts[rolloutapi.AgentIncompatible])
}

// spoilArchive overwrites the stored archive of release path p (each
// name it is kept under) with bytes that are no tar.gz.
func spoilArchive(t *testing.T, tr *testRepo, p string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(tr.dir, "targets"), func(f string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(f, path.Base(p)) {
			n++
			err = os.WriteFile(f, []byte("not a tar.gz"), 0o600)
		}
		return err
	})
	require.NoError(t, err)
	require.NotZero(t, n, "no archive of %s", p)
}

// A previous release whose archive cannot be read for its manifest (here
// no tar.gz at all) no longer makes creating a rollout of a new release
// 500: the previous release is taken as format 1 with a warning. A
// release rolled out whose own archive cannot be read is refused, 422
// rollout-refused naming the manifest, not 500.
func TestRolloutUnreadableArchives(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	acme := e.tenant("acme")
	ctx := context.Background()
	relTok := e.releaseToken()
	publish := func(version string) string {
		return e.publish(tr, relTok, testBundle(t, version))
	}
	v1, v2, v3 := publish("1.0.0"), publish("1.1.0"), publish("1.2.0")
	e.skabAgent(acme, "skab-1", "agent-1")

	spoilArchive(t, tr, v3)
	_, err := tr.svc.BundleFormat(ctx, v3)
	require.ErrorIs(t, err, releases.ErrUnreadable)
	r := e.postSkabRollout(acme, v3)
	require.Equal(t, 422, r.code, "%s", r.body)
	pr := r.problem(t)
	assert.Equal(t, httpapi.ProblemRolloutRefused, pr.Type)
	assert.Contains(t, pr.Detail, "manifest")

	spoilArchive(t, tr, v1)
	r = e.postSkabRollout(acme, v2)
	require.Equal(t, 201, r.code, "an unreadable previous release: %s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	require.NotNil(t, ro.Previous)
	assert.Equal(t, v1, ro.Previous.Target)
	assert.Equal(t, 1, ro.Previous.BundleFormat, "taken as format 1")
	assert.Equal(t, 2, ro.Release.BundleFormat)
}

// An agent that has installed the release (committed) or failed on it
// and later checks in reading fewer formats (an older binary started
// again, no bundle_formats: format 1 only) is offered nothing, but its
// state is not overwritten with incompatible: the commit keeps its
// committed_at, the failure stays a failure. Only agents that installed
// nothing yet (pending, offered) are marked incompatible.
func TestRolloutIncompatibleOnlyBeforeInstall(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	acme := e.tenant("acme")
	ctx := context.Background()
	relTok := e.releaseToken()
	rel := e.publish(tr, relTok, testBundle(t, "1.1.0"))
	format, err := tr.svc.BundleFormat(ctx, rel)
	require.NoError(t, err)
	require.Equal(t, 2, format, "the test bundle is format 2")

	done, failing, waiting := e.skabAgent(acme, "skab-1", "agent-done"), e.skabAgent(acme, "skab-2", "agent-failing"), e.skabAgent(acme, "skab-3", "agent-waiting")
	reads12 := &cloudapi.BundleFormats{Min: 1, Max: 2}
	for _, m := range []member{done, failing, waiting} {
		e.checkinFormats(m, "1.0.0", nil, reads12)
	}
	r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel,
		Selection: rolloutapi.Selection{RigType: "skab-testbed"}, Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}, SoakS: 3600,
		FailureThreshold: 0.9})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	for _, m := range []member{done, failing, waiting} {
		require.NotNil(t, e.checkinFormats(m, "1.0.0", nil, reads12), m.agent)
	}
	e.checkinFormats(done, "1.1.0", nil, reads12)
	fail := &cloudapi.UpdateStatus{State: "failed", Installed: "1.0.0", Target: rel, Attempts: 1,
		LastError: "canary: too many anomalies", Changed: time.Now().UTC()}
	e.checkinFormats(failing, "1.0.0", fail, reads12)
	ro = e.rollout(acme.viewer, ro.ID)
	require.Equal(t, rolloutapi.AgentCommitted, memberState(ro, "agent-done").State)
	committedAt := memberState(ro, "agent-done").CommittedAt
	require.NotNil(t, committedAt)
	require.Equal(t, rolloutapi.AgentFailed, memberState(ro, "agent-failing").State)

	// Each checks in reading format 1 only.
	assert.Nil(t, e.checkinFormats(done, "1.1.0", nil, nil), "offered nothing")
	assert.Nil(t, e.checkinFormats(failing, "1.0.0", fail, nil), "offered nothing")
	assert.Nil(t, e.checkinFormats(waiting, "1.0.0", nil, nil), "offered nothing")
	ro = e.rollout(acme.viewer, ro.ID)
	got := memberState(ro, "agent-done")
	assert.Equal(t, rolloutapi.AgentCommitted, got.State, "a commit stays a commit")
	if assert.NotNil(t, got.CommittedAt) {
		assert.True(t, committedAt.Equal(*got.CommittedAt), "committed_at kept")
	}
	got = memberState(ro, "agent-failing")
	assert.Equal(t, rolloutapi.AgentFailed, got.State, "a failure stays a failure")
	assert.Equal(t, "canary: too many anomalies", got.Detail)
	got = memberState(ro, "agent-waiting")
	assert.Equal(t, rolloutapi.AgentIncompatible, got.State, "offered, nothing installed: left out")
	assert.Equal(t, "agent reads bundle formats 1..1, release is format 2", got.Detail)
}
