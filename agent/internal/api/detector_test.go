package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// fakeDetector is a detector that recalibrates on request.
type fakeDetector struct {
	mu    sync.Mutex
	st    DetectorState
	calls int
	err   error
}

func (f *fakeDetector) DetectorState() DetectorState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeDetector) Recalibrate(context.Context) (DetectorState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return f.st, f.err
	}
	f.st.State, f.st.Rows, f.st.RemainingS, f.st.CalibratedAt, f.st.Saved = DetectorCalibrating, 0, 400, nil, false
	return f.st, nil
}

func detectorServer(t *testing.T, det Detector, latest *diag.Diagnosis) *httptest.Server {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := history.Open(filepath.Join(t.TempDir(), "h.db"), history.Options{Logger: quiet, MaxAge: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	if latest != nil {
		_, err := h.Append(context.Background(), latest, history.Progress{})
		require.NoError(t, err)
	}
	o := Options{
		AgentID: "a1", Version: "test",
		Rig:      &rig.Config{RigType: "skab-testbed", Equipment: rig.Equipment{ID: "rig-1"}},
		Manifest: &bundle.Manifest{Name: "skab-testbed", Version: "1.0.0"},
		Ingest:   stats[ingest.Stats]{}, Buffer: stats[buffer.Stats]{}, Windowing: stats[windowing.Stats]{},
		History: h, Logger: quiet, NoDetector: "the bundle has no SKAB anomaly detector",
	}
	if det != nil {
		o.Detector = det
	}
	srv, err := New(o)
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func post(t *testing.T, ts *httptest.Server, path, contentType, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// TestRecalibrateRoute: POST /detector/recalibrate restarts the
// detector's calibration and answers its state (202); /status and
// /bundle show the state, and /status says "calibrating" for the latest
// diagnosis while it calibrates. Bad requests change nothing.
func TestRecalibrateRoute(t *testing.T) {
	calibrated := t0
	det := &fakeDetector{st: DetectorState{State: DetectorCalibrated, CalibRows: 400, CalibratedAt: &calibrated,
		File: "/var/lib/rig-agent/detector-calibration.json", Saved: true}}
	latest := &diag.Diagnosis{RigID: "rig-1", Seq: 1, CreatedAt: t0, Window: diag.Window{Start: t0, End: t0.Add(30e9)},
		Status: diag.Unknown, Calibrating: true}
	ts := detectorServer(t, det, latest)

	var st StatusBody
	code, body := get(t, ts, "/status")
	require.Equal(t, 200, code)
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.NotNil(t, st.Detector)
	assert.Equal(t, DetectorCalibrated, st.Detector.State)
	require.NotNil(t, st.Diagnoses.Latest)
	assert.True(t, st.Diagnoses.Latest.Calibrating)
	assert.Contains(t, body, `"calibrating": true`)

	for _, tc := range []struct {
		name, ctype, body string
		code              int
		detail            string
	}{
		{"no content type", "", "", http.StatusUnsupportedMediaType, "send application/json"},
		{"form (a browser's cross-site post)", "application/x-www-form-urlencoded", "a=1", http.StatusUnsupportedMediaType, "application/x-www-form-urlencoded"},
		{"text", "text/plain", "{}", http.StatusUnsupportedMediaType, "text/plain"},
		{"unknown field", "application/json", `{"rows": 10}`, http.StatusBadRequest, `unknown field "rows"`},
		{"not json", "application/json", `now`, http.StatusBadRequest, "send an empty body or {}"},
		{"trailing", "application/json", `{} {}`, http.StatusBadRequest, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := post(t, ts, "/detector/recalibrate", tc.ctype, tc.body)
			require.Equal(t, tc.code, code, body)
			assert.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
			var p ProblemBody
			require.NoError(t, json.Unmarshal([]byte(body), &p))
			assert.Contains(t, p.Detail, tc.detail)
			assert.Equal(t, p.Detail, p.Error)
			assert.Equal(t, tc.code, p.Status)
			assert.NotEmpty(t, p.Type)
			assert.NotEmpty(t, p.Title)
		})
	}
	assert.Zero(t, det.calls, "bad requests change nothing")

	code, hdr, body := post(t, ts, "/detector/recalibrate", "application/json; charset=utf-8", "")
	require.Equal(t, http.StatusAccepted, code, body)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	var got DetectorState
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Equal(t, DetectorCalibrating, got.State)
	assert.Equal(t, 400, got.CalibRows)
	code, _, _ = post(t, ts, "/detector/recalibrate", "application/json", "{}")
	require.Equal(t, http.StatusAccepted, code)
	assert.Equal(t, 2, det.calls)

	code, body = get(t, ts, "/status")
	require.Equal(t, 200, code)
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, DetectorCalibrating, st.Detector.State)
	assert.Contains(t, body, `"state": "calibrating"`)
	var b BundleBody
	code, body = get(t, ts, "/bundle")
	require.Equal(t, 200, code)
	require.NoError(t, json.Unmarshal([]byte(body), &b))
	require.NotNil(t, b.Detector)
	assert.Equal(t, DetectorCalibrating, b.Detector.State)

	// GET is not the way.
	code, body = get(t, ts, "/detector/recalibrate")
	assert.Equal(t, http.StatusMethodNotAllowed, code)
	assert.Contains(t, body, "use POST")

	// The detector fails: 500, the calibration in use kept.
	det.err = errors.New("remove detector calibration: permission denied")
	code, _, body = post(t, ts, "/detector/recalibrate", "application/json", "")
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.Contains(t, body, "permission denied; the calibration in use is kept")
}

// TestRecalibrateWithoutDetector: a bundle without a detector answers
// 409 with a problem document saying why, and shows no detector state.
func TestRecalibrateWithoutDetector(t *testing.T) {
	ts := detectorServer(t, nil, nil)
	code, hdr, body := post(t, ts, "/detector/recalibrate", "application/json", "")
	require.Equal(t, http.StatusConflict, code, body)
	assert.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
	var p ProblemBody
	require.NoError(t, json.Unmarshal([]byte(body), &p))
	assert.Equal(t, ProblemNoDetector, p.Type)
	assert.Equal(t, "No detector to recalibrate", p.Title)
	assert.Equal(t, "bundle skab-testbed 1.0.0: the bundle has no SKAB anomaly detector; nothing was changed", p.Detail)
	assert.Equal(t, 409, p.Status)
	_, body = get(t, ts, "/status")
	assert.NotContains(t, body, `"detector"`)
	_, body = get(t, ts, "/bundle")
	assert.NotContains(t, body, `"detector"`)
}
