package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound is returned when the object does not exist in the
	// caller's organisation (it may exist in another).
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when a unique name is taken.
	ErrExists = errors.New("already exists")
	// ErrBadCredential is returned for an unknown, revoked, expired or
	// used credential.
	ErrBadCredential = errors.New("unknown, revoked or expired credential")
)

// Store runs the service's queries on a pool.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// partitions remembers the months whose diagnoses partition exists
	// (a partition is never dropped while the service runs).
	partitions sync.Map // time.Time (month start, UTC) -> struct{}
	// maxFuture bounds diagnosis window starts after now (SetMaxFuture).
	maxFuture time.Duration
	// maxPast bounds diagnosis window starts before now (SetMaxPast).
	maxPast time.Duration
	// onRevoke is called after each committed revocation (OnRevoke).
	onRevoke func()
	// quotas caps what an organisation may have waiting (SetQuotas).
	quotas Quotas
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, now: time.Now} }

// Pool returns the pool the store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Credential prefixes.
const (
	PrefixToken      = "rgt_"
	PrefixAgent      = "rga_"
	PrefixEnrollment = "rge_"
)

// NewSecret returns a fresh credential with prefix and its hash.
func NewSecret(prefix string) (secret string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	secret = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, Hash(secret)
}

// Hash returns the SHA-256 of a credential, as stored.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// WellFormed reports whether s looks like a credential with prefix (so a
// garbage header costs no query).
func WellFormed(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	return ok && len(rest) == 43 && !strings.ContainsFunc(rest, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
