package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// DefaultMaxFuture is how far after the cloud's clock a diagnosis window
// may start (config agents.max_future).
const DefaultMaxFuture = 24 * time.Hour

// SetMaxFuture sets how far after the cloud's clock a diagnosis' window
// may start; later ones are rejected items (0: DefaultMaxFuture). Call it
// before the Store is used.
func (s *Store) SetMaxFuture(d time.Duration) { s.maxFuture = d }

// MaxFuture is what SetMaxFuture set, or DefaultMaxFuture.
func (s *Store) MaxFuture() time.Duration {
	if s.maxFuture <= 0 {
		return DefaultMaxFuture
	}
	return s.maxFuture
}

// DefaultMaxPast is how long before the cloud's clock a diagnosis window
// may start (config agents.max_past): an agent's offline backlog of up to
// a year still lands.
const DefaultMaxPast = 400 * 24 * time.Hour

// SetMaxPast sets how long before the cloud's clock a diagnosis' window
// may start; earlier ones are rejected items (a rig whose clock reset to
// 1970 or 2000, or an old replay, would otherwise make a diagnoses
// partition per month it names). 0, New's default, bounds nothing but
// the contract's earliest time (test fixtures of fixed dates age); the
// server always sets agents.max_past (DefaultMaxPast unless configured).
// Call it before the Store is used.
func (s *Store) SetMaxPast(d time.Duration) { s.maxPast = d }

// MaxPast is what SetMaxPast set (0: no bound).
func (s *Store) MaxPast() time.Duration { return s.maxPast }

// windowBounds is the range of window starts a batch ingested at now may
// hold: [earliest, latest]; earliest is zero without a past bound.
type windowBounds struct{ earliest, latest time.Time }

func (s *Store) windowBounds(now time.Time) windowBounds {
	b := windowBounds{latest: now.Add(s.MaxFuture())}
	if s.maxPast > 0 {
		b.earliest = now.Add(-s.maxPast)
	}
	return b
}

