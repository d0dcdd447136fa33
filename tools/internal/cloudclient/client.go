// Package cloudclient is a small client of rig-cloud's fleet API for
// rigctl: JSON requests with a bearer token, problem+json errors as
// *cloudapi.Problem, paged lists, and the answer types rigctl prints. The
// API is described by the server's OpenAPI document (GET /openapi.json,
// docs/cloud.md); these types are the client's view of it and ignore
// fields they do not know, as the contract asks of clients.
package cloudclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// MaxResponseBytes caps an answer's body.
const MaxResponseBytes = 64 << 20

// Client calls one rig-cloud server. It is safe for concurrent use.
type Client struct {
	// Server is the base URL, e.g. https://cloud.example.com.
	Server string
	// Token is the bearer credential ("" : none).
	Token string
	// HTTP is the client used (nil: one with a 60 s timeout).
	HTTP *http.Client
}

// New returns a client of server with token.
func New(server, token string) *Client {
	return &Client{Server: strings.TrimRight(server, "/"), Token: token, HTTP: &http.Client{Timeout: 60 * time.Second}}
}

// HTTPError is a failed answer that is not a problem document.
type HTTPError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Body)
}

// Do sends method path (with query q) and a JSON body (nil: none) and
// decodes a 2xx answer into out (nil: discard). A problem+json answer is
// returned as *cloudapi.Problem; another failed answer as *HTTPError.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := c.Server + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", cloudapi.MediaJSON)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set(cloudapi.HeaderAuthorization, "Bearer "+c.Token)
	}
	return c.send(req, method, path, out)
}

// send sends req and decodes its answer as Do does.
func (c *Client) send(req *http.Request, method, path string, out any) error {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, MaxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if len(b) > MaxResponseBytes {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, MaxResponseBytes)
	}
	if res.StatusCode/100 != 2 {
		mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
		if mt == cloudapi.MediaProblem {
			p := &cloudapi.Problem{}
			if json.Unmarshal(b, p) == nil && p.Type != "" {
				if p.Status == 0 {
					p.Status = res.StatusCode
				}
				return p
			}
		}
		return &HTTPError{Method: method, Path: path, Status: res.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Describe is a one-line text of err for people: a problem's status,
// title, detail and request id.
func Describe(err error) string {
	var p *cloudapi.Problem
	if errors.As(err, &p) {
		s := fmt.Sprintf("%d %s", p.Status, p.Title)
		if p.Detail != "" {
			s += ": " + p.Detail
		}
		for _, f := range p.Errors {
			s += fmt.Sprintf("\n  %s: %s", f.Pointer, f.Detail)
		}
		if p.Instance != "" {
			s += " (request " + p.Instance + ")"
		}
		return s
	}
	return err.Error()
}

// Page is one page of a list.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// List fetches path's pages (page size 1000) until there are none left
// or max items were read (0: all).
func List[T any](ctx context.Context, c *Client, path string, q url.Values, max int) ([]T, error) {
	all := []T{}
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	for {
		size := 1000
		if max > 0 {
			size = min(size, max-len(all))
		}
		q2.Set("limit", fmt.Sprint(size))
		var p Page[T]
		if err := c.Do(ctx, "GET", path, q2, nil, &p); err != nil {
			return all, err
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" || (max > 0 && len(all) >= max) {
			return all, nil
		}
		q2.Set("cursor", p.NextCursor)
	}
}

// Org is an organisation.
type Org struct {
	ID        int64     `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Rig is a rig of the caller's organisation.
type Rig struct {
	RigID          string    `json:"rig_id"`
	RigType        string    `json:"rig_type"`
	FirmwareDigest string    `json:"firmware_digest,omitempty"`
	SiteID         *int64    `json:"site_id,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// RigStatus is GET /v1/rigs/{rig}/status.
type RigStatus struct {
	Rig
	LastSeen      *time.Time        `json:"last_seen,omitempty"`
	LastDiagnosis *DiagnosisSummary `json:"last_diagnosis,omitempty"`
	Agents        []AgentStatus     `json:"agents"`
	OpenAlerts    int               `json:"open_alerts"`
}

// DiagnosisSummary is a rig's last diagnosis.
type DiagnosisSummary struct {
	AgentID      string    `json:"agent_id"`
	Seq          int64     `json:"seq"`
	WindowStart  time.Time `json:"window_start"`
	WindowEnd    time.Time `json:"window_end"`
	ReceivedAt   time.Time `json:"received_at"`
	Health       float64   `json:"health"`
	Status       string    `json:"status"`
	ModelVersion string    `json:"model_version"`
}

// AgentStatus is one agent of a rig.
type AgentStatus struct {
	AgentID       string                 `json:"agent_id"`
	Link          string                 `json:"link"`
	LastCheckinAt *time.Time             `json:"last_checkin_at,omitempty"`
	ClockSkewMs   *int64                 `json:"clock_skew_ms,omitempty"`
	AgentVersion  string                 `json:"agent_version,omitempty"`
	Model         *diag.ModelRef         `json:"model,omitempty"`
	Outbox        *cloudapi.OutboxStatus `json:"outbox,omitempty"`
	Buffer        *cloudapi.BufferStatus `json:"buffer,omitempty"`
}

// Alert is an alert of the caller's organisation.
type Alert struct {
	ID             int64      `json:"id"`
	RigID          string     `json:"rig_id"`
	Component      string     `json:"component"`
	Fault          string     `json:"fault"`
	Severity       string     `json:"severity"`
	State          string     `json:"state"`
	OpenedAt       time.Time  `json:"opened_at"`
	LastSeenAt     time.Time  `json:"last_seen_at"`
	Occurrences    int        `json:"occurrences"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
}

// Token answers POST /v1/orgs/{org}/tokens: the secret is shown once.
type Token struct {
	Token struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
		Role string `json:"role"`
	} `json:"token"`
	Secret string `json:"secret"`
}

// Enrollment answers POST /v1/rigs/{rig}/enrollments.
type Enrollment struct {
	Token     string    `json:"token"`
	RigID     string    `json:"rig_id"`
	ExpiresAt time.Time `json:"expires_at"`
}
