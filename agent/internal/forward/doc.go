// Package forward is the rig agent's store-and-forward to the cloud: a
// durable outbox of diagnoses (bbolt, <agent.data_dir>/outbox.db) sent in
// batches over HTTPS by the contract of shared/cloudapi, and the uploads
// of readings the cloud asks for.
//
// # Use
//
//	opts, err := forward.FromConfig(cfg, buf, version, log) // cfg.Cloud.Enabled()
//	f, err := forward.New(opts)
//	go f.Run(ctx)             // sends until ctx is done or Close
//	err = f.Enqueue(ctx, d)   // durable when it returns; never sends itself
//	s := f.Stats()            // link state, queue depth, counters (for /metrics)
//	err = f.Close()           // stops Run, waits for it, closes the file
//
// Enqueue, Stats and Close are safe for concurrent use; Run is called
// once. The *Forwarder satisfies the agent runtime's sink interface
// (Enqueue(ctx, diag.Diagnosis) error) and its Run(ctx) error.
//
// # Delivery
//
// A diagnosis is removed from the outbox only after the cloud answered its
// batch with 2xx, so delivery is at-least-once; the cloud makes it
// exactly-once by the key agent id + Diagnosis.Seq (a replay returns
// "duplicate"). After a restart the outbox resumes where it was.
//
// With Options.Seqs (the history that numbers the diagnoses), a check-in
// answer whose HighestSeq is at or above the next seq shows that the
// agent's numbering restarted (history and sequence mark lost): the
// forwarder stores HighestSeq as its sequence floor in the outbox,
// raises the sequence above it and above every queued seq
// (Seqs.RaiseSeq) and renumbers the queued
// diagnoses at or below it from Seqs.ReserveSeqs, before any diagnosis is
// sent (the check-in comes first after every start and failure); one
// queued later with a seq at or below the floor is renumbered by Enqueue.
// Each is counted (Stats.Renumbered) and sent under its new seq; the
// history keeps the old one. The outbox records each old seq with its
// new one, and Enqueue ignores a diagnosis under an old seq recorded (a
// replay of the history; counted, Stats.Replays), so none is renumbered
// twice. Only diagnoses of the history's current life are renumbered: an
// outbox that queued a seq above Seqs.LastSeq at New (it keeps the
// highest seq it ever queued, sent or not) outlived its history; what it
// holds then keeps its seq (the life floor; the sequence is raised above
// it) and the recorded old seqs are forgotten, so the new history's
// diagnoses under them are queued, not taken for replays. A cloud older
// than the field answers none, and nothing changes.
//
// Order: alerts first (cloudapi.IsAlert: status not healthy, or an anomaly
// or recommendation of high or critical severity; the status unknown of a
// diagnosis made while the detector calibrates is not one), then the rest;
// each in sequence order. Uploads of readings go only when no diagnosis is queued.
//
// # Failures
//
// Retryable failures (network errors, timeouts, 408, 425, 429, 5xx) wait
// a jittered exponential backoff between Options.BackoffMin and
// BackoffMax, at least Retry-After when the server sends one. 401 and 403
// keep everything and retry at BackoffMax, re-reading the credential; a
// credential that cannot be read is handled alike, without a request
// (Stats.CredentialErrors, not Failures). A
// batch refused as a whole with 400, 413 or 422 is split in halves until
// the refused item is alone; that item is then rejected (removed, counted,
// logged), unless RejectsInARow single items were refused in a row: then
// the server is assumed at fault and nothing more is rejected. Items the
// cloud answers as rejected or conflicting are removed and counted. Other
// 4xx (incompatible server) keep everything and retry at BackoffMax. An
// upload part refused with 400, 413 or 422 (Stats.UploadPartsRefused) is
// built anew once, under the limits of a new check-in; a refusal of the
// new build too is a failure (incompatible); an upload part answered 404
// or 410 (the cloud no longer knows the request) ends the request, counted
// in Stats.UploadsGone, not as a failure. A check-in is fitted to
// cloudapi.ValidateCheckin before it is sent (texts
// clipped, times moved into range, failing optional parts left out); one
// the cloud still refuses with 400, 413 or 422 is counted
// (Stats.CheckinsRefused) and never stops the diagnoses: the last limits
// stay and the next check-in comes at the regular interval. A failure of
// the outbox file itself (a read or write, the sequence floor's
// bookkeeping) does not stop Run either: it is logged, counted
// (Stats.OutboxErrors) and the step tried again after a backoff from 1 s
// doubling to 5 min; the diagnoses stay in the agent's history, which
// replays them into the outbox. OutboxFailing reports the failures in a
// row (the agent is not ready from OutboxNotReadyAfter on). A damaged
// outbox (ErrCorrupt, e.g. an item it cannot read) is not retried: Run
// returns it. See docs/agent.md#store-and-forward and
// docs/agent-cloud-api.md.
//
// # Caps
//
// The outbox holds at most Options.MaxItems diagnoses and MaxBytes; when
// full the oldest non-alert is dropped first, an alert only to make room
// for a newer alert, and a new non-alert is dropped when only alerts are
// queued. Drops are counted (Stats.Dropped), logged at most once a minute
// and passed to Options.OnDrop; an item dropped while its batch is being
// sent counts when the answer comes: by the cloud's result when the cloud
// took the batch, else as dropped. Every enqueued diagnosis is counted
// exactly once. The upload rate is capped by a token
// bucket (BytesPerSecond, bursts of one second or one request) and by
// BytesPerDay per UTC day (persisted; the last AlertReserve of it only for
// alerts). Request bodies are gzip-compressed; the caps count compressed
// bodies, responses and an estimate of the headers; a request and its
// answer count for the UTC day in which the request goes out (after the
// rate cap's wait), even when the answer arrives after midnight. BytesPerDay
// is the link's one day budget: Left and Spend let other traffic share it
// (the agent's model downloads, agent/internal/update), outside the alert
// reserve; Spend counts for the UTC day in which it is called.
//
// # Readings
//
// With Options.Readings (the reading buffer), the forwarder answers the
// cloud's upload requests in parts, resumable after a restart (a part's
// range is saved before its first try and every retry sends it as first
// built, less readings the buffer removed meanwhile, which are counted in
// Stats.UploadReadingsLost: the cloud keeps the first copy of a part
// number). Under BytesPerDay a new part is fitted to what the day leaves
// by its compressed body, which the cap counts (measured: its readings
// are cut, less a small margin, until the part compressed fits), not by
// its readings' JSON, several times larger. A saved part that does not
// fit a whole day's BytesPerDay
// (lowered since it was built), or did not fit what a new UTC day left
// it, is built anew, smaller, ending no later than the first build
// (Stats.UploadPartsRebuilt): it never waits for ever, and nothing else
// ever waits for it. The forwarder moves the buffer cursor
// Options.Release: after each
// successful check-in that
// leaves no upload open, readings up to the buffer's last sequence number
// before that check-in count as released (the cloud had its chance to ask
// for them), so the buffer removes them first when full.
package forward
