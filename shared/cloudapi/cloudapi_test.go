package cloudapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func sampleDiagnosis(seq uint64) diag.Diagnosis {
	days := 12.5
	return diag.Diagnosis{
		RigID: "zema-1", RigType: "zema-testrig", AgentID: "rig-001", Seq: seq,
		CreatedAt: t0.Add(time.Duration(seq) * time.Minute),
		Window:    diag.Window{Start: t0, End: t0.Add(time.Minute), Steps: 60, Coverage: 0.98, Stale: []string{"FS1"}},
		Model:     diag.ModelRef{Version: "zema-2025.03", Digest: "sha256:ab", Precision: "int8"},
		Health:    0.62, Status: diag.Warning, InferenceMicros: 70,
		Components: []diag.ComponentHealth{{ID: "pump", Health: 0.62, Status: diag.Warning, AnomalyScore: 1.4,
			Drivers: []diag.Driver{{Sensor: "PS1", Weight: 0.7}}}},
		Targets: []diag.TargetResult{{Name: "pump_leakage", Predicted: 1,
			Classes: []diag.ClassProb{{Value: 0, Label: "none", P: 0.2}, {Value: 1, Label: "weak", P: 0.8}}}},
		Sensors:   []diag.SensorScore{{ID: "PS1", Score: 1.4, Anomalous: true}},
		Anomalies: []diag.Anomaly{{Fault: "leakage", Severity: diag.SeverityMedium, Confidence: 0.8, Components: []string{"pump"}}},
		RUL:       &diag.RUL{Component: "pump", P10Hours: 100, P50Hours: 300, P90Hours: 700},
		Recommendations: []diag.Recommendation{{Component: "pump", Fault: "leakage", Action: "Check the pump's internal leakage",
			Priority: diag.SeverityMedium, DaysToFailure: &days}},
	}
}

func TestValidateDiagnosis(t *testing.T) {
	d := sampleDiagnosis(1)
	require.Empty(t, ValidateDiagnosis("/diagnoses/0", &d))
	for _, tc := range []struct {
		name string
		mod  func(*diag.Diagnosis)
		want string
	}{
		{"no rig", func(d *diag.Diagnosis) { d.RigID = "" }, "/d/rig_id: is required"},
		{"seq 0", func(d *diag.Diagnosis) { d.Seq = 0 }, "/d/seq: is 0"},
		{"zero time", func(d *diag.Diagnosis) { d.CreatedAt = time.Time{} }, "/d/created_at: 0001-01-01T00:00:00Z is outside 2000-2199"},
		{"window backwards", func(d *diag.Diagnosis) { d.Window.End = t0.Add(-time.Second) }, "/d/window/end: 2025-03-01T11:59:59Z is before window start"},
		{"health", func(d *diag.Diagnosis) { d.Health = 1.5 }, "/d/health: 1.5 is not in [0, 1]"},
		{"status", func(d *diag.Diagnosis) { d.Status = "ok" }, `/d/status: "ok" is not healthy`},
		{"component", func(d *diag.Diagnosis) { d.Components[0].AnomalyScore = -1 }, "/d/components/0/anomaly_score: -1 is not a finite number >= 0"},
		{"predicted", func(d *diag.Diagnosis) { d.Targets[0].Predicted = 2 }, "/d/targets/0/predicted: 2 is not an index into its 2 classes"},
		{"severity", func(d *diag.Diagnosis) { d.Anomalies[0].Severity = "huge" }, `/d/anomalies/0/severity: "huge" is not info`},
		{"too many recs", func(d *diag.Diagnosis) {
			for range 10 {
				d.Recommendations = append(d.Recommendations, d.Recommendations[0])
			}
		}, "/d/recommendations: has 11 entries, more than 10"},
		{"precision", func(d *diag.Diagnosis) { d.Model.Precision = "fp16" }, `/d/model/precision: "fp16" is not fp32 or int8`},
		{"agent id", func(d *diag.Diagnosis) { d.AgentID = "-x" }, `/d/agent_id: "-x"`},
		{"anomaly nowhere", func(d *diag.Diagnosis) {
			d.Anomalies = append(d.Anomalies, diag.Anomaly{Severity: diag.SeverityLow, Confidence: 0.5, Components: []string{}})
		}, "/d/anomalies/1: has no fault, components or sensors"},
		{"anomaly long fault", func(d *diag.Diagnosis) { d.Anomalies[0].Fault = rig.Fault(strings.Repeat("f", 256)) }, "/d/anomalies/0/fault: is 256 bytes long"},
		{"anomaly empty component", func(d *diag.Diagnosis) { d.Anomalies[0].Fault, d.Anomalies[0].Components = "", []string{""} }, "/d/anomalies/0/components/0: is required"},
		{"long name", func(d *diag.Diagnosis) { d.RigType = strings.Repeat("x", 300) }, "/d/rig_type: is 300 bytes long"},
		{"driver weight", func(d *diag.Diagnosis) { d.Components[0].Drivers[0].Weight = math.NaN() }, "/d/components/0/drivers/0/weight: NaN is not a finite number"},
		{"class p", func(d *diag.Diagnosis) { d.Targets[0].Classes[1].P = 2 }, "/d/targets/0/classes/1/p: 2 is not in [0, 1]"},
		{"stale sensor", func(d *diag.Diagnosis) { d.Window.Stale = []string{"FS1", ""} }, "/d/window/stale/1: is required"},
		{"sensor score", func(d *diag.Diagnosis) { d.Sensors[0].Score = -1 }, "/d/sensors/0/score: -1 is not a finite number >= 0"},
		{"rul", func(d *diag.Diagnosis) { d.RUL.P50Hours = -1 }, "/d/rul/p50_hours: -1 is not"},
		{"action", func(d *diag.Diagnosis) { d.Recommendations[0].Action = "" }, "/d/recommendations/0/action: is required"},
		{"NUL in a name", func(d *diag.Diagnosis) { d.Model.Version = "1.0\x00" }, "/d/model/version: holds a NUL byte"},
		{"NUL in a text", func(d *diag.Diagnosis) { d.Recommendations[0].Reason = "a\x00b" }, "/d/recommendations/0/reason: holds a NUL byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sampleDiagnosis(1)
			tc.mod(&d)
			errs := ValidateDiagnosis("/d", &d)
			require.NotEmpty(t, errs)
			p := &Problem{Title: "x", Errors: errs}
			assert.Contains(t, p.Error(), tc.want)
		})
	}
}