// check refuses a window start outside b: after latest (its clock plus
// agents.max_future) or before earliest (its clock less agents.max_past).
func (b windowBounds) check(i int, start time.Time) *cloudapi.Problem {
	switch {
	case start.After(b.latest):
		return itemProblem("window/start", fmt.Sprintf("%s is after %s, the latest window start this cloud accepts now "+
			"(its clock plus agents.max_future): is the agent's clock wrong?",
			start.UTC().Format(time.RFC3339Nano), b.latest.UTC().Format(time.RFC3339)), i)
	case !b.earliest.IsZero() && start.Before(b.earliest):
		return itemProblem("window/start", fmt.Sprintf("%s is before %s, the earliest window start this cloud accepts now "+
			"(its clock less agents.max_past): is the agent's clock wrong, or is this an old replay?",
			start.UTC().Format(time.RFC3339Nano), b.earliest.UTC().Format(time.RFC3339)), i)
	}
	return nil
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// ensurePartitions makes the diagnoses partitions of the given months, in
// short transactions of their own (outside the ingest's, which would
// otherwise hold the parent table's lock).
func (s *Store) ensurePartitions(ctx context.Context, months []time.Time) error {
	for _, m := range months {
		if _, ok := s.partitions.Load(m); ok {
			continue
		}
		if _, err := s.pool.Exec(ctx, `SELECT ensure_diagnosis_partition($1)`, m); err != nil {
			return fmt.Errorf("diagnoses partition %s: %w", m.Format("2006-01"), err)
		}
		s.partitions.Store(m, struct{}{})
	}
	return nil
}

const createStage = `CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
	agent_id bigint, seq bigint, fingerprint bytea, org_id bigint, rig_id bigint,
	window_start timestamptz, window_end timestamptz, created_at timestamptz,
	health double precision, status text, model_version text, doc json
) ON COMMIT DELETE ROWS`

var stageCols = []string{"agent_id", "seq", "fingerprint", "org_id", "rig_id", "window_start", "window_end", "created_at", "health", "status", "model_version", "doc"}

const insertNew = `WITH k AS (
	INSERT INTO diagnosis_keys (agent_id, seq, fingerprint, rig_id, window_start)
	SELECT agent_id, seq, fingerprint, rig_id, window_start FROM ingest_stage ORDER BY seq
	ON CONFLICT DO NOTHING
	RETURNING seq
), d AS (
	INSERT INTO diagnoses (org_id, rig_id, agent_id, seq, window_start, window_end, created_at, health, status, model_version, doc)
	SELECT org_id, rig_id, agent_id, seq, window_start, window_end, created_at, health, status, model_version, doc
	FROM ingest_stage WHERE seq IN (SELECT seq FROM k)
	RETURNING seq
)
SELECT seq FROM d`

// IngestDiagnoses stores the valid items of a decoded batch for agent p
// in one transaction, idempotently on (agent, seq), and returns one
// result per item in order: accepted (stored now), duplicate (stored
// before with the same fingerprint), conflict (stored before with another;
// the stored one is kept) or rejected (the item's problem, a diagnosis
// for another rig than the agent's, or one whose window starts more than
// MaxFuture after or MaxPast before the cloud's clock). Alerts are opened (or counted) for
// accepted diagnoses' high and critical anomalies (openAlertsSQL). On
// error nothing was stored.
func (s *Store) IngestDiagnoses(ctx context.Context, p *Principal, items []cloudapi.DecodedItem) ([]cloudapi.ItemResult, error) {
	a := p.Agent
	res := make([]cloudapi.ItemResult, len(items))
	rows := make([][]any, 0, len(items))
	prints := make(map[int64][]byte, len(items))
	index := make(map[int64]int, len(items))
	var months []time.Time
	bounds := s.windowBounds(s.now())
	for i := range items {
		it := &items[i]
		res[i] = cloudapi.ItemResult{Seq: it.Seq}
		if it.Problem != nil {
			res[i].Status, res[i].Problem = cloudapi.ItemRejected, it.Problem
			continue
		}
		d := &it.Diagnosis
		if pr := checkItem(i, a, d, bounds); pr != nil {
			res[i].Status, res[i].Problem = cloudapi.ItemRejected, pr
			continue
		}
		// The fingerprint is cloudapi.Fingerprint (SHA-256 of the JSON
		// encoding), computed here from the stored document's one
		// encoding rather than encoding twice
		// (TestIngestFingerprintIsCloudapiFingerprint holds them equal).
		doc, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("encode diagnosis %d: %w", it.Seq, err)
		}
		sum := sha256.Sum256(doc)
		seq := int64(it.Seq)
		prints[seq] = sum[:]
		index[seq] = i
		if m := monthOf(d.Window.Start); !slices.Contains(months, m) {
			months = append(months, m)
		}
		rows = append(rows, []any{a.ID, seq, sum[:], p.OrgID, a.RigID, d.Window.Start, d.Window.End, d.CreatedAt,
			d.Health, string(d.Status), d.Model.Version, doc})
	}
	if len(rows) == 0 {
		return res, nil
	}
	if err := s.ensurePartitions(ctx, months); err != nil {
		return nil, err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, createStage); err != nil {
			return fmt.Errorf("staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ingest_stage"}, stageCols, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("copy diagnoses: %w", err)
		}
		accepted, err := tx.Query(ctx, insertNew)
		if err != nil {
			return fmt.Errorf("insert diagnoses: %w", err)
		}
		var seq int64
		var newSeqs []int64
		if _, err := pgx.ForEachRow(accepted, []any{&seq}, func() error {
			res[index[seq]].Status = cloudapi.ItemAccepted
			newSeqs = append(newSeqs, seq)
			return nil
		}); err != nil {
			return fmt.Errorf("insert diagnoses: %w", err)
		}
		if len(newSeqs) < len(rows) {
			var old []int64
			for sq := range prints {
				if res[index[sq]].Status == "" {
					old = append(old, sq)
				}
			}
			stored, err := tx.Query(ctx, `SELECT seq, fingerprint FROM diagnosis_keys WHERE agent_id = $1 AND seq = ANY($2)`, a.ID, old)
			if err != nil {
				return fmt.Errorf("read stored keys: %w", err)
			}
			var fp []byte
			if _, err := pgx.ForEachRow(stored, []any{&seq, &fp}, func() error {
				r := &res[index[seq]]
				if string(fp) == string(prints[seq]) {
					r.Status = cloudapi.ItemDuplicate
				} else {
					r.Status = cloudapi.ItemConflict
					r.Problem = &cloudapi.Problem{Type: cloudapi.ProblemConflict, Title: cloudapi.ProblemTitle(cloudapi.ProblemConflict),
						Detail: fmt.Sprintf("%s/%d was stored before with fingerprint %s, this one has %s; the stored one is kept "+
							"(if this agent's sequence restarted, e.g. after its data directory was lost, enroll it again: "+
							"a new enrollment starts a new identity whose sequence numbers do not collide)",
							a.Name, seq, hex.EncodeToString(fp)[:16], hex.EncodeToString(prints[seq])[:16])}
				}
				return nil
			}); err != nil {
				return fmt.Errorf("read stored keys: %w", err)
			}
		}
		for i, r := range res {
			if r.Status == "" {
				return fmt.Errorf("diagnosis %d: neither stored nor found stored", items[i].Seq)
			}
		}
		return s.openAlerts(ctx, tx, p, items, newSeqs, index)
	})
	if err != nil {
		// Results of a rolled-back transaction must not escape.
		return nil, err
	}
	return res, nil
}

