package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// Errors returned by Enqueue, Run and Close.
var (
	// ErrClosed is returned by Enqueue and Run after Close.
	ErrClosed = errors.New("forward: closed")
	// ErrInvalid is returned by Enqueue for a diagnosis that fails
	// cloudapi.ValidateDiagnosis or belongs to another agent: the cloud
	// would reject it, so it is not queued.
	ErrInvalid = errors.New("forward: invalid diagnosis")
	// ErrTooLarge is returned by Enqueue for a diagnosis whose encoding
	// exceeds the batch byte cap (it could never be sent) or that alone
	// exceeds the outbox's MaxBytes (it could never be queued).
	ErrTooLarge = errors.New("forward: diagnosis larger than a batch")
	// ErrCorrupt is returned (wrapped) by New when the outbox file is
	// damaged; the error names the recovery command. The file is never
	// repaired or overwritten.
	ErrCorrupt = errors.New("forward: outbox file is corrupted")
)

// LinkState is the state of the link to the cloud.
type LinkState string

// Link states.
const (
	// LinkUnknown: no request made yet.
	LinkUnknown LinkState = "unknown"
	// LinkUp: the last request succeeded.
	LinkUp LinkState = "up"
	// LinkDown: the last request failed with a network error, a timeout
	// or a retryable status; the forwarder backs off.
	LinkDown LinkState = "down"
	// LinkUnauthorized: the cloud refused the credential (401, 403).
	LinkUnauthorized LinkState = "unauthorized"
	// LinkIncompatible: the cloud refused the requests themselves (404,
	// 405, 415, other 4xx, or repeated 400s): version skew or a server bug.
	LinkIncompatible LinkState = "incompatible"
	// LinkThrottled: waiting for the bytes-per-second cap.
	LinkThrottled LinkState = "throttled"
	// LinkDayCap: the bytes-per-day cap is used up until the next UTC day.
	LinkDayCap LinkState = "day_cap"
)

// Stats is a snapshot of the forwarder's state and counters (counters
// count since New). It is cheap: a lock and two bbolt seeks.
type Stats struct {
	Link      LinkState
	LinkSince time.Time
	// LastError is the last failure's description ("" after a success).
	LastError string
	// LastSuccess is when a request last succeeded (zero: never).
	LastSuccess time.Time

	// Queued diagnoses, of which QueuedAlerts are alerts, taking
	// QueuedBytes in the outbox; Oldest is when the oldest was queued.
	// Queued and QueuedAlerts also hold the diagnoses the full outbox
	// dropped while their batch was on the way to the cloud, until its
	// answer decides how they count (accepted, ..., or dropped).
	Queued, QueuedAlerts int
	QueuedBytes          int64
	Oldest               time.Time

	// Enqueued counts diagnoses queued; Accepted, Duplicates, Rejected
	// and Conflicts the cloud's results; Dropped those removed unsent
	// because the outbox was full (DroppedAlerts of them alerts);
	// Invalid those Enqueue refused. Each enqueued diagnosis ends in
	// exactly one of Accepted, Duplicates, Rejected, Conflicts and
	// Dropped: one dropped while its batch was being sent counts by the
	// cloud's answer when the cloud took the batch, else as dropped.
	Enqueued, Accepted, Duplicates, Rejected, Conflicts uint64
	Dropped, DroppedAlerts, Invalid                     uint64
	// Renumbered counts diagnoses given a new seq because the cloud held
	// their numbers already: the agent's numbering had restarted
	// (Options.Seqs). They are sent, and counted as above, under the new
	// seq.
	Renumbered uint64
	// Replays counts diagnoses Enqueue ignored because their seq was
	// renumbered when they were queued before: the history replayed them
	// after a stop between the outbox commit and its forward cursor.
	Replays uint64
	// OutboxErrors counts failures of the outbox file (or of the
	// sequence bookkeeping kept in it) while Run sent: each was logged and
	// Run tried again after a backoff instead of stopping.
	OutboxErrors uint64

	// Requests counts HTTP requests made, Failures those that failed
	// and were kept for a retry after a backoff (never more than
	// Requests; the cloud's refusals handled at once count apart:
	// Rejected, CheckinsRefused, UploadPartsRefused, UploadsGone); CredentialErrors
	// counts requests not made because the credential could not be read
	// (link state unauthorized, retried at BackoffMax); BytesSent and
	// BytesReceived count bodies on the wire (compressed) plus an
	// estimate of the headers; DayBytes is what the day cap has counted
	// today (the current UTC day's).
	Requests, Failures          uint64
	CredentialErrors            uint64
	BytesSent, BytesReceived    uint64
	DayBytes                    int64
	Batches                     uint64
	UploadsOpen                 int
	UploadParts, UploadReadings uint64
	// UploadReadingsLost counts readings of upload parts that the buffer
	// removed (full, or too old) after the part was built and before the
	// cloud took it: the part went without them.
	UploadReadingsLost uint64
	// UploadConflicts counts upload parts the cloud answered "conflict":
	// it held another copy of the part number (kept; this one was not
	// stored) and the request went on with the next part.
	UploadConflicts uint64
	// UploadPartsRefused counts the cloud's refusals of upload parts as
	// invalid (400, 413, 422: not stored). The first refusal of a part
	// builds it anew under the cloud's current limits; a refusal of the
	// new build is a failure too (Failures, link incompatible, retried at
	// BackoffMax), as a diagnosis refused too often in a row is.
	UploadPartsRefused uint64
	// UploadPartsRebuilt counts upload parts built anew before the cloud
	// stored them: refused as invalid once (above), or too large for the
	// day's byte budget (BytesPerDay) even on a new UTC day, for instance
	// after the budget was lowered. The new build ends no later than the
	// first (readings after it go in the next part), so nothing is lost
	// even when the cloud kept the first build after all (its answer
	// lost: "conflict"; the readings the next part sends again are read
	// once, as readings uploaded twice always are).
	UploadPartsRebuilt uint64
	// UploadsGone counts upload requests ended because the cloud answered
	// one of their parts 404 or 410: it no longer knows the request
	// (cancelled, expired or removed since the check-in that listed it),
	// and the readings not sent yet are not sent. A diagnosis batch or a
	// check-in answered so is a failure (incompatible server) instead.
	UploadsGone uint64
	// CheckinsRefused counts check-ins the cloud refused as invalid (400,
	// 413, 422): the forwarder keeps its last limits, sends diagnoses and
	// uploads on, and checks in again at the next regular check-in.
	CheckinsRefused uint64
}

