package forward

import (
	"fmt"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// checkinRefused handles a check-in the cloud refused as invalid (400,
// 413, 422). It is no reason to stop sending: diagnoses and uploads have
// their own validation, so the forwarder keeps its last limits (the
// defaults before a first accepted check-in), counts and logs the
// refusal, and checks in again at the next regular check-in.
func (f *Forwarder) checkinRefused(res *result) outcome {
	f.nextCheckin = f.opts.Clock.Now().Add(f.opts.Checkin)
	f.needCheckin = false
	f.mu.Lock()
	f.st.CheckinsRefused++
	logIt := f.shouldLog("checkin-refused")
	f.mu.Unlock()
	if logIt {
		f.log.Error("the cloud refused the check-in; sending diagnoses on with the last limits, checking in again later",
			"error", describe("check-in", res), "next_checkin", f.opts.Checkin.String())
	}
	return outcome{class: classInvalid}
}

// clampTime returns t moved into the range the cloud accepts
// ([cloudapi.MinTime, cloudapi.MaxTime)): a clock set before 2000 (a rig
// without a battery-backed clock, before NTP) would otherwise make the
// cloud refuse every check-in.
func clampTime(t time.Time) time.Time {
	switch {
	case t.Before(cloudapi.MinTime):
		return cloudapi.MinTime
	case !t.Before(cloudapi.MaxTime):
		return cloudapi.MaxTime.Add(-time.Second)
	}
	return t
}

func timeInRange(t time.Time) bool { return !t.Before(cloudapi.MinTime) && t.Before(cloudapi.MaxTime) }

// fitCheckin makes req pass cloudapi.ValidateCheckin where it can, so
// that the cloud does not refuse the whole check-in for one optional
// detail: texts are clipped to valid UTF-8 of at most MaxTextLen bytes,
// times moved into the accepted range (WatchUntil and Outbox.Oldest
// left out), and optional parts that still fail alone (model, buffer,
// uploads, update, bundle formats, firmware digest) left out. What it changed is logged
// when it differs from the last time. A request whose required fields
// fail is sent as it is: the cloud refuses it (checkinRefused).
func (f *Forwarder) fitCheckin(req *cloudapi.CheckinRequest) {
	var fixed []string
	req.Time = clampTime(req.Time)
	if o := req.Outbox.Oldest; o != nil && !timeInRange(*o) {
		req.Outbox.Oldest = nil
		fixed = append(fixed, "outbox/oldest left out")
	}
	if u := req.Update; u != nil {
		if s := cloudapi.ClipText(u.LastError, cloudapi.MaxTextLen); s != u.LastError {
			u.LastError = s
			fixed = append(fixed, "update/last_error clipped")
		}
		if s := cloudapi.ClipText(u.Target, cloudapi.MaxTextLen); s != u.Target {
			u.Target = s
			fixed = append(fixed, "update/target clipped")
		}
		if t := clampTime(u.Changed); !t.Equal(u.Changed) {
			u.Changed = t
			fixed = append(fixed, "update/changed moved into range")
		}
		if w := u.WatchUntil; w != nil && !timeInRange(*w) {
			u.WatchUntil = nil
			fixed = append(fixed, "update/watch_until left out")
		}
	}
	err := cloudapi.ValidateCheckin(req)
	if err != nil {
		// Each optional part alone on the required fields: left out if it
		// fails.
		base := *req
		base.Model, base.Buffer, base.Uploads, base.Update, base.BundleFormats, base.FirmwareDigest = nil, nil, nil, nil, nil, ""
		if cloudapi.ValidateCheckin(&base) == nil {
			parts := []struct {
				name string
				set  func(r *cloudapi.CheckinRequest)
				drop func()
			}{
				{"model", func(r *cloudapi.CheckinRequest) { r.Model = req.Model }, func() { req.Model = nil }},
				{"buffer", func(r *cloudapi.CheckinRequest) { r.Buffer = req.Buffer }, func() { req.Buffer = nil }},
				{"uploads", func(r *cloudapi.CheckinRequest) { r.Uploads = req.Uploads }, func() { req.Uploads = nil }},
				{"update", func(r *cloudapi.CheckinRequest) { r.Update = req.Update }, func() { req.Update = nil }},
				{cloudapi.FieldBundleFormats, func(r *cloudapi.CheckinRequest) { r.BundleFormats = req.BundleFormats }, func() { req.BundleFormats = nil }},
				{cloudapi.FieldFirmwareDigest, func(r *cloudapi.CheckinRequest) { r.FirmwareDigest = req.FirmwareDigest }, func() { req.FirmwareDigest = "" }},
			}
			for _, p := range parts {
				one := base
				p.set(&one)
				if cloudapi.ValidateCheckin(&one) != nil {
					p.drop()
					fixed = append(fixed, p.name+" left out")
				}
			}
			err = cloudapi.ValidateCheckin(req)
		}
	}
	key := strings.Join(fixed, ", ")
	if err != nil {
		key += fmt.Sprintf("; still invalid: %v", err)
	}
	if key == f.checkinFixes {
		return
	}
	f.checkinFixes = key
	switch {
	case err != nil:
		f.log.Error("the check-in is invalid for the cloud contract and will be refused; diagnoses are still sent",
			"error", err, "fixed", fixed)
	case len(fixed) > 0:
		f.log.Warn("check-in details the cloud would refuse were clipped or left out", "fixed", fixed)
	}
}
