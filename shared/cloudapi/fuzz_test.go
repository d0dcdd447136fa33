package cloudapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// FuzzDecodeDiagnosisBatch: any body decodes without panicking into either
// a batch-level *Problem (400 or 413) or items with unique seqs, each
// either valid (it re-encodes to a batch that decodes to the same item) or
// rejected with an item problem.
func FuzzDecodeDiagnosisBatch(f *testing.F) {
	f.Add(batchBody(f, "rig-001", sampleDiagnosis(1), sampleDiagnosis(2)))
	f.Add([]byte(`{"agent_id":"a","diagnoses":[{"seq":1,"bogus":1},{"seq":2,"health":-1}]}`))
	f.Add([]byte(`{"agent_id":"a","diagnoses":[{"seq":1},{"seq":1}]}`))
	f.Add([]byte(`{"agent_id":"a","diagnoses":[3]}`))
	unexplained := sampleDiagnosis(3)
	unexplained.Anomalies = append(unexplained.Anomalies, diag.Anomaly{Severity: diag.SeverityMedium, Confidence: 0.6, Components: []string{"pump"}})
	nowhere := sampleDiagnosis(4)
	nowhere.Anomalies = append(nowhere.Anomalies, diag.Anomaly{Severity: diag.SeverityLow, Components: []string{}})
	f.Add(batchBody(f, "rig-001", unexplained, nowhere))
	// Where encoding/json and the fast path's decoder differ: names in
	// another case, a name twice, escapes in names, invalid UTF-8, other
	// spellings of times and numbers. Both paths must agree on each.
	valid := string(batchBody(f, "rig-001", sampleDiagnosis(1)))
	for _, v := range [][2]string{
		{`"health":`, `"Health":`},
		{`"health":`, `"health":0.5,"health":`},
		{`"health":`, `"he\u0061lth":`},
		{`"rig_id":"zema-1"`, "\"rig_id\":\"zema-\xff\""},
		{`"seq":1`, `"seq":1.0`},
		{`"seq":1`, `"seq":1e0`},
		{`"inference_us":70`, `"inference_us":7e1`},
		{`"created_at":"2025-03-01T12:01:00Z"`, `"created_at":"2025-03-01t12:01:00z"`},
		{`"created_at":"2025-03-01T12:01:00Z"`, `"created_at":"2025-03-01T12:01:00+00:00"`},
		{`"created_at":"2025-03-01T12:01:00Z"`, `"created_at":"2025-03-01T12:01:00.000000000Z"`},
		{`"stale":["FS1"]`, `"stale":null`},
		{`"rul":{`, `"rul":null,"x_rul":{`},
	} {
		if !strings.Contains(valid, v[0]) {
			f.Fatalf("seed: %q is not in the sample batch %s", v[0], valid)
		}
		f.Add([]byte(strings.Replace(valid, v[0], v[1], 1)))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		l := Limits{MaxBatchItems: 50}
		b, err := DecodeDiagnosisBatch(body, l)
		if fast := decodeValidBatch(body, l.WithDefaults()); fast != nil {
			slow, serr := decodeBatchByItem(body, l.WithDefaults())
			if serr != nil || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("the fast path accepted what item by item gives %v:\n%+v\n%+v", serr, fast, slow)
			}
		}
		if err != nil {
			p, ok := err.(*Problem)
			if !ok || (p.Status != 400 && p.Status != 413) {
				t.Fatalf("error %v is not a 400/413 Problem", err)
			}
			return
		}
		if !ValidID(b.AgentID) || len(b.Items) == 0 || len(b.Items) > 50 {
			t.Fatalf("bad envelope accepted: %q, %d items", b.AgentID, len(b.Items))
		}
		seen := map[uint64]bool{}
		for _, it := range b.Items {
			if it.Seq == 0 || seen[it.Seq] {
				t.Fatalf("seq %d zero or repeated", it.Seq)
			}
			seen[it.Seq] = true
			if it.Problem != nil {
				if it.Problem.Type != ProblemInvalidItem {
					t.Fatalf("item problem type %q", it.Problem.Type)
				}
				continue
			}
			if it.Diagnosis.Seq != it.Seq || it.Diagnosis.AgentID != b.AgentID {
				t.Fatalf("item key %s, want %s/%d", KeyOf(&it.Diagnosis), b.AgentID, it.Seq)
			}
			for i, a := range it.Diagnosis.Anomalies {
				if a.Fault == "" && len(a.Components) == 0 && len(a.Sensors) == 0 {
					t.Fatalf("anomaly %d accepted without fault, components or sensors", i)
				}
			}
			again, err := json.Marshal(DiagnosisBatch{AgentID: b.AgentID, Diagnoses: []diag.Diagnosis{it.Diagnosis}})
			if err != nil {
				t.Fatalf("valid item does not encode: %v", err)
			}
			b2, err := DecodeDiagnosisBatch(again, l)
			if err != nil || b2.Items[0].Problem != nil {
				t.Fatalf("re-encoded item refused: %v %v", err, b2.Items[0].Problem)
			}
			f1, _ := Fingerprint(&it.Diagnosis)
			f2, _ := Fingerprint(&b2.Items[0].Diagnosis)
			if f1 != f2 {
				t.Fatalf("fingerprint changed over a round trip")
			}
		}
	})
}