// A valid batch takes the one-parse fast path, with the result of the
// item-by-item decode; one invalid item sends the whole batch item by
// item, so that only that item is refused.
func TestDecodeFastPath(t *testing.T) {
	ds := []diag.Diagnosis{sampleDiagnosis(1), sampleDiagnosis(2), sampleDiagnosis(3)}
	ds[1].AgentID = "" // becomes the batch's
	body := batchBody(t, "rig-001", ds...)
	l := Limits{}.WithDefaults()
	fast := decodeValidBatch(body, l)
	require.NotNil(t, fast)
	slow, err := decodeBatchByItem(body, l)
	require.NoError(t, err)
	assert.Equal(t, slow, fast)
	assert.Equal(t, "rig-001", fast.Items[1].Diagnosis.AgentID)

	ds[2].Health = 2
	body = batchBody(t, "rig-001", ds...)
	assert.Nil(t, decodeValidBatch(body, l))
	b, err := DecodeDiagnosisBatch(body, Limits{})
	require.NoError(t, err)
	assert.Nil(t, b.Items[0].Problem)
	assert.Nil(t, b.Items[1].Problem)
	require.NotNil(t, b.Items[2].Problem)
	assert.Equal(t, "/diagnoses/2/health", b.Items[2].Problem.Errors[0].Pointer)
}

