package rigctl

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchCloud runs rigctl bench cloud tiny against rig-cloud built from
// this checkout: every key, every seeded row ingested, no errors.
func TestBenchCloud(t *testing.T) {
	bin := rigCloudBin(t)
	code, stdout, stderr := run(t, "bench", "cloud", "--json", "--cloud", bin, "--database-url", os.Getenv("DATABASE_URL"),
		"--orgs", "3", "--rigs", "30", "--history-rigs", "4", "--days", "40", "--clients", "6", "--duration", "1s")
	require.Equal(t, ExitOK, code, "stderr: %s\nstdout: %s", stderr, stdout)
	var r map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &r), stdout)
	assert.Equal(t, "closed", r["mode"])
	assert.NotContains(t, r, "offered_per_s")
	for _, k := range []string{"ingest_rows_per_s", "status_p50_ms", "status_p99_ms", "history_p99_ms", "req_per_s", "errors"} {
		assert.Contains(t, r, k)
	}
	assert.Equal(t, 160.0, r["ingest_rows"])
	assert.Positive(t, r["ingest_rows_per_s"])
	assert.Positive(t, r["status_requests"])
	assert.Positive(t, r["history_requests"])
	assert.Positive(t, r["status_p99_ms"])
	assert.Positive(t, r["history_p99_ms"])
	assert.Zero(t, r["errors"])

	code, _, _ = run(t, "bench", "cloud", "--rigs", "2", "--orgs", "3")
	assert.Equal(t, ExitUsage, code)
}
