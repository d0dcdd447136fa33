package httpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// StaticCatalog is a fixed Catalog (tests and the OpenAPI examples).
type StaticCatalog struct {
	// Targets are the releases by target path.
	Targets map[string]*release.Target
	// Formats are their bundles' manifest formats by target path (a
	// release not listed: format 1).
	Formats map[string]int
}

// Releases implements Catalog.
func (c StaticCatalog) Releases(context.Context) (map[string]*release.Target, error) {
	return c.Targets, nil
}

// BundleFormat implements Catalog.
func (c StaticCatalog) BundleFormat(_ context.Context, path string) (int, error) {
	if _, ok := c.Targets[path]; !ok {
		return 0, fmt.Errorf("release %s is not in the catalog", path)
	}
	if v, ok := c.Formats[path]; ok {
		return v, nil
	}
	return 1, nil
}

// ExampleCatalog holds the releases of the OpenAPI examples: zema-testrig
// 1.0.0 and 1.1.0, both of bundle format 1.
func ExampleCatalog() StaticCatalog {
	c := StaticCatalog{Targets: map[string]*release.Target{}, Formats: map[string]int{}}
	for v, digest := range map[string]string{"1.0.0": "sha256:3f0a", "1.1.0": "sha256:77c1"} {
		t := &release.Target{FormatVersion: 1, Bundle: "zema-testrig", Version: v, RigType: "zema-testrig",
			ConfigDigest: exFirmware, ManifestDigest: digest, ExecutionProviders: []string{"cpu"},
			Hardware: []string{"amd64", "arm64"}, Precisions: []bundle.Precision{bundle.FP32, bundle.INT8}}
		c.Targets[t.Path()] = t
		c.Formats[t.Path()] = 1
	}
	return c
}

