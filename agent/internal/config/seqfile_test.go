package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The history's sequence mark (diagnoses.path + ".seq") is a file the
// agent writes too: buffer.path may not be it.
func TestBufferIsNotTheSeqMark(t *testing.T) {
	errs := parseErrs(t, "buffer: {path: /d/diagnoses.db.seq}\n")
	require.Len(t, errs, 1, "%q", errs)
	assert.Contains(t, errs[0], `buffer.path: "/d/diagnoses.db.seq" is also the history's sequence mark`)
	assert.Equal(t, "/d/h.db.seq", HistorySeqFile("/d/h.db"))
	assert.Nil(t, parseErrs(t, "buffer: {path: /d/diagnoses.seq}\n"))
}
