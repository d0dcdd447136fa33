package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/cloud/internal/rollout"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// ErrNoAgents is returned when a rollout's selection picks no agent, or
// more than rolloutapi.MaxAgents.
var ErrNoAgents = errors.New("the selection picks no agent")

// rolloutLockKey is the first key of the transaction-level advisory lock
// that serialises rollout creations of one organisation (the second is
// the organisation's id), so two creations cannot both take an agent.
const rolloutLockKey = 0x726f6c6c // "roll"

// SetRigLabels replaces the labels of org's rig (by its name) and returns
// them; ErrNotFound for a rig not in org.
func (s *Store) SetRigLabels(ctx context.Context, orgID int64, rigName string, labels map[string]string) (*rolloutapi.RigLabels, error) {
	if labels == nil {
		labels = map[string]string{}
	}
	doc, err := json.Marshal(labels)
	if err != nil {
		return nil, err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE rigs SET labels = $3 WHERE org_id = $1 AND name = $2`, orgID, rigName, doc)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, ErrNotFound
	}
	return &rolloutapi.RigLabels{RigID: rigName, Labels: labels}, nil
}

// NewRollout is a rollout to create: the request (defaults applied,
// validated) and the releases the API looked up, with their bundle
// formats (Release.BundleFormat).
type NewRollout struct {
	Request  rolloutapi.CreateRequest
	Release  rolloutapi.Release
	Previous *rolloutapi.Release
	RigType  string
	// CreatedBy is the creating token's id (0: none).
	CreatedBy int64
}

// CreateRollout selects the agents of n's selection in org, sizes the
// cohorts (rollout.Plan), and creates the rollout running, its first
// cohort started (its agents offered the release). An agent whose last
// check-in says it does not read the release's bundle format (none
// said: format 1 only), or reports a firmware-config digest that is not
// the one the release's bundle was made for (rollout.Unfit), is
// incompatible from the start, in any cohort; one that never checked in is judged at its first
// check-in (RolloutCheckin). ErrNoAgents when the
// selection picks none (or too many); ErrState when a selected agent is
// in another active (running, paused, halted) rollout.
func (s *Store) CreateRollout(ctx context.Context, orgID int64, n NewRollout) (*rolloutapi.Rollout, error) {
	r := n.Request
	sel := r.Selection
	labels := sel.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	labelDoc, err := json.Marshal(labels)
	if err != nil {
		return nil, err
	}
	selDoc, err := json.Marshal(sel)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var id int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2::int4)`, rolloutLockKey, int32(orgID)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT a.name, r.id, a.last_checkin IS NOT NULL, a.last_checkin->'bundle_formats', a.firmware_digest FROM agents a
			JOIN rigs r ON r.id = a.rig_id
			LEFT JOIN sites st ON st.id = r.site_id
			WHERE a.org_id = $1 AND a.replaced_at IS NULL AND a.revoked_at IS NULL AND r.rig_type = $2
			  AND (cardinality($3::text[]) = 0 OR st.name = ANY($3))
			  AND (cardinality($4::text[]) = 0 OR r.name = ANY($4))
			  AND r.labels @> $5::jsonb
			ORDER BY random() LIMIT $6`,
			orgID, n.RigType, nonNil(sel.Sites), nonNil(sel.Rigs), labelDoc, rolloutapi.MaxAgents+1)
		if err != nil {
			return err
		}
		type pick struct {
			name      string
			rigID     int64
			checkedIn bool
			formats   []byte // the last check-in's bundle_formats (nil: none)
			firmware  string // the last check-in's firmware_digest ("": none)
		}
		picks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pick, error) {
			var p pick
			return p, row.Scan(&p.name, &p.rigID, &p.checkedIn, &p.formats, &p.firmware)
		})
		if err != nil {
			return err
		}
		switch {
		case len(picks) == 0:
			return fmt.Errorf("%w: no current agent of a %s rig matches the selection", ErrNoAgents, n.RigType)
		case len(picks) > rolloutapi.MaxAgents:
			return fmt.Errorf("%w: more than %d agents: narrow the selection", ErrNoAgents, rolloutapi.MaxAgents)
		}
		names := make([]string, len(picks))
		for i, p := range picks {
			names[i] = p.name
		}
		var busyRollout int64
		var busyAgent string
		err = tx.QueryRow(ctx, `
			SELECT ra.rollout_id, ra.agent_name FROM rollout_agents ra JOIN rollouts ro ON ro.id = ra.rollout_id
			WHERE ro.org_id = $1 AND ro.state IN ('running', 'paused', 'halted') AND ra.agent_name = ANY($2)
			ORDER BY ra.rollout_id LIMIT 1`, orgID, names).Scan(&busyRollout, &busyAgent)
		switch {
		case err == nil:
			return fmt.Errorf("%w: agent %q is in rollout %d, which is still active: let it complete, or abort it first", ErrState, busyAgent, busyRollout)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var prevT, prevV, prevD, prevC string
		if n.Previous != nil {
			prevT, prevV, prevD, prevC = n.Previous.Target, n.Previous.Version, n.Previous.ManifestDigest, n.Previous.ConfigDigest
		}
		var createdBy *int64
		if n.CreatedBy > 0 {
			createdBy = &n.CreatedBy
		}
		prevF := 1
		if n.Previous != nil {
			prevF = max(n.Previous.BundleFormat, 1)
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO rollouts (org_id, target, version, rig_type, previous_target, previous_version, selection,
				success_threshold, failure_threshold, state, created_by, created_at, updated_at, bundle_format, previous_bundle_format,
				manifest_digest, previous_manifest_digest, config_digest, previous_config_digest)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running', $10, $11, $11, $12, $13, $14, $15, $16, $17) RETURNING id`,
			orgID, n.Release.Target, n.Release.Version, n.RigType, prevT, prevV, selDoc,
			r.SuccessThreshold, r.FailureThreshold, createdBy, now, max(n.Release.BundleFormat, 1), prevF,
			n.Release.ManifestDigest, prevD, n.Release.ConfigDigest, prevC).Scan(&id); err != nil {
			return err
		}
		plan := rollout.Plan(r.Cohorts, r.SoakS, len(picks))
		cohortOf := make([]int32, len(picks))
		rigIDs := make([]int64, len(picks))
		states := make([]string, len(picks))
		details := make([]string, len(picks))
		at := 0
		for k, c := range plan {
			state, started := string(rolloutapi.CohortPending), (*time.Time)(nil)
			if k == 0 {
				state, started = string(rolloutapi.CohortSoaking), &now
			}
			if _, err := tx.Exec(ctx, `INSERT INTO rollout_cohorts (rollout_id, idx, size, soak_ms, state, started_at) VALUES ($1, $2, $3, $4, $5, $6)`,
				id, k, c.Size, c.Soak.Milliseconds(), state, started); err != nil {
				return err
			}
			for range c.Size {
				cohortOf[at], rigIDs[at] = int32(k), picks[at].rigID
				states[at] = string(rolloutapi.AgentPending)
				if k == 0 {
					states[at] = string(rolloutapi.AgentOffered)
				}
				if why := rollout.Unfit(storedFormats(picks[at].formats), picks[at].firmware, n.Release); why != "" && picks[at].checkedIn {
					states[at], details[at] = string(rolloutapi.AgentIncompatible), why
				}
				at++
			}
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO rollout_agents (rollout_id, agent_name, rig_id, cohort, state, detail, updated_at)
			SELECT $1, u.name, u.rig, u.cohort, u.state, u.detail, $6
			FROM unnest($2::text[], $3::bigint[], $4::int4[], $5::text[], $7::text[]) AS u(name, rig, cohort, state, detail)`,
			id, names, rigIDs, cohortOf, states, now, details)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Rollout(ctx, orgID, id, true)
}

// storedFormats decodes the bundle_formats of an agent's stored last
// check-in (nil: none, or no check-in yet: what an agent that does not
// say reads, cloudapi.LegacyBundleFormats; the check-in was validated).
func storedFormats(doc []byte) cloudapi.BundleFormats {
	var f cloudapi.BundleFormats
	if len(doc) == 0 || json.Unmarshal(doc, &f) != nil || f.Min < 1 {
		return cloudapi.LegacyBundleFormats
	}
	return f
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const rolloutCols = `id, target, version, rig_type, previous_target, previous_version, selection, success_threshold,
	failure_threshold, state, reason, cohort, created_at, updated_at, bundle_format, previous_bundle_format,
	manifest_digest, previous_manifest_digest, config_digest, previous_config_digest`

func scanRollout(row pgx.Row) (*rolloutapi.Rollout, error) {
	var ro rolloutapi.Rollout
	var prevT, prevV, prevD, prevC string
	var prevF int
	var sel []byte
	err := row.Scan(&ro.ID, &ro.Release.Target, &ro.Release.Version, &ro.RigType, &prevT, &prevV, &sel,
		&ro.SuccessThreshold, &ro.FailureThreshold, &ro.State, &ro.Reason, &ro.Cohort, &ro.CreatedAt, &ro.UpdatedAt,
		&ro.Release.BundleFormat, &prevF, &ro.Release.ManifestDigest, &prevD, &ro.Release.ConfigDigest, &prevC)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if prevT != "" {
		ro.Previous = &rolloutapi.Release{Target: prevT, Version: prevV, BundleFormat: prevF, ManifestDigest: prevD, ConfigDigest: prevC}
	}
	if err := json.Unmarshal(sel, &ro.Selection); err != nil {
		return nil, fmt.Errorf("rollout %d selection: %w", ro.ID, err)
	}
	return &ro, nil
}

func newCounts() map[rolloutapi.AgentState]int {
	m := make(map[rolloutapi.AgentState]int, len(rolloutapi.AgentStates))
	for _, s := range rolloutapi.AgentStates {
		m[s] = 0
	}
	return m
}

// fill adds the cohorts with their counts (and, withAgents, every agent)
// to ro.
func (s *Store) fill(ctx context.Context, ro *rolloutapi.Rollout, withAgents bool) error {
	db := s.pool
	rows, err := db.Query(ctx, `SELECT idx, size, soak_ms, state, started_at, done_at FROM rollout_cohorts WHERE rollout_id = $1 ORDER BY idx`, ro.ID)
	if err != nil {
		return err
	}
	ro.Cohorts, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (rolloutapi.Cohort, error) {
		var c rolloutapi.Cohort
		var soakMS int64
		err := row.Scan(&c.Index, &c.Size, &soakMS, &c.State, &c.StartedAt, &c.DoneAt)
		c.SoakS = float64(soakMS) / 1000
		c.Counts = newCounts()
		return c, err
	})
	if err != nil {
		return err
	}
	rows, err = db.Query(ctx, `SELECT cohort, state, count(*) FROM rollout_agents WHERE rollout_id = $1 GROUP BY cohort, state`, ro.ID)
	if err != nil {
		return err
	}
	ro.Counts = newCounts()
	ro.Agents = 0
	var k, cnt int
	var st rolloutapi.AgentState
	_, err = pgx.ForEachRow(rows, []any{&k, &st, &cnt}, func() error {
		ro.Counts[st] += cnt
		ro.Agents += cnt
		if k >= 0 && k < len(ro.Cohorts) {
			ro.Cohorts[k].Counts[st] += cnt
		}
		return nil
	})
	if err != nil || !withAgents {
		return err
	}
	rows, err = db.Query(ctx, `
		SELECT ra.agent_name, r.name, ra.cohort, ra.state, ra.detail, ra.committed_at, ra.updated_at,
			(SELECT a.last_checkin_at FROM agents a
				WHERE a.rig_id = ra.rig_id AND a.name = ra.agent_name AND a.replaced_at IS NULL)
		FROM rollout_agents ra JOIN rigs r ON r.id = ra.rig_id WHERE ra.rollout_id = $1 ORDER BY ra.cohort, ra.agent_name`, ro.ID)
	if err != nil {
		return err
	}
	ro.AgentStates, err = pgx.CollectRows(rows, pgx.RowToStructByPos[rolloutapi.Member])
	if ro.AgentStates == nil {
		ro.AgentStates = []rolloutapi.Member{}
	}
	return err
}

// Rollout returns org's rollout id with its cohorts and, withAgents,
// every agent's state; ErrNotFound when it is not org's.
func (s *Store) Rollout(ctx context.Context, orgID, id int64, withAgents bool) (*rolloutapi.Rollout, error) {
	ro, err := scanRollout(s.pool.QueryRow(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE org_id = $1 AND id = $2`, orgID, id))
	if err != nil {
		return nil, err
	}
	return ro, s.fill(ctx, ro, withAgents)
}

