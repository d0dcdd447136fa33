package rollout

import (
	"fmt"
	"math"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// Planned is one cohort of a rollout being created.
type Planned struct {
	// Size counts the agents new in this cohort (>= 1).
	Size int
	Soak time.Duration
}

// Plan sizes the cohorts of specs (validated, cumulative) for n selected
// agents: cohort k covers the first min(Agents, n) or ceil(Percent * n /
// 100) agents. Cohorts that would add no agent are left out (so one
// agent makes one cohort); the last covers all n.
func Plan(specs []rolloutapi.CohortSpec, soakS float64, n int) []Planned {
	var out []Planned
	covered := 0
	for i, s := range specs {
		upTo := min(s.Agents, n)
		if s.Percent > 0 {
			upTo = min(n, int(math.Ceil(s.Percent*float64(n)/100-1e-9)))
		}
		if i == len(specs)-1 {
			upTo = n
		}
		if upTo <= covered {
			continue
		}
		soak := s.SoakS
		if soak == 0 {
			soak = soakS
		}
		out = append(out, Planned{Size: upTo - covered, Soak: seconds(soak)})
		covered = upTo
	}
	return out
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Seconds converts d to the API's soak_s.
func Seconds(d time.Duration) float64 { return d.Seconds() }

// Observed is what a check-in says about the rollout's releases.
type Observed struct {
	State  rolloutapi.AgentState
	Detail string
}

// Observe returns an agent's new state in rollout id from its check-in,
// given its state so far (prev), the rollout's release and, for a rolled
// back rollout, the previous release it now offers.
//
// With an update report (cloudapi.UpdateStatus) about the release (its
// rollout is id, or 0 from an agent that does not say, and its target,
// or target_version when it names no target, is the release's; a report
// naming another rollout, even one of the same target, is not about this
// one): downloading, verifying, staged -> downloading; canary,
// committing -> canary; failed -> failed (with last_error); incompatible
// (the agent refused the offer as not for it, nothing installed) ->
// incompatible (with last_error); rolling_back -> rolled_back. An agent serving the release -> committed. An agent
// that was committed (or in its canary) and now serves another release
// -> rolled_back.
//
// Which release an agent serves is judged by its bundle (Serves): the
// model it reports (model.digest) must have the release's manifest
// digest, so another bundle at the same version, or another build of
// it (1.1.0+retrain2), is not the release. Only when either digest is
// unknown (an agent that reports none, a rollout made before digests
// were recorded) does the version decide: the update report's installed
// version, else model.version.
//
// In a rolled back rollout, an agent serving the previous release ->
// rolled_back; a report of the previous release (in the same sense)
// incompatible -> incompatible, failed -> failed (with last_error), and a failed agent stays failed
// until it serves the previous release. Other reports of the previous
// release move nothing. Otherwise the state is kept.
func Observe(prev rolloutapi.AgentState, id int64, rel rolloutapi.Release, rolledBackTo *rolloutapi.Release, req *cloudapi.CheckinRequest) Observed {
	installed := installedVersion(req)
	u := req.Update
	if rolledBackTo != nil {
		switch {
		case Serves(req, *rolledBackTo) && !Serves(req, rel):
			return Observed{State: rolloutapi.AgentRolledBack}
		case reports(u, id, *rolledBackTo) && u.State == "incompatible":
			// The agent refuses the previous release: not its kept
			// previous bundle (or not for it); it keeps what it serves.
			return Observed{State: rolloutapi.AgentIncompatible, Detail: cloudapi.ClipText(u.LastError, cloudapi.MaxTextLen)}
		case reports(u, id, *rolledBackTo) && u.State == "failed":
			// The reinstall of the previous release failed: the agent
			// still serves what it had, and the operator must see why.
			return Observed{State: rolloutapi.AgentFailed, Detail: cloudapi.ClipText(u.LastError, cloudapi.MaxTextLen)}
		case prev == rolloutapi.AgentFailed:
			// Failed until it serves the previous release (its detail
			// kept), whatever else it reports meanwhile.
			return Observed{State: prev}
		}
	}
	if reports(u, id, rel) {
		switch u.State {
		case "downloading", "verifying", "staged":
			return Observed{State: rolloutapi.AgentDownloading}
		case "canary", "committing":
			return Observed{State: rolloutapi.AgentCanary}
		case "failed":
			return Observed{State: rolloutapi.AgentFailed, Detail: cloudapi.ClipText(u.LastError, cloudapi.MaxTextLen)}
		case "incompatible":
			// Refused as not for this agent (hardware, firmware config,
			// agent version, a downgrade to a release it never ran,
			// another bundle at the version it serves): left out of the
			// thresholds, as an agent that does not read the format.
			return Observed{State: rolloutapi.AgentIncompatible, Detail: cloudapi.ClipText(u.LastError, cloudapi.MaxTextLen)}
		case "rolling_back":
			return Observed{State: rolloutapi.AgentRolledBack, Detail: cloudapi.ClipText(u.LastError, cloudapi.MaxTextLen)}
		}
	}
	if Serves(req, rel) {
		return Observed{State: rolloutapi.AgentCommitted}
	}
	if installed != "" && prev == rolloutapi.AgentCommitted {
		d := ""
		if u != nil {
			d = cloudapi.ClipText(u.LastError, cloudapi.MaxTextLen)
		}
		return Observed{State: rolloutapi.AgentRolledBack, Detail: d}
	}
	return Observed{State: prev}
}

// installedVersion is the version check-in req says the agent serves:
// its update report's installed version, else model.version ("": none).
func installedVersion(req *cloudapi.CheckinRequest) string {
	if u := req.Update; u != nil && u.Installed != "" {
		return u.Installed
	}
	if req.Model != nil {
		return req.Model.Version
	}
	return ""
}

// Serves reports whether check-in req says the agent serves rel: the
// model it reports has rel's manifest digest; or, when either digest is
// unknown (an agent that reports none, a release recorded without one),
// its installed version (installedVersion) is rel's version.
func Serves(req *cloudapi.CheckinRequest, rel rolloutapi.Release) bool {
	if rel.ManifestDigest != "" && req.Model != nil && req.Model.Digest != "" {
		return req.Model.Digest == rel.ManifestDigest
	}
	v := installedVersion(req)
	return v != "" && v == rel.Version
}

// Incompatible says why an agent that reads the bundle formats formats
// (cloudapi.CheckinRequest.Formats) cannot install rel ("agent reads
// bundle formats 1..1, release is format 2"), or "" when it can: a
// rollout offers rel only to agents that read its bundle's format.
func Incompatible(formats cloudapi.BundleFormats, rel rolloutapi.Release) string {
	if formats.Reads(rel.BundleFormat) {
		return ""
	}
	return fmt.Sprintf("agent reads bundle formats %s, release is format %d", formats, rel.BundleFormat)
}

// Unfit says why an agent that reads the bundle formats formats and
// reports the firmware-config digest firmware (cloudapi.CheckinRequest
// FirmwareDigest; "": none reported) cannot install rel, or "" when it
// can: it does not read rel's bundle format (Incompatible), or rel's
// bundle was made for another firmware config (the agent would refuse
// it). An agent that reports no digest, or a release recorded without
// one (a rollout made before they were), is judged by the format only.
func Unfit(formats cloudapi.BundleFormats, firmware string, rel rolloutapi.Release) string {
	if why := Incompatible(formats, rel); why != "" {
		return why
	}
	if firmware != "" && rel.ConfigDigest != "" && firmware != rel.ConfigDigest {
		return fmt.Sprintf("agent runs firmware config %s, release is for %s", firmware, rel.ConfigDigest)
	}
	return ""
}

// ReportsIncompatible tells whether check-in req reports that the agent
// refused rollout id's release rel as not for it (update state
// incompatible about rel, in the sense of Observe).
func ReportsIncompatible(req *cloudapi.CheckinRequest, id int64, rel rolloutapi.Release) bool {
	return reports(req.Update, id, rel) && req.Update.State == "incompatible"
}

// reports tells whether update report u is about rollout id's release
// rel: its rollout is id (0: the agent does not say; the target decides)
// and its target is rel's (or, naming no target, its target version).
func reports(u *cloudapi.UpdateStatus, id int64, rel rolloutapi.Release) bool {
	if u == nil || (u.Rollout != 0 && u.Rollout != id) {
		return false
	}
	if u.Target != "" {
		return u.Target == rel.Target
	}
	return u.TargetVersion != "" && u.TargetVersion == rel.Version
}

// CohortStatus is a started cohort as Decide sees it.
type CohortStatus struct {
	Index     int
	Size      int
	Soak      time.Duration
	State     rolloutapi.CohortState
	StartedAt time.Time
	// Failed counts its agents failed or rolled back; Succeeded those
	// committed for at least Soak; Incompatible those that do not read
	// the release's bundle format (rolloutapi.AgentIncompatible).
	Failed, Succeeded, Incompatible int
}

// compatible is the cohort's size without its incompatible agents: the
// agents the thresholds are shares of.
func (c CohortStatus) compatible() int { return max(c.Size-c.Incompatible, 0) }

// counted says how many of the cohort's agents the thresholds count, and
// how many they leave out as incompatible.
func (c CohortStatus) counted() string {
	if c.Incompatible == 0 {
		return fmt.Sprintf("%d agents", c.Size)
	}
	return fmt.Sprintf("%d compatible agents (%d more incompatible: they do not read the release's bundle format or it does not fit them, not counted)", c.compatible(), c.Incompatible)
}

// Decision is what the engine does with a running rollout.
type Decision struct {
	// Halt: a started cohort (HaltCohort) crossed the failure threshold.
	Halt       bool
	HaltCohort int
	// Advance: the current cohort met its success threshold after its
	// soak; the next cohort starts, or, when it was the last, the rollout
	// Completes.
	Advance  bool
	Complete bool
	Reason   string
}

// Decide applies the thresholds to a running rollout's started cohorts
// (in order; the last is the current one) at now. The thresholds are
// shares of a cohort's compatible agents, its size without the agents
// that do not read the release's bundle format or that the release does
// not fit (Incompatible: they are
// offered nothing, so they can neither fail nor succeed). A cohort's
// failures halt the rollout as soon as failed/compatible >=
// failureThreshold, whatever its soak; the current cohort advances once
// its soak has passed since it started and succeeded/compatible >=
// successThreshold (a cohort of incompatible agents only advances after
// its soak: it has nothing to wait for).
func Decide(started []CohortStatus, last bool, successThreshold, failureThreshold float64, now time.Time) Decision {
	for _, c := range started {
		if n := c.compatible(); n > 0 && float64(c.Failed) >= failureThreshold*float64(n)-1e-9 && c.Failed > 0 {
			return Decision{Halt: true, HaltCohort: c.Index, Reason: fmt.Sprintf(
				"cohort %d: %d of %s failed or rolled back, at or above the failure threshold %v", c.Index, c.Failed, c.counted(), failureThreshold)}
		}
	}
	if len(started) == 0 {
		return Decision{}
	}
	c := started[len(started)-1]
	if c.State != rolloutapi.CohortSoaking || now.Before(c.StartedAt.Add(c.Soak)) {
		return Decision{}
	}
	if float64(c.Succeeded) < successThreshold*float64(c.compatible())-1e-9 {
		return Decision{}
	}
	d := Decision{Advance: true, Complete: last, Reason: fmt.Sprintf(
		"cohort %d: %d of %s committed and stayed through the %s soak, at or above the success threshold %v",
		c.Index, c.Succeeded, c.counted(), c.Soak, successThreshold)}
	return d
}
