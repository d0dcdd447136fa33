package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/rollout"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// Two firmware-config digests of the form shared/rig writes.
var (
	fwA = "sha256:" + strings.Repeat("a1", 32)
	fwB = "sha256:" + strings.Repeat("b2", 32)
)

// skab1fwA is the skab-testbed rig skab-1 registered with firmware fwA.
var skab1fwA = fleetapi.RigRequest{RigID: "skab-1", RigType: "skab-testbed", FirmwareDigest: fwA}

// checkinFirmware is a skab-testbed agent's check-in reporting installed
// and the firmware digest fw ("": an agent older than the field), reading
// bundle formats 1 and 2; it returns the offer answered.
func (e *env) checkinFirmware(m member, installed, fw string) *cloudapi.Offer {
	e.t.Helper()
	req := cloudapi.CheckinRequest{AgentID: m.agent, RigID: m.rig, RigType: "skab-testbed", Time: time.Now().UTC(),
		Model: &diag.ModelRef{Version: installed}, FirmwareDigest: fw, BundleFormats: &cloudapi.BundleFormats{Min: 1, Max: 2}}
	return e.offer(m, req)
}

// mismatchedRigs runs a pass of a rollout engine on e's store and
// returns its gauge rig_cloud_rigs_firmware_mismatched.
func (e *env) mismatchedRigs() float64 {
	e.t.Helper()
	eng := rollout.NewEngine(e.st, rollout.Options{})
	_, err := eng.Tick(context.Background())
	require.NoError(e.t, err)
	reg := prometheus.NewRegistry()
	reg.MustRegister(eng)
	mfs, err := reg.Gather()
	require.NoError(e.t, err)
	for _, mf := range mfs {
		if mf.GetName() == "rig_cloud_rigs_firmware_mismatched" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	e.t.Fatal("no rig_cloud_rigs_firmware_mismatched")
	return 0
}

func (e *env) rigStatus(token, rig string) fleetapi.RigStatus {
	e.t.Helper()
	r := e.do("GET", "/v1/rigs/"+rig+"/status", token, nil)
	require.Equal(e.t, 200, r.code, "%s", r.body)
	var st fleetapi.RigStatus
	r.decode(e.t, &st)
	return st
}

// The firmware digest an agent reports is stored and shown in its rig's
// status with the time it was first reported; a rig whose registered
// firmware_digest differs is flagged (and counted in a metric); an
// invalid digest is refused with the field named.
func TestCheckinFirmwareDigestStatus(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	acme := e.tenant("acme")
	m := e.enrollAgent(acme, skab1fwA, "agent-1", nil)

	// Never checked in: nothing reported, nothing flagged.
	st := e.rigStatus(acme.viewer, "skab-1")
	require.Len(t, st.Agents, 1)
	assert.Empty(t, st.Agents[0].ReportedFirmwareDigest)
	assert.False(t, st.FirmwareMismatch)

	// The registered firmware.
	e.checkinFirmware(m, "1.0.0", fwA)
	st = e.rigStatus(acme.viewer, "skab-1")
	a := st.Agents[0]
	assert.Equal(t, fwA, a.ReportedFirmwareDigest)
	require.NotNil(t, a.FirmwareSince)
	assert.False(t, a.FirmwareMismatch)
	assert.False(t, st.FirmwareMismatch)
	since := *a.FirmwareSince
	assert.Zero(t, e.metric("rig_cloud_checkin_firmware_mismatches_total"))

	// Again: the same since.
	e.checkinFirmware(m, "1.0.0", fwA)
	st = e.rigStatus(acme.viewer, "skab-1")
	assert.True(t, since.Equal(*st.Agents[0].FirmwareSince))

	// The firmware changed: flagged, a new since, counted.
	e.checkinFirmware(m, "1.0.0", fwB)
	st = e.rigStatus(acme.viewer, "skab-1")
	a = st.Agents[0]
	assert.Equal(t, fwB, a.ReportedFirmwareDigest)
	assert.True(t, a.FirmwareMismatch)
	assert.True(t, st.FirmwareMismatch)
	require.NotNil(t, a.FirmwareSince)
	assert.True(t, a.FirmwareSince.After(since), "%s after %s", a.FirmwareSince, since)
	assert.Equal(t, 1.0, e.metric("rig_cloud_checkin_firmware_mismatches_total"))
	r := e.do("GET", "/v1/rigs/skab-1/status", acme.viewer, nil)
	assert.Contains(t, string(r.body), `"reported_firmware_digest":"`+fwB+`"`)
	assert.Contains(t, string(r.body), `"firmware_mismatch":true`)

	// A check-in without the field says nothing about the firmware
	// (absent means unknown: an agent leaving it out for an hour after
	// an older replica refused it): the last report and its since are
	// kept, still flagged, and nothing more is counted.
	since = *a.FirmwareSince
	e.checkinFirmware(m, "1.0.0", "")
	st = e.rigStatus(acme.viewer, "skab-1")
	assert.Equal(t, fwB, st.Agents[0].ReportedFirmwareDigest)
	require.NotNil(t, st.Agents[0].FirmwareSince)
	assert.True(t, since.Equal(*st.Agents[0].FirmwareSince), "%s, want %s", st.Agents[0].FirmwareSince, since)
	assert.True(t, st.FirmwareMismatch)
	assert.Equal(t, 1.0, e.metric("rig_cloud_checkin_firmware_mismatches_total"))
	// Then the same digest again: the same since.
	e.checkinFirmware(m, "1.0.0", fwB)
	st = e.rigStatus(acme.viewer, "skab-1")
	assert.True(t, since.Equal(*st.Agents[0].FirmwareSince), "%s, want %s", st.Agents[0].FirmwareSince, since)

	// A rig without a registered digest: never flagged.
	other := e.skabAgent(acme, "skab-2", "agent-2")
	e.checkinFirmware(other, "1.0.0", fwB)
	st = e.rigStatus(acme.viewer, "skab-2")
	assert.Equal(t, fwB, st.Agents[0].ReportedFirmwareDigest)
	assert.False(t, st.FirmwareMismatch)
	assert.Equal(t, 2.0, e.metric("rig_cloud_checkin_firmware_mismatches_total"))

	// A digest of another form is refused, the field named.
	r = e.gz(cloudapi.PathCheckin, m.cred, cloudapi.CheckinRequest{AgentID: m.agent, RigID: m.rig, RigType: "skab-testbed",
		Time: time.Now().UTC(), FirmwareDigest: "firmware of march"})
	require.Equal(t, 400, r.code, "%s", r.body)
	p := r.problem(t)
	require.Len(t, p.Errors, 1)
	assert.Equal(t, "/firmware_digest", p.Errors[0].Pointer)
}

// A rig's registered firmware digest is one of the form agents report
// (or none): another form ("v1.2", uppercase hex) would match no report
// and flag the rig for good, so it is refused naming the field, at
// creation and by PATCH /v1/rigs/{rig}, which corrects it (an operator's,
// of the caller's organisation): the rig's flag then clears.
func TestRigFirmwareDigestRegistered(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	acme, other := e.tenant("acme"), e.tenant("other")
	for _, bad := range []string{"v1.2", strings.ToUpper(fwA), fwA[:40], "sha256:" + strings.Repeat("g", 64), fwA + "\n"} {
		r := e.do("POST", "/v1/rigs", acme.operator, fleetapi.RigRequest{RigID: "skab-bad", RigType: "skab-testbed", FirmwareDigest: bad})
		require.Equal(t, 400, r.code, "%q: %s", bad, r.body)
		p := r.problem(t)
		assert.Equal(t, cloudapi.ProblemInvalidBody, p.Type)
		require.Len(t, p.Errors, 1, "%q", bad)
		assert.Equal(t, "/firmware_digest", p.Errors[0].Pointer)
		r = e.do("PATCH", "/v1/rigs/"+acme.rig, acme.operator, map[string]any{"firmware_digest": bad})
		require.Equal(t, 400, r.code, "%q: %s", bad, r.body)
		require.Len(t, r.problem(t).Errors, 1)
		assert.Equal(t, "/firmware_digest", r.problem(t).Errors[0].Pointer)
	}
	r := e.do("GET", "/v1/rigs/skab-bad", acme.viewer, nil)
	assert.Equal(t, 404, r.code, "%s", r.body)

	m := e.enrollAgent(acme, skab1fwA, "agent-1", nil)
	e.checkinFirmware(m, "1.0.0", fwB)
	require.True(t, e.rigStatus(acme.viewer, "skab-1").FirmwareMismatch)
	// Another organisation's mismatched rig counts in the gauge too.
	r = e.do("PATCH", "/v1/rigs/"+other.rig, other.operator, fleetapi.RigEdit{FirmwareDigest: &fwA})
	require.Equal(t, 200, r.code, "%s", r.body)
	e.checkinFirmware(member{agent: other.agent, rig: other.rig, cred: other.cred}, "1.0.0", fwB)
	assert.Equal(t, 2.0, e.mismatchedRigs())

	// Refused: no field, a viewer, another organisation (404), no such rig.
	r = e.do("PATCH", "/v1/rigs/skab-1", acme.operator, map[string]any{})
	require.Equal(t, 400, r.code, "%s", r.body)
	assert.Equal(t, "/firmware_digest", r.problem(t).Errors[0].Pointer)
	r = e.do("PATCH", "/v1/rigs/skab-1", acme.viewer, fleetapi.RigEdit{FirmwareDigest: &fwB})
	require.Equal(t, 403, r.code, "%s", r.body)
	r = e.do("PATCH", "/v1/rigs/skab-1", other.operator, fleetapi.RigEdit{FirmwareDigest: &fwB})
	require.Equal(t, 404, r.code, "%s", r.body)
	assert.Equal(t, cloudapi.ProblemNotFound, r.problem(t).Type)
	r = e.do("PATCH", "/v1/rigs/nope", acme.operator, fleetapi.RigEdit{FirmwareDigest: &fwB})
	require.Equal(t, 404, r.code, "%s", r.body)
	assert.Equal(t, fwA, e.rigStatus(acme.viewer, "skab-1").FirmwareDigest, "unchanged")

	// Corrected: the flag clears.
	r = e.do("PATCH", "/v1/rigs/skab-1", acme.operator, fleetapi.RigEdit{FirmwareDigest: &fwB})
	require.Equal(t, 200, r.code, "%s", r.body)
	var rig fleetapi.Rig
	r.decode(t, &rig)
	assert.Equal(t, fleetapi.Rig{RigID: "skab-1", RigType: "skab-testbed", FirmwareDigest: fwB, CreatedAt: rig.CreatedAt}, rig)
	st := e.rigStatus(acme.viewer, "skab-1")
	assert.Equal(t, fwB, st.FirmwareDigest)
	assert.False(t, st.FirmwareMismatch)
	assert.False(t, st.Agents[0].FirmwareMismatch)
	assert.Equal(t, 1.0, e.mismatchedRigs(), "the gauge goes down")
	// Its firmware put back (other's agent reports the registered one): cleared.
	e.checkinFirmware(member{agent: other.agent, rig: other.rig, cred: other.cred}, "1.0.0", fwA)
	assert.Equal(t, 0.0, e.mismatchedRigs())

	// "" unregisters it: never flagged.
	r = e.do("PATCH", "/v1/rigs/skab-1", acme.operator, fleetapi.RigEdit{FirmwareDigest: new(string)})
	require.Equal(t, 200, r.code, "%s", r.body)
	st = e.rigStatus(acme.viewer, "skab-1")
	assert.Empty(t, st.FirmwareDigest)
	assert.False(t, st.FirmwareMismatch)
}

// A revoked agent keeps its own flag, but does not flag its rig: its
// report is stale, and it runs nothing the cloud hears of.
func TestRevokedAgentFirmwareMismatch(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	acme := e.tenant("acme")
	m := e.enrollAgent(acme, skab1fwA, "agent-1", nil)
	e.checkinFirmware(m, "1.0.0", fwB)
	require.True(t, e.rigStatus(acme.viewer, "skab-1").FirmwareMismatch)
	assert.Equal(t, 1.0, e.mismatchedRigs())

	require.Equal(t, 204, e.do("POST", "/v1/agents/agent-1/revoke", acme.operator, nil).code)
	assert.Equal(t, 0.0, e.mismatchedRigs(), "a revoked agent counts its rig")
	st := e.rigStatus(acme.viewer, "skab-1")
	require.Len(t, st.Agents, 1)
	assert.Equal(t, fleetapi.LinkRevoked, st.Agents[0].Link)
	assert.True(t, st.Agents[0].FirmwareMismatch, "the agent's own flag is kept")
	assert.False(t, st.FirmwareMismatch, "a revoked agent flags its rig")
}

// A rollout offers a release only to agents that report the firmware
// config its bundle was made for (or none: an agent older than the
// field): one that reports another is incompatible from the start, with
// the reason, and is offered the release once it reports the right one.
func TestRolloutFirmwareDigest(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	acme := e.tenant("acme")
	relTok := e.releaseToken()
	dir := testBundle(t, "1.0.0")
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	fw := man.ConfigDigest
	require.True(t, cloudapi.ValidDigest(fw), fw)
	require.NotEqual(t, fw, fwB)
	v1 := e.publish(tr, relTok, dir)

	match, other, none := e.skabAgent(acme, "skab-match", "agent-match"), e.skabAgent(acme, "skab-other", "agent-other"),
		e.skabAgent(acme, "skab-none", "agent-none")
	fresh := e.skabAgent(acme, "skab-fresh", "agent-fresh")
	e.checkinFirmware(match, "0.9.0", fw)
	e.checkinFirmware(other, "0.9.0", fwB)
	e.checkinFirmware(none, "0.9.0", "")

	ro := e.skabRollout(acme, v1)
	assert.Equal(t, fw, ro.Release.ConfigDigest)
	assert.Equal(t, 1, ro.Counts[rolloutapi.AgentIncompatible])
	got := memberState(ro, "agent-other")
	assert.Equal(t, rolloutapi.AgentIncompatible, got.State)
	assert.Equal(t, "agent runs firmware config "+fwB+", release is for "+fw, got.Detail)

	// The matching agent and the one that reports none are offered it.
	for _, m := range []member{match, none} {
		var d string
		if m == match {
			d = fw
		}
		o := e.checkinFirmware(m, "0.9.0", d)
		require.NotNil(t, o, m.agent)
		assert.Equal(t, v1, o.Target)
	}
	// The other is not.
	assert.Nil(t, e.checkinFirmware(other, "0.9.0", fwB), "not offered")
	// One that never checked in is judged at its first check-in.
	assert.Equal(t, rolloutapi.AgentOffered, memberState(ro, "agent-fresh").State)
	assert.Nil(t, e.checkinFirmware(fresh, "0.9.0", fwB), "not offered")
	ro = e.rollout(acme.viewer, ro.ID)
	assert.Equal(t, rolloutapi.AgentIncompatible, memberState(ro, "agent-fresh").State)
	assert.Equal(t, 2, ro.Counts[rolloutapi.AgentIncompatible])

	// Its firmware config put back: offered, back in its cohort.
	o := e.checkinFirmware(other, "0.9.0", fw)
	require.NotNil(t, o)
	assert.Equal(t, v1, o.Target)
	ro = e.rollout(acme.viewer, ro.ID)
	assert.Equal(t, rolloutapi.AgentOffered, memberState(ro, "agent-other").State)
	assert.Equal(t, 1, ro.Counts[rolloutapi.AgentIncompatible])
}

// A rollback offers the previous release only to agents that run its
// firmware config, and every agent that installed the release runs the
// release's: a previous release made for another config would be offered
// to none of them. So the default previous release is the newest older
// one made for the release's config, a previous release named for
// another config is refused naming both digests, and an agent a rollback
// is not offered to (its firmware changed since) says why in its detail
// instead of staying committed with nothing shown.
func TestRolloutFirmwareRollback(t *testing.T) {
	c := testCatalog()
	fw := c.Targets[rel120].ConfigDigest
	require.True(t, cloudapi.ValidDigest(fw), fw)
	require.NotEqual(t, fwB, fw)
	t110 := *c.Targets[rel110] // 1.1.0 made for another config: between 1.0.0 and 1.2.0
	t110.ConfigDigest = fwB
	c.Targets[rel110] = &t110
	e := newEnv(t, httpapi.Options{Catalog: c})
	acme := e.tenant("acme")
	m := member{agent: acme.agent, rig: acme.rig, cred: acme.cred}
	// It serves no release of the repository: the previous one is picked.
	e.checkinFW(m, "0.9.0", fw, upd("idle", "0.9.0", "", ""))

	r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120, Previous: rel110,
		Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}, SoakS: 60})
	require.Equal(t, 422, r.code, "%s", r.body)
	p := r.problem(t)
	assert.Equal(t, httpapi.ProblemRolloutRefused, p.Type)
	assert.Contains(t, p.Detail, `previous release "`+rel110+`" is for firmware config `+fwB+`, the release "`+rel120+`" for `+fw)

	r = e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120,
		Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}, SoakS: 60})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	require.NotNil(t, ro.Previous)
	assert.Equal(t, rel100, ro.Previous.Target, "1.1.0 is for another firmware config: skipped")
	assert.Equal(t, fw, ro.Previous.ConfigDigest)

	o := e.checkinFW(m, "0.9.0", fw, upd("idle", "0.9.0", "", ""))
	require.NotNil(t, o)
	require.Equal(t, rel120, o.Target)
	committed := upd("committed", "1.2.0", "", "")
	committed.Rollout = ro.ID
	e.checkinFW(m, "1.2.0", fw, committed)
	require.Equal(t, rolloutapi.AgentCommitted, memberState(e.rollout(acme.viewer, ro.ID), m.agent).State)
	require.Equal(t, rolloutapi.RolledBack, e.act(acme.operator, ro.ID, store.ActionRollback, 200).State)

	// Its firmware config changed since it installed 1.2.0: 1.0.0 does
	// not fit it, and the rollout says so.
	assert.Nil(t, e.checkinFW(m, "1.2.0", fwB, committed), "rollback to a release for another config offered")
	st := memberState(e.rollout(acme.viewer, ro.ID), m.agent)
	assert.Equal(t, rolloutapi.AgentCommitted, st.State)
	assert.Equal(t, "rollback to 1.0.0 not offered: agent runs firmware config "+fwB+", release is for "+fw, st.Detail)

	// Its config put back: offered the rollback.
	o = e.checkinFW(m, "1.2.0", fw, committed)
	require.NotNil(t, o)
	assert.Equal(t, cloudapi.Offer{Target: rel100, Version: "1.0.0", Rollout: ro.ID}, *o)
	assert.Empty(t, memberState(e.rollout(acme.viewer, ro.ID), m.agent).Detail, "the stale reason is cleared")

	// Rolled back, then its firmware changes again: nothing to say, it
	// has rolled back.
	back := upd("idle", "1.0.0", "", "")
	back.Rollout = ro.ID
	e.checkinFW(m, "1.0.0", fw, back)
	require.Equal(t, rolloutapi.AgentRolledBack, memberState(e.rollout(acme.viewer, ro.ID), m.agent).State)
	assert.Nil(t, e.checkinFW(m, "1.0.0", fwB, back))
	st = memberState(e.rollout(acme.viewer, ro.ID), m.agent)
	assert.Equal(t, rolloutapi.AgentRolledBack, st.State)
	assert.Empty(t, st.Detail)
}

