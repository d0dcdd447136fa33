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
// unknown, revoked or expired.
func (s *Store) TokenPrincipal(ctx context.Context, token string) (*Principal, error) {
	if !WellFormed(token, PrefixToken) {
		return nil, ErrBadCredential
	}
	var p Principal
	var org *int64
	var exp *time.Time
	err := s.pool.QueryRow(ctx, `SELECT id, org_id, role, expires_at FROM api_tokens
		WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
		Hash(token)).Scan(&p.TokenID, &org, &p.Role, &exp)
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
	secret, hash := NewSecret(PrefixToken)
	var org *int64
	if orgID != 0 {
		org = &orgID
	}
	var exp *time.Time
	if !expires.IsZero() {
		exp = &expires
	}
	t := &Token{}
	err := s.pool.QueryRow(ctx, `INSERT INTO api_tokens (org_id, name, role, token_hash, expires_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id, org_id, name, role, created_at, expires_at`,
		org, name, role, hash, exp).Scan(&t.ID, &t.OrgID, &t.Name, &t.Role, &t.CreatedAt, &t.ExpiresAt)
	if err != nil {
		return nil, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, nil
}

// RevokeToken revokes token id of org; ErrNotFound when org has no such
// token. Revoking twice is fine. The transaction notifies RevokedChannel
// and, once committed, the OnRevoke hook is called.
func (s *Store) RevokeToken(ctx context.Context, orgID, id int64) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 AND org_id = $2`, id, orgID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return notifyRevoked(ctx, tx, fmt.Sprintf("token:%d", id))
	})
	if errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	s.revoked()
	return nil
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
