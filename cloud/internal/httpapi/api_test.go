package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// Bad input gets a problem document with the reason, and nothing is
// half-written.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	big := bytes.Repeat([]byte(" "), cloudapi.DefaultMaxBodyBytes+1)
	valid := a.diagnosis(1, 0, 0.9)
	for _, tc := range []struct {
		name, method, path, token, ctype string
		body                             []byte
		code                             int
		typ, detail                      string
	}{
		{"malformed JSON", "POST", cloudapi.PathDiagnoses, a.cred, cloudapi.MediaJSON, []byte(`{"agent_id": "agent-alpha", "diagnoses": [`), 400, cloudapi.ProblemInvalidBody, "diagnosis batch"},
		{"unknown envelope field", "POST", cloudapi.PathDiagnoses, a.cred, cloudapi.MediaJSON, []byte(`{"agent_id":"agent-alpha","diagnoses":[],"extra":1}`), 400, cloudapi.ProblemInvalidBody, `unknown field "extra"`},
		{"wrong type", "POST", cloudapi.PathCheckin, a.cred, cloudapi.MediaJSON, []byte(`{"agent_id": 7}`), 400, cloudapi.ProblemInvalidBody, "cannot unmarshal number"},
		{"oversized body", "POST", cloudapi.PathDiagnoses, a.cred, cloudapi.MediaJSON, big, 413, cloudapi.ProblemTooLarge, "larger than 4194304"},
		{"not JSON", "POST", cloudapi.PathDiagnoses, a.cred, "text/plain", []byte(`x`), 415, cloudapi.ProblemUnsupportedMedia, "text/plain"},
		{"trailing data", "POST", "/v1/sites", a.operator, cloudapi.MediaJSON, []byte(`{"name":"a"} {"name":"b"}`), 400, cloudapi.ProblemInvalidBody, "data after the JSON value"},
		{"unknown field (fleet)", "POST", "/v1/rigs", a.operator, cloudapi.MediaJSON, []byte(`{"rig_id":"r1","rig_type":"t","colour":"red"}`), 400, cloudapi.ProblemInvalidBody, `unknown field "colour"`},
		{"bad rig id", "POST", "/v1/rigs", a.operator, cloudapi.MediaJSON, []byte(`{"rig_id":"'; DROP TABLE rigs; --","rig_type":"t"}`), 400, cloudapi.ProblemInvalidBody, "rig_id"},
		{"oversized fleet body", "POST", "/v1/sites", a.operator, cloudapi.MediaJSON, big, 413, cloudapi.ProblemTooLarge, ""},
		{"from after to", "GET", "/v1/rigs/" + a.rig + "/diagnoses?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "is not before to"},
		{"bad time", "GET", "/v1/rigs/" + a.rig + "/diagnoses?from=yesterday", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "RFC 3339"},
		{"health bad bucket", "GET", "/v1/rigs/" + a.rig + "/components/pump/health?bucket=1w", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, `bucket "1w" is not 1h or 1d`},
		{"health too many buckets", "GET", "/v1/rigs/" + a.rig + "/components/pump/health?from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "more than 1000 buckets of 1h"},
		{"health from after to", "GET", "/v1/rigs/" + a.rig + "/components/pump/health?from=2025-03-02T00:00:00Z&to=2025-03-01T00:00:00Z", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "is not before to"},
		{"health bad component", "GET", "/v1/rigs/" + a.rig + "/components/pump%27%3B%20DROP%20TABLE%20diagnoses/health", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "is not a component id"},
		{"huge page", "GET", "/v1/rigs/" + a.rig + "/diagnoses?limit=1000000", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "limit"},
		{"huge page (rigs)", "GET", "/v1/rigs?limit=99999999999999999999", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "limit"},
		{"bad cursor", "GET", "/v1/rigs/" + a.rig + "/diagnoses?cursor=%27%3B--", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "cursor"},
		{"SQL in path", "GET", "/v1/rigs/" + url.PathEscape("x' OR '1'='1") + "/status", a.viewer, "", nil, 404, cloudapi.ProblemNotFound, ""},
		{"bad id", "POST", "/v1/alerts/abc/ack", a.operator, "", nil, 400, httpapi.ProblemInvalidParameter, "positive integer"},
		{"unknown route", "GET", "/v1/nothing", a.viewer, "", nil, 404, cloudapi.ProblemNotFound, "no route"},
		{"wrong method", "PUT", "/v1/rigs", a.viewer, "", nil, 405, httpapi.ProblemMethodNotAllowed, "PUT"},
		{"NUL in path", "GET", "/v1/rigs/a%00b/status", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "the path holds a NUL byte"},
		{"not UTF-8 in path", "POST", "/v1/agents/a%ff/revoke", a.operator, "", nil, 400, httpapi.ProblemInvalidParameter, "not UTF-8"},
		{"NUL in query", "GET", "/v1/rigs?cursor=%00", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, `query parameter "cursor" holds a NUL byte`},
		{"NUL in a name", "POST", "/v1/sites", a.operator, cloudapi.MediaJSON, []byte(`{"name":"a\u0000b"}`), 400, cloudapi.ProblemInvalidBody, "NUL"},
		{"model version past int32", "GET", "/v1/models/zema-testrig/versions/3000000000", a.viewer, "", nil, 400, httpapi.ProblemInvalidParameter, "is not an integer in 1..2147483647"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.raw(tc.method, tc.path, tc.token, tc.ctype, tc.body)
			require.Equal(t, tc.code, r.code, "%s", r.body)
			p := r.problem(t)
			assert.Equal(t, tc.typ, p.Type)
			assert.Contains(t, p.Detail, tc.detail)
		})
	}
	// A batch whose envelope is invalid (a duplicate seq) stores nothing,
	// not even its valid items.
	r := e.do("POST", cloudapi.PathDiagnoses, a.cred, a.batch(valid, valid))
	require.Equal(t, 400, r.code)
	assert.Contains(t, r.problem(t).Detail, "both have seq 1")
	// Too many items: 413.
	var many []diag.Diagnosis
	for i := range cloudapi.DefaultMaxBatchItems + 1 {
		many = append(many, a.diagnosis(uint64(i+1), i, 0.9))
	}
	r = e.gz(cloudapi.PathDiagnoses, a.cred, a.batch(many...))
	require.Equal(t, 413, r.code)
	r.problem(t)
	assert.Zero(t, e.count("SELECT count(*) FROM diagnoses"))
	assert.Zero(t, e.count("SELECT count(*) FROM diagnosis_keys"))
	assert.Equal(t, 1, e.count("SELECT count(*) FROM rigs"), "no rig made by the refused bodies")
	assert.Zero(t, e.count("SELECT count(*) FROM sites"))
}

