package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"
)

// Detector is the control of the bundle's anomaly detector (a SKAB
// detector with its calibration in agent.data_dir; the service's
// persisted detector implements it). Both methods are safe for concurrent
// use with the windowing that runs the detector.
type Detector interface {
	// DetectorState returns the detector's state now; cheap, for every
	// /status.
	DetectorState() DetectorState
	// Recalibrate drops the calibration (and its file) so that the next
	// windows calibrate again; the new calibration is saved when complete.
	// It may wait, bounded by ctx, for a window being run.
	Recalibrate(ctx context.Context) (DetectorState, error)
}

// Detector states (DetectorState.State).
const (
	DetectorCalibrating = "calibrating"
	DetectorCalibrated  = "calibrated"
)

// DetectorState is the anomaly detector's calibration state, in /status,
// /bundle and the answer of POST /detector/recalibrate.
type DetectorState struct {
	// State is "calibrating" (the first CalibRows rows are taken as the
	// rig's normal operation; diagnoses meanwhile have status unknown,
	// marked calibrating, and are no alerts) or "calibrated".
	State string `json:"state"`
	// Rows is how many rows the calibration in progress has seen (while
	// calibrating), CalibRows how many it needs; RemainingS the data time
	// still needed (rows left over the grid rate).
	Rows       int     `json:"rows"`
	CalibRows  int     `json:"calib_rows"`
	RemainingS float64 `json:"remaining_s"`
	// CalibratedAt is when the calibration in use was made (the file's
	// time after a restart); absent while calibrating.
	CalibratedAt *time.Time `json:"calibrated_at,omitempty"`
	// RecalibrationRequestedAt is when POST /detector/recalibrate last
	// restarted the calibration (since start).
	RecalibrationRequestedAt *time.Time `json:"recalibration_requested_at,omitempty"`
	// File is where the calibration is kept; Saved whether the calibration
	// in use is stored there.
	File  string `json:"file"`
	Saved bool   `json:"saved"`
}

// Problem types of the local API (RFC 9457 problem documents).
const (
	ProblemNoDetector       = "urn:hydrognn:agent:problem:no-detector"
	ProblemUnsupportedMedia = "urn:hydrognn:agent:problem:unsupported-media-type"
	ProblemInvalidBody      = "urn:hydrognn:agent:problem:invalid-body"
	ProblemRecalibrate      = "urn:hydrognn:agent:problem:recalibrate-failed"
)

// ProblemBody is an RFC 9457 problem document (application/problem+json),
// the error answer of the API's state-changing routes. Error repeats
// Detail and Status is the HTTP status, so a client that reads the other
// routes' {"error", "status"} reads these too.
type ProblemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Error  string `json:"error"`
}

func writeProblem(w http.ResponseWriter, code int, typ, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(ProblemBody{Type: typ, Title: title, Status: code, Detail: detail, Error: detail})
}

// maxRecalibrateBody caps the body of POST /detector/recalibrate (an empty
// JSON object is all it takes).
const maxRecalibrateBody = 1 << 10

// recalibrate is POST /detector/recalibrate. It needs Content-Type
// application/json: a browser cannot send that cross-origin without a
// CORS preflight (which the API does not grant), so a web page cannot
// make a local browser recalibrate the rig. The body is empty or {}.
func (s *Server) recalibrate(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, ProblemUnsupportedMedia, "Content-Type must be application/json",
			fmt.Sprintf("Content-Type %q: send application/json with an empty body or {} (e.g. curl -X POST -H 'Content-Type: application/json' http://%s/detector/recalibrate)",
				r.Header.Get("Content-Type"), s.opts.Listen))
		return
	}
	if len(r.URL.Query()) > 0 {
		writeProblem(w, http.StatusBadRequest, ProblemInvalidBody, "No parameters",
			fmt.Sprintf("/detector/recalibrate takes no parameters, got %q", r.URL.RawQuery))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRecalibrateBody+1))
	if err == nil && len(body) > maxRecalibrateBody {
		err = fmt.Errorf("body larger than %d bytes", maxRecalibrateBody)
	}
	if err == nil && len(body) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var v struct{}
		if err = dec.Decode(&v); err == nil && dec.More() {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err != nil {
		writeProblem(w, http.StatusBadRequest, ProblemInvalidBody, "Invalid body",
			fmt.Sprintf("body: %v: send an empty body or {}", err))
		return
	}
	sv := s.served()
	if sv.Detector == nil {
		why := sv.NoDetector
		if why == "" {
			why = "the bundle has no anomaly detector to calibrate"
		}
		writeProblem(w, http.StatusConflict, ProblemNoDetector, "No detector to recalibrate",
			fmt.Sprintf("bundle %s %s: %s; nothing was changed", sv.Manifest.Name, sv.Manifest.Version, why))
		return
	}
	if !s.allowRecalibrate(w, r) {
		return
	}
	st, err := sv.Detector.Recalibrate(r.Context())
	if err != nil {
		s.log.Error("detector recalibration failed", "err", err)
		writeProblem(w, http.StatusInternalServerError, ProblemRecalibrate, "Recalibration failed",
			fmt.Sprintf("%v; the calibration in use is kept", err))
		return
	}
	s.log.Info("detector recalibrating on request", "calib_rows", st.CalibRows, "file", st.File)
	writeJSON(w, http.StatusAccepted, st)
}

// detectorState returns the served detector's state for /status and
// /bundle (nil without a detector).
func detectorState(sv Served) *DetectorState {
	if sv.Detector == nil {
		return nil
	}
	st := sv.Detector.DetectorState()
	return &st
}