// Rollouts lists org's rollouts by id, newest first, at most limit below
// id before (0: from the newest), with their cohorts but not their
// agents.
func (s *Store) Rollouts(ctx context.Context, orgID, before int64, limit int) ([]rolloutapi.Rollout, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE org_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, orgID, before, limit)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rolloutapi.Rollout, error) {
		ro, err := scanRollout(row)
		if err != nil {
			return rolloutapi.Rollout{}, err
		}
		return *ro, nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := s.fill(ctx, &out[i], false); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Rollout actions (RolloutAction).
const (
	ActionPause    = "pause"
	ActionResume   = "resume"
	ActionAbort    = "abort"
	ActionRollback = "rollback"
)

// RolloutAction applies an operator's action to org's rollout id, under
// its row lock (waiting for an engine step in progress): pause (running
// -> paused), resume (paused or halted -> running; a halted rollout whose
// failures are still above the threshold halts again at the next step),
// abort (running, paused, halted -> aborted), rollback (any state but
// rolled_back, with a previous release -> rolled_back: the previous
// release is offered to every agent of a started cohort). ErrState when
// the state does not allow it; ErrNotFound when the rollout is not org's.
func (s *Store) RolloutAction(ctx context.Context, orgID, id int64, action, reason string) (*rolloutapi.Rollout, error) {
	now := s.now().UTC()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ro, err := scanRollout(tx.QueryRow(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE org_id = $1 AND id = $2 FOR UPDATE`, orgID, id))
		if err != nil {
			return err
		}
		var to rolloutapi.State
		switch action {
		case ActionPause:
			if ro.State == rolloutapi.Running {
				to = rolloutapi.Paused
			}
		case ActionResume:
			if ro.State == rolloutapi.Paused || ro.State == rolloutapi.Halted {
				to = rolloutapi.Running
			}
		case ActionAbort:
			if ro.State.Active() {
				to = rolloutapi.Aborted
			}
		case ActionRollback:
			if ro.Previous == nil {
				return fmt.Errorf("%w: rollout %d has no previous release to roll back to", ErrState, id)
			}
			if ro.State != rolloutapi.RolledBack {
				to = rolloutapi.RolledBack
			}
		default:
			return fmt.Errorf("unknown rollout action %q", action)
		}
		if to == "" {
			return fmt.Errorf("%w: cannot %s rollout %d: it is %s", ErrState, action, id, ro.State)
		}
		if reason == "" {
			reason = action + " by an operator"
		}
		if _, err := tx.Exec(ctx, `UPDATE rollouts SET state = $2, reason = $3, updated_at = $4 WHERE id = $1`, id, to, reason, now); err != nil {
			return err
		}
		if to == rolloutapi.Running && ro.State == rolloutapi.Halted {
			// The failed cohort is judged anew: the current one soaks
			// again, an earlier one is back to succeeded.
			_, err = tx.Exec(ctx, `UPDATE rollout_cohorts SET state = CASE WHEN idx = $2 THEN 'soaking' ELSE 'succeeded' END, done_at = CASE WHEN idx = $2 THEN NULL ELSE done_at END
				WHERE rollout_id = $1 AND state = 'failed'`, id, ro.Cohort)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Rollout(ctx, orgID, id, true)
}

// maxReasonLen bounds a rollout's reason as EditRollout writes it (the
// edit, then the reason before it).
const maxReasonLen = 1024

// EditRollout changes the settings of org's rollout id, under its row
// lock, when it is paused or halted: the thresholds (the engine's Decide
// reads them from the row once the rollout is resumed) and the soak of
// the current and later cohorts. A nil field of e keeps the setting; e
// is validated by the caller. The rollout's reason records the change
// ("edit by an operator: failure_threshold 0.1 -> 0.5; " and the reason
// before it, at most maxReasonLen bytes) and updated_at is set. ErrState
// in any other state; ErrNotFound when the rollout is not org's.
func (s *Store) EditRollout(ctx context.Context, orgID, id int64, e rolloutapi.EditRequest) (*rolloutapi.Rollout, error) {
	now := s.now().UTC()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ro, err := scanRollout(tx.QueryRow(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE org_id = $1 AND id = $2 FOR UPDATE`, orgID, id))
		if err != nil {
			return err
		}
		switch ro.State {
		case rolloutapi.Paused, rolloutapi.Halted:
		case rolloutapi.Running:
			return fmt.Errorf("%w: cannot edit rollout %d: it is running: pause it first (only a paused or halted rollout's settings change)", ErrState, id)
		default:
			return fmt.Errorf("%w: cannot edit rollout %d: it is %s (only a paused or halted rollout's settings change)", ErrState, id, ro.State)
		}
		var changes []string
		if e.SuccessThreshold != nil {
			changes = append(changes, fmt.Sprintf("success_threshold %v -> %v", ro.SuccessThreshold, *e.SuccessThreshold))
		}
		if e.FailureThreshold != nil {
			changes = append(changes, fmt.Sprintf("failure_threshold %v -> %v", ro.FailureThreshold, *e.FailureThreshold))
		}
		if e.SoakS != nil {
			var soakMS int64
			if err := tx.QueryRow(ctx, `SELECT soak_ms FROM rollout_cohorts WHERE rollout_id = $1 AND idx = $2`, id, ro.Cohort).Scan(&soakMS); err != nil {
				return fmt.Errorf("rollout %d cohort %d: %w", id, ro.Cohort, err)
			}
			soak := time.Duration(*e.SoakS * float64(time.Second))
			changes = append(changes, fmt.Sprintf("soak_s %v -> %v from cohort %d", float64(soakMS)/1000, float64(soak.Milliseconds())/1000, ro.Cohort))
			if _, err := tx.Exec(ctx, `UPDATE rollout_cohorts SET soak_ms = $3 WHERE rollout_id = $1 AND idx >= $2`, id, ro.Cohort, soak.Milliseconds()); err != nil {
				return err
			}
		}
		reason := "edit by an operator: " + strings.Join(changes, ", ")
		if ro.Reason != "" {
			reason += "; " + ro.Reason
		}
		_, err = tx.Exec(ctx, `UPDATE rollouts SET success_threshold = coalesce($2, success_threshold),
			failure_threshold = coalesce($3, failure_threshold), reason = $4, updated_at = $5 WHERE id = $1`,
			id, e.SuccessThreshold, e.FailureThreshold, cloudapi.ClipText(reason, maxReasonLen), now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Rollout(ctx, orgID, id, true)
}

// RolloutCheckin records what an agent's check-in says about its
// rollout (rollout.Observe) and returns the offer for it (nil: none).
// An agent its rollout's selection would pick today but did not when it
// was made joins it first (joinLate).
// The agent's rollout is the newest of its organisation that selected it
// (by agent id) on rigID, the rig it is enrolled on now (an agent id
// enrolled again on another rig leaves its memberships for the old rig
// behind: their release may not even fit it); the offer is the release when that rollout is running or
// completed and the agent's cohort has started, the previous release when
// it is rolled back and the agent's cohort had started, and none
// otherwise (paused, halted, aborted, pending cohort, no rollout). An
// agent that does not read the release's bundle format (req.Formats), or
// reports a firmware-config digest other than the one the release's
// bundle was made for (req.FirmwareDigest; none reported: not judged;
// rollout.Unfit), is offered nothing and, while it has installed
// nothing of it (pending, offered), marked incompatible, in any cohort;
// past that (downloading, canary, committed, failed, rolled back: an
// agent that reports fewer formats later, e.g. an older binary started
// again) its state keeps following its reports, a commit's committed_at
// and a failure kept. One that was incompatible and now reads the format
// and runs the firmware config (an upgraded agent, a firmware config put
// back) goes back to pending or offered by its cohort. An
// agent that itself refuses the offered release as not for it (update
// state incompatible: hardware, firmware config, agent version, a
// downgrade to a release it never ran) is marked incompatible too
// (rollout.Observe) and stays so while it reports it. In a rolled back rollout an
// agent that does not read the previous release's format, or runs
// another firmware config than its bundle's, is offered nothing either;
// when it installed the release (downloading and past) its detail says
// so ("rollback to 1.0.0 not offered: agent runs firmware config ...").
func (s *Store) RolloutCheckin(ctx context.Context, orgID int64, agentName string, rigID int64, req *cloudapi.CheckinRequest) (*cloudapi.Offer, error) {
	if err := s.joinLate(ctx, orgID, agentName); err != nil {
		return nil, fmt.Errorf("join rollout: %w", err)
	}
	var (
		id           int64
		state        rolloutapi.State
		rel          rolloutapi.Release
		prevT, prevV string
		prevD, prevC string
		prevF        int
		agentState   rolloutapi.AgentState
		cohortState  rolloutapi.CohortState
		detail       string
	)
	err := s.pool.QueryRow(ctx, `
		SELECT ro.id, ro.state, ro.target, ro.version, ro.bundle_format, ro.manifest_digest, ro.config_digest,
			ro.previous_target, ro.previous_version, ro.previous_bundle_format, ro.previous_manifest_digest, ro.previous_config_digest,
			ra.state, c.state, ra.detail
		FROM rollout_agents ra
		JOIN rollouts ro ON ro.id = ra.rollout_id
		JOIN rollout_cohorts c ON c.rollout_id = ra.rollout_id AND c.idx = ra.cohort
		WHERE ra.agent_name = $2 AND ro.org_id = $1 AND ra.rig_id = $3
		ORDER BY ro.id DESC LIMIT 1`, orgID, agentName, rigID).Scan(&id, &state, &rel.Target, &rel.Version, &rel.BundleFormat, &rel.ManifestDigest, &rel.ConfigDigest,
		&prevT, &prevV, &prevF, &prevD, &prevC, &agentState, &cohortState, &detail)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	formats := req.Formats()
	why := rollout.Unfit(formats, req.FirmwareDigest, rel)
	switch {
	case why == "":
	case agentState == rolloutapi.AgentPending || agentState == rolloutapi.AgentOffered || agentState == rolloutapi.AgentIncompatible:
		// Before it installed anything: left out of the rollout.
		if agentState != rolloutapi.AgentIncompatible || detail != why {
			if err := s.setRolloutAgent(ctx, id, agentName, rolloutapi.AgentIncompatible, why); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}
	if agentState == rolloutapi.AgentIncompatible && !rollout.ReportsIncompatible(req, id, rel) &&
		(prevT == "" || !rollout.ReportsIncompatible(req, id, rolloutapi.Release{Target: prevT, Version: prevV})) {
		// It reads the format and runs the firmware config now (and does
		// not itself refuse the release as not for it): back in its
		// cohort.
		agentState, detail = rolloutapi.AgentOffered, ""
		if cohortState == rolloutapi.CohortPending {
			agentState = rolloutapi.AgentPending
		}
		if err := s.setRolloutAgent(ctx, id, agentName, agentState, ""); err != nil {
			return nil, err
		}
	}
	if cohortState == rolloutapi.CohortPending {
		return nil, nil
	}
	var back *rolloutapi.Release
	if state == rolloutapi.RolledBack && prevT != "" {
		back = &rolloutapi.Release{Target: prevT, Version: prevV, BundleFormat: prevF, ManifestDigest: prevD, ConfigDigest: prevC}
	}
	obs := rollout.Observe(agentState, id, rel, back, req)
	if obs.State != agentState || (obs.Detail != "" && obs.Detail != detail) {
		if err := s.setRolloutAgent(ctx, id, agentName, obs.State, obs.Detail); err != nil {
			return nil, err
		}
		detail = obs.Detail // as stored now
	}
	if (state == rolloutapi.Running || state == rolloutapi.Completed) && why == "" {
		return &cloudapi.Offer{Target: rel.Target, Version: rel.Version, Rollout: id}, nil
	}
	if back == nil {
		return nil, nil
	}
	whyBack := rollout.Unfit(formats, req.FirmwareDigest, *back)
	notOffered := fmt.Sprintf("rollback to %s not offered: ", back.Version)
	if whyBack == "" {
		if strings.HasPrefix(detail, notOffered) {
			// It fits now (its firmware config put back): the reason is
			// stale.
			if err := s.setRolloutAgent(ctx, id, agentName, obs.State, ""); err != nil {
				return nil, err
			}
		}
		return &cloudapi.Offer{Target: back.Target, Version: back.Version, Rollout: id}, nil
	}
	switch obs.State {
	case rolloutapi.AgentPending, rolloutapi.AgentOffered, rolloutapi.AgentIncompatible, rolloutapi.AgentRolledBack:
		// It installed nothing of the release, or rolled back already:
		// nothing to say.
	case rolloutapi.AgentFailed:
		// Its detail is why it failed (rollout.Observe keeps it until it
		// serves the previous release): the note would replace that
		// reason, and clearing the note later would lose it for good.
	default:
		// It stays on the release: say why, rather than leave it
		// committed (or downloading, canary) with nothing shown.
		d := notOffered + whyBack
		if detail != d {
			if err := s.setRolloutAgent(ctx, id, agentName, obs.State, d); err != nil {
				return nil, err
			}
		}
	}
	return nil, nil
}

// setRolloutAgent sets agent's state and detail in rollout id; its
// committed_at is kept while it stays committed, set when it becomes
// committed and cleared otherwise.
func (s *Store) setRolloutAgent(ctx context.Context, id int64, agentName string, state rolloutapi.AgentState, detail string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE rollout_agents SET state = $3, detail = $4, updated_at = $5,
			committed_at = CASE WHEN $3 = 'committed' THEN coalesce(CASE WHEN state = 'committed' THEN committed_at END, $5) ELSE NULL END
		WHERE rollout_id = $1 AND agent_name = $2`, id, agentName, state, detail, s.now().UTC())
	if err != nil {
		return fmt.Errorf("rollout %d agent %s: set state %s: %w", id, agentName, state, err)
	}
	return nil
}

// lateRollout finds the rollout agent (by name) of org should join: the
// newest running, paused or completed rollout whose selection matches the
// agent's rig as it is now (rig type, sites, rigs, labels), when the agent
// is not in it, in no newer rollout, and in no active one. It returns 0
// when there is none. q is the pool or a transaction.
const lateRollout = `
	SELECT ro.id FROM agents a
	JOIN rigs r ON r.id = a.rig_id
	LEFT JOIN sites st ON st.id = r.site_id
	JOIN rollouts ro ON ro.org_id = a.org_id AND ro.rig_type = r.rig_type
	WHERE a.org_id = $1 AND a.name = $2 AND a.replaced_at IS NULL AND a.revoked_at IS NULL
	  AND ro.state IN ('running', 'paused', 'completed')
	  AND (jsonb_array_length(coalesce(ro.selection->'sites', '[]')) = 0
	       OR st.name IN (SELECT jsonb_array_elements_text(ro.selection->'sites')))
	  AND (jsonb_array_length(coalesce(ro.selection->'rigs', '[]')) = 0
	       OR r.name IN (SELECT jsonb_array_elements_text(ro.selection->'rigs')))
	  AND r.labels @> coalesce(ro.selection->'labels', '{}')
	  AND NOT EXISTS (
	      SELECT 1 FROM rollout_agents ra JOIN rollouts o ON o.id = ra.rollout_id
	      WHERE ra.agent_name = a.name AND o.org_id = a.org_id AND ra.rig_id = a.rig_id
	        AND (o.id >= ro.id OR o.state IN ('running', 'paused', 'halted')))
	ORDER BY ro.id DESC LIMIT 1`

// joinLate adds agent (by name) of org to the rollout its rig matches now
// but did not when the rollout was made (lateRollout): a rig enrolled,
// moved or labelled later. The agent joins the last cohort: offered when
// that cohort has started (or the rollout completed), pending otherwise
// (offered when the engine starts it); the cohort grows by one, so the
// thresholds count it. A completed rollout thus goes on offering its
// release to the rigs its selection describes. The common case, nothing
// to join, is one read; the join itself re-checks under the
// organisation's rollout lock (the one CreateRollout takes: an agent is
// in one active rollout at a time) and the rollout's row lock (the
// engine's step).
func (s *Store) joinLate(ctx context.Context, orgID int64, agentName string) error {
	var id int64
	err := s.pool.QueryRow(ctx, lateRollout, orgID, agentName).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2::int4)`, rolloutLockKey, int32(orgID)); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, lateRollout, orgID, agentName).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // joined by a concurrent check-in, or no longer matching
		}
		if err != nil {
			return err
		}
		var (
			state         rolloutapi.State
			last, members int
			cohortState   rolloutapi.CohortState
			rigID         int64
		)
		if err := tx.QueryRow(ctx, `
			SELECT ro.state, c.idx, c.state, (SELECT count(*) FROM rollout_agents WHERE rollout_id = ro.id)
			FROM rollouts ro JOIN rollout_cohorts c ON c.rollout_id = ro.id
			WHERE ro.id = $1 ORDER BY c.idx DESC LIMIT 1 FOR UPDATE OF ro`, id).Scan(&state, &last, &cohortState, &members); err != nil {
			return err
		}
		if members >= rolloutapi.MaxAgents {
			return nil
		}
		if err := tx.QueryRow(ctx, `SELECT rig_id FROM agents WHERE org_id = $1 AND name = $2 AND replaced_at IS NULL`, orgID, agentName).Scan(&rigID); err != nil {
			return err
		}
		agentState := rolloutapi.AgentPending
		if cohortState != rolloutapi.CohortPending || state == rolloutapi.Completed {
			agentState = rolloutapi.AgentOffered
		}
		now := s.now().UTC()
		if _, err := tx.Exec(ctx, `UPDATE rollout_cohorts SET size = size + 1 WHERE rollout_id = $1 AND idx = $2`, id, last); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO rollout_agents (rollout_id, agent_name, rig_id, cohort, state, detail, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'joined after the rollout was made', $6)`, id, agentName, rigID, last, agentState, now)
		return err
	})
}

// RunningRollouts lists the ids of every organisation's running
// rollouts (rollout.Store).
func (s *Store) RunningRollouts(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM rollouts WHERE state = 'running' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// RolloutCounts counts every organisation's rollouts by state
// (rollout.Store; states without rollouts are left out).
func (s *Store) RolloutCounts(ctx context.Context) (map[rolloutapi.State]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM rollouts GROUP BY state`)
	if err != nil {
		return nil, err
	}
	counts := map[rolloutapi.State]int{}
	var st rolloutapi.State
	var n int
	_, err = pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		counts[st] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count rollouts: %w", err)
	}
	return counts, nil
}

