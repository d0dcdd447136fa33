package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cursor is a position in a rig's diagnoses, ordered by (window_start,
// agent, seq): the last item of a page.
type Cursor struct {
	WindowStart time.Time
	AgentID     int64
	Seq         int64
}

// ErrBadCursor is returned by ParseCursor for a cursor this server did not
// make.
var ErrBadCursor = errors.New("invalid cursor")

// String encodes the cursor as an opaque token.
func (c Cursor) String() string {
	s := fmt.Sprintf("%d.%d.%d", c.WindowStart.UnixNano(), c.AgentID, c.Seq)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// ParseCursor decodes a cursor made by String.
func ParseCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 64 {
		return Cursor{}, ErrBadCursor
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 {
		return Cursor{}, ErrBadCursor
	}
	var n [3]int64
	for i, p := range parts {
		if n[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return Cursor{}, ErrBadCursor
		}
	}
	return Cursor{WindowStart: time.Unix(0, n[0]).UTC(), AgentID: n[1], Seq: n[2]}, nil
}

// DiagnosisPage is one page of a rig's diagnoses.
type DiagnosisPage struct {
	// Diagnoses are the stored documents (shared/diag.Diagnosis), in
	// window-start order.
	Diagnoses []json.RawMessage `json:"items"`
	// NextCursor continues after the last one ("" : no more).
	NextCursor string `json:"next_cursor,omitempty"`
}

// AppendJSON appends p's JSON encoding to b: what encoding/json makes
// of it, without re-scanning the stored documents (json.Marshal
// validates and compacts every json.RawMessage, which was a quarter of
// rig-cloud's CPU serving history pages). The documents are written as
// PostgreSQL returns them: valid JSON (the json column checks it), as
// the ingest encoded it.
func (p *DiagnosisPage) AppendJSON(b []byte) []byte {
	b = append(b, `{"items":[`...)
	for i, d := range p.Diagnoses {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d...)
	}
	b = append(b, ']')
	if p.NextCursor != "" {
		c, _ := json.Marshal(p.NextCursor) // a string always encodes
		b = append(b, `,"next_cursor":`...)
		b = append(b, c...)
	}
	return append(b, '}')
}

// Diagnoses returns org's rig's diagnoses whose window starts in
// [from, to), after cursor (nil: from the start), at most limit.
func (s *Store) Diagnoses(ctx context.Context, orgID int64, rigName string, from, to time.Time, after *Cursor, limit int) (*DiagnosisPage, error) {
	c := Cursor{WindowStart: from, AgentID: -1, Seq: -1}
	if after != nil {
		c = *after
		if c.WindowStart.Before(from) {
			c = Cursor{WindowStart: from, AgentID: -1, Seq: -1}
		}
	}
	// One round trip: the rig by name joined to its page; no row is no
	// such rig (ErrNotFound), one row of NULLs is an empty page.
	rows, err := s.pool.Query(ctx, `SELECT d.window_start, d.agent_id, d.seq, d.doc
		FROM rigs r LEFT JOIN LATERAL (
			SELECT window_start, agent_id, seq, doc FROM diagnoses
			WHERE rig_id = r.id AND window_start >= $3 AND window_start < $4
				AND (window_start, agent_id, seq) > ($5, $6, $7)
			ORDER BY window_start, agent_id, seq LIMIT $8) d ON true
		WHERE r.org_id = $1 AND r.name = $2
		ORDER BY d.window_start, d.agent_id, d.seq`,
		orgID, rigName, from, to, c.WindowStart, c.AgentID, c.Seq, limit+1)
	if err != nil {
		return nil, fmt.Errorf("diagnoses: %w", err)
	}
	page := &DiagnosisPage{Diagnoses: make([]json.RawMessage, 0, min(limit, 256))}
	var last Cursor
	var doc []byte
	var (
		start     *time.Time
		agent, sq *int64
	)
	found, n := false, 0
	if _, err := pgx.ForEachRow(rows, []any{&start, &agent, &sq, &doc}, func() error {
		found = true
		if start == nil {
			return nil // the rig, no diagnoses in range
		}
		n++
		if n > limit {
			page.NextCursor = last.String()
			return nil
		}
		page.Diagnoses = append(page.Diagnoses, json.RawMessage(append([]byte(nil), doc...)))
		last = Cursor{WindowStart: *start, AgentID: *agent, Seq: *sq}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("diagnoses: %w", err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return page, nil
}
