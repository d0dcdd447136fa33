package api

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/diskspace"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestMetricsExportDiskSpace: /metrics carries the free and total bytes
// of a real directory's file system, as statfs tells them, and which
// file system that is (rig_agent_disk_info's dev), and counts the scrapes
// of a directory it could not stat instead of exporting a value; its
// rig_agent_disk_info stays while statfs fails, once it has answered.
func TestMetricsExportDiskSpace(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	h, err := history.Open(filepath.Join(dir, "h.db"), history.Options{Logger: quiet, MaxAge: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	missing := filepath.Join(dir, "missing")
	mon, err := diskspace.NewMonitor([]diskspace.Dir{{Role: "store", Path: dir}, {Role: "updates", Path: missing}}, 0, quiet)
	require.NoError(t, err)
	srv, err := New(Options{
		AgentID: "a1", Version: "test",
		Rig:      &rig.Config{RigType: "zema-testrig", Equipment: rig.Equipment{ID: "rig-1"}},
		Manifest: &bundle.Manifest{Name: "b", Version: "1.0.0"},
		Ingest:   stats[ingest.Stats]{}, Buffer: stats[buffer.Stats]{}, Windowing: stats[windowing.Stats]{},
		History: historyStats{Store: h}, Link: &Link{}, Logger: quiet, Disk: mon,
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	for scrape := 1; scrape <= 2; scrape++ {
		code, body := get(t, ts, "/metrics")
		require.Equal(t, 200, code)
		var st syscall.Statfs_t
		require.NoError(t, syscall.Statfs(dir, &st))
		bs := float64(st.Frsize) // statfs(2) counts blocks in f_frsize on Linux, as df
		store := `{dir="store",path="` + dir + `"}`
		assert.Equal(t, float64(st.Blocks)*bs, sample(t, body, "rig_agent_disk_size_bytes"+store))
		// Other processes write meanwhile: 64 MiB of slack.
		assert.InDelta(t, float64(st.Bavail)*bs, sample(t, body, "rig_agent_disk_free_bytes"+store), 64<<20)
		assert.Equal(t, 0.0, sample(t, body, "rig_agent_disk_stat_errors_total"+store))
		// The file system's identity, for rules that count it once.
		var fi syscall.Stat_t
		require.NoError(t, syscall.Stat(dir, &fi))
		dev := fmt.Sprintf("%d:%d", unix.Major(fi.Dev), unix.Minor(fi.Dev))
		assert.Equal(t, 1.0, sample(t, body, `rig_agent_disk_info{dev="`+dev+`",dir="store",path="`+dir+`"}`))
		upd := `{dir="updates",path="` + missing + `"}`
		assert.NotContains(t, body, "rig_agent_disk_free_bytes"+upd)
		assert.NotContains(t, body, "rig_agent_disk_size_bytes"+upd)
		assert.NotRegexp(t, `rig_agent_disk_info\{[^}]*dir="updates"`, body)
		assert.Equal(t, float64(scrape), sample(t, body, "rig_agent_disk_stat_errors_total"+upd))
	}

	// The store's directory goes: no gauges, one more error, the same
	// file system.
	var fi syscall.Stat_t
	require.NoError(t, syscall.Stat(dir, &fi))
	dev := fmt.Sprintf("%d:%d", unix.Major(fi.Dev), unix.Minor(fi.Dev))
	require.NoError(t, os.RemoveAll(dir))
	code, body := get(t, ts, "/metrics")
	require.Equal(t, 200, code)
	store := `{dir="store",path="` + dir + `"}`
	assert.NotContains(t, body, "rig_agent_disk_free_bytes"+store)
	assert.Equal(t, 1.0, sample(t, body, "rig_agent_disk_stat_errors_total"+store))
	assert.Equal(t, 1.0, sample(t, body, `rig_agent_disk_info{dev="`+dev+`",dir="store",path="`+dir+`"}`))
}

// sample returns the value of the series (name and labels as /metrics
// writes them) in a /metrics body.
func sample(tb testing.TB, body, series string) float64 {
	tb.Helper()
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(tb, err, "%s", line)
			return f
		}
	}
	tb.Fatalf("no series %s on /metrics:\n%s", series, body)
	return 0
}