// Forwarder is the store-and-forward queue of diagnoses to the cloud.
// Enqueue, Stats and Close are safe for concurrent use; Run is called
// once.
type Forwarder struct {
	opts Options
	log  *slog.Logger
	wake chan struct{}
	stop chan struct{}

	mu      sync.Mutex
	ob      *outbox
	closed  bool
	running bool
	runDone chan struct{}
	st      Stats
	// The outbox failures in a row of Run (OutboxFailing): how many,
	// since when, the last one.
	obFails     int
	obFailSince time.Time
	obFailErr   error
	logged      map[string]time.Time

	// Run's state (only Run's goroutine writes these, under mu).
	limits        cloudapi.Limits
	nextCheckin   time.Time
	needCheckin   bool
	fails         int
	rejectsInARow int
	batchLimit    int
	bucket        bucket
	uploads       map[string]*uploadState
	// partWait is the upload part ("request/part") that waits for the
	// day's byte budget and the UTC day since which it waits.
	partWait struct {
		key string
		day int64
	}
	// lastWire is the last body wireSize measured, and its compressed
	// size.
	lastWire struct {
		body []byte
		size int64
	}
	// formatsRefusedUntil: the cloud refused the check-in field
	// bundle_formats as unknown; check-ins leave it out until then.
	formatsRefusedUntil time.Time
	// firmwareRefusedUntil: the same for firmware_digest.
	firmwareRefusedUntil time.Time
	// checkinFixes is what fitCheckin last changed (logged when it
	// changes).
	checkinFixes string
	// generation is the agent identity's enrollment generation, as the
	// last accepted check-in named it, else as saved at enrollment
	// (Options.Generation; 0: not known, or a cloud older than the
	// field); it goes into the Idempotency-Keys.
	generation int
	// seqFloor is the highest seq the cloud held when a check-in found
	// the agent's numbering restarted (0: never; persisted in the
	// outbox): a diagnosis queued at or below it is renumbered.
	seqFloor uint64
	// lifeFloor: every seq at or below it was queued by an earlier life
	// of the history and keeps its seq (see checkLife; persisted in the
	// outbox).
	lifeFloor uint64
	// sending holds the batch being sent (seq -> state); Enqueue marks
	// the items it drops from the outbox meanwhile instead of counting
	// them, and the batch's answer decides (acked, refused, unsend).
	sending map[uint64]sendingItem

	// day is the UTC day whose bytes dayUsed counts (under mu; Run and
	// Spend move it to the current day).
	day, dayUsed int64
	// soon asks Run for a check-in now (CheckinSoon).
	soon atomic.Bool
}

// sendingItem is one diagnosis of the batch being sent.
type sendingItem struct {
	alert bool
	// dropped: the full outbox dropped it meanwhile; not counted yet.
	dropped bool
}