// Pointers without a base, and those of the other validators, down to
// their nested lists.
func TestValidatePointers(t *testing.T) {
	d := sampleDiagnosis(1)
	d.RigID, d.Targets[0].Classes[0].Label = "", strings.Repeat("l", 300)
	var got []string
	for _, e := range ValidateDiagnosis("", &d) {
		got = append(got, e.Pointer)
	}
	assert.Equal(t, []string{"/rig_id", "/targets/0/classes/0/label"}, got)

	c := CheckinRequest{AgentID: "rig-001", RigID: "r", RigType: "t", Time: t0,
		Uploads: []UploadProgress{{RequestID: "ok"}, {RequestID: "-bad", ReadingsSent: -1}},
		Update:  &UpdateStatus{Installed: "1.0.0", Changed: t0}}
	var p *Problem
	require.ErrorAs(t, ValidateCheckin(&c), &p)
	got = got[:0]
	for _, e := range p.Errors {
		got = append(got, e.Pointer)
	}
	assert.Equal(t, []string{"/uploads/1/request_id", "/uploads/1/readings_sent", "/update/state"}, got)

	u := Upload{AgentID: "rig-001", RequestID: "req-1", Readings: []reading.Reading{
		{Sensor: "PS1", Time: t0, Value: 1}, {Sensor: "PS1", Time: t0, Value: 2}, {Sensor: "", Time: t0, Value: math.Inf(1)}}}
	require.ErrorAs(t, ValidateUpload(&u, Limits{}), &p)
	got = got[:0]
	for _, e := range p.Errors {
		got = append(got, e.Pointer)
	}
	assert.Equal(t, []string{"/readings/2/sensor", "/readings/2/v"}, got)

	// Part numbers are stored as a PostgreSQL integer.
	u = Upload{AgentID: "rig-001", RequestID: "req-1", Part: math.MaxInt32 + 1}
	require.ErrorAs(t, ValidateUpload(&u, Limits{}), &p)
	assert.Equal(t, "/part", p.Errors[0].Pointer)
}

// An unexplained anomaly (empty fault, as agent/infer makes for anomaly-head
// findings that neither a class head nor diag.NameAnomaly's rules explain)
// is valid when it names a component or a sensor, and survives a batch
// round trip with its empty fault.
func TestUnexplainedAnomaly(t *testing.T) {
	for _, a := range []diag.Anomaly{
		{Severity: diag.SeverityMedium, Confidence: 0.6, Components: []string{"pump"}, Sensors: []string{"PS1"}},
		{Severity: diag.SeverityLow, Confidence: 0.3, Components: []string{"pump"}},
		{Severity: diag.SeverityLow, Confidence: 0.3, Components: []string{}, Sensors: []string{"PS1"}},
	} {
		d := sampleDiagnosis(7)
		d.Anomalies = append(d.Anomalies, a)
		d.Recommendations = append(d.Recommendations, diag.Recommendation{Component: "pump", Action: "Inspect the pump", Priority: a.Severity})
		assert.Empty(t, ValidateDiagnosis("", &d), "%+v", a)
		body := batchBody(t, "rig-001", d)
		assert.Contains(t, string(body), `"fault":""`)
		b, err := DecodeDiagnosisBatch(body, Limits{})
		require.NoError(t, err)
		require.Nil(t, b.Items[0].Problem)
		assert.Equal(t, d, b.Items[0].Diagnosis)
	}
}

func TestIsAlert(t *testing.T) {
	d := sampleDiagnosis(1)
	assert.True(t, IsAlert(&d), "warning")
	d.Status = diag.Healthy
	assert.False(t, IsAlert(&d), "healthy, medium anomaly")
	d.Anomalies[0].Severity = diag.SeverityHigh
	assert.True(t, IsAlert(&d), "high anomaly")
	d.Anomalies = nil
	d.Recommendations[0].Priority = diag.SeverityCritical
	assert.True(t, IsAlert(&d), "critical recommendation")
	d.Recommendations = nil
	d.Status = diag.Unknown
	assert.True(t, IsAlert(&d), "unknown: too little data")
	d.Calibrating = true
	assert.False(t, IsAlert(&d), "unknown while the detector calibrates")
	d.Anomalies = []diag.Anomaly{{Fault: "sensor_fault", Severity: diag.SeverityHigh, Components: []string{"pump"}}}
	assert.True(t, IsAlert(&d), "calibrating with a high anomaly")
	d.Anomalies, d.Status = nil, diag.Critical
	assert.True(t, IsAlert(&d), "a status other than unknown is judged")
}

func batchBody(t testing.TB, agent string, ds ...diag.Diagnosis) []byte {
	b, err := json.Marshal(DiagnosisBatch{AgentID: agent, Diagnoses: ds})
	require.NoError(t, err)
	return b
}