func itemProblem(ptr, detail string, i int) *cloudapi.Problem {
	return &cloudapi.Problem{Type: cloudapi.ProblemInvalidItem, Title: cloudapi.ProblemTitle(cloudapi.ProblemInvalidItem),
		Detail: fmt.Sprintf("/diagnoses/%d has 1 invalid field(s)", i),
		Errors: []cloudapi.FieldProblem{{Pointer: fmt.Sprintf("/diagnoses/%d/%s", i, ptr), Detail: detail}}}
}

// checkItem refuses a diagnosis the agent may not write: another rig's,
// another rig type's, one whose seq does not fit PostgreSQL's bigint, or
// one whose window starts outside b (a broken clock: each month would
// make a diagnoses partition that every query then plans over).
func checkItem(i int, a *AgentIdentity, d *diag.Diagnosis, b windowBounds) *cloudapi.Problem {
	if pr := b.check(i, d.Window.Start); pr != nil {
		return pr
	}
	switch {
	case d.Seq > math.MaxInt64:
		return itemProblem("seq", fmt.Sprintf("%d is larger than %d", d.Seq, int64(math.MaxInt64)), i)
	case d.RigID != a.RigName:
		return itemProblem("rig_id", fmt.Sprintf("%q is not this agent's rig %q", d.RigID, a.RigName), i)
	case d.RigType != a.RigType:
		return itemProblem("rig_type", fmt.Sprintf("%q is not rig %s's type %q", d.RigType, a.RigName, a.RigType), i)
	}
	return nil
}

var severityRank = map[diag.Severity]int{diag.SeverityInfo: 1, diag.SeverityLow: 2, diag.SeverityMedium: 3, diag.SeverityHigh: 4, diag.SeverityCritical: 5}

// openAlertsSQL opens or counts the alerts of a batch's anomalies, one
// array element per (diagnosis, anomaly): component, fault, severity,
// window end, seq, suspected fault.
//
// The bounds on an agent's recorded clock skew that openAlertsSQL uses
// (SQL literals): a skew under skewNoiseMs milliseconds is the check-in's
// transit time, not the clock's; one from a check-in older than
// skewMaxAge is stale.
const (
	skewNoiseMs = "5000"
	skewMaxAge  = "1 hour"
)

