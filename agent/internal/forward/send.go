package forward

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// envelopeBytes bounds the batch envelope around the diagnoses' JSON.
const envelopeBytes = 128

// checkin reports the agent's state and takes the cloud's limits and
// upload requests.
func (f *Forwarder) checkin(ctx context.Context) outcome {
	now := f.opts.Clock.Now()
	var lastSeq uint64
	if f.opts.Readings != nil {
		lastSeq = f.opts.Readings.LastSeq()
	}
	st := f.Stats()
	req := cloudapi.CheckinRequest{
		AgentID: f.opts.AgentID, RigID: f.opts.RigID, RigType: f.opts.RigType, AgentVersion: f.opts.Version,
		Outbox: cloudapi.OutboxStatus{Items: st.Queued, Alerts: st.QueuedAlerts, Bytes: st.QueuedBytes,
			Dropped: st.Dropped, Rejected: st.Rejected + st.Conflicts},
	}
	if !st.Oldest.IsZero() {
		t := st.Oldest.UTC()
		req.Outbox.Oldest = &t
	}
	f.mu.Lock()
	for _, u := range f.uploads {
		if u.Done {
			continue
		}
		req.Uploads = append(req.Uploads, cloudapi.UploadProgress{RequestID: u.Req.ID, PartsSent: u.Part, ReadingsSent: u.Readings})
	}
	f.mu.Unlock()
	if f.opts.Describe != nil {
		f.opts.Describe(&req)
	}
	if !now.Before(f.formatsRefusedUntil) {
		req.BundleFormats = &agentBundleFormats
	}
	if !now.Before(f.firmwareRefusedUntil) {
		req.FirmwareDigest = f.opts.FirmwareDigest
	}
	f.fitCheckin(&req)
	res, err := f.postCheckin(ctx, &req)
	// A cloud older than an optional field refuses the check-in as
	// holding an unknown field: the agent checks in again without it and
	// tries it again after a while (the cloud may have been upgraded
	// meanwhile). A cloud older than both names the first it meets: one
	// more request per field.
retry:
	for range 2 {
		if err != nil || classify(res) != classInvalid {
			break
		}
		switch {
		case req.BundleFormats != nil && cloudapi.UnknownFieldRefused(res.problem, cloudapi.FieldBundleFormats):
			// The cloud then takes this agent for one that reads format 1
			// only.
			f.formatsRefusedUntil = now.Add(bundleFormatsRetry)
			f.log.Warn("the cloud refuses the check-in field "+cloudapi.FieldBundleFormats+" (it is older than this agent): checking in without it; its rollouts take this agent for one that reads bundle format 1 only",
				"formats", agentBundleFormats.String(), "retry_in", bundleFormatsRetry.String())
			req.BundleFormats = nil
		case req.FirmwareDigest != "" && cloudapi.UnknownFieldRefused(res.problem, cloudapi.FieldFirmwareDigest):
			// The cloud then knows nothing of this agent's firmware
			// config: its rollouts offer releases as before the field.
			f.firmwareRefusedUntil = now.Add(firmwareDigestRetry)
			f.log.Warn("the cloud refuses the check-in field "+cloudapi.FieldFirmwareDigest+" (it is older than this agent): checking in without it; its rollouts do not check that a release fits this rig's firmware config (the agent still refuses one that does not)",
				"firmware_digest", req.FirmwareDigest, "retry_in", firmwareDigestRetry.String())
			req.FirmwareDigest = ""
		default:
			break retry
		}
		res, err = f.postCheckin(ctx, &req)
	}
	if err != nil {
		return outcome{class: classRetry, res: &result{err: err}, what: "check-in"}
	}
	c := classify(res)
	switch c {
	case classOK:
	case classInvalid:
		return f.checkinRefused(res)
	case classGone:
		return outcome{class: classIncompatible, res: res, what: "check-in"}
	default:
		return outcome{class: c, res: res, what: "check-in"}
	}
	resp, err := cloudapi.DecodeCheckinResponse(res.body)
	if resp == nil {
		return outcome{class: classIncompatible, res: &result{status: res.status, err: fmt.Errorf("decoding the answer: %w", err)}, what: "check-in"}
	}
	if err != nil {
		// An invalid offer: dropped, the rest of the answer used.
		f.log.Warn("check-in offer refused; no release is offered", "error", err)
	}
	if f.opts.Offer != nil {
		f.opts.Offer(resp.Offer)
	}
	f.limits = resp.Limits.WithDefaults()
	if resp.Generation > 0 {
		f.generation = resp.Generation
	}
	// Before any diagnosis goes: needCheckin stays set on a failure.
	if retry, fatal := f.keepSeqsAbove(resp.HighestSeq); fatal != nil {
		return outcome{err: fatal}
	} else if retry != nil {
		err := fmt.Errorf("raising the diagnosis sequence above the cloud's highest seq %d: %w", resp.HighestSeq, retry)
		return outcome{class: classRetry, res: &result{err: err, unsent: true}, what: "check-in"}
	}
	every := f.opts.Checkin
	if resp.NextCheckinS > 0 {
		every = time.Duration(resp.NextCheckinS) * time.Second
	}
	f.nextCheckin = f.opts.Clock.Now().Add(every)
	f.needCheckin = false
	if err := f.updateUploads(resp.UploadRequests); err != nil {
		return outcome{err: err}
	}
	if r := f.opts.Readings; r != nil && lastSeq > 0 && f.openUpload() == nil {
		if err := r.SetCursor(ctx, f.opts.Release, lastSeq); err != nil && ctx.Err() == nil {
			f.log.Warn("cannot release forwarded readings", "cursor", f.opts.Release, "seq", lastSeq, "error", err)
		}
	}
	return outcome{class: classOK, checkin: true}
}

