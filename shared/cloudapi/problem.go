package cloudapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Problem is an RFC 9457 problem document (application/problem+json): the
// body of every failed request, and the reason of a rejected item. It is
// an error.
type Problem struct {
	// Type is one of the Problem* URIs below ("about:blank" when none
	// applies; then Title is the HTTP status text).
	Type string `json:"type"`
	// Title is the short, fixed summary of Type.
	Title string `json:"title"`
	// Status is the HTTP status code (0 for an item's problem).
	Status int `json:"status,omitempty"`
	// Detail says what was wrong with this request, quoting the value.
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence (e.g. a request id).
	Instance string `json:"instance,omitempty"`
	// Errors lists field-level problems (extension member).
	Errors []FieldProblem `json:"errors,omitempty"`
}

// FieldProblem is one invalid field: Pointer is an RFC 6901 JSON pointer
// into the request body (e.g. "/diagnoses/3/health").
type FieldProblem struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// Problem types. Each has a fixed title (ProblemTitle) and a usual status.
const (
	// ProblemInvalidBody (400): the body is not valid JSON, has unknown
	// or duplicate fields, wrong types, or an invalid envelope. Not
	// retryable: the request is wrong.
	ProblemInvalidBody = "urn:hydrognn:problem:invalid-body"
	// ProblemInvalidItem (no status: an ItemResult's problem): one item
	// fails validation; the other items of the batch are processed.
	ProblemInvalidItem = "urn:hydrognn:problem:invalid-item"
	// ProblemConflict (an ItemResult's or UploadResponse's problem): the
	// key (a diagnosis' agent and seq, an upload part's request, agent and
	// part) was stored with other content.
	ProblemConflict = "urn:hydrognn:problem:conflict"
	// ProblemUnauthorized (401): no, malformed, unknown or revoked
	// credential.
	ProblemUnauthorized = "urn:hydrognn:problem:unauthorized"
	// ProblemForbidden (403): the credential may not do this, e.g. write
	// for another agent id.
	ProblemForbidden = "urn:hydrognn:problem:forbidden"
	// ProblemNotFound (404): no such endpoint or upload request.
	ProblemNotFound = "urn:hydrognn:problem:not-found"
	// ProblemGone (410): the upload request expired or was cancelled.
	ProblemGone = "urn:hydrognn:problem:gone"
	// ProblemTooLarge (413): body above Limits.MaxBodyBytes, or more
	// items than Limits.MaxBatchItems.
	ProblemTooLarge = "urn:hydrognn:problem:too-large"
	// ProblemUnsupportedMedia (415): not application/json, or an
	// unsupported Content-Encoding.
	ProblemUnsupportedMedia = "urn:hydrognn:problem:unsupported-media-type"
	// ProblemRateLimited (429): too many requests; Retry-After says when.
	ProblemRateLimited = "urn:hydrognn:problem:rate-limited"
	// ProblemUnavailable (503): the server cannot take requests now
	// (database down, draining); Retry-After may say when.
	ProblemUnavailable = "urn:hydrognn:problem:unavailable"
	// ProblemInternal (500): a server bug; retryable.
	ProblemInternal = "urn:hydrognn:problem:internal"
)

var titles = map[string]string{
	ProblemInvalidBody:      "Invalid request body",
	ProblemInvalidItem:      "Invalid item",
	ProblemConflict:         "Key already stored with other content",
	ProblemUnauthorized:     "Missing or invalid credential",
	ProblemForbidden:        "Not allowed for this credential",
	ProblemNotFound:         "Not found",
	ProblemGone:             "Gone",
	ProblemTooLarge:         "Request too large",
	ProblemUnsupportedMedia: "Unsupported media type",
	ProblemRateLimited:      "Too many requests",
	ProblemUnavailable:      "Service unavailable",
	ProblemInternal:         "Internal error",
}

// ProblemTitle returns the fixed title of a problem type ("" when unknown).
func ProblemTitle(typ string) string { return titles[typ] }

// NewProblem returns a Problem of type typ with its title, status and a
// detail formatted like fmt.Sprintf.
func NewProblem(typ string, status int, format string, args ...any) *Problem {
	return &Problem{Type: typ, Title: titles[typ], Status: status, Detail: fmt.Sprintf(format, args...)}
}

// Error formats the problem as "status title: detail".
func (p *Problem) Error() string {
	var b strings.Builder
	if p.Status != 0 {
		fmt.Fprintf(&b, "%d ", p.Status)
	}
	t := p.Title
	if t == "" {
		t = p.Type
	}
	b.WriteString(t)
	if p.Detail != "" {
		b.WriteString(": ")
		b.WriteString(p.Detail)
	}
	for i, e := range p.Errors {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(p.Errors)-3)
			break
		}
		fmt.Fprintf(&b, "; %s: %s", e.Pointer, e.Detail)
	}
	return b.String()
}

// Write sends p as the response: Content-Type application/problem+json
// and status p.Status (500 when unset).
func (p *Problem) Write(w http.ResponseWriter) {
	st := p.Status
	if st == 0 {
		st = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", MediaProblem)
	w.WriteHeader(st)
	_ = json.NewEncoder(w).Encode(p)
}

// Retryable reports whether the agent retries a request that got status
// code, after a backoff (honouring Retry-After): 408, 425, 429, 500, 502,
// 503 and 504. Connection errors and timeouts are retried too. The other
// failure statuses are not retried as they are:
//
//   - 400, 422: the request is invalid. The agent splits a batch to find
//     the item; a single item refused this way is rejected (counted,
//     logged, removed).
//   - 413: too large. The agent splits the batch; a single item that is
//     still too large is rejected.
//   - 401, 403: the credential is missing, wrong or revoked. The agent keeps
//     its data, re-reads its credential and tries again at its longest
//     backoff.
//   - 404, 410 on an upload: the request is unknown, expired or cancelled;
//     the agent stops it. Elsewhere, and 405, 415 and other 4xx: the
//     server does not speak this contract version; the agent keeps its
//     data and tries again at its longest backoff.
func Retryable(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout:
		return true
	}
	return false
}

// ParseRetryAfter parses a Retry-After header value: delta seconds ("120")
// or an HTTP date, relative to now. It returns false for an empty or
// malformed value; a date in the past gives 0.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