// The whole flow through the API, driven with shared/cloudapi types as
// the agent sends them: organisation, tokens, rig, enrollment, check-in,
// batches, status, paged history, alerts.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{CheckinInterval: time.Minute})
	a := e.tenant("alpha")

	// Status before anything arrived.
	var st store.RigStatus
	r := e.do("GET", "/v1/rigs/"+a.rig+"/status", a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &st)
	assert.Nil(t, st.LastDiagnosis)
	require.Len(t, st.Agents, 1)
	assert.Equal(t, "never", st.Agents[0].Link)
	assert.Nil(t, st.Agents[0].Update)

	// Check-in.
	oldest := t0
	changed := t0.Add(-time.Minute).UTC()
	upd := &cloudapi.UpdateStatus{State: "canary", Installed: "zema-2025.02", Previous: "zema-2025.01",
		Target: "zema-testrig/zema-testrig-zema-2025.03.tar.gz", TargetVersion: "zema-2025.03", Attempts: 1, Rollout: 7, Changed: changed}
	cin := cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, AgentVersion: "0.4.0", Time: time.Now().Add(2 * time.Second),
		Model:  &diag.ModelRef{Version: "zema-2025.03", Digest: "sha256:9f2c", Precision: "int8"},
		Outbox: cloudapi.OutboxStatus{Items: 250, Alerts: 3, Bytes: 1 << 20, Oldest: &oldest}, Buffer: &cloudapi.BufferStatus{Records: 5000, Bytes: 1 << 22},
		Update: upd}
	var cr cloudapi.CheckinResponse
	r = e.gz(cloudapi.PathCheckin, a.cred, cin)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &cr)
	assert.Equal(t, 60, cr.NextCheckinS)
	assert.Equal(t, cloudapi.DefaultMaxBatchItems, cr.Limits.MaxBatchItems)
	assert.WithinDuration(t, time.Now(), cr.ServerTime, 5*time.Second)

	// 250 diagnoses over two months in batches of 100, one critical.
	var all []diag.Diagnosis
	for i := range 250 {
		h := 0.9
		if i == 200 {
			h = 0.3
		}
		all = append(all, a.diagnosis(uint64(i+1), i*300, h)) // every 5 h: crosses into April
	}
	for i := 0; i < len(all); i += 100 {
		r = e.gz(cloudapi.PathDiagnoses, a.cred, a.batch(all[i:min(i+100, len(all))]...))
		require.Equal(t, 200, r.code, "%s", r.body)
	}
	assert.Equal(t, 2, e.count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'diagnoses'::regclass"), "March and April partitions")

	r = e.do("GET", "/v1/rigs/"+a.rig+"/status", a.viewer, nil)
	require.Equal(t, 200, r.code)
	st = store.RigStatus{}
	r.decode(t, &st)
	require.NotNil(t, st.LastDiagnosis)
	assert.EqualValues(t, 250, st.LastDiagnosis.Seq)
	assert.Equal(t, "online", st.Agents[0].Link)
	assert.Equal(t, "0.4.0", st.Agents[0].AgentVersion)
	assert.Equal(t, &cloudapi.BufferStatus{Records: 5000, Bytes: 4194304}, st.Agents[0].Buffer)
	require.NotNil(t, st.Agents[0].Update, "the check-in's update state")
	st.Agents[0].Update.Changed = st.Agents[0].Update.Changed.UTC()
	assert.Equal(t, upd, st.Agents[0].Update)
	assert.InDelta(t, 2000, *st.Agents[0].ClockSkewMs, 1000)
	assert.Equal(t, 1, st.OpenAlerts)
	require.NotNil(t, st.LastSeen)

	// History: [from, to) with pages of 40 and a cursor.
	from, to := all[10].Window.Start, all[130].Window.Start
	var got []diag.Diagnosis
	cursor := ""
	pages := 0
	for {
		q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "limit": {"40"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items      []diag.Diagnosis `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		r = e.do("GET", "/v1/rigs/"+a.rig+"/diagnoses?"+q.Encode(), a.viewer, nil)
		require.Equal(t, 200, r.code, "%s", r.body)
		r.decode(t, &page)
		got = append(got, page.Items...)
		pages++
		if cursor = page.NextCursor; cursor == "" {
			break
		}
		require.Less(t, pages, 10)
	}
	require.Len(t, got, 120)
	for i, d := range got {
		assert.EqualValues(t, 11+i, d.Seq, "in window order, none twice, none missing")
	}
	assert.Equal(t, 3, pages)
	// A range without diagnoses: the rig's empty page; an unknown rig: 404.
	r = e.do("GET", "/v1/rigs/"+a.rig+"/diagnoses?from=2001-01-01T00:00:00Z&to=2001-02-01T00:00:00Z", a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	assert.JSONEq(t, `{"items":[]}`, string(r.body))
	r = e.do("GET", "/v1/rigs/no-such-rig/diagnoses", a.viewer, nil)
	assert.Equal(t, 404, r.code, "%s", r.body)
	r = e.do("GET", "/v1/rigs/no-such-rig/status", a.viewer, nil)
	assert.Equal(t, 404, r.code, "%s", r.body)

	// Alerts: acknowledge, resolve; resolving again is fine, acknowledging
	// a resolved one is a 409.
	var alerts struct{ Items []store.Alert }
	r = e.do("GET", "/v1/alerts?state=open", a.viewer, nil)
	require.Equal(t, 200, r.code)
	r.decode(t, &alerts)
	require.Len(t, alerts.Items, 1)
	al := alerts.Items[0]
	assert.Equal(t, "pump", al.Component)
	assert.Equal(t, "leakage", al.Fault)
	assert.Equal(t, a.rig, al.RigID)
	path := fmt.Sprintf("/v1/alerts/%d/", al.ID)
	r = e.do("POST", path+"ack", a.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	assert.Contains(t, string(r.body), `"state":"acknowledged"`)
	require.Equal(t, 200, e.do("POST", path+"resolve", a.operator, nil).code)
	require.Equal(t, 200, e.do("POST", path+"resolve", a.operator, nil).code)
	r = e.do("POST", path+"ack", a.operator, nil)
	require.Equal(t, 409, r.code)
	r.problem(t)

	// A new critical diagnosis of a window after the resolution opens a
	// new alert (one of a window before it would not: the backlog).
	r = e.do("POST", cloudapi.PathDiagnoses, a.cred, a.batch(a.diagnosis(251, int(time.Since(t0)/time.Minute)+1, 0.2)))
	require.Equal(t, 200, r.code)
	assert.Equal(t, 2, e.count("SELECT count(*) FROM alerts"))

	// Metrics count it all.
	r = e.raw("GET", "/metrics", "", "", nil)
	require.Equal(t, 200, r.code)
	assert.Contains(t, string(r.body), `rig_cloud_diagnoses_total{status="accepted"} 251`)
	assert.Contains(t, string(r.body), `rig_cloud_http_requests_total{code="200",method="GET",route="/v1/rigs/:rig/status"} 2`)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	r := e.raw("GET", "/health/live", "", "", nil)
	assert.Equal(t, 200, r.code)
	r = e.raw("GET", "/health/ready", "", "", nil)
	assert.Equal(t, 200, r.code, "%s", r.body)
	ms, err := db.Migrations()
	require.NoError(t, err)
	var versions []int
	for _, m := range ms {
		versions = append(versions, m.Version)
	}
	assert.Contains(t, string(r.body), fmt.Sprintf(`"schema_version":%d`, versions[len(versions)-1]))

	// A database without migrations: live, not ready.
	pool, _ := dbtest.Pool(t)
	u := newRawEnv(t, store.New(pool))
	r = u.raw("GET", "/health/ready", "", "", nil)
	require.Equal(t, 503, r.code)
	assert.Contains(t, r.problem(t).Detail, fmt.Sprintf("migrations %v are not applied", versions))
	assert.Equal(t, "5", r.header.Get("Retry-After"))
	// Closed pool: not ready.
	pool.Close()
	r = u.raw("GET", "/health/ready", "", "", nil)
	require.Equal(t, 503, r.code)
	assert.Contains(t, r.problem(t).Detail, "database unreachable")
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{RateLimit: 0.5, RateBurst: 3})
	_, tok, err := e.st.CreateToken(context.Background(), 0, "sys2", store.RoleSystem, time.Time{})
	require.NoError(t, err)
	for range 3 {
		require.Equal(t, 200, e.do("GET", "/v1/orgs", tok, nil).code)
	}
	r := e.do("GET", "/v1/orgs", tok, nil)
	require.Equal(t, 429, r.code)
	assert.Equal(t, cloudapi.ProblemRateLimited, r.problem(t).Type)
	assert.Equal(t, "2", r.header.Get("Retry-After"))
	// Another credential has its own bucket.
	require.Equal(t, 200, e.do("GET", "/v1/orgs", e.system, nil).code)
}

// Forwarding headers are believed only from trusted proxies: with none
// (the default), an invented X-Forwarded-For neither escapes the
// per-address limit of enrollment nor makes new buckets.
func TestClientIPNotSpoofable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{RateLimit: 0.5, RateBurst: 3})
	enroll := func(e *env, xff string) resp {
		return e.raw("POST", "/v1/agent/enroll", "", cloudapi.MediaJSON, []byte(`{}`), "X-Forwarded-For", xff)
	}
	for i := range 3 {
		require.NotEqual(t, 429, enroll(e, fmt.Sprintf("198.51.100.%d", i)).code)
	}
	r := enroll(e, "198.51.100.200")
	require.Equal(t, 429, r.code, "a forged X-Forwarded-For is not a new address")
	assert.Equal(t, cloudapi.ProblemRateLimited, r.problem(t).Type)

	// Behind a trusted proxy the header names the client.
	p := newEnv(t, httpapi.Options{RateLimit: 0.5, RateBurst: 3, TrustedProxies: []string{"127.0.0.1", "::1"}})
	for i := range 6 {
		require.NotEqual(t, 429, enroll(p, fmt.Sprintf("198.51.100.%d", i)).code)
	}
}

// Addresses have their own buckets: many of them cannot evict a
// credential's spent bucket.
func TestAddressesDoNotEvictCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{RateLimit: 0.01, RateBurst: 2, MaxLimiters: 100, TrustedProxies: []string{"127.0.0.1", "::1"}})
	for range 2 {
		require.Equal(t, 200, e.do("GET", "/v1/orgs", e.system, nil).code)
	}
	require.Equal(t, 429, e.do("GET", "/v1/orgs", e.system, nil).code)
	for i := range 150 {
		e.raw("POST", "/v1/agent/enroll", "", cloudapi.MediaJSON, []byte(`{}`), "X-Forwarded-For", fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	require.Equal(t, 429, e.do("GET", "/v1/orgs", e.system, nil).code, "the credential's bucket is still spent")
}

// Failed authentications are limited per address: past the burst, a bad
// credential gets 429, as does every request from the address (no lookup)
// until the bucket refills; tokens that authenticate are not counted.
func TestBadCredentialsRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{AuthFailLimit: 0.5, AuthFailBurst: 3})
	for i := range 3 {
		r := e.do("GET", "/v1/orgs", fmt.Sprintf("%sguess%d", store.PrefixToken, i), nil)
		require.Equal(t, 401, r.code)
	}
	r := e.do("GET", "/v1/orgs", store.PrefixToken+"guess-again", nil)
	require.Equal(t, 429, r.code)
	assert.Equal(t, cloudapi.ProblemRateLimited, r.problem(t).Type)
	assert.Equal(t, "2", r.header.Get("Retry-After"))
	require.Equal(t, 429, e.do("GET", "/v1/orgs", "", nil).code, "no credential counts too")
	require.Equal(t, 429, e.raw("GET", "/v1/orgs", "", "", nil, "X-Forwarded-For", "203.0.113.9").code,
		"a forged X-Forwarded-For is not a new address")
}

func newRawEnv(t *testing.T, st *store.Store) *env {
	e := &env{t: t, st: st}
	e.srv = newServer(t, httpapi.New(st, nil, httpapi.Options{}))
	return e
}

func TestRequestIDEchoed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	r := e.raw("GET", "/v1/rigs", "", "", nil, "X-Request-Id", "trace-42")
	assert.Equal(t, "trace-42", r.header.Get("X-Request-Id"))
	assert.Equal(t, "trace-42", r.problem(t).Instance)
	assert.True(t, strings.HasPrefix(e.raw("GET", "/v1/rigs", "", "", nil).header.Get("X-Request-Id"), "req-"))
}
