package httpapi_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
)

// specRecorder wraps every test server of the package (newEnvOn) and, when
// the test ends, checks the exchanges it served against the OpenAPI
// document, so that a handler and its Operation cannot drift apart
// (review r5 finding 3):
//   - a request with a JSON body, read by the handler, answered 2xx by an
//     operation that declares no request body (the handler takes one the
//     document does not describe);
//   - a 409 answered by an operation that does not declare it (a quota or
//     state refusal a generated client does not expect).
func specRecorder(t testing.TB, h http.Handler) http.Handler {
	ops := driftOps(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for k := range seen {
			t.Errorf("OpenAPI drift (add it to the Operation in httpapi.Operations): %s", k)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
		// Counted as the handler reads it (never buffered here: streaming
		// and body-budget tests see the request as sent).
		cb := &countingBody{ReadCloser: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = cb
		}
		sw := &statusWriter{ResponseWriter: w, code: 200}
		h.ServeHTTP(sw, r)
		n := cb.n.Load()
		op := ops.find(r.Method, r.URL.Path)
		if op == nil {
			return
		}
		var drift string
		switch {
		case n > 0 && json && sw.code/100 == 2 && op.RequestBody == nil:
			drift = "answered a request body " + http.StatusText(sw.code) + " but declares no request body"
		case sw.code == http.StatusConflict && op.Responses.Status(http.StatusConflict) == nil:
			drift = "answered 409 but does not declare it"
		}
		if drift != "" {
			mu.Lock()
			seen[r.Method+" "+op.path+": "+drift] = true
			mu.Unlock()
		}
	})
}

// countingBody counts the bytes a handler read of a request body.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type driftOp struct {
	*openapi3.Operation
	method, path string
	re           *regexp.Regexp
	literal      int // literal path segments: the most specific match wins
}

type driftTable []driftOp

func (d driftTable) find(method, path string) *driftOp {
	var best *driftOp
	for i := range d {
		o := &d[i]
		if o.method == method && o.re.MatchString(path) && (best == nil || o.literal > best.literal) {
			best = o
		}
	}
	return best
}

var (
	driftOnce  sync.Once
	driftTab   driftTable
	openAPIDoc *openapi3.T
)

func driftOps(t testing.TB) driftTable {
	driftOnce.Do(func() {
		openAPIDoc = loadOpenAPI(t)
		seg := regexp.MustCompile(`^\{[^/}]+\}$`)
		for _, op := range httpapi.Operations() {
			p := httpapi.OpenAPIPath(op.Path)
			dop := openAPIDoc.Paths.Find(p).GetOperation(op.Method)
			if dop == nil {
				continue
			}
			parts := strings.Split(p, "/")
			lit := 0
			for i, s := range parts {
				if seg.MatchString(s) {
					parts[i] = `[^/]+`
				} else {
					parts[i] = regexp.QuoteMeta(s)
					lit++
				}
			}
			re := regexp.MustCompile("^" + strings.Join(parts, "/") + "$")
			driftTab = append(driftTab, driftOp{Operation: dop, method: op.Method, path: p, re: re, literal: lit})
		}
	})
	return driftTab
}

// The check itself: an operation without a request body that takes one,
// and an undeclared 409, are reported.
func TestOpenAPIDriftCheck(t *testing.T) {
	ops := driftOps(t)
	if o := ops.find("POST", "/v1/rigs/zema-1/enrollments/7"); o != nil {
		assert.NotEqual(t, "/v1/rigs/{rig}/enrollments", o.path, "an anchored match")
	}
	o := ops.find("POST", "/v1/rigs/zema-1/enrollments")
	if assert.NotNil(t, o) {
		assert.NotNil(t, o.RequestBody, "createEnrollment takes {\"replace\"}")
	}
	o = ops.find("POST", "/v1/orgs/1/tokens")
	if assert.NotNil(t, o) {
		assert.NotNil(t, o.Responses.Status(http.StatusConflict), "createToken answers 409 quota-exceeded")
	}
}
