package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Org is an organisation (a tenant).
type Org = fleetapi.Org

const orgCols = `id, slug, name, created_at`

func scanOrg(row pgx.Row) (*Org, error) {
	o := &Org{}
	err := row.Scan(&o.ID, &o.Slug, &o.Name, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return o, err
}

// CreateOrg makes an organisation; ErrExists when the slug is taken.
func (s *Store) CreateOrg(ctx context.Context, slug, name string) (*Org, error) {
	o, err := scanOrg(s.pool.QueryRow(ctx, `INSERT INTO organisations (slug, name) VALUES ($1, $2) RETURNING `+orgCols, slug, name))
	if isUnique(err) {
		return nil, fmt.Errorf("organisation %q: %w", slug, ErrExists)
	}
	return o, err
}

// OrgBySlug returns the organisation with slug.
func (s *Store) OrgBySlug(ctx context.Context, slug string) (*Org, error) {
	return scanOrg(s.pool.QueryRow(ctx, `SELECT `+orgCols+` FROM organisations WHERE slug = $1`, slug))
}

// Org returns organisation id.
func (s *Store) Org(ctx context.Context, id int64) (*Org, error) {
	return scanOrg(s.pool.QueryRow(ctx, `SELECT `+orgCols+` FROM organisations WHERE id = $1`, id))
}

// Orgs lists organisations by id, at most limit after id after.
func (s *Store) Orgs(ctx context.Context, after int64, limit int) ([]Org, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+orgCols+` FROM organisations WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Org])
}

// Site is a place where rigs stand.
type Site = fleetapi.Site

// CreateSite makes a site in org; ErrExists when the name is taken there.
func (s *Store) CreateSite(ctx context.Context, orgID int64, name, location string) (*Site, error) {
	st := &Site{}
	err := s.pool.QueryRow(ctx, `INSERT INTO sites (org_id, name, location) VALUES ($1, $2, $3)
		RETURNING id, name, location, created_at`, orgID, name, location).Scan(&st.ID, &st.Name, &st.Location, &st.CreatedAt)
	if isUnique(err) {
		return nil, fmt.Errorf("site %q: %w", name, ErrExists)
	}
	return st, err
}

// Sites lists org's sites by id.
func (s *Store) Sites(ctx context.Context, orgID, after int64, limit int) ([]Site, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, location, created_at FROM sites
		WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3`, orgID, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Site])
}

// Rig is a machine, named by its firmware config's equipment id: the
// wire record and its database id.
type Rig struct {
	ID int64 `json:"-"`
	fleetapi.Rig
}

const rigCols = `id, name, rig_type, firmware_digest, site_id, created_at`

// CreateRig makes a rig in org; ErrExists when the name is taken there,
// ErrNotFound when siteID is not one of org's sites.
func (s *Store) CreateRig(ctx context.Context, orgID int64, r fleetapi.Rig) (*Rig, error) {
	if r.SiteID != nil {
		var one int
		if err := s.pool.QueryRow(ctx, `SELECT 1 FROM sites WHERE id = $1 AND org_id = $2`, *r.SiteID, orgID).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, fmt.Errorf("site %d: %w", *r.SiteID, ErrNotFound)
			}
			return nil, err
		}
	}
	out := &Rig{}
	err := s.pool.QueryRow(ctx, `INSERT INTO rigs (org_id, name, rig_type, firmware_digest, site_id) VALUES ($1, $2, $3, $4, $5)
		RETURNING `+rigCols, orgID, r.RigID, r.RigType, r.FirmwareDigest, r.SiteID).
		Scan(&out.ID, &out.RigID, &out.RigType, &out.FirmwareDigest, &out.SiteID, &out.CreatedAt)
	if isUnique(err) {
		return nil, fmt.Errorf("rig %q: %w", r.RigID, ErrExists)
	}
	return out, err
}