// A failed agent's detail is why it failed: a rollback that is not
// offered to it (its firmware changed since) leaves that reason as it
// is, and the reason outlives its firmware config being put back. A
// failed reinstall of the previous release keeps its own reason too.
func TestRolloutFirmwareRollbackFailedDetail(t *testing.T) {
	e := newEnv(t, httpapi.Options{Catalog: testCatalog()})
	fw := testCatalog().Targets[rel120].ConfigDigest
	require.NotEqual(t, fwB, fw)
	acme := e.tenant("acme")
	m := member{agent: acme.agent, rig: acme.rig, cred: acme.cred}
	e.checkinFW(m, "0.9.0", fw, upd("idle", "0.9.0", "", ""))
	r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120, Previous: rel100,
		Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}, SoakS: 60})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	o := e.checkinFW(m, "0.9.0", fw, upd("idle", "0.9.0", "", ""))
	require.NotNil(t, o)
	require.Equal(t, rel120, o.Target)

	const why = "sha mismatch on download"
	failed := upd("failed", "0.9.0", rel120, why)
	failed.Rollout = ro.ID
	e.checkinFW(m, "0.9.0", fw, failed)
	st := memberState(e.rollout(acme.viewer, ro.ID), m.agent)
	require.Equal(t, rolloutapi.AgentFailed, st.State)
	require.Equal(t, why, st.Detail)
	require.Equal(t, rolloutapi.RolledBack, e.act(acme.operator, ro.ID, store.ActionRollback, 200).State)

	// Its firmware config changed: the rollback is not offered, and the
	// failure reason stays.
	assert.Nil(t, e.checkinFW(m, "0.9.0", fwB, failed))
	st = memberState(e.rollout(acme.viewer, ro.ID), m.agent)
	assert.Equal(t, rolloutapi.AgentFailed, st.State)
	assert.Equal(t, why, st.Detail, "the failure reason replaced")

	// Put back: offered the rollback, still failed with its reason.
	o = e.checkinFW(m, "0.9.0", fw, failed)
	require.NotNil(t, o)
	assert.Equal(t, rel100, o.Target)
	st = memberState(e.rollout(acme.viewer, ro.ID), m.agent)
	assert.Equal(t, rolloutapi.AgentFailed, st.State)
	assert.Equal(t, why, st.Detail, "the failure reason lost")

	// Its reinstall of 1.0.0 fails, and its firmware changes again: the
	// reinstall's reason is shown, and stays.
	const whyBack = "disk full"
	failedBack := upd("failed", "0.9.0", rel100, whyBack)
	failedBack.Rollout = ro.ID
	for range 2 {
		assert.Nil(t, e.checkinFW(m, "0.9.0", fwB, failedBack))
		st = memberState(e.rollout(acme.viewer, ro.ID), m.agent)
		assert.Equal(t, rolloutapi.AgentFailed, st.State)
		assert.Equal(t, whyBack, st.Detail)
	}
}

