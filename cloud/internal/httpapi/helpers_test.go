package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// env is a running API on a fresh, migrated database with a system token.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	st     *store.Store
	system string
	dbURL  string // the database's URL, for another replica
}

func newServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func newEnv(t testing.TB, o httpapi.Options) *env {
	t.Helper()
	pool, u := dbtest.Migrated(t)
	return newEnvOn(t, pool, u, o)
}

// newEnvOn is newEnv on a migrated database's pool and URL.
func newEnvOn(t testing.TB, pool *pgxpool.Pool, dbURL string, o httpapi.Options) *env {
	t.Helper()
	st := store.New(pool)
	o.Metrics = true
	if o.Blobs == nil {
		blobs, err := blob.NewFS(t.TempDir(), 64<<20)
		require.NoError(t, err)
		o.Blobs = blobs
	}
	if o.RateLimit == 0 {
		o.RateLimit, o.RateBurst = 10_000, 10_000
	}
	if o.AuthFailLimit == 0 {
		o.AuthFailLimit, o.AuthFailBurst = 10_000, 10_000
	}
	srv := httptest.NewServer(specRecorder(t, httpapi.New(st, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), o)))
	t.Cleanup(srv.Close)
	_, sys, err := st.CreateToken(context.Background(), 0, "bootstrap", store.RoleSystem, time.Time{})
	require.NoError(t, err)
	return &env{t: t, srv: srv, st: st, system: sys, dbURL: dbURL}
}

// resp is an answer: status, headers and body.
type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) problem(t testing.TB) *cloudapi.Problem {
	t.Helper()
	require.Equal(t, cloudapi.MediaProblem, r.header.Get("Content-Type"), "body: %s", r.body)
	var p cloudapi.Problem
	require.NoError(t, json.Unmarshal(r.body, &p), "body: %s", r.body)
	require.Equal(t, r.code, p.Status)
	require.NotEmpty(t, p.Type)
	require.NotEmpty(t, p.Title)
	require.NotEmpty(t, p.Instance, "the problem names the request")
	return &p
}

func (r resp) decode(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body: %s", r.body)
}

// raw sends a request with a raw body (nil: none) and content type.
func (e *env) raw(method, path, token, ctype string, body []byte, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return resp{code: res.StatusCode, header: res.Header, body: b}
}

// do sends v as JSON (nil: no body).
func (e *env) do(method, path, token string, v any) resp {
	e.t.Helper()
	if v == nil {
		return e.raw(method, path, token, "", nil)
	}
	b, err := json.Marshal(v)
	require.NoError(e.t, err)
	return e.raw(method, path, token, cloudapi.MediaJSON, b)
}

// gz sends v as gzip-compressed JSON, as the agent does.
func (e *env) gz(path, token string, v any) resp {
	e.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(e.t, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	require.NoError(e.t, zw.Close())
	return e.raw(http.MethodPost, path, token, cloudapi.MediaJSON, buf.Bytes(), "Content-Encoding", "gzip")
}

// tenant is an organisation with a token of each role, a rig and an
// enrolled agent.
type tenant struct {
	orgID                     int64
	admin, operator, viewer   string
	rig, rigType, agent, cred string
}

func (e *env) tenant(slug string) *tenant {
	e.t.Helper()
	t := e.t
	var org store.Org
	r := e.do("POST", "/v1/orgs", e.system, fleetapi.OrgRequest{Slug: slug, Name: "Org " + slug})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &org)
	tn := &tenant{orgID: org.ID, rig: "press-" + slug, rigType: "zema-testrig", agent: "agent-" + slug}
	var tr fleetapi.TokenResponse
	r = e.do("POST", fmt.Sprintf("/v1/orgs/%d/tokens", org.ID), e.system, fleetapi.TokenRequest{Name: "first admin", Role: string(store.RoleAdmin)})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &tr)
	tn.admin = tr.Secret
	for _, role := range []store.Role{store.RoleOperator, store.RoleViewer} {
		r = e.do("POST", fmt.Sprintf("/v1/orgs/%d/tokens", org.ID), tn.admin, fleetapi.TokenRequest{Name: string(role), Role: string(role)})
		require.Equal(t, 201, r.code, "%s", r.body)
		r.decode(t, &tr)
		if role == store.RoleOperator {
			tn.operator = tr.Secret
		} else {
			tn.viewer = tr.Secret
		}
	}
	r = e.do("POST", "/v1/rigs", tn.operator, fleetapi.RigRequest{RigID: tn.rig, RigType: tn.rigType, FirmwareDigest: "sha256:" + strings.Repeat("c3", 32)})
	require.Equal(t, 201, r.code, "%s", r.body)
	tn.cred = e.enroll(tn, tn.agent)
	return tn
}

// enroll makes an enrollment token for tn's rig and exchanges it. The
// token may replace agent's current identity even while it checks in
// (the operator means to re-enroll it: review r2 F3).
func (e *env) enroll(tn *tenant, agent string) string {
	e.t.Helper()
	var en store.Enrollment
	r := e.do("POST", "/v1/rigs/"+tn.rig+"/enrollments", tn.operator, fleetapi.EnrollmentRequest{Replace: agent})
	require.Equal(e.t, 201, r.code, "%s", r.body)
	r.decode(e.t, &en)
	var out cloudapi.EnrollResponse
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: agent, RigID: tn.rig})
	require.Equal(e.t, 200, r.code, "%s", r.body)
	r.decode(e.t, &out)
	require.Equal(e.t, agent, out.AgentID)
	return out.Credential
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// diagnosis makes a valid diagnosis of tn's rig, window i minutes after t0.
func (tn *tenant) diagnosis(seq uint64, i int, health float64) diag.Diagnosis {
	start := t0.Add(time.Duration(i) * time.Minute)
	d := diag.Diagnosis{
		RigID: tn.rig, RigType: tn.rigType, AgentID: tn.agent, Seq: seq,
		CreatedAt: start.Add(62 * time.Second),
		Window:    diag.Window{Start: start, End: start.Add(time.Minute), Steps: 60, Coverage: 1},
		Model:     diag.ModelRef{Version: "zema-2025.03", Precision: "int8"},
		Health:    health, Status: diag.StatusOf(health), InferenceMicros: 70,
		Components: []diag.ComponentHealth{{ID: "pump", Health: health, Status: diag.StatusOf(health), AnomalyScore: 0.4}},
	}
	if health < diag.CriticalBelow {
		d.Anomalies = []diag.Anomaly{{Fault: "leakage", Severity: diag.SeverityHigh, Confidence: 0.8, Components: []string{"pump"}}}
	}
	return d
}

func (tn *tenant) batch(ds ...diag.Diagnosis) cloudapi.DiagnosisBatch {
	return cloudapi.DiagnosisBatch{AgentID: tn.agent, Diagnoses: ds}
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.st.Pool().QueryRow(context.Background(), q, args...).Scan(&n))
	return n
}
