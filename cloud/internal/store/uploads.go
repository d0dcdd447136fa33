package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// Upload request states.
const (
	UploadOpen      = fleetapi.UploadOpen
	UploadDone      = fleetapi.UploadDone
	UploadCancelled = fleetapi.UploadCancelled
)

// UploadIDPrefix starts the wire id of an upload request ("up-12"): the
// cloudapi.UploadRequest.ID the agent sees.
const UploadIDPrefix = "up-"

// ErrGone is returned for an upload request that expired, was cancelled
// or is complete (a part it does not hold yet is refused: 410).
var ErrGone = errors.New("the upload request has ended")

// FleetUpload is an operator's request for a rig's readings over a time
// range, and how far the rig's agent got.
type FleetUpload = fleetapi.FleetUpload

// UploadExpired is the state reported for an open request past its
// expires_at (computed when read: the stored state stays open).
const UploadExpired = fleetapi.UploadExpired

// MaxUploadRequestReadings caps the readings stored for one upload
// request, whatever its max_bytes: a part's readings past it are not
// stored and the request is done (StoreUploadPart).
const MaxUploadRequestReadings = 25_000_000

// MaxUploadBytes caps an upload request's max_bytes, and is the cap of a
// request that names none (0): the server stores no more of its
// readings' encodings (cloudapi.ReadingBytes; StoreUploadPart). Requests
// stored with 0 before migration 0013 were given it there.
const MaxUploadBytes = 1 << 30

// uploadState is a request's state as reported: open past expires_at is
// expired.
const uploadState = `CASE WHEN u.state = 'open' AND u.expires_at <= now() THEN 'expired' ELSE u.state END`

const uploadCols = `u.id, r.name, u.from_ts, u.to_ts, u.sensors, u.max_bytes, u.expires_at, ` + uploadState + `, u.parts, u.readings, u.bytes, u.created_at, u.done_at`