// An anomaly whose window ended at or before the newest resolved alert of
// its (rig, component, fault) was resolved with it: a late backlog does
// not open the alert again. Both in the cloud's clock: the window end,
// stamped by the agent's clock, less the agent's clock skew as its last
// check-in recorded it (agents.clock_skew_ms, agent minus the database's
// clock; none: 0), against resolved_at (the database's now() at the
// resolve). An agent whose clock runs behind would otherwise have its
// anomalies after a resolve dropped for as long as it is behind; one
// whose clock runs ahead, its backlog from before the resolve open the
// alert again. The skew counts as 0 when it is under skewNoise (the
// check-in's transit time biases it by about that much), when its
// check-in is older than skewMaxAge (the agent's clock may have been
// stepped since), or when it put the agent's clock before 2000 (an
// unset clock, clamped by the agent: NTP is about to step it).
// An anomaly-head finding the agent's rules named (diag.SuspectedFault)
// goes in as fault "" (the anomaly's key, as an unnamed one) with its
// name apart ($10; "" for the others): a persistent anomaly whose
// suspected name flickers stays one alert, whose suspected is the name of
// its latest window (by window end; within a batch ties go to the higher
// seq, across batches to the later batch: the alert keeps no seq of
// the window that named it) and whose suspected_faults counts its
// windows per name. Its windows that end before the resolve of an
// alert of their suspected name (one opened under the name before
// schema v18) count as resolved, as those of a resolved anomaly alert do.
// The rest are grouped per (component, fault),
// in a fixed order (concurrent batches lock alerts alike: no deadlock),
// and open an alert or count on the open or acknowledged one. Its
// severity becomes the worse of the two; an acknowledged alert whose
// severity rises is open again (its acknowledgement cleared), as an
// escalation needs attention anew.
const openAlertsSQL = `WITH k AS (
	SELECT coalesce((SELECT CASE
		WHEN abs(ag.clock_skew_ms) < ` + skewNoiseMs + `
			OR ag.last_checkin_at < now() - interval '` + skewMaxAge + `'
			OR ag.last_checkin_at + ag.clock_skew_ms * interval '1 millisecond' < '2000-01-01T00:00:00Z'
		THEN 0 ELSE ag.clock_skew_ms END
		FROM agents ag WHERE ag.id = $3), 0) * interval '1 millisecond' AS skew
), w AS (
	SELECT u.c, u.f, array_position($9::text[], u.s) AS r, u.e, u.q, u.x
	FROM unnest($4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[], $10::text[]) AS u(c, f, s, e, q, x), k
	WHERE u.e - k.skew > coalesce((SELECT max(x.resolved_at) FROM alerts x
		WHERE x.rig_id = $2 AND x.component = u.c AND x.fault IN (u.f, coalesce(nullif(u.x, ''), u.f))
			AND x.state = 'resolved'), '-infinity')
), g AS (
	SELECT c, f, ($9::text[])[max(r)] AS s, min(e) AS o, max(e) AS l, count(*)::int AS n, (array_agg(q ORDER BY e, q))[1] AS q,
		(array_agg(x ORDER BY e DESC, q DESC))[1] AS x
	FROM w GROUP BY c, f
), nx AS (
	SELECT c, f, jsonb_object_agg(x, n) AS xs
	FROM (SELECT c, f, x, count(*)::int AS n FROM w WHERE x <> '' GROUP BY c, f, x) y GROUP BY c, f
)
INSERT INTO alerts AS a (org_id, rig_id, component, fault, severity, opened_at, last_seen_at, occurrences, agent_id, seq,
	suspected, suspected_faults)
SELECT $1, $2, g.c, g.f, g.s, g.o, g.l, g.n, $3, g.q, g.x, coalesce(nx.xs, '{}')
FROM g LEFT JOIN nx ON nx.c = g.c AND nx.f = g.f ORDER BY g.c COLLATE "C", g.f COLLATE "C"
ON CONFLICT (rig_id, component, fault) WHERE state <> 'resolved' DO UPDATE
SET last_seen_at = greatest(a.last_seen_at, EXCLUDED.last_seen_at),
	occurrences = a.occurrences + EXCLUDED.occurrences,
	suspected = CASE WHEN EXCLUDED.last_seen_at >= a.last_seen_at THEN EXCLUDED.suspected ELSE a.suspected END,
	suspected_faults = (SELECT coalesce(jsonb_object_agg(m.k, m.n), '{}') FROM (
		SELECT t.k, sum(t.v::int)::int AS n FROM (
			SELECT * FROM jsonb_each_text(a.suspected_faults) UNION ALL SELECT * FROM jsonb_each_text(EXCLUDED.suspected_faults)
		) t(k, v) GROUP BY t.k) m),
	severity = CASE WHEN array_position($9::text[], EXCLUDED.severity) > coalesce(array_position($9::text[], a.severity), 0)
		THEN EXCLUDED.severity ELSE a.severity END,
	state = CASE WHEN array_position($9::text[], EXCLUDED.severity) > coalesce(array_position($9::text[], a.severity), 0)
		THEN 'open' ELSE a.state END,
	acknowledged_at = CASE WHEN array_position($9::text[], EXCLUDED.severity) > coalesce(array_position($9::text[], a.severity), 0)
		THEN NULL ELSE a.acknowledged_at END,
	acknowledged_by = CASE WHEN array_position($9::text[], EXCLUDED.severity) > coalesce(array_position($9::text[], a.severity), 0)
		THEN NULL ELSE a.acknowledged_by END`