// agentBundleFormats are the model-bundle manifest formats this agent
// reads (shared/bundle), reported at every check-in.
var agentBundleFormats = cloudapi.BundleFormats{Min: bundle.MinFormatVersion, Max: bundle.FormatVersion}

// bundleFormatsRetry is how long the agent checks in without
// bundle_formats after a cloud refused the field as unknown.
const bundleFormatsRetry = time.Hour

// firmwareDigestRetry is how long the agent checks in without
// firmware_digest after a cloud refused the field as unknown.
const firmwareDigestRetry = time.Hour

// postCheckin sends a check-in. Its Time is stamped as it goes out
// (after the caps' waits, which may last until the next UTC day): the
// cloud computes the agent's clock skew from it.
func (f *Forwarder) postCheckin(ctx context.Context, req *cloudapi.CheckinRequest) (*result, error) {
	encode := func() ([]byte, error) {
		req.Time = clampTime(f.opts.Clock.Now().UTC())
		b, err := json.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("encode check-in: %w", err)
		}
		return b, nil
	}
	body, err := encode()
	if err != nil {
		return nil, err
	}
	return f.post(ctx, cloudapi.PathCheckin, "", body, true, 1024, encode)
}

// sendDiagnoses sends one batch from the head of the outbox.
func (f *Forwarder) sendDiagnoses(ctx context.Context) outcome {
	maxItems := max(1, min(f.opts.BatchItems, f.limits.MaxBatchItems, f.batchLimit))
	maxBytes := min(f.opts.BatchBytes, f.limits.MaxBodyBytes-envelopeBytes)
	alertsOnly := false
	if f.opts.BytesPerDay > 0 {
		// Leave room for the request's overhead and the answer.
		overhead := int64(requestOverheadBytes + responseOverheadBytes + envelopeBytes)
		if left := f.dayLeft(false) - overhead; left < 1024 {
			alertsOnly = true
			maxBytes = min(maxBytes, max(f.dayLeft(true)-overhead, 1))
		} else {
			maxBytes = min(maxBytes, left)
		}
	}
	// Read and mark the batch under mu, so that Enqueue cannot drop one
	// of its items unnoticed between the two.
	f.mu.Lock()
	items, err := f.ob.peek(maxItems, maxBytes, alertsOnly)
	if err == nil && len(items) > 0 {
		f.sending = make(map[uint64]sendingItem, len(items))
		for _, it := range items {
			f.sending[it.seq] = sendingItem{alert: it.prio == prioAlert}
		}
	}
	dayUsed := f.dayUsed
	f.mu.Unlock()
	if err != nil {
		return outcome{err: fmt.Errorf("outbox: read: %w", err)}
	}
	if len(items) == 0 {
		// Only non-alerts queued and the day's budget for them is used up:
		// wait for the next UTC day, a new alert, or the next check-in
		// (the agent keeps checking in while capped).
		f.setLink(LinkDayCap, fmt.Sprintf("day cap: %d of %d bytes used, the rest is kept for alerts", dayUsed, f.opts.BytesPerDay))
		now := f.opts.Clock.Now()
		wait := min(time.Unix((dayOf(now)+1)*86400, 0).Sub(now), f.nextCheckin.Sub(now))
		if wait > 0 {
			_ = f.opts.Clock.Sleep(ctx, wait, f.wake)
		}
		return outcome{class: classWaited}
	}
	defer f.unsend()
	var body bytes.Buffer
	body.WriteString(`{"agent_id":`)
	id, _ := json.Marshal(f.opts.AgentID)
	body.Write(id)
	body.WriteString(`,"diagnoses":[`)
	seqs := make([]uint64, len(items))
	for i, it := range items {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(it.data)
		seqs[i] = it.seq
	}
	body.WriteString(`]}`)
	res, err := f.post(ctx, cloudapi.PathDiagnoses, cloudapi.BatchKey(f.opts.AgentID, f.generation, seqs), body.Bytes(), items[0].prio == prioAlert, 64*int64(len(items)), nil)
	if err != nil {
		return outcome{class: classRetry, res: &result{err: err}, what: "diagnoses"}
	}
	what := fmt.Sprintf("diagnosis batch of %d (seq %d...)", len(items), items[0].seq)
	switch c := classify(res); c {
	case classOK:
		return f.acked(items, seqs, res)
	case classInvalid:
		return f.refused(items, res, what)
	case classGone:
		return outcome{class: classIncompatible, res: res, what: what}
	default:
		return outcome{class: c, res: res, what: what}
	}
}