// rolloutOperations documents the rollout routes (rollouts.go). Their
// examples run on Operations' story after the agent rig-001 of rig zema-1
// checked in, with ExampleCatalog as the repository's releases: the rig is
// labelled, a rollout of 1.1.0 to it is created (one agent: one cohort),
// listed, read, paused, edited, resumed and rolled back to 1.0.0; aborting
// it then is refused.
func rolloutOperations() []Operation {
	id := Param{Name: "id", In: "path", Type: "integer", Description: "the rollout's id"}
	rig := Param{Name: "rig", In: "path", Description: "the rig's id (its firmware config's equipment id)"}
	started := exT0.Add(time.Hour)
	counts := func(offered, committed int) map[rolloutapi.AgentState]int {
		m := map[rolloutapi.AgentState]int{}
		for _, s := range rolloutapi.AgentStates {
			m[s] = 0
		}
		m[rolloutapi.AgentOffered], m[rolloutapi.AgentCommitted] = offered, committed
		return m
	}
	ro := rolloutapi.Rollout{ID: 1,
		Release: rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0", BundleFormat: 1, ManifestDigest: "sha256:77c1",
			ConfigDigest: exFirmware},
		Previous: &rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.0.0.tar.gz", Version: "1.0.0", BundleFormat: 1, ManifestDigest: "sha256:3f0a",
			ConfigDigest: exFirmware},
		RigType: "zema-testrig", Selection: rolloutapi.Selection{Labels: map[string]string{"line": "a"}},
		SuccessThreshold: 0.9, FailureThreshold: 0.1, State: rolloutapi.Running, Agents: 1, Counts: counts(1, 0),
		Cohorts:     []rolloutapi.Cohort{{Index: 0, Size: 1, SoakS: 1800, State: rolloutapi.CohortSoaking, StartedAt: &started, Counts: counts(1, 0)}},
		AgentStates: []rolloutapi.Member{{AgentID: "rig-001", RigID: "zema-1", State: rolloutapi.AgentOffered, UpdatedAt: started}},
		CreatedAt:   started, UpdatedAt: started}
	listed := ro
	listed.AgentStates = nil
	// rig-001 serves zema-2025.03, no release of the repository: the
	// default previous, 1.0.0, is the fallback, said in warnings.
	created := ro
	created.Warnings = []string{fallbackWarning(ro.Previous, false)}
	with := func(s rolloutapi.State, reason string) rolloutapi.Rollout {
		r := ro
		r.State, r.Reason, r.UpdatedAt = s, reason, started.Add(10*time.Minute)
		return r
	}
	// The paused rollout edited: failure threshold 0.5, soak 10 minutes;
	// resumed and rolled back with these settings.
	edited := func(s rolloutapi.State, reason string) rolloutapi.Rollout {
		r := with(s, reason)
		r.FailureThreshold = 0.5
		r.Cohorts = []rolloutapi.Cohort{r.Cohorts[0]}
		r.Cohorts[0].SoakS = 600
		return r
	}
	return []Operation{
		{Method: "PUT", Path: "/v1/rigs/:rig/labels", ID: "setRigLabels", Tag: "rollouts",
			Summary:     "Replace a rig's labels (rollout selections match them)",
			Description: "At most 64 labels; keys 1-64 of [A-Za-z0-9_.-], values at most 255 bytes. An empty object removes them all.",
			Auth:        AuthToken, Role: "operator", Params: []Param{rig},
			Body: rolloutapi.LabelsRequest{Labels: map[string]string{"line": "a"}}, Status: 200,
			Response: rolloutapi.RigLabels{RigID: "zema-1", Labels: map[string]string{"line": "a"}},
			Example:  Example{Path: "/v1/rigs/zema-1/labels"}},
		{Method: "POST", Path: "/v1/rollouts", ID: "createRollout", Tag: "rollouts",
			Summary: "Roll a release out to the organisation's rigs that a selection picks, cohort by cohort",
			Description: "The release is a target path of the deployment's repository (rigctl release publish prints it). " +
				"The selection picks the current agents of rigs of the release's rig type in the caller's organisation " +
				"(sites, rig ids, labels: all given must match); they are shuffled into cohorts (default 1 agent, then 10 %, 50 %, 100 %). " +
				"The first cohort is offered the release at once (the offer of the agents' check-in answers); the engine starts the next " +
				"once success_threshold of the cohort committed it and stayed on it through the soak, and halts the rollout when " +
				"failure_threshold of a started cohort failed or rolled back. previous is what a rollback offers, and must be made for " +
				"the release's firmware config (its config_digest): a rollback is offered only to agents that run the previous release's " +
				"config, and every agent that installed the release runs the release's. By default it is the release the selected agents " +
				"serve (by their last check-in's model digest, else version) when they all serve one older release of the repository made " +
				"for that config; when they serve none such, the newest older release of the same bundle made for that config that is " +
				"neither a prerelease nor the release of a rollout of the organisation that halted or was rolled back; the answer's warnings then say so, " +
				"as agents that never ran that fallback (e.g. installed from model.bundle_dir) refuse a rollback to it " +
				"(warnings are only in this answer, not stored). 422 when the release is not in the " +
				"repository, the previous one does not fit (not older, another rig type, or made for another firmware config: the detail " +
				"names both config digests), the selected agents serve several older releases (name previous), the " +
				"release is older than what selected agents serve (a downgrade: allow_downgrade, admin only, 403 otherwise), or the " +
				"selection picks no agent; 409 when a selected agent is in another active rollout; 503 without a repository.",
			Auth: AuthToken, Role: "operator",
			Body: rolloutapi.CreateRequest{Release: "zema-testrig/zema-testrig-1.1.0.tar.gz",
				Selection: rolloutapi.Selection{Labels: map[string]string{"line": "a"}}, SoakS: 1800},
			Status: 201, Response: created, Errors: []int{409, 422, 503}},
		{Method: "GET", Path: "/v1/rollouts", ID: "listRollouts", Tag: "rollouts",
			Summary: "The organisation's rollouts, newest first, with their cohorts (not their agents)",
			Auth:    AuthToken, Role: "viewer",
			Params: []Param{{Name: "limit", In: "query", Type: "integer", Max: MaxPageSize, Description: "page size (default 100)"},
				{Name: "cursor", In: "query", Description: "next_cursor of the previous page"}},
			Status: 200, Response: rolloutapi.List{Items: []rolloutapi.Rollout{listed}}},
		{Method: "GET", Path: "/v1/rollouts/:id", ID: "getRollout", Tag: "rollouts",
			Summary: "A rollout with the state of each cohort and each agent (rigctl rollout status)",
			Auth:    AuthToken, Role: "viewer", Params: []Param{id}, Status: 200, Response: ro,
			Example: Example{Path: "/v1/rollouts/1"}},
		{Method: "POST", Path: "/v1/rollouts/:id/pause", ID: "pauseRollout", Tag: "rollouts",
			Summary:     "Pause a running rollout: its offers are withdrawn and no cohort starts until it is resumed",
			Description: "Agents stop an installation that has not reached committing; committed ones keep the release. 409 unless running.",
			Auth:        AuthToken, Role: "operator", Params: []Param{id}, Status: 200,
			Response: with(rolloutapi.Paused, "pause by an operator"), Errors: []int{409}, Example: Example{Path: "/v1/rollouts/1/pause"}},
		{Method: "PATCH", Path: "/v1/rollouts/:id", ID: "editRollout", Tag: "rollouts",
			Summary: "Change a paused or halted rollout's thresholds or soak, applied once it is resumed",
			Description: "Any of success_threshold and failure_threshold (in (0, 1]) and soak_s (seconds, [0, 30 days]; it replaces the soak " +
				"of the current cohort and of every later one); a field left out is kept, and at least one must be given (400, the " +
				"invalid fields listed as at creation). The engine judges the rollout with the new settings after resume, so a rollout " +
				"halted by a threshold too strict for its cohort need not be aborted. The reason records the change, before the " +
				"previous reason. 409 unless paused or halted (the example edits the paused rollout).",
			Auth: AuthToken, Role: "operator", Params: []Param{id},
			Body:   rolloutapi.EditRequest{FailureThreshold: ptr(0.5), SoakS: ptr(600.0)},
			Status: 200, Response: edited(rolloutapi.Paused, "edit by an operator: failure_threshold 0.1 -> 0.5, soak_s 1800 -> 600 from cohort 0; pause by an operator"),
			Errors: []int{409}, Example: Example{Path: "/v1/rollouts/1"}},
		{Method: "POST", Path: "/v1/rollouts/:id/resume", ID: "resumeRollout", Tag: "rollouts",
			Summary: "Resume a paused or halted rollout",
			Description: "A halted rollout whose cohort is still at or above its failure threshold halts again at the engine's next step " +
				"(edit its thresholds first, PATCH /v1/rollouts/{id}, when they were too strict). 409 unless paused or halted.",
			Auth: AuthToken, Role: "operator", Params: []Param{id}, Status: 200,
			Response: edited(rolloutapi.Running, "resume by an operator"), Errors: []int{409}, Example: Example{Path: "/v1/rollouts/1/resume"}},
		{Method: "POST", Path: "/v1/rollouts/:id/rollback", ID: "rollbackRollout", Tag: "rollouts",
			Summary: "Fleet-level rollback: offer the previous release to every agent of a started cohort",
			Description: "Agents treat an offer older than their installed release as an explicit rollback (docs/agent-cloud-api.md). " +
				"Allowed in any state but rolled_back (final); 409 when the rollout has no previous release.",
			Auth: AuthToken, Role: "operator", Params: []Param{id}, Status: 200,
			Response: edited(rolloutapi.RolledBack, "rollback by an operator"), Errors: []int{409}, Example: Example{Path: "/v1/rollouts/1/rollback"}},
		{Method: "POST", Path: "/v1/rollouts/:id/abort", ID: "abortRollout", Tag: "rollouts",
			Summary:     "Abort a running, paused or halted rollout for good: offers end, agents keep what they installed",
			Description: "409 in any other state (the example aborts the rolled back rollout).",
			Auth:        AuthToken, Role: "operator", Params: []Param{id}, Status: 200,
			Response: with(rolloutapi.Aborted, "abort by an operator"), Errors: []int{409}, Example: Example{Path: "/v1/rollouts/1/abort", Status: 409}},
	}
}
