package cloudapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const goodDigest = "sha256:5be1a0c3d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f"

// firmware_digest is optional (absent: an agent older than the field),
// decoded and checked to be a sha256 digest as shared/rig writes it.
func TestCheckinFirmwareDigest(t *testing.T) {
	r, err := DecodeCheckin([]byte(`{` + checkinBase + `}`))
	require.NoError(t, err)
	assert.Empty(t, r.FirmwareDigest)

	r, err = DecodeCheckin([]byte(`{` + checkinBase + `,"firmware_digest":"` + goodDigest + `"}`))
	require.NoError(t, err)
	assert.Equal(t, goodDigest, r.FirmwareDigest)

	for name, bad := range map[string]string{
		"no prefix":   strings.TrimPrefix(goodDigest, "sha256:"),
		"other algo":  "sha512:" + goodDigest[7:],
		"upper hex":   strings.ToUpper(goodDigest[:8]) + goodDigest[8:],
		"upper hex 2": "sha256:" + strings.ToUpper(goodDigest[7:]),
		"short":       goodDigest[:len(goodDigest)-1],
		"long":        goodDigest + "0",
		"not hex":     goodDigest[:len(goodDigest)-1] + "g",
		"free text":   "v1.2 config of march",
		"newline":     goodDigest[:len(goodDigest)-1] + "\n",
	} {
		doc, err := json.Marshal(bad)
		require.NoError(t, err)
		_, err = DecodeCheckin([]byte(`{` + checkinBase + `,"firmware_digest":` + string(doc) + `}`))
		var p *Problem
		require.ErrorAs(t, err, &p, name)
		require.Len(t, p.Errors, 1, name)
		assert.Equal(t, "/"+FieldFirmwareDigest, p.Errors[0].Pointer, name)
		assert.False(t, ValidDigest(bad), name)
	}
	assert.True(t, ValidDigest(goodDigest))
	assert.Equal(t, DigestLen, len(goodDigest))

	// Encoded only when set.
	b, err := json.Marshal(&CheckinRequest{})
	require.NoError(t, err)
	assert.NotContains(t, string(b), FieldFirmwareDigest)
}

// A server older than firmware_digest refuses it in words
// UnknownFieldRefused recognises.
func TestUnknownFieldRefusedFirmwareDigest(t *testing.T) {
	var old struct {
		AgentID string `json:"agent_id"`
	}
	err := decodeStrict([]byte(`{"agent_id":"a","firmware_digest":"`+goodDigest+`"}`), &old)
	require.Error(t, err)
	p := invalid("check-in request", err)
	assert.True(t, UnknownFieldRefused(p, FieldFirmwareDigest), p.Detail)
	assert.False(t, UnknownFieldRefused(p, FieldBundleFormats))
}
