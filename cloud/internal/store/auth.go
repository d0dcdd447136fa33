package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Role is what an API token may do; each role may do what the ones before
// it may.
type Role string

// Roles. RoleSystem and RoleRelease belong to no organisation: a system
// token manages organisations and their first tokens, a release token
// publishes signed model releases (POST /v1/releases); neither may do
// anything else.
const (
	RoleViewer   Role = "viewer"
	RoleOperator Role = "operator"
	RoleAdmin    Role = "admin"
	RoleSystem   Role = "system"
	RoleRelease  Role = "release"
)

// Deployment reports whether r is a role of the deployment, held by
// tokens of no organisation (system, release).
func (r Role) Deployment() bool { return r == RoleSystem || r == RoleRelease }

// Rank orders the organisation roles (viewer 1, operator 2, admin 3);
// 0 for system, release and unknown roles.
func (r Role) Rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleOperator:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// ValidRole reports whether r is one of the organisation roles (what a
// token made through the API may have).
func ValidRole(r Role) bool { return r.Rank() > 0 }

// Principal is who makes a request: an API token or an agent.
type Principal struct {
	// OrgID is the caller's organisation (0 for a system token).
	OrgID int64
	// TokenID and Role are set for an API token.
	TokenID int64
	Role    Role
	// Agent is set for an agent credential.
	Agent *AgentIdentity
	// Expires is when an API token stops being valid (zero: never, and
	// always for an agent credential); a cache of principals must not
	// serve it past this.
	Expires time.Time
}

// AgentIdentity is the agent a credential belongs to, and its rig.
type AgentIdentity struct {
	ID      int64
	Name    string
	RigID   int64
	RigName string
	RigType string
	// Generation counts the enrollments of Name (1: the first).
	Generation int
}

// Key names the principal for rate limits and logs ("t:12", "a:7").
func (p *Principal) Key() string {
	if p.Agent != nil {
		return fmt.Sprintf("a:%d", p.Agent.ID)
	}
	return fmt.Sprintf("t:%d", p.TokenID)
}

// TokenPrincipal looks up an API token; ErrBadCredential when it is
// unknown, revoked or expired. A lookup that finds the token records its
// use (last_used_at) when the last one recorded is a minute old or more:
// at most one write a minute per token, whatever the request rate (and
// with the authentication cache, lookups are rarer still).
func (s *Store) TokenPrincipal(ctx context.Context, token string) (*Principal, error) {
	if !WellFormed(token, PrefixToken) {
		return nil, ErrBadCredential
	}
	var p Principal
	var org *int64
	var exp *time.Time
	err := s.pool.QueryRow(ctx, `WITH t AS (
			SELECT id, org_id, role, expires_at, last_used_at FROM api_tokens
			WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())),
		used AS (
			UPDATE api_tokens a SET last_used_at = now() FROM t
			WHERE a.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at <= now() - $2::interval))
		SELECT id, org_id, role, expires_at FROM t`,
		Hash(token), LastUsedResolution).Scan(&p.TokenID, &org, &p.Role, &exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrBadCredential
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	if org != nil {
		p.OrgID = *org
	}
	if exp != nil {
		p.Expires = *exp
	}
	return &p, nil
}

// LastUsedResolution is how stale a token's last_used_at may be: a lookup
// writes it only when the recorded one is at least this old.
const LastUsedResolution = time.Minute

// AgentPrincipal looks up an agent credential; ErrBadCredential when it is
// unknown or revoked.
func (s *Store) AgentPrincipal(ctx context.Context, cred string) (*Principal, error) {
	if !WellFormed(cred, PrefixAgent) {
		return nil, ErrBadCredential
	}
	p := Principal{Agent: &AgentIdentity{}}
	a := p.Agent
	err := s.pool.QueryRow(ctx, `SELECT a.org_id, a.id, a.name, a.generation, r.id, r.name, r.rig_type
		FROM agents a JOIN rigs r ON r.id = a.rig_id
		WHERE a.credential_hash = $1 AND a.revoked_at IS NULL`,
		Hash(cred)).Scan(&p.OrgID, &a.ID, &a.Name, &a.Generation, &a.RigID, &a.RigName, &a.RigType)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrBadCredential
	}
	if err != nil {
		return nil, fmt.Errorf("look up agent credential: %w", err)
	}
	return &p, nil
}

// Token is an API token's record (never its secret).
type Token = fleetapi.Token

// CreateToken makes an API token in org (0 with RoleSystem or
// RoleRelease) and returns
// its record and secret (shown once). expires zero: never.
func (s *Store) CreateToken(ctx context.Context, orgID int64, name string, role Role, expires time.Time) (*Token, string, error) {
	return s.CreateTokenBy(ctx, orgID, name, role, expires, 0)
}

const tokenCols = `id, org_id, name, role, created_at, expires_at, revoked_at, created_by, last_used_at`

func scanToken(row pgx.Row, t *Token) error {
	return row.Scan(&t.ID, &t.OrgID, &t.Name, &t.Role, &t.CreatedAt, &t.ExpiresAt, &t.RevokedAt, &t.CreatedBy, &t.LastUsedAt)
}

