package cloudclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
