package forward

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/reading"
	bolt "go.etcd.io/bbolt"
)

// uploadState is the progress of one upload request, persisted in the
// outbox after every accepted part.
type uploadState struct {
	Req cloudapi.UploadRequest `json:"req"`
	// Part is the next part number; Readings and Bytes count what the
	// cloud accepted.
	Part     uint32 `json:"part"`
	Readings int64  `json:"readings"`
	Bytes    int64  `json:"bytes"`
	// LastSec and LastSeq locate the last reading sent in the buffer's
	// Range order (second of its time, then buffer sequence number).
	LastSec int64  `json:"last_sec"`
	LastSeq uint64 `json:"last_seq"`
	// Done marks a completed request, kept while the cloud still lists
	// it so that it is not uploaded again.
	Done bool `json:"done,omitempty"`
	// Sending is part Part as first built (nil: not built yet), saved
	// before its first try: every retry, after a restart too, sends the
	// same readings and Last flag under that part number. The cloud keeps
	// the first copy of a part number and answers a replay "duplicate"
	// (another copy "conflict", then the next part is sent: see
	// sendUploadPart), so a part built anew (the buffer evicted readings
	// meanwhile, the day's byte budget or the limits changed) would lose
	// the readings its first copy did not hold, or end the request early.
	Sending *partRange `json:"sending,omitempty"`
	// Rebuilt marks part Part as built anew after the cloud refused its
	// first build as invalid (400, 413, 422: not stored, so building it
	// anew loses nothing), for instance because the cloud lowered
	// max_body_bytes after it was built. A refusal of the new build too
	// is incompatible.
	Rebuilt bool `json:"rebuilt,omitempty"`
	// Through bounds the next build of part Part: it ends no later than
	// this (a build dropped because it never fitted the day's byte
	// budget), so that when the cloud kept the dropped build after all
	// (its answer lost) the next part, sent after the new build's end,
	// leaves no reading out. nil: no bound.
	Through *partRange `json:"through,omitempty"`
}

// partRange is the identity of a built upload part: the readings of the
// request's sensors after the previous part's last reading (LastSec,
// LastSeq) up to and including (EndSec, EndSeq) in the buffer's Range
// order, of buffer sequence number at most MaxSeq (readings committed
// later are not in it). Count and Bytes are what it held when built.
type partRange struct {
	EndSec int64  `json:"end_sec"`
	EndSeq uint64 `json:"end_seq"`
	MaxSeq uint64 `json:"max_seq"`
	Count  int    `json:"count"`
	Bytes  int64  `json:"bytes"`
	Last   bool   `json:"last,omitempty"`
}

func (f *Forwarder) loadUploads() error {
	return f.ob.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUploads).ForEach(func(k, v []byte) error {
			var u uploadState
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("open outbox %s: upload %q: %w", f.opts.Path, k, err)
			}
			f.uploads[u.Req.ID] = &u
			return nil
		})
	})
}

func (f *Forwarder) saveUpload(u *uploadState, done bool) error {
	return f.ob.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUploads)
		if done {
			return b.Delete([]byte(u.Req.ID))
		}
		v, err := json.Marshal(u)
		if err != nil {
			return err
		}
		return b.Put([]byte(u.Req.ID), v)
	})
}

