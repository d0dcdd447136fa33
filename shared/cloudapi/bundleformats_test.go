package cloudapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const checkinBase = `"agent_id":"rig-001","rig_id":"zema-1","rig_type":"zema-testrig","time":"2025-03-01T12:00:00Z","outbox":{"items":0,"alerts":0,"bytes":0,"dropped":0,"rejected":0}`

// bundle_formats is optional (absent: format 1 only), decoded and
// validated.
func TestCheckinBundleFormats(t *testing.T) {
	r, err := DecodeCheckin([]byte(`{` + checkinBase + `}`))
	require.NoError(t, err)
	assert.Nil(t, r.BundleFormats)
	assert.Equal(t, LegacyBundleFormats, r.Formats())
	assert.True(t, r.Formats().Reads(1))
	assert.False(t, r.Formats().Reads(2))

	r, err = DecodeCheckin([]byte(`{` + checkinBase + `,"bundle_formats":{"min":1,"max":2}}`))
	require.NoError(t, err)
	assert.Equal(t, BundleFormats{Min: 1, Max: 2}, r.Formats())
	assert.True(t, r.Formats().Reads(2))
	assert.False(t, r.Formats().Reads(3))
	assert.Equal(t, "1..2", r.Formats().String())

	for _, bad := range []string{`{"min":0,"max":2}`, `{"min":2,"max":1}`, `{"max":2}`, `{"min":1,"max":1001}`} {
		_, err := DecodeCheckin([]byte(`{` + checkinBase + `,"bundle_formats":` + bad + `}`))
		var p *Problem
		require.ErrorAs(t, err, &p, bad)
		require.Len(t, p.Errors, 1, bad)
		assert.Equal(t, "/bundle_formats", p.Errors[0].Pointer, bad)
	}
	_, err = DecodeCheckin([]byte(`{` + checkinBase + `,"bundle_formats":{"min":1,"max":2,"other":3}}`))
	require.Error(t, err, "decoded strictly")

	// Encoded only when set.
	b, err := json.Marshal(&CheckinRequest{})
	require.NoError(t, err)
	assert.NotContains(t, string(b), FieldBundleFormats)
}

// A server that does not know a request field refuses it in words
// UnknownFieldRefused recognises: decodeStrict is what every v1 server
// (the ones older than bundle_formats included) decodes a check-in with.
func TestUnknownFieldRefused(t *testing.T) {
	var old struct {
		AgentID string `json:"agent_id"`
	}
	err := decodeStrict([]byte(`{"agent_id":"a","bundle_formats":{"min":1,"max":2}}`), &old)
	require.Error(t, err)
	p := invalid("check-in request", err)
	assert.True(t, UnknownFieldRefused(p, FieldBundleFormats), p.Detail)
	assert.False(t, UnknownFieldRefused(p, "other"))
	assert.False(t, UnknownFieldRefused(nil, FieldBundleFormats))
	assert.False(t, UnknownFieldRefused(NewProblem(ProblemInvalidBody, 400, "check-in request has 1 invalid field(s)"), FieldBundleFormats))
	p2 := *p
	p2.Status = 500
	assert.False(t, UnknownFieldRefused(&p2, FieldBundleFormats))
	assert.True(t, strings.HasPrefix(p.Detail, "check-in request: "))
}
