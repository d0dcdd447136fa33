package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// listening starts a Server on a free port; handler, when set, replaces
// its routes (wrapped the same way).
func listening(t *testing.T, handler http.Handler) *Server {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := history.Open(filepath.Join(t.TempDir(), "h.db"), history.Options{Logger: quiet, MaxAge: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	s, err := New(Options{Listen: "127.0.0.1:0", AgentID: "a1", Version: "test",
		Rig:      &rig.Config{RigType: "zema-testrig", Equipment: rig.Equipment{ID: "rig-1"}},
		Manifest: &bundle.Manifest{Name: "b", Version: "1.0.0"},
		Ingest:   ingestStub{stats[ingest.Stats]{ingest.Stats{}}, nil},
		Buffer:   stats[buffer.Stats]{buffer.Stats{}}, Windowing: stats[windowing.Stats]{windowing.Stats{}},
		History: h, Logger: quiet})
	require.NoError(t, err)
	if handler != nil {
		s.srv.Handler = s.counting(handler)
	}
	require.NoError(t, s.Start())
	return s
}

// A connection that never sends a request holds net/http's Shutdown for
// 5 s; running out of time on it alone is not a failed shutdown (the
// agent exited 1 with "close http api: context deadline exceeded").
func TestShutdownSilentConnection(t *testing.T) {
	s := listening(t, nil)
	c, err := net.Dial("tcp", s.Addr())
	require.NoError(t, err)
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // let the server accept it
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.NoError(t, s.Shutdown(ctx))
}

// A request still running at the deadline is cut short: that is an error.
func TestShutdownCutsRequest(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s := listening(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/slow")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := s.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "1 request(s) cut short")
}
