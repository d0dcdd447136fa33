package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/server"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// testConfig is a config on database u listening on a free port, with
// more keys of the server section and more sections.
func testConfig(t *testing.T, u, serverKeys, sections string) *config.Config {
	t.Helper()
	yaml := fmt.Sprintf("server:\n  listen: 127.0.0.1:0\n%sblob:\n  dir: %s\n%s", serverKeys, t.TempDir(), sections)
	cfg, err := config.Parse("c.yaml", []byte(yaml), []string{"RIG_CLOUD_DATABASE_URL=" + u})
	require.NoError(t, err)
	return cfg
}

// serving runs server.Serve on cfg until the returned cancel; wait
// returns Serve's error.
type serving struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func startServe(t *testing.T, cfg *config.Config) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{cancel: cancel, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		s.done <- server.Serve(ctx, cfg, log, func(a net.Addr) { addrc <- a.String() })
	}()
	select {
	case s.addr = <-addrc:
	case err := <-s.done:
		cancel()
		t.Fatalf("serve ended before listening: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not open its listener (waiting for migrations first?)")
	}
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

func (s *serving) wait(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(2 * time.Minute):
		t.Fatal("serve did not return")
		return nil
	}
}

// noKeepAlive sends each request on a new connection, as a new client
// would.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

func get(t *testing.T, addr, path string) (int, string, error) {
	t.Helper()
	resp, err := noKeepAlive.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	require.Eventually(t, func() bool {
		code, _, err := get(t, addr, "/health/ready")
		return err == nil && code == 200
	}, time.Minute, 20*time.Millisecond, "never ready")
}

// At SIGTERM (ctx ends) /health/ready fails while the listener still
// accepts and serves, so that load balancers stop sending before the
// listener closes: no client meets a refused connection during a
// rollout. The old code closed the listener at once. The auth cache's
// listener keeps listening while requests are served: it stops after the
// HTTP server.
func TestServeDrainsBeforeClosing(t *testing.T) {
	t.Parallel()
	s := startServe(t, testConfig(t, dbtest.URL(t), "", ""))
	waitReady(t, s.addr)
	const listening = "\nrig_cloud_auth_cache_listener_up 1\n" // not the HELP line
	require.Eventually(t, func() bool {
		_, m, err := get(t, s.addr, "/metrics")
		return err == nil && strings.Contains(m, listening)
	}, time.Minute, 20*time.Millisecond, "the auth cache never listened")
	s.cancel()
	var body string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		code, b, err := get(t, s.addr, "/health/ready")
		require.NoError(t, err, "a request while draining")
		if code == 503 {
			body = b
			break
		}
		require.True(t, time.Now().Before(deadline), "readiness never failed")
	}
	assert.Contains(t, body, "draining")
	// Well within the 5s drain, long after a listener bound to the
	// signal would have stopped.
	time.Sleep(time.Second)
	_, m, err := get(t, s.addr, "/metrics")
	require.NoError(t, err)
	assert.Contains(t, m, listening, "the auth cache's listener stopped before the HTTP server")
	code, _, err := get(t, s.addr, "/health/live")
	require.NoError(t, err, "requests are still served while draining")
	assert.Equal(t, 200, code)
	code, _, err = get(t, s.addr, "/v1/orgs")
	require.NoError(t, err)
	assert.Equal(t, 401, code, "the API still answers")
	require.NoError(t, s.wait(t))
	_, _, err = get(t, s.addr, "/health/live")
	assert.Error(t, err, "the listener is closed after the drain")
}

// While migrations wait for the advisory lock (another replica is
// migrating), the listener is open: liveness probes succeed, so the
// replica is not killed mid-wait, and readiness fails with "migrating".
func TestServeAnswersProbesWhileMigrating(t *testing.T) {
	t.Parallel()
	u := dbtest.URL(t)
	ctx := context.Background()
	holder, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	defer holder.Close(ctx)
	_, err = holder.Exec(ctx, "SELECT pg_advisory_lock($1)", db.MigrationLockKey)
	require.NoError(t, err)

	s := startServe(t, testConfig(t, u, "", ""))
	code, _, err := get(t, s.addr, "/health/live")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	code, body, err := get(t, s.addr, "/health/ready")
	require.NoError(t, err)
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "migrating")
	code, _, err = get(t, s.addr, "/v1/orgs")
	require.NoError(t, err)
	assert.Equal(t, 503, code, "no API before the schema is up to date")

	_, err = holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", db.MigrationLockKey)
	require.NoError(t, err)
	waitReady(t, s.addr)
	code, _, err = get(t, s.addr, "/v1/orgs")
	require.NoError(t, err)
	assert.Equal(t, 401, code)
	require.NoError(t, s.wait(t))
}

// A request still running when server.shutdown_timeout ends has its
// connection closed (and its context cancelled) so that the pool can
// close; the old code left it open to its client after Serve returned.
func TestServeClosesStuckRequestsAfterShutdownTimeout(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, dbtest.URL(t), "  shutdown_timeout: 1s\n  read_timeout: 10m\n", "")
	tok, err := server.CreateToken(context.Background(), cfg, "", "", "test", store.RoleSystem, 0)
	require.NoError(t, err)
	s := startServe(t, cfg)
	waitReady(t, s.addr)

	// A request whose body never ends: its handler waits for the rest.
	conn, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"slug\":", tok)
	require.NoError(t, err)

	err = s.wait(t)
	require.Error(t, err, "the shutdown timed out")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	// Closed by the server: the read ends (EOF or reset), it does not
	// wait for a deadline of its own.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Minute)))
	_, err = io.ReadAll(bufio.NewReader(conn))
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the stuck request's connection is still open: %v", err)
}

// token create with database.migrate: false applies no migration: it
// fails and says to run rig-cloud migrate.
func TestCreateTokenRespectsMigrateFalse(t *testing.T) {
	t.Parallel()
	u := dbtest.URL(t)
	cfg := testConfig(t, u, "", "database:\n  migrate: false\n")
	_, err := server.CreateToken(context.Background(), cfg, "", "", "test", store.RoleSystem, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "rig-cloud migrate")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists))
	assert.False(t, exists, "no migration was applied")

	// Once migrated, it makes the token.
	_, err = server.Migrate(ctx, cfg, nil)
	require.NoError(t, err)
	tok, err := server.CreateToken(ctx, cfg, "", "", "test", store.RoleSystem, 0)
	require.NoError(t, err)
	assert.NotEmpty(t, tok)
}
