package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// HighestSeq returns the highest diagnosis sequence number stored for
// the agent identity agentID (agents.id: one enrollment generation; 0:
// none). It reads the last entry of diagnosis_keys' primary key
// (agent_id, seq), one index lookup however many keys the agent has.
// The check-in answers it (cloudapi.CheckinResponse.HighestSeq), so that
// an agent whose numbering restarted continues above it.
func (s *Store) HighestSeq(ctx context.Context, agentID int64) (uint64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, highestSeqSQL, agentID).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("highest diagnosis seq of agent %d: %w", agentID, err)
	}
	return uint64(seq), nil
}

// highestSeqSQL is HighestSeq's query (ORDER BY ... LIMIT 1: a backward
// index-only scan of the primary key).
const highestSeqSQL = `SELECT seq FROM diagnosis_keys WHERE agent_id = $1 ORDER BY seq DESC LIMIT 1`