// CheckinSoon makes Run check in as soon as it is free (not before its
// backoff ends), e.g. to report an update transition. Safe for concurrent
// use; it never blocks.
func (f *Forwarder) CheckinSoon() {
	f.soon.Store(true)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// New opens (or creates) the outbox at opts.Path and returns a Forwarder.
// Nothing is sent before Run.
func New(opts Options) (*Forwarder, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if !cloudapi.ValidID(opts.AgentID) {
		return nil, fmt.Errorf("forward: agent id %q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", opts.AgentID)
	}
	ob, err := openOutbox(opts.Path, opts.NoSync)
	if err != nil {
		return nil, err
	}
	f := &Forwarder{
		opts: opts, log: opts.Logger.With("component", "forward"), ob: ob,
		wake: make(chan struct{}, 1), stop: make(chan struct{}),
		logged: map[string]time.Time{}, limits: cloudapi.Limits{}.WithDefaults(),
		needCheckin: true, batchLimit: opts.BatchItems, generation: opts.Generation,
		bucket:  bucket{rate: opts.BytesPerSecond},
		uploads: map[string]*uploadState{},
	}
	f.st.Link, f.st.LinkSince = LinkUnknown, opts.Clock.Now()
	f.day, f.dayUsed = ob.loadDay()
	f.seqFloor, f.lifeFloor = ob.loadSeqFloor(), ob.loadLifeFloor()
	if err := f.checkLife(); err != nil {
		_ = ob.close()
		return nil, err
	}
	if err := f.loadUploads(); err != nil {
		_ = ob.close()
		return nil, err
	}
	if n, alerts, bytes := ob.totals(); n > 0 {
		f.log.Info("outbox resumed", "path", opts.Path, "queued", n, "alerts", alerts, "bytes", bytes)
	}
	return f, nil
}

// Enqueue queues a diagnosis durably (committed, and fsynced unless
// NoSync) and returns; Run sends it. Its AgentID is set to the
// forwarder's when empty. A diagnosis whose Seq is already queued, or
// was renumbered when queued (see Options.Seqs), is ignored (nil). An
// invalid diagnosis returns ErrInvalid; one too large
// for a batch or for the outbox's MaxBytes ErrTooLarge. When the outbox is full the policy of
// Options.MaxItems applies: Enqueue still returns nil, and the drop is
// counted, logged and passed to OnDrop.
func (f *Forwarder) Enqueue(ctx context.Context, d diag.Diagnosis) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.AgentID == "" {
		d.AgentID = f.opts.AgentID
	}
	if d.AgentID != f.opts.AgentID {
		f.count(func(s *Stats) { s.Invalid++ })
		return fmt.Errorf("%w: seq %d has agent id %q, not this agent's %q", ErrInvalid, d.Seq, d.AgentID, f.opts.AgentID)
	}
	if errs := cloudapi.ValidateDiagnosis("", &d); errs != nil {
		f.count(func(s *Stats) { s.Invalid++ })
		p := &cloudapi.Problem{Title: fmt.Sprintf("seq %d", d.Seq), Errors: errs}
		return fmt.Errorf("%w: %v", ErrInvalid, p)
	}
	data, err := json.Marshal(&d)
	if err != nil {
		f.count(func(s *Stats) { s.Invalid++ })
		return fmt.Errorf("%w: seq %d: %v", ErrInvalid, d.Seq, err)
	}
	if int64(len(data)) > f.opts.BatchBytes {
		f.count(func(s *Stats) { s.Invalid++ })
		return fmt.Errorf("%w: seq %d is %d bytes, the batch cap is %d", ErrTooLarge, d.Seq, len(data), f.opts.BatchBytes)
	}
	if size := itemSize(len(data)); size > f.opts.MaxBytes {
		f.count(func(s *Stats) { s.Invalid++ })
		return fmt.Errorf("%w: seq %d takes %d bytes, the outbox cap is %d", ErrTooLarge, d.Seq, size, f.opts.MaxBytes)
	}
	prio := byte(prioOther)
	if cloudapi.IsAlert(&d) {
		prio = prioAlert
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return ErrClosed
	}
	var from uint64
	if d.Seq <= f.seqFloor && f.opts.Seqs != nil {
		// Numbered before a check-in raised the sequence: the cloud holds
		// this seq already. Queued (renumbered) before: a replay.
		done, err := f.ob.renumberedTo(d.Seq)
		if err != nil {
			f.mu.Unlock()
			return fmt.Errorf("forward: queue seq %d: %w", d.Seq, err)
		}
		if done != 0 {
			f.st.Replays++
			replays, logIt := f.st.Replays, f.shouldLog("replay")
			f.mu.Unlock()
			if logIt {
				f.log.Info("diagnosis ignored: it was renumbered when queued before (a replay of the history)",
					"seq", d.Seq, "queued_as", done, "replays_total", replays)
			}
			return nil
		}
		from = d.Seq
		if data, err = f.renumberNew(&d); err != nil {
			f.mu.Unlock()
			return err
		}
	}
	drops, self, err := f.ob.put(prio, d.Seq, from, f.opts.Clock.Now(), data, f.opts.MaxItems, f.opts.MaxBytes)
	if errors.Is(err, errDuplicate) {
		f.mu.Unlock()
		return nil
	}
	if err != nil {
		f.mu.Unlock()
		return fmt.Errorf("forward: queue seq %d: %w", d.Seq, err)
	}
	// A dropped item of the batch being sent is counted when its answer
	// comes: the cloud may have it already.
	counted := drops[:0]
	for _, dr := range drops {
		if s, ok := f.sending[dr.seq]; ok {
			s.dropped = true
			f.sending[dr.seq] = s
			continue
		}
		counted = append(counted, dr)
	}
	drops = counted
	if self {
		drops = append(drops, dropped{seq: d.Seq, alert: prio == prioAlert})
	} else {
		f.st.Enqueued++
	}
	f.countDrops(drops)
	logDrop := len(drops) > 0 && f.shouldLog("drop")
	st := f.st
	f.mu.Unlock()
	f.reportDrops(drops, logDrop, st)
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

// countDrops counts drops; mu held.
func (f *Forwarder) countDrops(drops []dropped) {
	for _, dr := range drops {
		f.st.Dropped++
		if dr.alert {
			f.st.DroppedAlerts++
		}
	}
}

// reportDrops logs counted drops (when logIt; st is the snapshot after
// counting them) and passes them to OnDrop; mu not held.
func (f *Forwarder) reportDrops(drops []dropped, logIt bool, st Stats) {
	if len(drops) == 0 {
		return
	}
	if logIt {
		f.log.Warn("outbox full: diagnoses dropped unsent (oldest non-alerts first)",
			"dropped_now", len(drops), "first_seq", drops[0].seq, "dropped_total", st.Dropped,
			"dropped_alerts_total", st.DroppedAlerts, "max_items", f.opts.MaxItems, "max_bytes", f.opts.MaxBytes)
	}
	if f.opts.OnDrop != nil {
		for _, dr := range drops {
			f.opts.OnDrop(dr.seq, dr.alert)
		}
	}
}

// Stats returns a snapshot.
func (f *Forwarder) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.st
	if f.ob != nil && !f.closed {
		s.Queued, s.QueuedAlerts, s.QueuedBytes = f.ob.totals()
		s.Oldest = f.ob.oldest()
	}
	for _, it := range f.sending {
		if it.dropped {
			s.Queued++
			if it.alert {
				s.QueuedAlerts++
			}
		}
	}
	if f.day == dayOf(f.opts.Clock.Now()) {
		s.DayBytes = f.dayUsed
	}
	for _, u := range f.uploads {
		if !u.Done {
			s.UploadsOpen++
		}
	}
	return s
}

