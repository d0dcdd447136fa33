// Package cloudclient is a small client of rig-cloud's fleet API for
// rigctl: JSON requests with a bearer token, problem+json errors as
// *cloudapi.Problem, and paged lists whose items are checked one by one.
// The bodies are shared/fleetapi's types, the ones the server encodes
// (described by its OpenAPI document, GET /openapi.json, docs/cloud.md);
// decoding ignores fields they do not know, as the contract asks of
// clients.
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
	"github.com/hydrognn/hydrognn/shared/fleetapi"
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

// List fetches path's pages (page size 1000) until there are none left
// or max items were read (0: all) and decodes each item as T. An item
// that does not decode is an error naming it (its index in the list and
// the path); the items before it are returned with the error.
func List[T any](ctx context.Context, c *Client, path string, q url.Values, max int) ([]T, error) {
	raws, err := ListRaw(ctx, c, path, q, max)
	rows, derr := DecodeRows[T](path, raws)
	if err != nil {
		return rows, err
	}
	return rows, derr
}

// ListRaw fetches path's pages as List does and returns the items as
// the server sent them (for --json output), at most max of them (0:
// all) even if the server ignores the limit it is asked. A server that
// sends a cursor twice, or a page with no items and a cursor, is an
// error (*PagingError) returned with the items read so far: it would
// have been followed forever.
func ListRaw(ctx context.Context, c *Client, path string, q url.Values, max int) ([]json.RawMessage, error) {
	all := []json.RawMessage{}
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	seen := map[string]bool{}
	for {
		size := 1000
		if max > 0 {
			size = min(size, max-len(all))
		}
		q2.Set("limit", fmt.Sprint(size))
		var p fleetapi.Page[json.RawMessage]
		if err := c.Do(ctx, "GET", path, q2, nil, &p); err != nil {
			return all, err
		}
		all = append(all, p.Items...)
		if max > 0 && len(all) >= max {
			return all[:max], nil
		}
		if p.NextCursor == "" {
			return all, nil
		}
		switch {
		case len(p.Items) == 0:
			return all, &PagingError{Path: path, Cursor: p.NextCursor, Reason: "an empty page carries a next cursor"}
		case seen[p.NextCursor]:
			return all, &PagingError{Path: path, Cursor: p.NextCursor, Reason: "the next cursor was already followed"}
		}
		seen[p.NextCursor] = true
		q2.Set("cursor", p.NextCursor)
	}
}

// PagingError is a list whose pages do not end: the server repeated a
// cursor or sent an empty page with one.
type PagingError struct {
	Path, Cursor, Reason string
}

func (e *PagingError) Error() string {
	return fmt.Sprintf("GET %s: the server's pages do not end: %s (cursor %q)", e.Path, e.Reason, e.Cursor)
}

// RowError is a list item that does not decode.
type RowError struct {
	// Path is the list's path; Index the item's position in the list
	// (from 0, across pages).
	Path  string
	Index int
	// Row is the item as the server sent it (at most 200 bytes of it).
	Row string
	Err error
}

func (e *RowError) Error() string {
	return fmt.Sprintf("GET %s: item %d (%s): %v", e.Path, e.Index, e.Row, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// DecodeRows decodes raws (the items of list path) as T. The first item
// that does not decode is a *RowError; the items before it are returned
// with it.
func DecodeRows[T any](path string, raws []json.RawMessage) ([]T, error) {
	rows := make([]T, 0, len(raws))
	for i, raw := range raws {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			row := string(raw)
			if len(row) > 200 {
				row = row[:200] + "..."
			}
			return rows, &RowError{Path: path, Index: i, Row: row, Err: err}
		}
		rows = append(rows, v)
	}
	return rows, nil
}