// acked removes a batch the cloud answered with 2xx.
func (f *Forwarder) acked(items []item, seqs []uint64, res *result) outcome {
	var resp cloudapi.BatchResponse
	err := json.Unmarshal(res.body, &resp)
	if err == nil {
		err = cloudapi.CheckBatchResponse(seqs, &resp)
	}
	if err != nil {
		// A 2xx means every item has a final status; the body is only
		// detail.
		f.log.Warn("cloud answered a batch with 2xx and an unusable body; counting every item as accepted", "error", err, "status", res.status)
		resp = cloudapi.BatchResponse{}
		for _, s := range seqs {
			resp.Results = append(resp.Results, cloudapi.ItemResult{Seq: s, Status: cloudapi.ItemAccepted})
		}
	}
	resp.Count()
	// The removal and the counters change under f.mu together, as in
	// Enqueue: a Stats snapshot never shows an item neither queued nor
	// counted (Queued 0 with Accepted short of Enqueued).
	f.mu.Lock()
	if err := f.ob.remove(items, f.day, f.dayUsed); err != nil {
		f.mu.Unlock()
		return outcome{err: err}
	}
	// The cloud's answer counts every item, those the full outbox
	// dropped meanwhile too: they reached the cloud.
	f.sending = nil
	f.rejectsInARow = 0
	f.batchLimit = min(f.opts.BatchItems, max(f.batchLimit*2, 1))
	f.st.Batches++
	f.st.Accepted += uint64(resp.Accepted)
	f.st.Duplicates += uint64(resp.Duplicates)
	f.st.Rejected += uint64(resp.Rejected)
	f.st.Conflicts += uint64(resp.Conflicts)
	logIt := (resp.Rejected > 0 || resp.Conflicts > 0) && f.shouldLog("rejected")
	f.mu.Unlock()
	if logIt {
		for _, r := range resp.Results {
			if r.Status == cloudapi.ItemRejected || r.Status == cloudapi.ItemConflict {
				f.log.Error("cloud refused a diagnosis; removed from the outbox", "seq", r.Seq, "status", string(r.Status), "problem", fmt.Sprint(r.Problem),
					"rejected_in_batch", resp.Rejected, "conflicts_in_batch", resp.Conflicts)
				break
			}
		}
	}
	return outcome{class: classOK}
}

// refused handles a batch refused as a whole with 400, 413 or 422: split
// it, or reject the single item, unless that has happened too often in a
// row (then the server is at fault: keep everything and back off).
func (f *Forwarder) refused(items []item, res *result, what string) outcome {
	if len(items) > 1 {
		f.batchLimit = len(items) / 2
		f.log.Info("cloud refused a batch; splitting it to find the item", "error", describe(what, res), "next_batch", f.batchLimit)
		return outcome{class: classInvalid}
	}
	f.rejectsInARow++
	if f.rejectsInARow > f.opts.RejectsInARow {
		return outcome{class: classIncompatible, res: res, what: fmt.Sprintf("%s; %d single diagnoses refused in a row, assuming the server is at fault", what, f.rejectsInARow)}
	}
	f.mu.Lock() // removal and counter together (see acked)
	if err := f.ob.remove(items, f.day, f.dayUsed); err != nil {
		f.mu.Unlock()
		return outcome{err: err}
	}
	f.st.Rejected++
	f.sending = nil // counted as rejected, also if the outbox dropped it meanwhile
	f.mu.Unlock()
	f.log.Error("cloud refused a diagnosis; removed from the outbox", "seq", items[0].seq, "error", describe(what, res))
	return outcome{class: classInvalid}
}

// unsend ends the sending of a batch that no answer counted (a failure,
// a split, a stop): the items the full outbox dropped meanwhile count as
// dropped now.
func (f *Forwarder) unsend() {
	f.mu.Lock()
	var drops []dropped
	for seq, it := range f.sending {
		if it.dropped {
			drops = append(drops, dropped{seq: seq, alert: it.alert})
		}
	}
	f.sending = nil
	slices.SortFunc(drops, func(a, b dropped) int { return cmp.Compare(a.seq, b.seq) })
	f.countDrops(drops)
	logIt := len(drops) > 0 && f.shouldLog("drop")
	st := f.st
	f.mu.Unlock()
	f.reportDrops(drops, logIt, st)
}
