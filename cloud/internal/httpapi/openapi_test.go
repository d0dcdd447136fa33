package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// loadOpenAPI parses and validates the served document with kin-openapi,
// an independent validator (examples included).
func loadOpenAPI(t testing.TB) *openapi3.T {
	t.Helper()
	raw, err := httpapi.OpenAPI()
	require.NoError(t, err)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background(), openapi3.EnableExamplesValidation()))
	return doc
}

func TestOpenAPIIsValid(t *testing.T) {
	doc := loadOpenAPI(t)
	require.Equal(t, "3.0.3", doc.OpenAPI)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			require.NotEmpty(t, op.OperationID, "%s %s", method, path)
			require.NotEmpty(t, op.Summary, "%s %s", method, path)
			require.NotNil(t, op.Responses.Default(), "%s %s has no default (problem) response", method, path)
			if op.RequestBody != nil {
				mt := op.RequestBody.Value.Content.Get("application/json")
				require.NotNil(t, mt, "%s %s", method, path)
				require.NotNil(t, mt.Example, "%s %s: the request body has no example", method, path)
			}
		}
	}
	// The agent API's schemas are cloudapi's types.
	for _, name := range []string{"CheckinRequest", "CheckinResponse", "DiagnosisBatch", "BatchResponse", "Diagnosis", "Upload", "Problem"} {
		require.Contains(t, doc.Components.Schemas, name)
	}
}

// TestOpenAPICoversEveryRoute fails when a registered route is missing from
// the document or a documented one is not registered.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, r := range httpapi.RegisteredRoutes(httpapi.New(nil, nil, httpapi.Options{Metrics: true})) {
		method, path, _ := strings.Cut(r, " ")
		registered[method+" "+httpapi.OpenAPIPath(path)] = true
	}
	var missing, extra []string
	for r := range registered {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !registered[r] {
			extra = append(extra, r)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	require.Empty(t, missing, "routes registered but not in the OpenAPI document (add them to httpapi.Operations)")
	require.Empty(t, extra, "routes in the OpenAPI document but not registered")
	require.Len(t, httpapi.Operations(), len(registered))
}

// TestOpenAPIExamples sends every operation's documented example request to
// a running server on a fresh database, in Operations order, and checks
// the request and the answer against the document with openapi3filter.
func TestOpenAPIExamples(t *testing.T) {
	e := newEnv(t, httpapi.Options{Releases: newRepo(t).svc, Catalog: httpapi.ExampleCatalog()})
	doc := loadOpenAPI(t)
	doc.Servers = openapi3.Servers{{URL: e.srv.URL}}
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	ctx := context.Background()
	creds := map[httpapi.Auth]string{httpapi.AuthSystem: e.system, httpapi.AuthSystemOrToken: e.system}

	for _, op := range httpapi.Operations() {
		t.Run(op.ID, func(t *testing.T) {
			path := op.Example.Path
			if path == "" {
				path = op.Path
			}
			want := op.Example.Status
			if want == 0 {
				want = op.Status
			}
			dop := doc.Paths.Find(httpapi.OpenAPIPath(op.Path)).GetOperation(op.Method)
			require.NotNil(t, dop)
			var body []byte
			if dop.RequestBody != nil {
				body, err = json.Marshal(dop.RequestBody.Value.Content.Get("application/json").Example)
				require.NoError(t, err)
			}
			newReq := func() *http.Request {
				req, err := http.NewRequest(op.Method, e.srv.URL+path, bytes.NewReader(body))
				require.NoError(t, err)
				if body != nil {
					req.Header.Set("Content-Type", cloudapi.MediaJSON)
				}
				if op.Auth != httpapi.AuthNone {
					require.NotEmpty(t, creds[op.Auth], "no credential for %s yet: reorder the operations", op.ID)
					req.Header.Set("Authorization", "Bearer "+creds[op.Auth])
				}
				return req
			}
			req := newReq()
			route, params, err := router.FindRoute(req)
			require.NoError(t, err)
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
			require.NoError(t, openapi3filter.ValidateRequest(ctx, in), "the example request does not match the document")

			res, err := e.srv.Client().Do(newReq())
			require.NoError(t, err)
			defer res.Body.Close()
			got, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, want, res.StatusCode, "body: %s", got)
			out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
				Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
			out.SetBodyBytes(got)
			require.NoError(t, openapi3filter.ValidateResponse(ctx, out), "the answer does not match the document: %s", got)

			// The documented example shows the fields the server sends.
			if want == op.Status && op.Response != nil && op.MediaType == "" && op.ID != "openapi" {
				ex, err := json.Marshal(dop.Responses.Status(op.Status).Value.Content.Get("application/json").Example)
				require.NoError(t, err)
				var exFields, gotFields map[string]any
				require.NoError(t, json.Unmarshal(ex, &exFields))
				require.NoError(t, json.Unmarshal(got, &gotFields))
				require.ElementsMatch(t, slices.Collect(maps.Keys(exFields)), slices.Collect(maps.Keys(gotFields)),
					"fields of the documented example vs the answer %s", got)
			}

			var v struct {
				Secret     string `json:"secret"`
				Token      any    `json:"token"`
				Credential string `json:"credential"`
			}
			_ = json.Unmarshal(got, &v)
			switch op.ID {
			case "createToken":
				creds[httpapi.AuthToken] = v.Secret
				// After the story's admin token (id 2): a release token.
				_, rel, err := e.st.CreateToken(ctx, 0, "releases", store.RoleRelease, time.Time{})
				require.NoError(t, err)
				creds[httpapi.AuthRelease] = rel
			case "createEnrollment":
				creds[httpapi.AuthEnrollment] = v.Token.(string)
			case "enroll":
				creds[httpapi.AuthAgent] = v.Credential
				creds[httpapi.AuthRepository] = v.Credential
			}
		})
	}

	// The check is strict: an undocumented field or a wrong type fails.
	req, err := http.NewRequest("GET", e.srv.URL+"/v1/orgs/1", nil)
	require.NoError(t, err)
	route, params, err := router.FindRoute(req)
	require.NoError(t, err)
	for _, bad := range []string{
		`{"id":1,"slug":"acme","name":"Acme","created_at":"2025-03-01T00:00:00Z","extra":1}`,
		`{"id":"1","slug":"acme","name":"Acme","created_at":"2025-03-01T00:00:00Z"}`,
		`{"id":1,"slug":"acme","created_at":"2025-03-01T00:00:00Z"}`,
	} {
		out := &openapi3filter.ResponseValidationInput{Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}}
		out.SetBodyBytes([]byte(bad))
		require.Error(t, openapi3filter.ValidateResponse(ctx, out), bad)
	}
}
