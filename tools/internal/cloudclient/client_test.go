package cloudclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// pages serves path's items two a page, with cursors "1", "2", ....
func pages(t *testing.T, path string, items ...string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		start := 0
		if c := r.URL.Query().Get("cursor"); c != "" {
			_, _ = fmt.Sscan(c, &start)
		}
		end := min(start+2, len(items))
		p := fleetapi.Page[json.RawMessage]{Items: []json.RawMessage{}}
		for _, it := range items[start:end] {
			p.Items = append(p.Items, json.RawMessage(it))
		}
		if end < len(items) {
			p.NextCursor = fmt.Sprint(end)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p)
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL, "rgt_x")
}

func TestListDecodesEveryRow(t *testing.T) {
	c := pages(t, "/v1/rigs", `{"rig_id":"a","rig_type":"t","created_at":"2025-03-01T00:00:00Z"}`,
		`{"rig_id":"b","rig_type":"t","created_at":"2025-03-01T00:00:00Z"}`, `{"rig_id":"c","rig_type":"t","created_at":"2025-03-01T00:00:00Z"}`)
	rigs, err := List[fleetapi.Rig](context.Background(), c, "/v1/rigs", nil, 0)
	require.NoError(t, err)
	require.Len(t, rigs, 3)
	assert.Equal(t, "c", rigs[2].RigID)

	raws, err := ListRaw(context.Background(), c, "/v1/rigs", nil, 2)
	require.NoError(t, err)
	assert.Len(t, raws, 2)
}

func TestListBadRowIsAnError(t *testing.T) {
	c := pages(t, "/v1/alerts", `{"id":1,"rig_id":"a"}`, `{"id":2,"rig_id":"a"}`,
		`{"id":"three","rig_id":"a"}`, `{"id":4,"rig_id":"a"}`)
	alerts, err := List[fleetapi.Alert](context.Background(), c, "/v1/alerts", nil, 0)
	var re *RowError
	require.ErrorAs(t, err, &re, "a row of the second page that does not decode")
	assert.Equal(t, 2, re.Index)
	assert.Equal(t, "/v1/alerts", re.Path)
	assert.Contains(t, err.Error(), `GET /v1/alerts: item 2 ({"id":"three","rig_id":"a"}): json: cannot unmarshal string`)
	var ute *json.UnmarshalTypeError
	assert.True(t, errors.As(err, &ute), "the decode error is wrapped")
	assert.Len(t, alerts, 2, "the rows before it are returned")

	_, err = DecodeRows[fleetapi.Alert]("/v1/alerts", []json.RawMessage{json.RawMessage(`[1]`)})
	assert.ErrorContains(t, err, "item 0 ([1])")
}

// scripted serves the pages pageFor gives for each request (n from 0),
// and a 500 from the 50th request on, so that a client that never stops
// fails instead of looping forever.
func scripted(t *testing.T, pageFor func(n int, cursor string) fleetapi.Page[json.RawMessage]) *Client {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := n
		n++
		mu.Unlock()
		if i >= 50 {
			http.Error(w, "too many requests for one list", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(pageFor(i, r.URL.Query().Get("cursor")))
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL, "rgt_x")
}

func item(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"id":%d}`, i)) }

func TestListStopsOnEndlessPages(t *testing.T) {
	ctx := context.Background()
	// The cursor comes back: the same page again and again.
	c := scripted(t, func(n int, cursor string) fleetapi.Page[json.RawMessage] {
		return fleetapi.Page[json.RawMessage]{Items: []json.RawMessage{item(n)}, NextCursor: "again"}
	})
	raws, err := ListRaw(ctx, c, "/v1/alerts", nil, 0)
	var pe *PagingError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "again", pe.Cursor)
	assert.ErrorContains(t, err, "GET /v1/alerts: the server's pages do not end: the next cursor was already followed")
	assert.Len(t, raws, 2, "the items read are returned")

	// Empty pages, each with a new cursor.
	c = scripted(t, func(n int, cursor string) fleetapi.Page[json.RawMessage] {
		return fleetapi.Page[json.RawMessage]{Items: []json.RawMessage{}, NextCursor: fmt.Sprint("c", n)}
	})
	raws, err = ListRaw(ctx, c, "/v1/alerts", nil, 0)
	require.ErrorAs(t, err, &pe)
	assert.ErrorContains(t, err, "an empty page carries a next cursor")
	assert.Empty(t, raws)

	// Distinct cursors and items, then the end: followed to the end.
	c = scripted(t, func(n int, cursor string) fleetapi.Page[json.RawMessage] {
		p := fleetapi.Page[json.RawMessage]{Items: []json.RawMessage{item(n)}}
		if n < 4 {
			p.NextCursor = fmt.Sprint("c", n)
		}
		return p
	})
	raws, err = ListRaw(ctx, c, "/v1/alerts", nil, 0)
	require.NoError(t, err)
	assert.Len(t, raws, 5)
}

// A server that ignores the limit it is asked still gives at most max
// items.
func TestListCutsToMax(t *testing.T) {
	var limits []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		limits = append(limits, r.URL.Query().Get("limit"))
		mu.Unlock()
		p := fleetapi.Page[json.RawMessage]{Items: []json.RawMessage{item(1), item(2), item(3), item(4), item(5)}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p)
	}))
	defer srv.Close()
	c := New(srv.URL, "rgt_x")
	raws, err := ListRaw(context.Background(), c, "/v1/rigs", nil, 3)
	require.NoError(t, err)
	require.Len(t, raws, 3)
	assert.JSONEq(t, `{"id":3}`, string(raws[2]))
	assert.Equal(t, []string{"3"}, limits)
	rows, err := List[struct{ ID int }](context.Background(), c, "/v1/rigs", nil, 2)
	require.NoError(t, err)
	assert.Len(t, rows, 2)
}