// The default previous release is one the selected agents serve only
// when it is made for the release's firmware config: agents serving
// 1.1.0, made for another, get 1.0.0 (the fallback), and the warning
// says why it is a fallback rather than that they serve no older release.
func TestRolloutDefaultPreviousServedOtherConfig(t *testing.T) {
	c := testCatalog()
	t110 := *c.Targets[rel110]
	t110.ConfigDigest = fwB
	c.Targets[rel110] = &t110
	e := newEnv(t, httpapi.Options{Catalog: c})
	acme := e.tenant("acme")
	m := member{agent: acme.agent, rig: acme.rig, cred: acme.cred}
	e.offer(m, cloudapi.CheckinRequest{AgentID: m.agent, RigID: m.rig, RigType: "zema-testrig", Time: time.Now().UTC(),
		Model: &diag.ModelRef{Version: "1.1.0", Digest: t110.ManifestDigest}, FirmwareDigest: fwB})

	r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	require.NotNil(t, ro.Previous)
	assert.Equal(t, rel100, ro.Previous.Target, "the served 1.1.0 is for another firmware config")
	require.Len(t, ro.Warnings, 1)
	assert.Contains(t, ro.Warnings[0], "previous release "+rel100+" (version 1.0.0) is a fallback: "+
		"the selected agents serve no older release made for the release's firmware config")
	assert.NotContains(t, ro.Warnings[0], "no older release of the repository")
}