// FirmwareMismatchedRigs counts every organisation's rigs flagged
// firmware_mismatch in their status (RigStatus): a registered firmware
// digest, and an agent of the rig, neither replaced nor revoked, whose
// last report is another (rollout.Store; one scan of the agents that
// reported a digest).
func (s *Store) FirmwareMismatchedRigs(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(DISTINCT r.id) FROM rigs r JOIN agents a ON a.rig_id = r.id
		WHERE r.firmware_digest <> '' AND a.firmware_digest <> '' AND a.firmware_digest <> r.firmware_digest
			AND a.replaced_at IS NULL AND a.revoked_at IS NULL`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count firmware-mismatched rigs: %w", err)
	}
	return n, nil
}

// StepRollout applies rollout.Decide to running rollout id at now, in one
// transaction holding its row lock (FOR UPDATE SKIP LOCKED: a rollout
// locked by another replica's step, or an operator's action, is left
// alone and Locked is set). A halt marks the cohort failed and the
// rollout halted; an advance marks the cohort succeeded and starts the
// next one (its agents offered), or completes the rollout.
func (s *Store) StepRollout(ctx context.Context, id int64, now time.Time) (rollout.Step, error) {
	step := rollout.Step{RolloutID: id}
	now = now.UTC()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var state rolloutapi.State
		var cur int
		var succT, failT float64
		err := tx.QueryRow(ctx, `SELECT state, cohort, success_threshold, failure_threshold FROM rollouts WHERE id = $1 FOR UPDATE SKIP LOCKED`, id).
			Scan(&state, &cur, &succT, &failT)
		if errors.Is(err, pgx.ErrNoRows) {
			step.Locked = true
			return nil
		}
		if err != nil || state != rolloutapi.Running {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT c.idx, c.size, c.soak_ms, c.state, c.started_at,
				count(*) FILTER (WHERE ra.state IN ('failed', 'rolled_back')),
				count(*) FILTER (WHERE ra.state = 'committed' AND ra.committed_at <= $2::timestamptz - make_interval(secs => c.soak_ms / 1000.0)),
				count(*) FILTER (WHERE ra.state = 'incompatible')
			FROM rollout_cohorts c LEFT JOIN rollout_agents ra ON ra.rollout_id = c.rollout_id AND ra.cohort = c.idx
			WHERE c.rollout_id = $1 AND c.idx <= $3
			GROUP BY c.rollout_id, c.idx ORDER BY c.idx`, id, now, cur)
		if err != nil {
			return err
		}
		started, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rollout.CohortStatus, error) {
			var c rollout.CohortStatus
			var soakMS int64
			var at *time.Time
			err := row.Scan(&c.Index, &c.Size, &soakMS, &c.State, &at, &c.Failed, &c.Succeeded, &c.Incompatible)
			c.Soak = time.Duration(soakMS) * time.Millisecond
			if at != nil {
				c.StartedAt = *at
			}
			return c, err
		})
		if err != nil {
			return err
		}
		var last int
		if err := tx.QueryRow(ctx, `SELECT max(idx) FROM rollout_cohorts WHERE rollout_id = $1`, id).Scan(&last); err != nil {
			return err
		}
		d := rollout.Decide(started, cur == last, succT, failT, now)
		switch {
		case d.Halt:
			step.Event, step.Cohort, step.Reason = rollout.EventHalted, d.HaltCohort, d.Reason
			if _, err := tx.Exec(ctx, `UPDATE rollout_cohorts SET state = 'failed', done_at = $3 WHERE rollout_id = $1 AND idx = $2`, id, d.HaltCohort, now); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE rollouts SET state = 'halted', reason = $2, updated_at = $3 WHERE id = $1`, id, d.Reason, now)
			return err
		case d.Advance:
			if _, err := tx.Exec(ctx, `UPDATE rollout_cohorts SET state = 'succeeded', done_at = $3 WHERE rollout_id = $1 AND idx = $2`, id, cur, now); err != nil {
				return err
			}
			if d.Complete {
				step.Event, step.Cohort, step.Reason = rollout.EventCompleted, cur, d.Reason
				_, err = tx.Exec(ctx, `UPDATE rollouts SET state = 'completed', reason = $2, updated_at = $3 WHERE id = $1`, id, d.Reason, now)
				return err
			}
			step.Event, step.Cohort, step.Reason = rollout.EventAdvanced, cur+1, d.Reason
			if _, err := tx.Exec(ctx, `UPDATE rollout_cohorts SET state = 'soaking', started_at = $3 WHERE rollout_id = $1 AND idx = $2`, id, cur+1, now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE rollout_agents SET state = 'offered', updated_at = $3 WHERE rollout_id = $1 AND cohort = $2 AND state = 'pending'`, id, cur+1, now); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE rollouts SET cohort = $2, reason = $3, updated_at = $4 WHERE id = $1`, id, cur+1, d.Reason, now)
			return err
		}
		return nil
	})
	return step, err
}