func TestDecodeDiagnosisBatch(t *testing.T) {
	bad := sampleDiagnosis(2)
	bad.Health = 2
	body := batchBody(t, "rig-001", sampleDiagnosis(1), bad, sampleDiagnosis(3))
	b, err := DecodeDiagnosisBatch(body, Limits{})
	require.NoError(t, err)
	require.Len(t, b.Items, 3)
	assert.Equal(t, "rig-001", b.AgentID)
	assert.Nil(t, b.Items[0].Problem)
	assert.Equal(t, sampleDiagnosis(1), b.Items[0].Diagnosis)
	require.NotNil(t, b.Items[1].Problem)
	assert.Equal(t, uint64(2), b.Items[1].Seq)
	assert.Equal(t, ProblemInvalidItem, b.Items[1].Problem.Type)
	assert.Contains(t, b.Items[1].Problem.Error(), "/diagnoses/1/health: 2 is not in [0, 1]")
	assert.Nil(t, b.Items[2].Problem)

	// An item with an unknown field is rejected on its own.
	body = []byte(`{"agent_id":"rig-001","diagnoses":[{"seq":7,"bogus":1}]}`)
	b, err = DecodeDiagnosisBatch(body, Limits{})
	require.NoError(t, err)
	assert.Contains(t, b.Items[0].Problem.Detail, `unknown field "bogus"`)

	// An item without agent_id takes the batch's.
	d := sampleDiagnosis(4)
	d.AgentID = ""
	b, err = DecodeDiagnosisBatch(batchBody(t, "rig-001", d), Limits{})
	require.NoError(t, err)
	assert.Equal(t, "rig-001", b.Items[0].Diagnosis.AgentID)
	assert.Nil(t, b.Items[0].Problem)

	other := sampleDiagnosis(5)
	other.AgentID = "rig-002"
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"not json", []byte(`{`), 400, "unexpected EOF"},
		{"trailing", []byte(`{"agent_id":"a","diagnoses":[{"seq":1}]} {}`), 400, "data after the JSON value"},
		{"unknown envelope field", []byte(`{"agent_id":"a","diagnoses":[],"x":1}`), 400, `unknown field "x"`},
		{"no agent", []byte(`{"diagnoses":[{"seq":1}]}`), 400, "agent_id is required"},
		{"bad agent", []byte(`{"agent_id":"a b","diagnoses":[{"seq":1}]}`), 400, `agent_id "a b" is not`},
		{"empty", []byte(`{"agent_id":"a","diagnoses":[]}`), 400, "diagnoses is empty"},
		{"no seq", []byte(`{"agent_id":"a","diagnoses":[{"rig_id":"x"}]}`), 400, "/diagnoses/0 has no seq >= 1"},
		{"item not object", []byte(`{"agent_id":"a","diagnoses":[3]}`), 400, "/diagnoses/0 has no seq >= 1"},
		{"dup seq", batchBody(t, "rig-001", sampleDiagnosis(1), sampleDiagnosis(1)), 400, "/diagnoses/0 and /diagnoses/1 both have seq 1"},
		{"other agent", batchBody(t, "rig-001", other), 400, `/diagnoses/0 has agent_id "rig-002", not the batch's "rig-001"`},
		{"too many", []byte(`{"agent_id":"a","diagnoses":[{"seq":1},{"seq":2},{"seq":3}]}`), 413, "3 diagnoses, more than 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeDiagnosisBatch(tc.body, Limits{MaxBatchItems: 2})
			var p *Problem
			require.ErrorAs(t, err, &p)
			assert.Equal(t, tc.status, p.Status)
			assert.Contains(t, p.Detail, tc.want)
		})
	}
}