// Rig returns org's rig named name.
func (s *Store) Rig(ctx context.Context, orgID int64, name string) (*Rig, error) {
	r := &Rig{}
	err := s.pool.QueryRow(ctx, `SELECT `+rigCols+` FROM rigs WHERE org_id = $1 AND name = $2`, orgID, name).
		Scan(&r.ID, &r.RigID, &r.RigType, &r.FirmwareDigest, &r.SiteID, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

// SetRigFirmwareDigest sets the registered firmware digest ("" for none)
// of org's rig named name and returns the rig and the digest it replaced
// (the caller logs both: there is no other record of the change);
// ErrNotFound when org has no such rig.
func (s *Store) SetRigFirmwareDigest(ctx context.Context, orgID int64, name, digest string) (r *Rig, old string, err error) {
	r = &Rig{}
	err = s.pool.QueryRow(ctx, `UPDATE rigs SET firmware_digest = $3
		FROM (SELECT id AS old_id, firmware_digest AS old FROM rigs WHERE org_id = $1 AND name = $2 FOR UPDATE) o
		WHERE id = o.old_id RETURNING `+rigCols+`, o.old`,
		orgID, name, digest).Scan(&r.ID, &r.RigID, &r.RigType, &r.FirmwareDigest, &r.SiteID, &r.CreatedAt, &old)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", fmt.Errorf("rig %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("set firmware digest of rig %q: %w", name, err)
	}
	return r, old, nil
}

// RigFilter narrows a rig list; a zero field does not filter.
type RigFilter struct {
	// SiteID is a site's id: another organisation's site lists nothing.
	SiteID int64
	// RigType is a rig type's name.
	RigType string
}

// Rigs lists org's rigs that f lets through by name, at most limit after
// name after. The cursor (after) is a position in the name order, not
// bound to the filters: used with other filters it lists their rigs
// past that name. The scan is the (org_id, name) index's, the filters
// checked on its rows (an organisation's rigs are few).
func (s *Store) Rigs(ctx context.Context, orgID int64, f RigFilter, after string, limit int) ([]Rig, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rigCols+` FROM rigs
		WHERE org_id = $1 AND name > $2 AND ($4::bigint = 0 OR site_id = $4) AND ($5::text = '' OR rig_type = $5)
		ORDER BY name LIMIT $3`, orgID, after, limit, f.SiteID, f.RigType)
	if err != nil {
		return nil, fmt.Errorf("list rigs: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Rig])
}

// Enrollment is a one-time enrollment token's record.
type Enrollment = fleetapi.Enrollment

// CreateEnrollment makes a one-time enrollment token for org's rig,
// usable until ttl from now.
func (s *Store) CreateEnrollment(ctx context.Context, orgID int64, rigName string, createdBy int64, ttl time.Duration) (*Enrollment, error) {
	return s.CreateEnrollmentWith(ctx, orgID, rigName, createdBy, ttl, time.Time{}, "")
}

// CreateEnrollmentWith is CreateEnrollment expiring no later than
// notAfter (zero: ttl only; the expiry of the token that makes it), with
// replace, the agent id whose current identity on the rig the token may
// take over even while that identity checks in (Enroll; "": none).
func (s *Store) CreateEnrollmentWith(ctx context.Context, orgID int64, rigName string, createdBy int64, ttl time.Duration, notAfter time.Time, replace string) (*Enrollment, error) {
	secret, hash := NewSecret(PrefixEnrollment)
	e := &Enrollment{Token: secret, RigID: rigName, Replace: replace}
	var by *int64
	if createdBy != 0 {
		by = &createdBy
	}
	var cap *time.Time
	if !notAfter.IsZero() {
		cap = &notAfter
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO enrollment_tokens (org_id, rig_id, token_hash, created_by, expires_at, replace_agent)
		SELECT $1, r.id, $3, $4, least(now() + $5::interval, $7), nullif($6, '') FROM rigs r WHERE r.org_id = $1 AND r.name = $2
		RETURNING id, expires_at`, orgID, rigName, hash, by, ttl, replace, cap).Scan(&e.ID, &e.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("create an enrollment token for rig %q: %w", rigName, err)
	}
	return e, nil
}

// EnrollmentToken is an enrollment token as listed (never its secret).
type EnrollmentToken = fleetapi.EnrollmentToken

// Enrollments lists the enrollment tokens of org's rig by id, at most
// limit after id after; ErrNotFound when org has no such rig.
func (s *Store) Enrollments(ctx context.Context, orgID int64, rigName string, after int64, limit int) ([]EnrollmentToken, error) {
	if _, err := s.Rig(ctx, orgID, rigName); err != nil {
		return nil, err
	}
	// An unused token is as revoked or expired as its maker (makerLive):
	// listed with the maker's revocation or earlier expiry.
	rows, err := s.pool.Query(ctx, `SELECT e.id, r.name,
			CASE WHEN e.used_at IS NOT NULL THEN 'used' WHEN e.revoked_at IS NOT NULL OR m.revoked_at IS NOT NULL THEN 'revoked'
				WHEN e.expires_at <= now() OR m.expires_at <= now() THEN 'expired' ELSE 'usable' END,
			e.created_at, CASE WHEN e.used_at IS NULL THEN least(e.expires_at, m.expires_at) ELSE e.expires_at END,
			e.created_by, e.used_at, CASE WHEN e.used_at IS NULL THEN coalesce(e.revoked_at, m.revoked_at) ELSE e.revoked_at END,
			coalesce(a.name, ''), coalesce(e.replace_agent, '')
		FROM enrollment_tokens e JOIN rigs r ON r.id = e.rig_id LEFT JOIN agents a ON a.id = e.agent_id
			LEFT JOIN api_tokens m ON m.id = e.created_by
		WHERE e.org_id = $1 AND r.name = $2 AND e.id > $3 ORDER BY e.id LIMIT $4`, orgID, rigName, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list the enrollment tokens of rig %q: %w", rigName, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[EnrollmentToken])
	if err != nil {
		return nil, fmt.Errorf("list the enrollment tokens of rig %q: %w", rigName, err)
	}
	return out, nil
}

// RevokeEnrollments revokes the usable (unused, unexpired, unrevoked,
// maker live) enrollment tokens of org's rig: token id, or every one
// with id 0. It returns how many it revoked; ErrNotFound when org has no such rig, or
// the rig no token id (revoking a token that is no longer usable is fine:
// 0).
func (s *Store) RevokeEnrollments(ctx context.Context, orgID int64, rigName string, id int64) (int, error) {
	var n int
	var found bool
	err := s.pool.QueryRow(ctx, `WITH target AS (
			SELECT e.id, e.used_at IS NULL AND e.revoked_at IS NULL AND e.expires_at > now() AND `+makerLive+` AS usable
			FROM enrollment_tokens e JOIN rigs r ON r.id = e.rig_id
			WHERE e.org_id = $1 AND r.name = $2 AND ($3::bigint = 0 OR e.id = $3)),
		done AS (
			UPDATE enrollment_tokens SET revoked_at = now() WHERE id IN (SELECT id FROM target WHERE usable) RETURNING 1)
		SELECT (SELECT count(*) FROM done), EXISTS (SELECT 1 FROM target)`, orgID, rigName, id).Scan(&n, &found)
	if err != nil {
		return 0, fmt.Errorf("revoke the enrollment tokens of rig %q: %w", rigName, err)
	}
	if !found && id != 0 {
		return 0, ErrNotFound
	}
	if !found {
		if _, err := s.Rig(ctx, orgID, rigName); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// makerLive is true, in SQL, when enrollment token e's maker (the API
// token that made it; created_by, recorded since schema v1) is neither
// revoked nor expired, or none is recorded. Since migration 0015
// revoking a token revokes its unused enrollment tokens and a new one
// expires no later than its maker; those made before it by a token
// revoked before it, or outliving their maker, were left usable (review:
// "pre-upgrade enrollment tokens of revoked makers usable"). Every use
// and listing of a token checks its maker, whatever revoked the maker
// and whenever the token was made: no stored row is rewritten.
const makerLive = `NOT EXISTS (SELECT 1 FROM api_tokens m WHERE m.id = e.created_by AND (m.revoked_at IS NOT NULL OR m.expires_at <= now()))`

// CheckEnrollment returns nil when token is a usable enrollment token
// (known, unused, unexpired, unrevoked, its maker live: makerLive), else
// ErrBadCredential: the API checks it before it reads the request's
// body. Enroll checks it again, under a lock.
func (s *Store) CheckEnrollment(ctx context.Context, token string) error {
	if !WellFormed(token, PrefixEnrollment) {
		return ErrBadCredential
	}
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM enrollment_tokens e
		WHERE e.token_hash = $1 AND e.used_at IS NULL AND e.revoked_at IS NULL AND e.expires_at > now() AND `+makerLive+`)`, Hash(token)).Scan(&ok)
	if err != nil {
		return fmt.Errorf("store: check an enrollment token: %w", err)
	}
	if !ok {
		return ErrBadCredential
	}
	return nil
}

// ErrRigMismatch is returned when an agent enrolls for another rig than
// its enrollment token's.
var ErrRigMismatch = errors.New("the enrollment token is for another rig")

// ErrAgentElsewhere marks an enrollment refused (with ErrExists) because
// its agent id is enrolled, and not revoked, for another rig than the
// token's: the probing case, counted on the token (MaxEnrollRefusals) and
// by the API as a failed authentication. A refusal over the token's own
// rig's live agent is ErrExists alone and counts nowhere (review r5
// finding 1).
var ErrAgentElsewhere = errors.New("enrolled for another rig")

// Enroll exchanges an enrollment token (once) for an agent credential.
// Every enrollment makes a new agent identity (a new row, the next
// generation of agentName) bound to the token's rig. When agentName has a
// current identity, it is replaced in the same transaction: its credential
// is revoked and it leaves the agent lists, while its diagnoses, their
// idempotency keys and alerts stay where they are, on their rig. The new
// identity's sequence numbers therefore never collide with the old ones
// (a reinstalled agent restarts at 1). When the replaced credential was
// not revoked yet, the transaction notifies RevokedChannel and, once
// committed, the OnRevoke hook is called.
//
// ErrBadCredential: unknown, used, revoked or expired token;
// ErrRigMismatch: rigName is not the token's rig; ErrExists: agentName is
// enrolled, not revoked, for another rig (revoke it first to move it), or
// its current identity on the token's rig checked in within
// DefaultLiveWindow and the token was not made to replace it (revoke it
// first, or make the token with replace), or another enrollment of
// agentName committed first (retry with a new token). The ErrExists
// messages never name another rig: a token's holder learns nothing of
// the organisation's other rigs.
func (s *Store) Enroll(ctx context.Context, token, agentName, rigName string) (*cloudapi.EnrollResponse, error) {
	return s.EnrollWith(ctx, token, agentName, rigName, DefaultLiveWindow)
}

// MaxEnrollRefusals is how many enrollments refused for an agent id
// enrolled for another rig (ErrAgentElsewhere) an enrollment token takes
// before it is revoked.
const MaxEnrollRefusals = 3

// DefaultLiveWindow is Enroll's live window: an identity that checked in
// within it is live (twice the default check-in interval, as a rig's
// status calls an agent online).
const DefaultLiveWindow = 10 * time.Minute

// EnrollWith is Enroll with live, how recent a check-in makes the current
// identity live (one a token without replace may not take over).
func (s *Store) EnrollWith(ctx context.Context, token, agentName, rigName string, live time.Duration) (*cloudapi.EnrollResponse, error) {
	if !WellFormed(token, PrefixEnrollment) {
		return nil, ErrBadCredential
	}
	var out *cloudapi.EnrollResponse
	var replaced bool    // a credential that worked was revoked
	var refusedTok int64 // the token of an enrollment refused for its agent id
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		replaced, refusedTok = false, 0
		var tokID, orgID, rigID int64
		var rname, rtype, replace string
		err := tx.QueryRow(ctx, `SELECT e.id, e.org_id, r.id, r.name, r.rig_type, coalesce(e.replace_agent, '')
			FROM enrollment_tokens e JOIN rigs r ON r.id = e.rig_id
			WHERE e.token_hash = $1 AND e.used_at IS NULL AND e.revoked_at IS NULL AND e.expires_at > now() AND `+makerLive+`
			FOR UPDATE OF e`, Hash(token)).Scan(&tokID, &orgID, &rigID, &rname, &rtype, &replace)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrBadCredential
		}
		if err != nil {
			return err
		}
		if rigName != "" && rigName != rname {
			return fmt.Errorf("%w: token for %q, agent says %q", ErrRigMismatch, rname, rigName)
		}
		// The name's current identity, if any, locked until commit.
		var oldID, oldRig int64
		var revoked, isLive bool
		gen := 1
		err = tx.QueryRow(ctx, `SELECT a.id, a.rig_id, a.revoked_at IS NOT NULL, a.generation,
				coalesce(a.last_checkin_at > now() - $3::interval, false)
			FROM agents a
			WHERE a.org_id = $1 AND a.name = $2 AND a.replaced_at IS NULL
			FOR UPDATE OF a`, orgID, agentName, live).Scan(&oldID, &oldRig, &revoked, &gen, &isLive)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			gen = 0
		case err != nil:
			return err
		case !revoked && oldRig != rigID:
			refusedTok = tokID
			return fmt.Errorf("agent id %q is in use in this organisation, %w: revoke it before enrolling it for rig %q (rigctl agents revoke %s): %w",
				agentName, ErrAgentElsewhere, rname, agentName, ErrExists)
		case !revoked && isLive && replace != agentName:
			// This rig's own agent: the holder learns nothing it could not
			// know, so the refusal is not counted (an operator retrying
			// while the old agent still runs keeps the token).
			return fmt.Errorf("agent %q of rig %q checked in within the last %s: enrolling would take over its identity and revoke its credential; "+
				"revoke it first (rigctl agents revoke %s), or have an operator make an enrollment token that replaces it (rigctl rigs enroll %s --replace %s): %w",
				agentName, rname, live, agentName, rname, agentName, ErrExists)
		default:
			if _, err := tx.Exec(ctx, `UPDATE agents SET replaced_at = now(), revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, oldID); err != nil {
				return err
			}
			if !revoked {
				// The old credential worked until now: replicas caching it
				// drop it at commit.
				if err := notifyRevoked(ctx, tx, fmt.Sprintf("agent:%d", oldID)); err != nil {
					return err
				}
				replaced = true
			}
		}
		if gen == 0 {
			// Earlier generations all replaced (none is current): continue
			// after the highest.
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(generation), 0) FROM agents WHERE org_id = $1 AND name = $2`,
				orgID, agentName).Scan(&gen); err != nil {
				return err
			}
		}
		cred, hash := NewSecret(PrefixAgent)
		var agentID int64
		err = tx.QueryRow(ctx, `INSERT INTO agents (org_id, rig_id, name, credential_hash, generation) VALUES ($1, $2, $3, $4, $5)
			RETURNING id`, orgID, rigID, agentName, hash, gen+1).Scan(&agentID)
		if isUnique(err) {
			return fmt.Errorf("agent %q was enrolled by another request at the same time (enroll again with a new token): %w", agentName, ErrExists)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE enrollment_tokens SET used_at = now(), agent_id = $2 WHERE id = $1`, tokID, agentID); err != nil {
			return err
		}
		out = &cloudapi.EnrollResponse{AgentID: agentName, RigID: rname, RigType: rtype, Credential: cred, Generation: gen + 1}
		return nil
	})
	if refusedTok != 0 {
		// Counted after the rollback: the token is revoked at the
		// MaxEnrollRefusals-th refusal.
		var spent bool
		if cerr := s.pool.QueryRow(ctx, `UPDATE enrollment_tokens SET refusals = refusals + 1,
				revoked_at = CASE WHEN refusals + 1 >= $2 THEN coalesce(revoked_at, now()) ELSE revoked_at END
			WHERE id = $1 RETURNING revoked_at IS NOT NULL`, refusedTok, MaxEnrollRefusals).Scan(&spent); cerr != nil {
			return nil, errors.Join(err, fmt.Errorf("count a refused enrollment: %w", cerr))
		}
		if spent {
			err = fmt.Errorf("%w (the enrollment token has been refused %d times and is now revoked)", err, MaxEnrollRefusals)
		}
	}
	if err != nil {
		return nil, err
	}
	if replaced {
		s.revoked()
	}
	return out, nil
}

// Agent is an enrolled agent as fleet managers see it: the current
// identity (generation) of its id.
type Agent = fleetapi.Agent

const agentCols = `a.name, r.name, a.generation, a.enrolled_at, a.revoked_at, a.last_checkin_at, a.clock_skew_ms, a.last_checkin`

// Agents lists org's agents by name (of one rig when rigName is set):
// each id's current identity (re-enrolled ones' earlier generations are
// left out).
func (s *Store) Agents(ctx context.Context, orgID int64, rigName, after string, limit int) ([]Agent, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+agentCols+` FROM agents a JOIN rigs r ON r.id = a.rig_id
		WHERE a.org_id = $1 AND a.replaced_at IS NULL AND ($2 = '' OR r.name = $2) AND a.name > $3 ORDER BY a.name LIMIT $4`, orgID, rigName, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Agent])
}

// RevokeAgent revokes the credential of org's agent's current identity;
// ErrNotFound when org has no such agent. Revoking twice is fine. The
// transaction notifies RevokedChannel and, once committed, the OnRevoke
// hook is called.
func (s *Store) RevokeAgent(ctx context.Context, orgID int64, name string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `UPDATE agents SET revoked_at = coalesce(revoked_at, now())
			WHERE org_id = $1 AND name = $2 AND replaced_at IS NULL RETURNING id`, orgID, name).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return notifyRevoked(ctx, tx, fmt.Sprintf("agent:%d", id))
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("revoke agent %q: %w", name, err)
	}
	s.revoked()
	return nil
}

// CheckinRecord is what Checkin recorded.
type CheckinRecord struct {
	// At is the check-in's time (the database's clock).
	At time.Time
	// FirmwareMismatch is set when the check-in reported a firmware
	// digest and the agent's rig has another registered
	// (fleetapi.AgentStatus.FirmwareMismatch).
	FirmwareMismatch bool
}

// Checkin records an agent's check-in: the body, its time, the clock
// skew (agent time minus cloud time) and the firmware digest it reports
// (the body's firmware_digest), with the time the agent first reported
// that digest; it returns the check-in's time and whether the digest
// differs from the rig's registered one. A check-in without the field
// says nothing about the firmware (docs/agent-cloud-api.md: "absent means
// unknown", e.g. an agent leaving it out for an hour after an older
// replica refused it): the stored digest and its time are kept. Both times are the
// database's clock (statement_timestamp()), the clock resolved_at is
// stamped with and the resolved-alert filter (openAlertsSQL) ages
// last_checkin_at by, so they compare in one clock whatever the API
// process's clock reads.
func (s *Store) Checkin(ctx context.Context, agentID int64, body any, agentTime time.Time) (CheckinRecord, error) {
	doc, err := json.Marshal(body)
	if err != nil {
		return CheckinRecord{}, fmt.Errorf("record check-in of agent %d: encode body: %w", agentID, err)
	}
	var rec CheckinRecord
	err = s.pool.QueryRow(ctx, `WITH fw AS (SELECT coalesce($3::jsonb->>'firmware_digest', '') AS d)
		UPDATE agents SET last_checkin_at = statement_timestamp(),
		clock_skew_ms = round(extract(epoch FROM $2::timestamptz - statement_timestamp()) * 1000)::bigint,
		last_checkin = $3,
		firmware_since = CASE WHEN fw.d = '' OR fw.d = agents.firmware_digest THEN agents.firmware_since
			ELSE statement_timestamp() END,
		firmware_digest = coalesce(nullif(fw.d, ''), agents.firmware_digest)
		FROM fw WHERE id = $1
		RETURNING last_checkin_at, fw.d <> '' AND coalesce((SELECT r.firmware_digest FROM rigs r WHERE r.id = agents.rig_id), '') NOT IN ('', fw.d)`,
		agentID, agentTime.UTC(), doc).Scan(&rec.At, &rec.FirmwareMismatch)
	if errors.Is(err, pgx.ErrNoRows) {
		return CheckinRecord{}, fmt.Errorf("record check-in of agent %d: %w", agentID, ErrNotFound)
	}
	if err != nil {
		return CheckinRecord{}, fmt.Errorf("record check-in of agent %d: %w", agentID, err)
	}
	rec.At = rec.At.UTC()
	return rec, nil
}

// RigStatus is a rig's state: its last diagnosis, its agents' last
// check-ins and open alerts.
type RigStatus = fleetapi.RigStatus

// DiagnosisSummary is the head of a diagnosis.
type DiagnosisSummary = fleetapi.DiagnosisSummary

// AgentStatus is one agent of a rig as of its last check-in.
type AgentStatus = fleetapi.AgentStatus

// RigStatus returns org's rig's status; an agent is online when it
// checked in within online of the database's clock (the clock its
// check-in was stamped with).
func (s *Store) RigStatus(ctx context.Context, orgID int64, name string, online time.Duration) (*RigStatus, error) {
	// One statement: the rig by name with its newest diagnosis and its
	// open alerts, once per current agent (one row of NULL agent columns
	// when it has none); no row: no such rig. Each agent's last contact is
	// the later of its last check-in and the arrival of its newest
	// diagnosis by sequence number (the primary key's last entry, not a
	// scan): both cloud clock. Not the newest diagnosis by window start:
	// its arrival is not the agent's latest (an agent whose clock once
	// ran ahead sent a window later ones never pass), and it may be a
	// replaced identity's. The newest diagnosis is the last in the
	// primary key's order (window start, then agent id and seq): two
	// agents of a rig reporting the same window start give the same
	// answer every time.
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.name, r.rig_type, r.firmware_digest, r.site_id, r.created_at,
			ld.agent_name, ld.seq, ld.window_start, ld.window_end, ld.received_at, ld.health, ld.status, ld.model_version,
			(SELECT count(*) FROM alerts al WHERE al.rig_id = r.id AND al.state <> 'resolved'),
			a.name, a.revoked_at IS NOT NULL, a.last_checkin_at, a.clock_skew_ms,
			coalesce(a.last_checkin->>'agent_version', ''), a.last_checkin->'model', a.last_checkin->'outbox', a.last_checkin->'buffer',
			a.last_checkin->'update', a.last_checkin->'bundle_formats', greatest(a.last_checkin_at, lk.received_at),
			statement_timestamp(), coalesce(a.firmware_digest, ''), a.firmware_since
		FROM rigs r
		LEFT JOIN LATERAL (
			SELECT ag.name AS agent_name, d.seq, d.window_start, d.window_end, d.received_at, d.health, d.status, d.model_version
			FROM diagnoses d JOIN agents ag ON ag.id = d.agent_id
			WHERE d.rig_id = r.id ORDER BY d.window_start DESC, d.agent_id DESC, d.seq DESC LIMIT 1) ld ON true
		LEFT JOIN agents a ON a.rig_id = r.id AND a.replaced_at IS NULL
		LEFT JOIN LATERAL (
			SELECT k.received_at FROM diagnosis_keys k
			WHERE k.agent_id = a.id ORDER BY k.seq DESC LIMIT 1) lk ON true
		WHERE r.org_id = $1 AND r.name = $2
		ORDER BY a.name`, orgID, name)
	if err != nil {
		return nil, fmt.Errorf("rig status: %w", err)
	}
	defer rows.Close()
	var st *RigStatus
	for rows.Next() {
		var (
			r Rig
			d struct {
				agent, status, model *string
				seq                  *int64
				start, end, received *time.Time
				health               *float64
			}
			alerts       int
			a            AgentStatus
			agent        *string
			revoked      *bool
			agentVersion string
			contact      *time.Time
			now          time.Time // the database's clock, last_checkin_at's
		)
		if err := rows.Scan(&r.ID, &r.RigID, &r.RigType, &r.FirmwareDigest, &r.SiteID, &r.CreatedAt,
			&d.agent, &d.seq, &d.start, &d.end, &d.received, &d.health, &d.status, &d.model, &alerts,
			&agent, &revoked, &a.LastCheckinAt, &a.ClockSkewMs, &agentVersion, &a.Model, &a.Outbox, &a.Buffer, &a.Update, &a.BundleFormats, &contact, &now,
			&a.ReportedFirmwareDigest, &a.FirmwareSince); err != nil {
			return nil, fmt.Errorf("rig status: %w", err)
		}
		if st == nil {
			st = &RigStatus{Rig: r.Rig, Agents: []AgentStatus{}, OpenAlerts: alerts}
			if d.seq != nil {
				st.LastDiagnosis = &DiagnosisSummary{AgentID: *d.agent, Seq: *d.seq, WindowStart: *d.start, WindowEnd: *d.end,
					ReceivedAt: *d.received, Health: *d.health, Status: *d.status, ModelVersion: *d.model}
			}
		}
		if agent == nil {
			continue // the rig has no agent
		}
		a.AgentID, a.AgentVersion = *agent, agentVersion
		switch {
		case revoked != nil && *revoked:
			a.Link = fleetapi.LinkRevoked
		case a.LastCheckinAt == nil:
			a.Link = fleetapi.LinkNever
		case now.Sub(*a.LastCheckinAt) <= online:
			a.Link = fleetapi.LinkOnline
		default:
			a.Link = fleetapi.LinkOffline
		}
		if a.FirmwareSince != nil {
			t := a.FirmwareSince.UTC()
			a.FirmwareSince = &t
		}
		if a.ReportedFirmwareDigest != "" && r.FirmwareDigest != "" && a.ReportedFirmwareDigest != r.FirmwareDigest {
			// A revoked agent's flag is its last report's; it does not
			// speak for the rig.
			a.FirmwareMismatch = true
			st.FirmwareMismatch = st.FirmwareMismatch || a.Link != fleetapi.LinkRevoked
		}
		if contact != nil && (st.LastSeen == nil || contact.After(*st.LastSeen)) {
			st.LastSeen = contact
		}
		st.Agents = append(st.Agents, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rig status: %w", err)
	}
	if st == nil {
		return nil, ErrNotFound
	}
	return st, nil
}
