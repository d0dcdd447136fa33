package forward

import (
	"context"
	"encoding/json"
	"fmt"
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

// sendUploadPart sends the next part of u.
func (f *Forwarder) sendUploadPart(ctx context.Context, u *uploadState) outcome {
	now := f.opts.Clock.Now()
	if !u.Req.ExpiresAt.IsZero() && now.After(u.Req.ExpiresAt) {
		return outcome{err: f.endUpload(u, "expired", true)}
	}
	maxN := f.limits.MaxUploadReadings
	maxBytes := min(f.opts.BatchBytes, f.limits.MaxBodyBytes-envelopeBytes)
	if f.opts.BytesPerDay > 0 {
		maxBytes = min(maxBytes, max(f.dayLeft(false)-requestOverheadBytes-responseOverheadBytes-envelopeBytes, 1))
	}
	if u.Req.MaxBytes > 0 {
		maxBytes = min(maxBytes, max(u.Req.MaxBytes-u.Bytes, 0))
	}
	var sensors map[string]bool
	if len(u.Req.Sensors) > 0 {
		sensors = map[string]bool{}
		for _, s := range u.Req.Sensors {
			sensors[s] = true
		}
	}
	from := u.Req.From
	if u.Part > 0 && time.Unix(u.LastSec, 0).After(from) {
		from = time.Unix(u.LastSec, 0)
	}
	var rs []reading.Reading
	var size int64
	var lastSec int64
	var lastSeq uint64
	// full: the part is full; capped: the request's byte cap leaves no
	// room for the next reading (the part is the last).
	full, capped := false, false
	err := f.opts.Readings.Range(ctx, from, u.Req.To, func(r buffer.Record) error {
		sec := r.Reading.Time.Unix()
		if u.Part > 0 && (sec < u.LastSec || sec == u.LastSec && r.Seq <= u.LastSeq) {
			return nil
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
		lastSec, lastSeq = sec, r.Seq
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return outcome{class: classRetry, res: &result{err: ctx.Err()}, what: "upload"}
		}
		return outcome{err: fmt.Errorf("read readings for upload %s: %w", u.Req.ID, err)}
	}
	if full && !capped && len(rs) == 0 {
		// Not one reading fits what the day's byte budget leaves: an
		// empty part would only spend more of it. Wait for the next UTC
		// day or check-in, as diagnoses do.
		now := f.opts.Clock.Now()
		if wait := min(time.Unix((dayOf(now)+1)*86400, 0).Sub(now), f.nextCheckin.Sub(now)); wait > 0 {
			_ = f.opts.Clock.Sleep(ctx, wait, f.wake)
		}
		return outcome{class: classWaited}
	}
	atCap := capped || u.Req.MaxBytes > 0 && u.Bytes+size >= u.Req.MaxBytes
	up := cloudapi.Upload{AgentID: f.opts.AgentID, RequestID: u.Req.ID, Part: u.Part, Last: !full || atCap, Readings: rs}
	if up.Readings == nil {
		up.Readings = []reading.Reading{}
	}
	body, err := json.Marshal(&up)
	if err != nil {
		return outcome{err: fmt.Errorf("encode upload: %w", err)}
	}
	res, err := f.post(ctx, cloudapi.PathUploads, cloudapi.UploadKey(f.opts.AgentID, u.Req.ID, u.Part), body, false, 256)
	what := fmt.Sprintf("upload %s part %d", u.Req.ID, u.Part)
	if err != nil {
		return outcome{class: classRetry, res: &result{err: err}, what: what}
	}
	switch c := classify(res); c {
	case classOK:
	case classGone:
		return outcome{err: f.endUpload(u, fmt.Sprintf("cloud answered %d", res.status), true)}
	case classInvalid:
		return outcome{class: classIncompatible, res: res, what: what}
	default:
		return outcome{class: c, res: res, what: what}
	}
	var resp cloudapi.UploadResponse
	_ = json.Unmarshal(res.body, &resp)
	next := *u
	next.Part++
	next.Readings += int64(len(rs))
	next.Bytes += size
	if len(rs) > 0 {
		next.LastSec, next.LastSeq = lastSec, lastSeq
	}
	f.count(func(s *Stats) { s.UploadParts++; s.UploadReadings += uint64(len(rs)) })
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