// CreateTokenBy is CreateToken recording createdBy, the id of the token
// that makes it (0: none, as for rig-cloud token create). Only tokens made
// by a token count against quotas.max_live_tokens: the deployment's own
// command (createdBy 0) is the way back in for an organisation at its cap
// (review r5 finding 4).
func (s *Store) CreateTokenBy(ctx context.Context, orgID int64, name string, role Role, expires time.Time, createdBy int64) (*Token, string, error) {
	secret, hash := NewSecret(PrefixToken)
	var org, by *int64
	if orgID != 0 {
		org = &orgID
	}
	if createdBy != 0 {
		by = &createdBy
	}
	var exp *time.Time
	if !expires.IsZero() {
		exp = &expires
	}
	t := &Token{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if orgID != 0 && createdBy != 0 {
			// Each token has a rate-limit bucket of its own: an
			// organisation's live tokens are capped (review r2 F5).
			if err := checkQuota(ctx, tx, orgID, QuotaLiveTokens, s.quotas.MaxLiveTokens, "live API tokens",
				"revoke tokens no longer used (GET /v1/tokens, DELETE /v1/tokens/{id}; rigctl tokens list, rigctl tokens revoke ID)",
				`SELECT count(*) FROM api_tokens WHERE org_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`); err != nil {
				return err
			}
		}
		return scanToken(tx.QueryRow(ctx, `INSERT INTO api_tokens (org_id, name, role, token_hash, expires_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+tokenCols,
			org, name, role, hash, exp, by), t)
	})
	var qe *QuotaError
	if errors.As(err, &qe) || errors.Is(err, ErrNotFound) {
		return nil, "", err
	}
	if err != nil {
		return nil, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, nil
}

// Tokens lists the API tokens of org by id, at most limit after id after,
// revoked and expired ones included (never their secrets); org 0: the
// deployment's tokens (system and release).
func (s *Store) Tokens(ctx context.Context, orgID, after int64, limit int) ([]Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM api_tokens
		WHERE (org_id = $1 OR $1 = 0 AND org_id IS NULL) AND id > $2 ORDER BY id LIMIT $3`, orgID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list tokens of organisation %d: %w", orgID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		return t, scanToken(r, &t)
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens of organisation %d: %w", orgID, err)
	}
	return out, nil
}

// RevokeToken revokes token id of org; ErrNotFound when org has no such
// token. Revoking twice is fine. The transaction notifies RevokedChannel
// and, once committed, the OnRevoke hook is called.
func (s *Store) RevokeToken(ctx context.Context, orgID, id int64) error {
	_, err := s.RevokeTokenWith(ctx, orgID, id, RevokeOptions{})
	return err
}

// RevokeOptions widen RevokeTokenWith.
type RevokeOptions struct {
	// AnyOrg revokes a token of any organisation or of none (system,
	// release): a system token's or the rig-cloud command's revocation.
	AnyOrg bool
	// Cascade also revokes the tokens the token made, theirs, and so on.
	Cascade bool
}

// RevokeTokenWith revokes token id of org as RevokeToken does, and with
// o.Cascade every token it made, recursively (whatever their
// organisation: a system token's are in many); it returns the ids it
// revoked now (those revoked before are left as they were and not
// returned). The unused enrollment tokens made by the token, or by those
// the cascade revokes, are revoked in the same transaction.
func (s *Store) RevokeTokenWith(ctx context.Context, orgID, id int64, o RevokeOptions) ([]int64, error) {
	var ids []int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var found bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM api_tokens WHERE id = $1 AND (org_id = $2 OR $3))`, id, orgID, o.AnyOrg).Scan(&found); err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		rows, err := tx.Query(ctx, `WITH RECURSIVE tree AS (
				SELECT $1::bigint AS id
				UNION
				SELECT t.id FROM api_tokens t JOIN tree ON t.created_by = tree.id WHERE $2)
			UPDATE api_tokens SET revoked_at = now() WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL
			RETURNING id`, id, o.Cascade)
		if err != nil {
			return err
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		// The enrollment tokens they made and nobody used go with them: a
		// leaked one must not outlive the operator's revoked token.
		if _, err := tx.Exec(ctx, `UPDATE enrollment_tokens SET revoked_at = now()
			WHERE created_by = ANY($1) AND used_at IS NULL AND revoked_at IS NULL`, append(ids, id)); err != nil {
			return err
		}
		return notifyRevoked(ctx, tx, fmt.Sprintf("token:%d", id))
	})
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("revoke token %d: %w", id, err)
	}
	s.revoked()
	return ids, nil
}

// RevokedChannel is the PostgreSQL notification channel of revocations:
// every transaction that revokes a credential (RevokeToken, RevokeAgent,
// an Enroll that replaces a current identity) sends a notification on it,
// delivered at commit, so that every replica drops the principals it
// caches. The payload names what was revoked ("token:12", "agent:7");
// a listener may ignore it.
const RevokedChannel = "rig_cloud_credentials_revoked"

func notifyRevoked(ctx context.Context, tx pgx.Tx, what string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, RevokedChannel, what); err != nil {
		return fmt.Errorf("notify %s of %s: %w", RevokedChannel, what, err)
	}
	return nil
}

// OnRevoke sets f, called after each revocation this Store commits
// (those that notify RevokedChannel) and before the revoking call
// returns, so that a cache of principals in this process forgets them
// before the next request, without waiting for the notification. Set it
// before the Store is used; f must be quick and safe for concurrent use.
// nil: none.
func (s *Store) OnRevoke(f func()) { s.onRevoke = f }

func (s *Store) revoked() {
	if s.onRevoke != nil {
		s.onRevoke()
	}
}
