package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Bucket sizes of a component's health history.
const (
	BucketHour = fleetapi.BucketHour
	BucketDay  = fleetapi.BucketDay
)

// BucketDuration is the length of a bucket size (0: not one).
func BucketDuration(bucket string) time.Duration {
	switch bucket {
	case BucketHour:
		return time.Hour
	case BucketDay:
		return 24 * time.Hour
	}
	return 0
}

// HealthBucket is one time bucket of a component's health.
type HealthBucket = fleetapi.HealthBucket

// HealthHistory is a component's health history.
type HealthHistory = fleetapi.HealthHistory

// statusRank names the statuses by diag.Rank (worst highest; unknown, a
// window judged nothing, lowest), the order statusRankSQL ranks them in.
var statusRank = func() []string {
	r := make([]string, len(diag.Statuses))
	for _, s := range diag.Statuses {
		r[diag.Rank(s)] = string(s)
	}
	return r
}()

// statusRankSQL is diag.Rank as an SQL expression over the status expr
// (text), built from diag.Statuses so the two cannot disagree.
func statusRankSQL(expr string) string {
	var b strings.Builder
	b.WriteString("CASE " + expr)
	for _, s := range diag.Statuses {
		if r := diag.Rank(s); r != 0 {
			fmt.Fprintf(&b, " WHEN '%s' THEN %d", s, r)
		}
	}
	b.WriteString(" ELSE 0 END")
	return b.String()
}

// ErrUnknownZone is returned for a time zone the database does not know.
var ErrUnknownZone = errors.New("time zone unknown to the database")

// ComponentHealthHistory is ComponentHealthHistoryIn UTC.
func (s *Store) ComponentHealthHistory(ctx context.Context, orgID int64, rigName, component, bucket string, from, to time.Time) (*HealthHistory, error) {
	return s.ComponentHealthHistoryIn(ctx, orgID, rigName, component, bucket, from, to, time.UTC)
}

// ComponentHealthHistoryIn aggregates, in SQL, the health of component of
// org's rig over the diagnoses whose window starts in [from, to), per
// hour (BucketHour) or day (BucketDay) of time zone loc (an IANA zone
// the database knows, else ErrUnknownZone): buckets start at loc's whole
// hours and midnights, a day across a daylight saving change is 23 or 25
// hours, and each bucket's start is given in loc's offset. A bucket
// counts the rig's diagnoses that do not report the component as
// missing windows (a bucket of only those is there, windows 0: the gap
// shows, also when it covers the whole range). A component no diagnosis
// of the rig ever reports (one it does not have) has no buckets; another
// organisation's rig is ErrNotFound.
func (s *Store) ComponentHealthHistoryIn(ctx context.Context, orgID int64, rigName, component, bucket string, from, to time.Time,
	loc *time.Location) (*HealthHistory, error) {
	unit := map[string]string{BucketHour: "hour", BucketDay: "day"}[bucket]
	if unit == "" {
		return nil, fmt.Errorf("component health: bucket %q is not %s or %s", bucket, BucketHour, BucketDay)
	}
	r, err := s.Rig(ctx, orgID, rigName)
	if err != nil {
		return nil, err
	}
	// The partition key bounds the scan to [from, to). Each row's document
	// is parsed once (to jsonb, the argument of jsonb_path_query) and the
	// component's entries picked by id, not expanded one by one. Health
	// counts when judged, diag.Judged's rule (the agent's health trend
	// applies it too): on rows the ingest validated (cloudapi: status one
	// of the four, health in [0, 1]) that is a status other than unknown.
	// A diagnosis without the component (c NULL: its sensors masked, a
	// model without it) counts as missing, not as a window.
	rows, err := s.pool.Query(ctx, `SELECT date_trunc($4, d.window_start, $6) AS b,
			count(x.c),
			count(*) FILTER (WHERE x.c->>'status' = 'unknown'),
			count(*) FILTER (WHERE x.c IS NULL),
			avg((x.c->>'health')::float8) FILTER (WHERE x.c->>'status' <> 'unknown'),
			min((x.c->>'health')::float8) FILTER (WHERE x.c->>'status' <> 'unknown'),
			max(`+statusRankSQL("x.c->>'status'")+`)
		FROM diagnoses d LEFT JOIN LATERAL (SELECT jsonb_path_query(d.doc::jsonb, 'strict $.components[*] ? (@.id == $c)',
			jsonb_build_object('c', $5::text), true) AS c) x ON true
		WHERE d.rig_id = $1 AND d.window_start >= $2 AND d.window_start < $3
		GROUP BY b ORDER BY b`, r.ID, from, to, unit, component, loc.String())
	if err != nil {
		return nil, healthErr(err, loc)
	}
	defer rows.Close()
	h := &HealthHistory{RigID: r.RigID, Component: component, Bucket: bucket, From: from.UTC(), To: to.UTC(), Buckets: []HealthBucket{}}
	var b HealthBucket
	var rank int
	reported := false
	if _, err := pgx.ForEachRow(rows, []any{&b.Start, &b.Windows, &b.UnknownWindows, &b.MissingWindows, &b.AvgHealth, &b.MinHealth, &rank}, func() error {
		reported = reported || b.Windows > 0
		nb := b
		nb.Start = b.Start.In(loc)
		nb.WorstStatus = statusRank[rank]
		h.Buckets = append(h.Buckets, nb)
		b.AvgHealth, b.MinHealth = nil, nil // the next row's scan allocates anew
		return nil
	}); err != nil {
		return nil, healthErr(err, loc)
	}
	if !reported && len(h.Buckets) > 0 {
		// No diagnosis in the range reports the component: an outage of
		// its sensors over the whole range, or a component the rig does
		// not have. Whether the rig has it does not depend on the range:
		// any diagnosis of the rig reporting it, newest first (the
		// primary key's order; a component the rig has is found in its
		// latest windows, one it never had reads them all).
		has, err := s.rigReportsComponent(ctx, r.ID, component)
		if err != nil {
			return nil, err
		}
		if !has {
			h.Buckets = []HealthBucket{}
		}
	}
	return h, nil
}

// rigReportsComponent reports whether any diagnosis of rig (its
// database id), at any time, reports component.
func (s *Store) rigReportsComponent(ctx context.Context, rig int64, component string) (bool, error) {
	var has bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM diagnoses d WHERE d.rig_id = $1
			AND jsonb_path_exists(d.doc::jsonb, 'strict $.components[*] ? (@.id == $c)', jsonb_build_object('c', $2::text), true)
			ORDER BY d.window_start DESC LIMIT 1)`, rig, component).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("component health: does rig %d report %q: %w", rig, component, err)
	}
	return has, nil
}

// healthErr wraps a health query's error: ErrUnknownZone when the
// database refused loc's name (SQLSTATE 22023).
func healthErr(err error, loc *time.Location) error {
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "22023" {
		return fmt.Errorf("component health: time zone %q: %w", loc.String(), ErrUnknownZone)
	}
	return fmt.Errorf("component health: %w", err)
}