// FuzzDecodeCheckin: no panic; an accepted request validates and round
// trips.
func FuzzDecodeCheckin(f *testing.F) {
	c := CheckinRequest{AgentID: "rig-001", RigID: "r", RigType: "t", Time: t0, Outbox: OutboxStatus{Items: 1}}
	b, _ := json.Marshal(c)
	f.Add(b)
	c.Update = &UpdateStatus{State: "committed", Installed: "1.1.0", Previous: "1.0.0", Rollbacks: 1, WatchUntil: &t0, Changed: t0}
	b, _ = json.Marshal(c)
	f.Add(b)
	c.FirmwareDigest = "sha256:" + strings.Repeat("5b", 32)
	b, _ = json.Marshal(c)
	f.Add(b)
	f.Add([]byte(`{"agent_id":"x","outbox":{"items":-1}}`))
	f.Add([]byte(`{"agent_id":"x","rig_id":"r","rig_type":"t","time":"2025-03-01T12:00:00Z","outbox":{},"update":{"state":"","attempts":-1,"extra":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeCheckin(body)
		if err != nil {
			if _, ok := err.(*Problem); !ok {
				t.Fatalf("error %T is not a Problem", err)
			}
			return
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeCheckin(again); err != nil {
			t.Fatalf("re-encoded check-in refused: %v", err)
		}
	})
}

// FuzzDecodeUpload: no panic; an accepted part validates and round trips.
func FuzzDecodeUpload(f *testing.F) {
	f.Add([]byte(`{"agent_id":"rig-001","request_id":"q","part":0,"last":true,"readings":[{"sensor":"PS1","ts":"2025-03-01T12:00:00Z","v":1.5}]}`))
	f.Add([]byte(`{"agent_id":"rig-001","request_id":"q","part":0,"readings":[{"sensor":"","ts":"0001-01-01T00:00:00Z","v":1,"q":9}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := DecodeUpload(body, Limits{MaxUploadReadings: 100})
		if err != nil {
			if _, ok := err.(*Problem); !ok {
				t.Fatalf("error %T is not a Problem", err)
			}
			return
		}
		again, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeUpload(again, Limits{MaxUploadReadings: 100}); err != nil {
			t.Fatalf("re-encoded upload refused: %v", err)
		}
	})
}

// FuzzReadBody: any body and encoding give either a Problem or at most the
// limit's bytes.
func FuzzReadBody(f *testing.F) {
	f.Add([]byte(`{"a":1}`), "")
	f.Add(gz(f, bytes.Repeat([]byte("x"), 3000)), "gzip")
	f.Fuzz(func(t *testing.T, body []byte, enc string) {
		r := httptest.NewRequest(http.MethodPost, PathCheckin, bytes.NewReader(body))
		r.Header.Set("Content-Type", MediaJSON)
		r.Header.Set("Content-Encoding", enc)
		got, err := ReadBody(r, 1024)
		if err != nil {
			if _, ok := err.(*Problem); !ok {
				t.Fatalf("error %T is not a Problem", err)
			}
			return
		}
		if len(got) > 1024 {
			t.Fatalf("%d bytes returned over a 1024 limit", len(got))
		}
	})
}

// FuzzParseRetryAfter: no panic, never negative.
func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Sat, 01 Mar 2025 12:01:30 GMT")
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := ParseRetryAfter(v, t0)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("%q: %v %v", v, d, ok)
		}
		_ = time.Duration(d)
	})
}

// FuzzDecodeEnroll: any body decodes without panicking into either a 400
// *Problem or a request with a valid agent id and an empty or valid rig id.
func FuzzDecodeEnroll(f *testing.F) {
	f.Add([]byte(`{"agent_id":"rig-001","rig_id":"zema-1"}`))
	f.Add([]byte(`{"agent_id":"rig-001"}`))
	f.Add([]byte(`{"agent_id":"","rig_id":"../x"}`))
	f.Add([]byte(`{"agent_id":"a","extra":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeEnroll(body)
		if err != nil {
			if p, ok := err.(*Problem); !ok || p.Status != 400 {
				t.Fatalf("error %v is not a 400 Problem", err)
			}
			return
		}
		if !ValidID(r.AgentID) || (r.RigID != "" && !ValidID(r.RigID)) {
			t.Fatalf("invalid request accepted: %+v", r)
		}
	})
}

// FuzzDecodeCheckinResponse: no panic; an answer is returned unless the
// envelope is broken; an offer is kept only when it validates, and it
// round trips.
func FuzzDecodeCheckinResponse(f *testing.F) {
	f.Add([]byte(`{"server_time":"2025-03-01T12:00:00Z","next_checkin_s":300,"offer":{"target":"zema-testrig/zema-testrig-1.1.0.tar.gz","version":"1.1.0","rollout":7}}`))
	f.Add([]byte(`{"server_time":"2025-03-01T12:00:00Z","offer":{"target":"../x","version":""}}`))
	f.Add([]byte(`{"server_time":"2025-03-01T12:00:00Z","offer":{"target":"a/b","version":"1","extra":true}}`))
	f.Add([]byte(`{"offer":7}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeCheckinResponse(body)
		if r == nil {
			if err == nil {
				t.Fatal("no answer and no error")
			}
			return
		}
		if err != nil && !errors.Is(err, ErrBadOffer) {
			t.Fatalf("answer returned with error %v", err)
		}
		if r.Offer == nil {
			return
		}
		if err := ValidateOffer(r.Offer); err != nil {
			t.Fatalf("invalid offer kept: %v", err)
		}
		again, _ := json.Marshal(r)
		r2, err := DecodeCheckinResponse(again)
		if err != nil || r2.Offer == nil || *r2.Offer != *r.Offer {
			t.Fatalf("offer changed over a round trip: %v %+v", err, r2)
		}
	})
}
