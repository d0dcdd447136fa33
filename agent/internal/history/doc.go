// Package history is the rig agent's local diagnosis store: every
// diagnosis the agent makes, in one bbolt file (diagnoses.db under
// agent.data_dir), with the sequence numbers that identify them, a time
// index for range queries, the newest diagnosis per rig, and the progress
// of the windowing that made them.
//
// # Basics
//
//	h, err := history.Open("/var/lib/rig-agent/diagnoses.db", history.Options{})
//	defer h.Close()
//	d, err := h.Append(ctx, diagnosis, history.Progress{Cursor: 1234, Window: start}) // d.Seq assigned
//	latest, ok, err := h.Latest("zema-rig-1")
//	page, err := h.Query(ctx, history.Query{From: from, To: to, Limit: 100})
//
// # Paging
//
// Query orders diagnoses by Key: window start, then Seq. Several
// diagnoses may share a window start (a model update diagnosing a window
// again, two windowing modes), so a window start alone cannot resume a
// page; the Key can:
//
//	page, err := h.Query(ctx, q)
//	if page.More {
//		k := history.KeyOf(&page.Diagnoses[len(page.Diagnoses)-1])
//		q.After = &k
//		page, err = h.Query(ctx, q) // the next page: no diagnosis skipped or repeated
//	}
//
// # Sequence numbers
//
// Append assigns Diagnosis.Seq: 1 for the first diagnosis of a file, then
// strictly increasing, never reused, across restarts and removals (it is
// the bbolt sequence of the diagnoses bucket, written in the same
// transaction as the diagnosis). With the agent id it is the idempotency
// key of forwarding, so a Seq must never be assigned twice, not even by
// a new file that replaces a damaged one moved aside. Options.SeqFile
// keeps the highest Seq that may have been assigned in a small file of
// its own (the agent's diagnoses.db.seq), reserved ahead in blocks of
// SeqReserveBlock: the mark is written and fsynced before the first Seq
// beyond it, so it costs one fsync per block and a kill -9 at any point
// leaves it at or above every Seq assigned. Open starts the sequence
// above the mark (and above Options.MinSeq); without either, a new file
// starts at 1. The mark also keeps the windowing's last window
// (Progress.Window), written with each reservation, at Close and at most
// every minute as it moves: a new file's Progress starts from it, so the
// windows diagnosed before the old file was lost are not diagnosed again
// under new Seqs (after a crash, those of the last minute may be).
//
// When the file and the mark are both lost (a replaced disk, a wiped data
// directory) the sequence restarts at 1; the cloud, which answers the
// highest Seq it holds of the agent at each check-in, is then the floor
// left: RaiseSeq moves the sequence above it (mark first), and
// ReserveSeqs takes numbers Append never assigns, with which the
// forwarder renumbers the diagnoses numbered before the raise
// (agent/internal/forward).
//
// # Progress
//
// The windowing stores its Progress (the buffer cursor it may resume
// from and the start of the last window it diagnosed) in the same
// transaction as each diagnosis, so after a crash the diagnosis and the
// progress are both there or both not: a window is never diagnosed twice,
// and never skipped.
//
// # Caps
//
// Options.MaxCount, MaxBytes and MaxAge bound the history. After each
// Append, at Open, and every minute (diagnoses grow old without an
// Append), the oldest diagnoses (lowest Seq) are removed while any cap is
// exceeded; each removal is counted by cause (Stats.Dropped,
// persisted in the file) and logged at most once a minute. The newest
// diagnosis is never removed by the count or byte caps. Readers of
// Query and After never see a half-removed diagnosis.
//
// # Damaged files
//
// Open checks the whole file (bbolt's page check and every record's
// header). A damaged file is refused with ErrCorrupt and a recovery
// command (move it aside); it is never repaired or wiped.
//
// # Concurrency
//
// A Store is safe for concurrent use. Open starts one goroutine, the
// age check (with an age limit); Close stops it. Writes are serialised
// by bbolt; every Append is one fsynced transaction (a diagnosis per
// window, so about one a minute on a cycle-aligned rig).
package history