func TestDecodeCheckinAndUpload(t *testing.T) {
	c := CheckinRequest{AgentID: "rig-001", RigID: "zema-1", RigType: "zema-testrig", Time: t0,
		Outbox: OutboxStatus{Items: 3, Alerts: 1, Bytes: 900}}
	body, _ := json.Marshal(c)
	got, err := DecodeCheckin(body)
	require.NoError(t, err)
	assert.Equal(t, c, *got)
	c.Outbox.Alerts = 4
	c.AgentID = ""
	body, _ = json.Marshal(c)
	_, err = DecodeCheckin(body)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `/agent_id: "" is not`)
	assert.Contains(t, err.Error(), "/outbox: items 3, alerts 4")

	// The optional update state: decoded, validated, and strict.
	c = CheckinRequest{AgentID: "rig-001", RigID: "zema-1", RigType: "zema-testrig", Time: t0,
		Update: &UpdateStatus{State: "failed", Installed: "1.1.0", Previous: "1.0.0", Target: "zema-testrig/zema-1.2.0.tar.gz",
			TargetVersion: "1.2.0", Attempts: 1, LastError: "canary failed", Changed: t0}}
	body, _ = json.Marshal(c)
	got, err = DecodeCheckin(body)
	require.NoError(t, err)
	assert.Equal(t, c, *got)
	for _, tc := range []struct{ name, body, want string }{
		{"no state", `{"state":"","installed":"1.0.0","changed":"2025-03-01T12:00:00Z"}`, "/update/state: is required"},
		{"no installed", `{"state":"idle","changed":"2025-03-01T12:00:00Z"}`, "/update/installed: is required"},
		{"negative", `{"state":"idle","installed":"1","attempts":-1,"rollbacks":-2,"changed":"2025-03-01T12:00:00Z"}`, "/update/rollbacks: -2 is negative"},
		{"no time", `{"state":"idle","installed":"1"}`, "/update/changed: 0001-01-01T00:00:00Z is outside"},
		{"unknown field", `{"state":"idle","installed":"1","changed":"2025-03-01T12:00:00Z","cohort":"a"}`, "cohort"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := `{"agent_id":"rig-001","rig_id":"zema-1","rig_type":"t","time":"2025-03-01T12:00:00Z","outbox":{},"update":` + tc.body + `}`
			_, err := DecodeCheckin([]byte(b))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}

	u := Upload{AgentID: "rig-001", RequestID: "req-1", Part: 2, Readings: []reading.Reading{{Sensor: "PS1", Time: t0, Value: 151.2}}}
	body, _ = json.Marshal(u)
	gu, err := DecodeUpload(body, Limits{})
	require.NoError(t, err)
	assert.Equal(t, u, *gu)
	u.Readings = append(u.Readings, reading.Reading{Sensor: "", Time: t0, Quality: 7})
	body, _ = json.Marshal(u)
	_, err = DecodeUpload(body, Limits{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/readings/1/sensor: is required")
	assert.Contains(t, err.Error(), "/readings/1/q: 7 is not")
	_, err = DecodeUpload(body, Limits{MaxUploadReadings: 1})
	assert.Contains(t, err.Error(), "413 Request too large: 2 readings in one part, more than 1")

	r := UploadRequest{ID: "req-1", Kind: UploadReadings, From: t0, To: t0.Add(time.Hour)}
	assert.NoError(t, ValidateUploadRequest(&r))
	r.Kind, r.To = "windows", t0
	err = ValidateUploadRequest(&r)
	assert.Contains(t, err.Error(), `/kind: "windows" is not "readings"`)
	assert.Contains(t, err.Error(), "/to: 2025-03-01T12:00:00Z is not after from")
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestReadBody(t *testing.T) {
	plain := []byte(`{"a":1}`)
	big := bytes.Repeat([]byte(" "), 5000)
	for _, tc := range []struct {
		name, ctype, enc string
		body             []byte
		status           int
		want             string
	}{
		{"plain", "application/json", "", plain, 0, ""},
		{"charset", "application/json; charset=utf-8", "identity", plain, 0, ""},
		{"gzip", "application/json", "gzip", gz(t, plain), 0, ""},
		{"wrong type", "text/plain", "", plain, 415, `Content-Type "text/plain"`},
		{"no type", "", "", plain, 415, `Content-Type ""`},
		{"br", "application/json", "br", plain, 415, `Content-Encoding "br"`},
		{"not gzip", "application/json", "gzip", plain, 400, "gzip body"},
		{"too large", "application/json", "", big, 413, "larger than 1024"},
		{"bomb", "application/json", "gzip", gz(t, big), 413, "decoded body is larger than 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, PathDiagnoses, bytes.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ctype)
			r.Header.Set("Content-Encoding", tc.enc)
			got, err := ReadBody(r, 1024)
			if tc.status == 0 {
				require.NoError(t, err)
				assert.Equal(t, plain, got)
				return
			}
			var p *Problem
			require.ErrorAs(t, err, &p)
			assert.Equal(t, tc.status, p.Status)
			assert.Contains(t, p.Detail, tc.want)
		})
	}
}

func TestProblemWriteAndRetryable(t *testing.T) {
	w := httptest.NewRecorder()
	NewProblem(ProblemRateLimited, 429, "agent %s: %d requests in the last minute", "rig-001", 700).Write(w)
	assert.Equal(t, 429, w.Code)
	assert.Equal(t, MediaProblem, w.Header().Get("Content-Type"))
	var p Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	assert.Equal(t, "429 Too many requests: agent rig-001: 700 requests in the last minute", p.Error())

	for code, want := range map[int]bool{200: false, 400: false, 401: false, 403: false, 404: false, 408: true, 409: false,
		410: false, 413: false, 415: false, 422: false, 425: true, 429: true, 500: true, 501: false, 502: true, 503: true, 504: true} {
		assert.Equal(t, want, Retryable(code), "status %d", code)
	}
}

func TestParseRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{t0.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{t0.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false}, {"-1", 0, false}, {"1.5", 0, false}, {"soon", 0, false}, {"99999999999", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.v, t0)
		assert.Equal(t, tc.ok, ok, "%q", tc.v)
		assert.Equal(t, tc.want, got, "%q", tc.v)
	}
}

func TestFingerprintAndKeys(t *testing.T) {
	d := sampleDiagnosis(1)
	f1, err := Fingerprint(&d)
	require.NoError(t, err)
	// The same diagnosis, formatted differently on the wire, decodes to the
	// same fingerprint.
	raw, _ := json.MarshalIndent(d, "", "   ")
	var back diag.Diagnosis
	require.NoError(t, json.Unmarshal(raw, &back))
	f2, _ := Fingerprint(&back)
	assert.Equal(t, f1, f2)
	d.Health = 0.61
	f3, _ := Fingerprint(&d)
	assert.NotEqual(t, f1, f3)
	assert.Len(t, f1, 64)

	assert.Equal(t, "rig-001/7", KeyOf(&diag.Diagnosis{AgentID: "rig-001", Seq: 7}).String())
	k := BatchKey("rig-001", 1, []uint64{1, 2, 3})
	assert.Equal(t, k, BatchKey("rig-001", 1, []uint64{1, 2, 3}))
	assert.NotEqual(t, k, BatchKey("rig-001", 1, []uint64{1, 2}))
	assert.NotEqual(t, k, BatchKey("rig-002", 1, []uint64{1, 2, 3}))
	assert.Regexp(t, `^d-[0-9a-f]{32}$`, k)
	assert.Regexp(t, `^u-[0-9a-f]{32}$`, UploadKey("rig-001", 1, "req-1", 0))
	assert.NotEqual(t, UploadKey("rig-001", 1, "req-1", 0), UploadKey("rig-001", 1, "req-1", 1))
}

func TestCheckBatchResponse(t *testing.T) {
	ok := &BatchResponse{Results: []ItemResult{{Seq: 2, Status: ItemAccepted}, {Seq: 1, Status: ItemDuplicate}}}
	assert.NoError(t, CheckBatchResponse([]uint64{1, 2}, ok))
	ok.Count()
	assert.Equal(t, 1, ok.Accepted)
	assert.Equal(t, 1, ok.Duplicates)
	for _, tc := range []struct {
		r    BatchResponse
		want string
	}{
		{BatchResponse{Results: []ItemResult{{Seq: 1, Status: ItemAccepted}}}, "1 results for 2 diagnoses"},
		{BatchResponse{Results: []ItemResult{{Seq: 1, Status: ItemAccepted}, {Seq: 1, Status: ItemAccepted}}}, "seq 1 is not in the batch or repeated"},
		{BatchResponse{Results: []ItemResult{{Seq: 1, Status: ItemAccepted}, {Seq: 2, Status: "ok"}}}, `status "ok" is unknown`},
	} {
		assert.ErrorContains(t, CheckBatchResponse([]uint64{1, 2}, &tc.r), tc.want)
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	assert.Equal(t, Limits{MaxBatchItems: DefaultMaxBatchItems, MaxBodyBytes: DefaultMaxBodyBytes, MaxUploadReadings: DefaultMaxUploadReadings},
		Limits{}.WithDefaults())
	assert.Equal(t, Limits{MaxBatchItems: MaxBatchItems, MaxBodyBytes: MaxBodyBytes, MaxUploadReadings: 5},
		Limits{MaxBatchItems: 1 << 30, MaxBodyBytes: 1 << 40, MaxUploadReadings: 5}.WithDefaults())
}