// updateUploads takes the check-in's list: new valid requests start,
// requests no longer listed (done, expired, cancelled) end.
func (f *Forwarder) updateUploads(reqs []cloudapi.UploadRequest) error {
	listed := map[string]bool{}
	for _, r := range reqs {
		if f.opts.Readings == nil {
			break
		}
		if err := cloudapi.ValidateUploadRequest(&r); err != nil {
			f.log.Warn("ignoring an invalid upload request", "id", r.ID, "error", err)
			continue
		}
		listed[r.ID] = true
		f.mu.Lock()
		_, known := f.uploads[r.ID]
		f.mu.Unlock()
		if known {
			continue
		}
		u := &uploadState{Req: r}
		if err := f.saveUpload(u, false); err != nil {
			return fmt.Errorf("outbox: save upload: %w", err)
		}
		f.mu.Lock()
		f.uploads[r.ID] = u
		f.mu.Unlock()
		f.log.Info("upload requested", "id", r.ID, "from", r.From, "to", r.To, "sensors", len(r.Sensors))
	}
	for id, u := range f.snapshotUploads() {
		if !listed[id] {
			if err := f.endUpload(u, "no longer requested", false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *Forwarder) snapshotUploads() map[string]*uploadState {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]*uploadState, len(f.uploads))
	for k, v := range f.uploads {
		out[k] = v
	}
	return out
}

// endUpload forgets u, or with keep marks it done (while still listed).
func (f *Forwarder) endUpload(u *uploadState, why string, keep bool) error {
	if u.Done && keep {
		return nil
	}
	v := *u
	v.Done = true
	if err := f.saveUpload(&v, !keep); err != nil {
		return fmt.Errorf("outbox: end upload: %w", err)
	}
	f.mu.Lock()
	if keep {
		f.uploads[u.Req.ID] = &v
	} else {
		delete(f.uploads, u.Req.ID)
	}
	f.mu.Unlock()
	if !u.Done {
		f.log.Info("upload ended", "id", u.Req.ID, "why", why, "parts", u.Part, "readings", u.Readings)
	}
	return nil
}

// openUpload returns the open upload request with the smallest id (nil:
// none).
func (f *Forwarder) openUpload() *uploadState {
	f.mu.Lock()
	defer f.mu.Unlock()
	var best *uploadState
	for _, u := range f.uploads {
		if !u.Done && (best == nil || u.Req.ID < best.Req.ID) {
			best = u
		}
	}
	return best
}

// sendUploadPart sends the next part of u: the part being sent again
// when one is (u.Sending), else a new one.
func (f *Forwarder) sendUploadPart(ctx context.Context, u *uploadState) outcome {
	now := f.opts.Clock.Now()
	if !u.Req.ExpiresAt.IsZero() && now.After(u.Req.ExpiresAt) {
		return outcome{err: f.endUpload(u, "expired", true)}
	}
	var rs []reading.Reading
	if u.Sending == nil {
		var p *partRange
		var o *outcome
		rs, p, o = f.buildPart(ctx, u)
		if o != nil {
			return *o
		}
		next := *u
		next.Sending, next.Through = p, nil
		if err := f.saveUpload(&next, false); err != nil {
			return outcome{err: fmt.Errorf("outbox: save upload: %w", err)}
		}
		f.mu.Lock()
		f.uploads[u.Req.ID] = &next
		f.mu.Unlock()
		u = &next
	} else {
		var err error
		if rs, err = f.rebuildPart(ctx, u); err != nil {
			if ctx.Err() != nil {
				return outcome{class: classRetry, res: &result{err: ctx.Err()}, what: "upload"}
			}
			return outcome{err: fmt.Errorf("read readings for upload %s: %w", u.Req.ID, err)}
		}
	}
	p := u.Sending
	up := cloudapi.Upload{AgentID: f.opts.AgentID, RequestID: u.Req.ID, Part: u.Part, Last: p.Last, Readings: rs}
	if up.Readings == nil {
		up.Readings = []reading.Reading{}
	}
	body, err := json.Marshal(&up)
	if err != nil {
		return outcome{err: fmt.Errorf("encode upload: %w", err)}
	}
	if f.opts.BytesPerDay > 0 {
		// A part sent again keeps its first build's readings (see
		// rebuildPart), sized to what the day's budget left then; the
		// failed tries since stay charged, so the part may no longer fit
		// what is left. post would then wait for the next UTC day with
		// nothing else going out: wait here instead, as buildPart does,
		// so that check-ins, diagnoses and alerts keep flowing, and send
		// the part when the budget has room for it.
		//
		// A part larger than any build for a whole day's budget (built
		// under a larger budget or none: the budget was lowered since),
		// or that did not fit what a new UTC day left it either (other
		// traffic went first), may wait for ever: it is built anew,
		// smaller, to what is left (dropBuild), so that nothing waits for
		// it longer than a day.
		need := f.wireSize(body) + requestOverheadBytes + uploadAnswerBytes + responseOverheadBytes
		if left := f.dayLeft(false); need > left {
			// buildPart fits a part (compressed) to what the day
			// leaves, so a new build is never larger than a whole day.
			key, day := fmt.Sprintf("%s/%d", u.Req.ID, u.Part), dayOf(now)
			if need > f.dayAllowance(false) || f.partWait.key == key && f.partWait.day < day {
				f.log.Warn("an upload part never fits the day's byte budget; building it anew, smaller",
					"id", u.Req.ID, "part", u.Part, "needs", need, "left_today", max(left, 0),
					"day_budget", f.dayAllowance(false), "readings", len(rs))
				f.partWait.key = ""
				if err := f.dropBuild(u, false); err != nil {
					return outcome{err: err}
				}
				return outcome{class: classWaited}
			}
			if f.partWait.key != key {
				f.partWait.key, f.partWait.day = key, day
			}
			f.waitDayBudget(ctx, fmt.Sprintf("day cap: upload %s part %d needs %d bytes, %d left today", u.Req.ID, u.Part, need, max(left, 0)))
			return outcome{class: classWaited}
		}
	}
	res, err := f.post(ctx, cloudapi.PathUploads, cloudapi.UploadKey(f.opts.AgentID, f.generation, u.Req.ID, u.Part), body, false, uploadAnswerBytes, nil)
	what := fmt.Sprintf("upload %s part %d", u.Req.ID, u.Part)
	if err != nil {
		return outcome{class: classRetry, res: &result{err: err}, what: what}
	}
	switch c := classify(res); c {
	case classOK:
	case classGone:
		// The cloud no longer knows the request (cancelled or expired
		// since the check-in that listed it): the rest is not sent.
		f.count(func(s *Stats) { s.UploadsGone++ })
		f.log.Warn("the cloud no longer knows an upload request; ending it",
			"id", u.Req.ID, "part", u.Part, "readings_sent", u.Readings, "error", describe(what, res))
		return outcome{err: f.endUpload(u, fmt.Sprintf("cloud answered %d", res.status), true)}
	case classInvalid:
		f.count(func(s *Stats) { s.UploadPartsRefused++ })
		if u.Rebuilt {
			return outcome{class: classIncompatible, res: res, what: what}
		}
		// Refused, so not stored: build the part anew once, after a
		// check-in has brought the cloud's current limits.
		if err := f.dropBuild(u, true); err != nil {
			return outcome{err: err}
		}
		f.needCheckin = true
		f.log.Warn("the cloud refused an upload part as invalid; building it anew under its current limits",
			"id", u.Req.ID, "part", u.Part, "error", describe(what, res))
		return outcome{class: classInvalid, res: res, what: what}
	default:
		return outcome{class: c, res: res, what: what}
	}
	var resp cloudapi.UploadResponse
	_ = json.Unmarshal(res.body, &resp)
	next := *u
	next.Sending, next.Rebuilt = nil, false
	next.Part++
	sent, lost := int64(len(rs)), int64(0)
	switch resp.Status {
	case cloudapi.ItemDuplicate, cloudapi.ItemConflict:
		// The cloud holds the part's first copy, all of it. Conflict: it
		// holds another copy of this part number and kept it, not this
		// one: the first copy when the buffer evicted some of the part's
		// readings before this retry (the copies differ), else a copy
		// this outbox does not know of. Sending it again would be
		// answered the same: the conflict is counted and logged and the
		// request goes on with the next part, as after a duplicate.
		next.Readings += int64(p.Count)
		next.Bytes += p.Bytes
		sent = int64(p.Count)
		if resp.Status == cloudapi.ItemConflict {
			detail := ""
			if resp.Problem != nil {
				detail = resp.Problem.Detail
			}
			f.count(func(s *Stats) { s.UploadConflicts++ })
			f.log.Warn("the cloud kept another copy of this upload part, not this one; going on with the next part",
				"id", u.Req.ID, "part", u.Part, "built_with", p.Count, "sent", len(rs), "problem", detail)
		}
	default:
		next.Readings += int64(len(rs))
		next.Bytes += partBytes(rs)
		// The buffer evicted readings of the part before the cloud took
		// it: they are lost.
		lost = int64(max(p.Count-len(rs), 0))
	}
	next.LastSec, next.LastSeq = p.EndSec, p.EndSeq
	f.count(func(s *Stats) {
		s.UploadParts++
		s.UploadReadings += uint64(sent)
		s.UploadReadingsLost += uint64(lost)
	})
	if lost > 0 {
		f.log.Warn("upload part sent without readings the buffer removed before the cloud took it; they are lost",
			"id", u.Req.ID, "part", u.Part, "built_with", p.Count, "sent", len(rs), "lost", lost)
	}
	if up.Last || resp.Done {
		if err := f.endUpload(&next, "complete", true); err != nil {
			return outcome{err: err}
		}
		return outcome{class: classOK}
	}
	if err := f.saveUpload(&next, false); err != nil {
		return outcome{err: fmt.Errorf("outbox: save upload: %w", err)}
	}
	f.mu.Lock()
	f.uploads[u.Req.ID] = &next
	f.mu.Unlock()
	return outcome{class: classOK}
}

// dropBuild forgets u's built part, so that the next try builds it anew:
// after the cloud refused it as invalid (refused: marked Rebuilt), else
// because it never fits the day's byte budget (the new build ends no
// later than this one: Through).
func (f *Forwarder) dropBuild(u *uploadState, refused bool) error {
	next := *u
	if refused {
		next.Rebuilt = true
	} else if u.Sending != nil {
		next.Through = u.Sending
	}
	next.Sending = nil
	if err := f.saveUpload(&next, false); err != nil {
		return fmt.Errorf("outbox: save upload: %w", err)
	}
	f.mu.Lock()
	f.uploads[u.Req.ID] = &next
	f.st.UploadPartsRebuilt++
	f.mu.Unlock()
	return nil
}

// afterPrevious reports whether the reading at (sec, seq) of Range order
// comes after u's previous parts.
func afterPrevious(u *uploadState, sec int64, seq uint64) bool {
	return u.Part == 0 || sec > u.LastSec || sec == u.LastSec && seq > u.LastSeq
}

// partFrom is where Range starts reading for u's next part.
func partFrom(u *uploadState) time.Time {
	from := u.Req.From
	if u.Part > 0 && time.Unix(u.LastSec, 0).After(from) {
		from = time.Unix(u.LastSec, 0)
	}
	return from
}

// sensorFilter returns the set of u's sensors (nil: all).
func sensorFilter(u *uploadState) map[string]bool {
	if len(u.Req.Sensors) == 0 {
		return nil
	}
	sensors := map[string]bool{}
	for _, s := range u.Req.Sensors {
		sensors[s] = true
	}
	return sensors
}

// partBytes is the size a part's readings count for against the
// request's MaxBytes.
func partBytes(rs []reading.Reading) int64 {
	var n int64
	for i := range rs {
		if b, err := json.Marshal(&rs[i]); err == nil {
			n += int64(len(b)) + 1
		}
	}
	return n
}

// buildPart builds u's next part as large as the limits and the day's
// byte budget allow. A non-nil outcome means no part was built.
//
// The limits and the request's MaxBytes count the readings' JSON; the
// day's budget counts the part's compressed body (fitDayLeft), which is
// several times smaller.
func (f *Forwarder) buildPart(ctx context.Context, u *uploadState) ([]reading.Reading, *partRange, *outcome) {
	maxN := f.limits.MaxUploadReadings
	maxBytes := min(f.opts.BatchBytes, f.limits.MaxBodyBytes-envelopeBytes)
	left := f.dayLeft(false)
	if f.opts.BytesPerDay > 0 {
		// Readings read in beyond what could ever compress into what
		// is left are not read.
		maxBytes = min(maxBytes, max(left-partOverheadBytes, 1)*maxUploadRatio)
	}
	if u.Req.MaxBytes > 0 {
		maxBytes = min(maxBytes, max(u.Req.MaxBytes-u.Bytes, 0))
	}
	sensors := sensorFilter(u)
	var rs []reading.Reading
	var ends []partEnd
	var size int64
	// full: the part is full; capped: the request's byte cap leaves no
	// room for the next reading (the part is the last); bounded: the
	// next reading is after u.Through's end.
	full, capped, bounded := false, false, false
	through := u.Through
	err := f.opts.Readings.Range(ctx, partFrom(u), u.Req.To, func(r buffer.Record) error {
		sec := r.Reading.Time.Unix()
		if !afterPrevious(u, sec, r.Seq) {
			return nil
		}
		if through != nil && (sec > through.EndSec || sec == through.EndSec && r.Seq > through.EndSeq) {
			full, bounded = true, true
			return buffer.ErrStop
		}
		if sensors != nil && !sensors[r.Reading.Sensor] {
			return nil
		}
		b, err := json.Marshal(r.Reading)
		if err != nil {
			return nil // NaN: not sendable
		}
		if len(rs) >= maxN || size+int64(len(b))+1 > maxBytes {
			full = true
			capped = u.Req.MaxBytes > 0 && u.Bytes+size+int64(len(b))+1 > u.Req.MaxBytes
			return buffer.ErrStop
		}
		rs = append(rs, r.Reading)
		size += int64(len(b)) + 1
		ends = append(ends, partEnd{sec: sec, seq: r.Seq, size: size})
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, &outcome{class: classRetry, res: &result{err: ctx.Err()}, what: "upload"}
		}
		return nil, nil, &outcome{err: fmt.Errorf("read readings for upload %s: %w", u.Req.ID, err)}
	}
	last := func(n int) bool {
		if n < len(rs) {
			// Cut for the day's budget: readings of the request follow.
			return u.Req.MaxBytes > 0 && u.Bytes+ends[n-1].size >= u.Req.MaxBytes
		}
		atCap := capped || u.Req.MaxBytes > 0 && u.Bytes+size >= u.Req.MaxBytes
		return !full || atCap
	}
	if f.opts.BytesPerDay > 0 && len(rs) > 0 {
		n := f.fitDayLeft(u, rs, ends, left, last)
		if n < len(rs) {
			// Cut for the day's budget, not ending at the request's cap
			// or at u.Through.
			full, capped, bounded = true, false, false
			rs, ends = rs[:n], ends[:n]
			if n > 0 {
				size = ends[n-1].size
			} else {
				size = 0
			}
		}
	}
	if full && !capped && !bounded && len(rs) == 0 {
		// Not one reading fits what the day's byte budget leaves: an
		// empty part would only spend more of it. Wait for the next UTC
		// day or check-in, as diagnoses do.
		f.waitDayBudget(ctx, fmt.Sprintf("day cap: not one reading of upload %s fits what is left today", u.Req.ID))
		return nil, nil, &outcome{class: classWaited}
	}
	p := &partRange{EndSec: u.LastSec, EndSeq: u.LastSeq}
	for _, e := range ends {
		p.EndSec, p.EndSeq = e.sec, e.seq
		p.MaxSeq = max(p.MaxSeq, e.seq)
	}
	p.Count, p.Bytes, p.Last = len(rs), size, last(len(rs))
	return rs, p, nil
}

// partEnd is where a part would end after one of its readings: the
// reading's place in Range order and the part's size (readings' JSON)
// up to it.
type partEnd struct {
	sec  int64
	seq  uint64
	size int64
}

// maxUploadRatio bounds how many times smaller than the readings' JSON
// an upload part's compressed body is taken to be when reading them in:
// buildPart reads at most that many times what the day's budget leaves.
const maxUploadRatio = 32

// fitDayLeft returns how many of the readings rs (whose part would end
// at ends[i] after reading i) u's next part holds so that sending it
// (compressed body, headers, answer) takes at most left bytes of the
// day's budget: all of them, or as many as the measured compression of
// the part allows, less a small margin. Each guess is checked by
// compressing the part's body as sent, so the part never exceeds left;
// 0: not one fits. last tells the part's Last flag for n readings.
func (f *Forwarder) fitDayLeft(u *uploadState, rs []reading.Reading, ends []partEnd, left int64, last func(n int) bool) int {
	const fixed = requestOverheadBytes + uploadAnswerBytes + responseOverheadBytes
	need := func(n int) int64 {
		up := cloudapi.Upload{AgentID: f.opts.AgentID, RequestID: u.Req.ID, Part: u.Part, Last: last(n), Readings: rs[:n]}
		body, err := json.Marshal(&up)
		if err != nil {
			return math.MaxInt64
		}
		return f.wireSize(body) + fixed
	}
	n := len(rs)
	for n > 0 {
		got := need(n)
		if got <= left {
			return n
		}
		// The compressed size grows about in proportion to the
		// readings' JSON: aim at what is left, less 3 %.
		want := float64(ends[n-1].size) * float64(max(left-fixed, 0)) / float64(got-fixed) * 0.97
		next, _ := slices.BinarySearchFunc(ends[:n], int64(want), func(e partEnd, w int64) int { return cmp.Compare(e.size, w+1) })
		n = min(next, n-1)
	}
	return 0
}

// wireSize is the size of body compressed, as post sends it. The last
// body measured and its size are kept: an upload part waiting for the
// day's budget is measured again at every wake, and the part fitDayLeft
// built last is measured once more before it is sent.
func (f *Forwarder) wireSize(body []byte) int64 {
	if f.lastWire.body != nil && bytes.Equal(f.lastWire.body, body) {
		return f.lastWire.size
	}
	n := int64(len(gzipBody(body)))
	f.lastWire.body, f.lastWire.size = body, n
	return n
}

// uploadAnswerBytes is about the size of the cloud's answer to an upload
// part, which the day's budget must have room for.
const uploadAnswerBytes = 256

// partOverheadBytes is what an upload part's request and answer take
// beyond its readings' JSON, against the day's byte budget.
const partOverheadBytes = requestOverheadBytes + responseOverheadBytes + uploadAnswerBytes + envelopeBytes

// waitDayBudget waits while the day's byte budget has no room for the
// upload's next part: until the next UTC day, the next check-in or a
// wake (a new diagnosis or alert), whichever comes first, so that the
// rest of the traffic keeps flowing. why is the link state's error text.
func (f *Forwarder) waitDayBudget(ctx context.Context, why string) {
	f.setLink(LinkDayCap, why)
	now := f.opts.Clock.Now()
	if wait := min(time.Unix((dayOf(now)+1)*86400, 0).Sub(now), f.nextCheckin.Sub(now)); wait > 0 {
		_ = f.opts.Clock.Sleep(ctx, wait, f.wake)
	}
}

// rebuildPart reads the readings of the part u.Sending again: those the
// buffer still holds (it may have evicted some since the part was built).
func (f *Forwarder) rebuildPart(ctx context.Context, u *uploadState) ([]reading.Reading, error) {
	p := u.Sending
	if p.Count == 0 {
		return nil, nil
	}
	sensors := sensorFilter(u)
	var rs []reading.Reading
	err := f.opts.Readings.Range(ctx, partFrom(u), u.Req.To, func(r buffer.Record) error {
		sec := r.Reading.Time.Unix()
		if !afterPrevious(u, sec, r.Seq) || r.Seq > p.MaxSeq {
			return nil
		}
		if sec > p.EndSec || sec == p.EndSec && r.Seq > p.EndSeq {
			return buffer.ErrStop
		}
		if sensors != nil && !sensors[r.Reading.Sensor] {
			return nil
		}
		if _, err := json.Marshal(r.Reading); err != nil {
			return nil // NaN: not sendable (nor sent the first time)
		}
		rs = append(rs, r.Reading)
		return nil
	})
	return rs, err
}