// severityOrder lists the severities, least first (severityRank's order).
var severityOrder = []string{string(diag.SeverityInfo), string(diag.SeverityLow), string(diag.SeverityMedium),
	string(diag.SeverityHigh), string(diag.SeverityCritical)}

// alertLockClass is the first key of the transaction-level advisory locks
// that serialise, per (rig, component, fault), resolving an alert with
// ingest opening or counting one ("alrt"); alertLockKey, the second, is a
// hash of rig id, component and fault (a collision only serialises two
// keys more than needed). The two-key form is a lock space apart from the
// one-bigint locks (migrations, releases).
const (
	alertLockClass = 0x616c7274
	alertLockKey   = `hashtext(%s::text || '/' || %s || '/' || %s)`
)

// lockAlertKeysSQL takes the alert locks of rig $2's (component, fault)
// pairs $3, $4, in the hashes' order (concurrent batches take them alike:
// no deadlock).
var lockAlertKeysSQL = `SELECT pg_advisory_xact_lock($1, h) FROM (
	SELECT DISTINCT ` + fmt.Sprintf(alertLockKey, "$2::bigint", "u.c", "u.f") + ` AS h
	FROM unnest($3::text[], $4::text[]) AS u(c, f) ORDER BY h) l`

// openAlerts opens an alert per (component, fault) of the new diagnoses'
// high and critical anomalies (fault "" for the anomaly head's, named or
// not), or counts it on the one already open
// (openAlertsSQL), in one statement. It first takes the alert locks of
// the batch's (component, fault) pairs (lockAlertKeysSQL), so that a
// resolve of one (SetAlertState) either comes before the statement,
// whose snapshot then sees it, or waits for the transaction: a backlog
// racing a resolve never opens a new alert for windows before it. Both
// statements go in one round trip (a pgx batch; each still takes its own
// snapshot, the second after the locks).
func (s *Store) openAlerts(ctx context.Context, tx pgx.Tx, p *Principal, items []cloudapi.DecodedItem, newSeqs []int64, index map[int64]int) error {
	var comps, faults, sevs, named []string
	var ends []time.Time
	var seqs []int64
	for _, sq := range newSeqs {
		d := &items[index[sq]].Diagnosis
		for i := range d.Anomalies {
			an := &d.Anomalies[i]
			if severityRank[an.Severity] < severityRank[diag.SeverityHigh] {
				continue
			}
			fault, suspected := string(an.Fault), ""
			if diag.SuspectedFault(d, an) {
				// Keyed by the anomaly, the name apart.
				fault, suspected = "", fault
			}
			comp := ""
			if len(an.Components) > 0 {
				comp = an.Components[0]
			} else if len(an.Sensors) > 0 {
				comp = "sensor:" + an.Sensors[0]
			}
			comps, faults, sevs = append(comps, comp), append(faults, fault), append(sevs, string(an.Severity))
			named = append(named, suspected)
			ends, seqs = append(ends, d.Window.End), append(seqs, sq)
		}
	}
	if len(comps) == 0 {
		return nil
	}
	var b pgx.Batch
	b.Queue(lockAlertKeysSQL, alertLockClass, p.Agent.RigID, comps, faults)
	b.Queue(openAlertsSQL, p.OrgID, p.Agent.RigID, p.Agent.ID, comps, faults, sevs, ends, seqs, severityOrder, named)
	br := tx.SendBatch(ctx, &b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("lock alerts: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return fmt.Errorf("open alerts: %w", err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("open alerts: %w", err)
	}
	return nil
}
