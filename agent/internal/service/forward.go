package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/agent/internal/forward"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// HistoryForwardCursor is the history cursor of the cloud forwarder: the
// last Seq handed to its durable outbox. At start, diagnoses after it
// (stored, but not yet enqueued when the agent stopped) are enqueued
// again; the outbox ignores a Seq it holds and the cloud answers one it
// has as a duplicate.
const HistoryForwardCursor = "forward"

// replayBatch bounds one read of the history at start.
const replayBatch = 256

// cloudForwarder is the sink of agent/internal/forward: it enqueues each
// diagnosis into the forwarder's outbox, then records its Seq in the
// history.
type cloudForwarder struct {
	f *forward.Forwarder
	// ob is where diagnoses are queued: f (tests replace it).
	ob interface {
		Enqueue(context.Context, diag.Diagnosis) error
	}
	hist *history.Store
	log  *slog.Logger
	// behind is set when an Enqueue failed for a reason that may pass (a
	// full disk): the history cursor stays before that diagnosis, and the
	// next Enqueue replays from the cursor instead of moving it past it.
	behind bool
}

// outboxReporter is a Forwarder that reports its outbox failures in a
// row (forward.Forwarder.OutboxFailing), for NotReady.
type outboxReporter interface {
	OutboxFailing() (fails int, since time.Time, last error)
}

// OutboxFailing is the forwarder's (outboxReporter).
func (c *cloudForwarder) OutboxFailing() (int, time.Time, error) { return c.f.OutboxFailing() }

// NewCloudForwarder builds agent/internal/forward's forwarder from the
// config's cloud section (the default of Options.NewForwarder), replays
// the diagnoses the previous run stored but did not enqueue, and feeds
// deps.Link from the forwarder's Stats.
func NewCloudForwarder(ctx context.Context, deps ForwarderDeps) (Forwarder, error) {
	opts, err := forward.FromConfig(deps.Config, deps.Buffer, deps.Version, deps.Logger)
	if err != nil {
		return nil, err
	}
	opts.Describe, opts.Offer, opts.Heartbeat = deps.Describe, deps.Offer, deps.Heartbeat
	// The history numbers the diagnoses: a check-in that finds the
	// numbering restarted raises it above the cloud's highest seq.
	opts.Seqs = deps.History
	f, err := forward.New(opts)
	if err != nil {
		return nil, err
	}
	cf := &cloudForwarder{f: f, ob: f, hist: deps.History, log: deps.Logger}
	if err := cf.replay(ctx); err != nil {
		_ = f.Close()
		return nil, err
	}
	deps.Link.SetSource(func() api.LinkState {
		s := f.Stats()
		ls := api.LinkState{Connected: s.Link == forward.LinkUp, BytesSent: s.BytesSent, Backlog: int64(s.Queued),
			State: string(s.Link), Dropped: s.Dropped, DroppedAlerts: s.DroppedAlerts, Invalid: s.Invalid,
			Rejected: s.Rejected + s.Conflicts, Failures: s.Failures, CredentialErrors: s.CredentialErrors,
			UploadReadingsLost: s.UploadReadingsLost, UploadConflicts: s.UploadConflicts, CheckinsRefused: s.CheckinsRefused,
			UploadPartsRefused: s.UploadPartsRefused, UploadPartsRebuilt: s.UploadPartsRebuilt, UploadsGone: s.UploadsGone}
		if !s.LastSuccess.IsZero() {
			t := s.LastSuccess.UTC()
			ls.LastOK = &t
		}
		ls.Renumbered, ls.ReplaysIgnored, ls.OutboxErrors = s.Renumbered, s.Replays, s.OutboxErrors
		return ls
	})
	return cf, nil
}

// replay enqueues the history's diagnoses after the forwarder's cursor.
func (c *cloudForwarder) replay(ctx context.Context) error {
	cur, err := c.hist.Cursor(HistoryForwardCursor)
	if err != nil {
		return fmt.Errorf("forwarder cursor: %w", err)
	}
	for {
		ds, err := c.hist.After(ctx, cur, replayBatch)
		if err != nil {
			return fmt.Errorf("replay diagnoses to the outbox: %w", err)
		}
		if len(ds) == 0 {
			return nil
		}
		for _, d := range ds {
			if err := c.enqueue(ctx, d); err != nil {
				if !refused(err) {
					return fmt.Errorf("replay diagnosis %d to the outbox: %w", d.Seq, err)
				}
				c.log.Warn("diagnosis not forwarded: the cloud contract refuses it", "seq", d.Seq, "err", err)
			}
			cur = d.Seq
		}
	}
}

// refused reports an Enqueue error that retrying cannot fix (the
// diagnosis is invalid for the cloud contract, or too large).
func refused(err error) bool {
	return errors.Is(err, forward.ErrInvalid) || errors.Is(err, forward.ErrTooLarge)
}

// Enqueue queues d durably in the outbox, then moves the history cursor.
// A diagnosis the forwarder refuses for good (forward.ErrInvalid,
// ErrTooLarge; counted in its Stats.Invalid) moves the cursor too, and
// the error is returned for the windowing to count and log. After any
// other failure the cursor stays where it is, and the next Enqueue
// replays the history from it (d included: the history stored d before
// the sinks get it), so a diagnosis whose Enqueue failed once (a full
// disk) is not skipped.
func (c *cloudForwarder) Enqueue(ctx context.Context, d diag.Diagnosis) error {
	if c.behind {
		if err := c.replay(ctx); err != nil {
			return err
		}
		c.behind = false
		return nil
	}
	return c.enqueue(ctx, d)
}

func (c *cloudForwarder) enqueue(ctx context.Context, d diag.Diagnosis) error {
	err := c.ob.Enqueue(ctx, d)
	if err != nil && !refused(err) {
		c.behind = true
		return err
	}
	if cerr := c.hist.SetCursor(ctx, HistoryForwardCursor, d.Seq); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}

// Run sends until ctx is done.
func (c *cloudForwarder) Run(ctx context.Context) error { return c.f.Run(ctx) }

// Close stops Run and closes the outbox.
func (c *cloudForwarder) Close() error { return c.f.Close() }

// Stats is the forwarder's.
func (c *cloudForwarder) Stats() forward.Stats { return c.f.Stats() }

// Left and Spend make the forwarder the updater's byte budget
// (update.Budget): model downloads count against
// cloud.bandwidth_bytes_per_day with the uploads.
func (c *cloudForwarder) Left() int64 { return c.f.Left() }

// Spend counts bytes a model download received (see Left).
func (c *cloudForwarder) Spend(n int64) { c.f.Spend(n) }

// CheckinSoon asks for a check-in now, to report an update transition.
func (c *cloudForwarder) CheckinSoon() { c.f.CheckinSoon() }

var _ update.Budget = (*cloudForwarder)(nil)