// Close stops Run (if running) and waits for it to return, then closes
// the outbox. Queued diagnoses stay in the file for the next start.
// Close is idempotent.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	close(f.stop)
	done := f.runDone
	f.mu.Unlock()
	if done != nil {
		<-done
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.opts.BytesPerDay > 0 {
		if err := f.ob.saveDay(f.day, f.dayUsed); err != nil {
			f.log.Warn("cannot save the day's byte count", "error", err)
		}
	}
	if err := f.ob.close(); err != nil {
		return fmt.Errorf("forward: close outbox %s: %w", f.opts.Path, err)
	}
	return nil
}

func (f *Forwarder) count(fn func(*Stats)) {
	f.mu.Lock()
	fn(&f.st)
	f.mu.Unlock()
}

// shouldLog rate-limits a log line to once a minute per key; mu held.
func (f *Forwarder) shouldLog(key string) bool {
	now := f.opts.Clock.Now()
	if t, ok := f.logged[key]; ok && now.Sub(t) < time.Minute {
		return false
	}
	f.logged[key] = now
	return true
}

func (f *Forwarder) setLink(s LinkState, errText string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st.Link != s {
		f.st.Link, f.st.LinkSince = s, f.opts.Clock.Now()
	}
	if s == LinkUp {
		f.st.LastError = ""
		f.st.LastSuccess = f.opts.Clock.Now()
	} else if errText != "" {
		f.st.LastError = errText
	}
}