func scanUpload(row pgx.Row) (*FleetUpload, error) {
	u := &FleetUpload{}
	var id int64
	err := row.Scan(&id, &u.RigID, &u.From, &u.To, &u.Sensors, &u.MaxBytes, &u.ExpiresAt, &u.State, &u.Parts, &u.Readings, &u.Bytes, &u.CreatedAt, &u.DoneAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	u.ID = UploadIDPrefix + strconv.FormatInt(id, 10)
	u.From, u.To, u.ExpiresAt, u.CreatedAt = u.From.UTC(), u.To.UTC(), u.ExpiresAt.UTC(), u.CreatedAt.UTC()
	if u.Sensors == nil {
		u.Sensors = []string{}
	}
	return u, nil
}

// ValidUploadID reports whether id is an upload request's wire id.
func ValidUploadID(id string) bool { return uploadNumber(id) > 0 }

// uploadNumber parses a wire id ("up-12"); 0 when it is not one.
func uploadNumber(id string) int64 {
	s, ok := strings.CutPrefix(id, UploadIDPrefix)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// CreateUploadRequest asks org's rig rigName for its readings in
// [from, to) (of sensors; empty: all), until expires, holding at most
// maxBytes of them (0: MaxUploadBytes). ErrNotFound when org has no such
// rig; a *QuotaError (ErrQuota) when org holds Quotas.MaxOpenUploads
// open requests already.
func (s *Store) CreateUploadRequest(ctx context.Context, orgID int64, rigName string, from, to time.Time, sensors []string,
	maxBytes int64, expires time.Time, createdBy int64) (*FleetUpload, error) {
	if maxBytes <= 0 {
		maxBytes = MaxUploadBytes
	}
	var by *int64
	if createdBy != 0 {
		by = &createdBy
	}
	if sensors == nil {
		sensors = []string{}
	}
	var u *FleetUpload
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.checkOpenUploads(ctx, tx, orgID); err != nil {
			return err
		}
		var err error
		u, err = scanUpload(tx.QueryRow(ctx, `WITH u AS (
				INSERT INTO upload_requests (org_id, rig_id, from_ts, to_ts, sensors, max_bytes, expires_at, created_by)
				SELECT $1, r.id, $3, $4, $5, $6, $7, $8 FROM rigs r WHERE r.org_id = $1 AND r.name = $2
				RETURNING *)
			SELECT `+uploadCols+` FROM u JOIN rigs r ON r.id = u.rig_id`,
			orgID, rigName, from, to, sensors, maxBytes, expires, by))
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// UploadRequests lists org's upload requests by id (of one rig when
// rigName is set, in one state when state is set: UploadExpired for the
// open requests past their expires_at, which UploadOpen leaves out), at
// most limit after the wire id after.
func (s *Store) UploadRequests(ctx context.Context, orgID int64, rigName, state, after string, limit int) ([]FleetUpload, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+uploadCols+` FROM upload_requests u JOIN rigs r ON r.id = u.rig_id
		WHERE u.org_id = $1 AND ($2 = '' OR r.name = $2) AND ($3 = '' OR `+uploadState+` = $3) AND u.id > $4 ORDER BY u.id LIMIT $5`,
		orgID, rigName, state, uploadNumber(after), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (FleetUpload, error) {
		u, err := scanUpload(r)
		if err != nil {
			return FleetUpload{}, err
		}
		return *u, nil
	})
}

// OpenUploadRequests returns what check-in announces to an agent of rig
// rigID: its rig's open, unexpired requests, oldest first, at most
// cloudapi.MaxUploadRequests.
func (s *Store) OpenUploadRequests(ctx context.Context, rigID int64) ([]cloudapi.UploadRequest, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, from_ts, to_ts, sensors, max_bytes, expires_at FROM upload_requests
		WHERE rig_id = $1 AND state = 'open' AND expires_at > now() ORDER BY id LIMIT $2`, rigID, cloudapi.MaxUploadRequests)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (cloudapi.UploadRequest, error) {
		var id int64
		u := cloudapi.UploadRequest{Kind: cloudapi.UploadReadings}
		if err := r.Scan(&id, &u.From, &u.To, &u.Sensors, &u.MaxBytes, &u.ExpiresAt); err != nil {
			return u, err
		}
		u.ID = UploadIDPrefix + strconv.FormatInt(id, 10)
		u.From, u.To, u.ExpiresAt = u.From.UTC(), u.To.UTC(), u.ExpiresAt.UTC()
		if len(u.Sensors) == 0 {
			u.Sensors = nil
		}
		return u, nil
	})
}

// StoreUploadPart stores part u of agent a's answer to an upload request
// of its rig, in one transaction: the part is recorded once per agent
// name (every enrollment generation of a's name counts as a) with its
// fingerprint (cloudapi.UploadFingerprint); sent again it changes nothing
// and is cloudapi.ItemDuplicate when its content is the same (or the
// stored part has no fingerprint) and cloudapi.ItemConflict, with the
// problem saying so, when it differs. A new part's readings inside the
// request's range and sensors are kept. A Last part completes the request
// (Done reports it) unless another current agent of the rig (by name)
// sent parts of it and not yet its last one: each agent of a rig with
// several is waited for once it started. The request holds at most its
// max_bytes (counted as cloudapi.ReadingBytes; never 0 since migration
// 0013, and read as MaxUploadBytes if it were) and
// MaxUploadRequestReadings readings: a new part's readings past either
// cap are not stored, and the part completes the request. The answer is
// the agent's. ErrNotFound: no such request for the agent's rig; ErrGone:
// it expired, was cancelled, or is complete and this part is new.
func (s *Store) StoreUploadPart(ctx context.Context, a *AgentIdentity, u *cloudapi.Upload) (*cloudapi.UploadResponse, error) {
	num := uploadNumber(u.RequestID)
	if num == 0 {
		return nil, ErrNotFound
	}
	sum, err := cloudapi.UploadFingerprint(u)
	if err != nil {
		return nil, err
	}
	res := &cloudapi.UploadResponse{RequestID: u.RequestID, Part: u.Part}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var from, to, expires time.Time
		var sensors []string
		var state string
		var maxBytes, stored, storedBytes int64
		err := tx.QueryRow(ctx, `SELECT from_ts, to_ts, sensors, expires_at, state, max_bytes, readings, bytes FROM upload_requests
			WHERE id = $1 AND rig_id = $2 FOR UPDATE`, num, a.RigID).Scan(&from, &to, &sensors, &expires, &state, &maxBytes, &stored, &storedBytes)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if maxBytes <= 0 {
			maxBytes = MaxUploadBytes
		}
		// A part is the agent's by name, whatever its enrollment
		// generation: a re-enrolled agent sending a part again is
		// answered as the same agent (the newest generation's copy when
		// several stored it before this rule).
		var fp []byte
		err = tx.QueryRow(ctx, `SELECT p.fingerprint FROM upload_parts p JOIN agents g ON g.id = p.agent_id
			WHERE p.request_id = $1 AND g.rig_id = $2 AND g.name = $3 AND p.part = $4 ORDER BY p.agent_id DESC LIMIT 1`,
			num, a.RigID, a.Name, int64(u.Part)).Scan(&fp)
		switch {
		case err == nil:
			// Stored before: a replay, unless its content differs. A part
			// stored before migration 0010 has no fingerprint (unknown):
			// taken for a replay, as before.
			res.Status, res.Done = cloudapi.ItemDuplicate, state == UploadDone
			if fp != nil && !bytes.Equal(fp, sum[:]) {
				res.Status = cloudapi.ItemConflict
				res.Problem = &cloudapi.Problem{Type: cloudapi.ProblemConflict, Title: cloudapi.ProblemTitle(cloudapi.ProblemConflict),
					Detail: fmt.Sprintf("upload request %s part %d of agent %s was stored before with fingerprint %s, this one has %s; "+
						"the stored part is kept and this one is not", u.RequestID, u.Part, a.Name,
						hex.EncodeToString(fp)[:16], hex.EncodeToString(sum[:])[:16])}
			}
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		switch {
		case state == UploadCancelled:
			return fmt.Errorf("upload request %s was cancelled: %w", u.RequestID, ErrGone)
		case state == UploadDone:
			return fmt.Errorf("upload request %s is complete: %w", u.RequestID, ErrGone)
		case !expires.After(s.now()):
			return fmt.Errorf("upload request %s expired at %s: %w", u.RequestID, expires.UTC().Format(time.RFC3339), ErrGone)
		}
		want := map[string]bool{}
		for _, id := range sensors {
			want[id] = true
		}
		var keep [][]any
		var size int64
		full := false // a cap left readings of the part out
		for i := range u.Readings {
			r := &u.Readings[i]
			if r.Time.Before(from) || !r.Time.Before(to) || (len(want) > 0 && !want[r.Sensor]) {
				continue
			}
			n := cloudapi.ReadingBytes(r)
			if stored+int64(len(keep)) >= MaxUploadRequestReadings || storedBytes+size+n > maxBytes {
				full = true
				break
			}
			size += n
			keep = append(keep, []any{a.RigID, num, r.Time, r.Sensor, r.Value, int16(r.Quality)})
		}
		done := full
		if u.Last && !done {
			// Every agent of the rig is told the request: it is complete
			// once each current agent that started answering it has sent
			// its last part (an agent that never started is not waited
			// for; one that stops answering holds it open until it
			// expires).
			err := tx.QueryRow(ctx, `SELECT NOT EXISTS (
					SELECT 1 FROM upload_parts p JOIN agents g ON g.id = p.agent_id
					WHERE p.request_id = $1 AND g.name <> $2
						AND EXISTS (SELECT 1 FROM agents c WHERE c.rig_id = $3 AND c.name = g.name AND c.revoked_at IS NULL)
					GROUP BY g.name HAVING NOT bool_or(p.last))`, num, a.Name, a.RigID).Scan(&done)
			if err != nil {
				return fmt.Errorf("upload request %s: other agents' parts: %w", u.RequestID, err)
			}
		}
		if len(keep) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"upload_readings"},
				[]string{"rig_id", "request_id", "ts", "sensor", "value", "quality"}, pgx.CopyFromRows(keep)); err != nil {
				return fmt.Errorf("store upload readings: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO upload_parts (request_id, agent_id, part, last, readings, fingerprint) VALUES ($1, $2, $3, $4, $5, $6)`,
			num, a.ID, int64(u.Part), u.Last, len(keep), sum[:]); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE upload_requests SET parts = parts + 1, readings = readings + $2, bytes = bytes + $4,
				state = CASE WHEN $3 THEN 'done' ELSE state END, done_at = CASE WHEN $3 THEN now() ELSE done_at END
			WHERE id = $1`, num, len(keep), done, size); err != nil {
			return err
		}
		res.Status, res.Done = cloudapi.ItemAccepted, done
		return nil
	})
	if err != nil {
		// The answer of a rolled-back transaction must not escape.
		return nil, err
	}
	return res, nil
}

// RigReadings calls fn with the uploaded readings of org's rig rigName in
// [from, to), in time and then sensor order. A (time, sensor) uploaded
// more than once (overlapping requests) is passed once, with the value of
// the newest request (the highest id), and within one request the highest
// value and then quality, so that a build of the same readings is the
// same. ErrNotFound when org has no such rig. Times are kept to the
// microsecond (PostgreSQL's timestamptz).
func (s *Store) RigReadings(ctx context.Context, orgID int64, rigName string, from, to time.Time, fn func(reading.Reading) error) error {
	r, err := s.Rig(ctx, orgID, rigName)
	if err != nil {
		return fmt.Errorf("rig %q: %w", rigName, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (ts, sensor) ts, sensor, value, quality FROM upload_readings
		WHERE rig_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts, sensor, request_id DESC, value DESC, quality DESC`, r.ID, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	var rd reading.Reading
	var q int16
	for rows.Next() {
		if err := rows.Scan(&rd.Time, &rd.Sensor, &rd.Value, &q); err != nil {
			return err
		}
		rd.Quality = reading.Quality(q)
		if err := fn(rd); err != nil {
			return err
		}
	}
	return rows.Err()
}

// CancelUploadRequest cancels org's open upload request id (the wire id):
// it leaves check-in and later parts are refused (ErrGone); the readings
// stored so far stay. Cancelling a cancelled request changes nothing.
// ErrNotFound: no such request in org; ErrState: it is complete.
func (s *Store) CancelUploadRequest(ctx context.Context, orgID int64, id string) (*FleetUpload, error) {
	num := uploadNumber(id)
	if num == 0 {
		return nil, ErrNotFound
	}
	u, err := scanUpload(s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE upload_requests SET state = 'cancelled' WHERE id = $1 AND org_id = $2 AND state <> 'done' RETURNING *)
		SELECT `+uploadCols+` FROM u JOIN rigs r ON r.id = u.rig_id`, num, orgID))
	if errors.Is(err, ErrNotFound) {
		var state string
		err := s.pool.QueryRow(ctx, `SELECT state FROM upload_requests WHERE id = $1 AND org_id = $2`, num, orgID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("upload request %s is complete: %w", id, ErrState)
	}
	return u, err
}
