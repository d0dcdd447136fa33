// Package cloudrun runs a rig-cloud binary as a subprocess on a
// throwaway PostgreSQL database, for rigctl's tests and `rigctl bench
// cloud`: Start creates a fresh database on the server of an admin URL,
// makes a system token (rig-cloud token create --system), serves on a free
// local port and waits until /health/ready answers; Stop ends the process
// and drops the database.
package cloudrun

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrognn/hydrognn/shared/childproc"
)

// Options configure Start.
type Options struct {
	// Bin is the rig-cloud binary.
	Bin string
	// AdminURL is a PostgreSQL URL whose user may create databases
	// (typically $DATABASE_URL); the throwaway database is made on its
	// server.
	AdminURL string
	// Env are extra RIG_CLOUD_* settings ("KEY=value").
	Env []string
	// Log receives the server's log lines (nil: discarded).
	Log io.Writer
	// ReadyTimeout bounds the wait for readiness (0: 60s).
	ReadyTimeout time.Duration
}

// Server is a running rig-cloud.
type Server struct {
	// URL is the base URL (http://127.0.0.1:PORT).
	URL string
	// SystemToken creates organisations and their tokens.
	SystemToken string
	// DatabaseURL is the throwaway database's URL.
	DatabaseURL string

	cmd      *exec.Cmd
	bin      string
	env      []string
	adminURL string
	dbName   string
	blobDir  string
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// Start creates the database and starts the server.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.AdminURL == "" {
		return nil, errors.New("no PostgreSQL URL: set DATABASE_URL (eval \"$(make -s env)\" starts a test server)")
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	u, err := url.Parse(o.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	s := &Server{adminURL: o.AdminURL, dbName: "hydrognn_cloudrun_" + hex.EncodeToString(b[:]), done: make(chan error, 1)}
	if err := s.admin(ctx, "CREATE DATABASE "+pgx.Identifier{s.dbName}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	u.Path = "/" + s.dbName
	s.DatabaseURL = u.String()
	// A throwaway blob store too (blob.dir; o.Env may name another).
	if s.blobDir, err = os.MkdirTemp("", "rig-cloud-blobs-"); err != nil {
		s.drop()
		return nil, err
	}
	env := append(os.Environ(), "RIG_CLOUD_DATABASE_URL="+s.DatabaseURL, "RIG_CLOUD_SERVER_LISTEN=127.0.0.1:0", "RIG_CLOUD_LOG_FORMAT=json",
		"RIG_CLOUD_BLOB_DIR="+s.blobDir,
		"RIG_CLOUD_SERVER_DRAIN_DELAY=0s",  // no load balancer to drain: stop at once
		"RIG_CLOUD_AGENTS_MAX_PAST=87600h") // fixtures of fixed dates (2025-03-01) age past the 400-day default
	env = append(env, o.Env...)
	s.bin, s.env = o.Bin, env

	tok := exec.CommandContext(ctx, o.Bin, "token", "create", "--system", "--name", "cloudrun")
	tok.Env = env
	tok.Stderr = o.Log
	out, err := tok.Output()
	if err != nil {
		s.drop()
		return nil, fmt.Errorf("%s token create: %w", o.Bin, err)
	}
	s.SystemToken = strings.TrimSpace(string(out))

	s.cmd = exec.Command(o.Bin, "serve")
	s.cmd.Env = env
	childproc.DieWithParent(s.cmd)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		s.drop()
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		s.drop()
		return nil, fmt.Errorf("start %s serve: %w", o.Bin, err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var m struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(line, &m) == nil && m.Msg == "serving" && m.Addr != "" {
				select {
				case addr <- m.Addr:
				default:
				}
			}
			_, _ = fmt.Fprintf(o.Log, "%s\n", line)
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { s.done <- s.cmd.Wait() }()

	deadline := time.NewTimer(o.ReadyTimeout)
	defer deadline.Stop()
	select {
	case a := <-addr:
		s.URL = "http://" + a
	case err := <-s.done:
		s.done <- err
		s.drop()
		return nil, fmt.Errorf("rig-cloud serve exited before serving: %v", err)
	case <-deadline.C:
		_ = s.Stop()
		return nil, fmt.Errorf("rig-cloud serve did not start within %s", o.ReadyTimeout)
	case <-ctx.Done():
		_ = s.Stop()
		return nil, ctx.Err()
	}
	for {
		res, err := http.Get(s.URL + "/health/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s, nil
			}
		}
		select {
		case <-deadline.C:
			_ = s.Stop()
			return nil, fmt.Errorf("rig-cloud at %s not ready within %s", s.URL, o.ReadyTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) admin(ctx context.Context, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, sql)
	return err
}

func (s *Server) drop() error {
	if s.blobDir != "" {
		_ = os.RemoveAll(s.blobDir)
	}
	return s.admin(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{s.dbName}.Sanitize()+" WITH (FORCE)")
}

// StartWorker runs `rig-cloud worker` on the server's database and blob
// store, with extra RIG_CLOUD_* settings (e.g.
// RIG_CLOUD_WORKER_POLL_INTERVAL=100ms) and its log to log (nil:
// discarded). stop ends it (SIGTERM: a running job is re-queued) and
// waits; it may be called more than once. Call stop before Stop.
func (s *Server) StartWorker(log io.Writer, extraEnv ...string) (stop func() error, err error) {
	cmd := exec.Command(s.bin, "worker")
	cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	childproc.DieWithParent(cmd)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s worker: %w", s.bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var once sync.Once
	var werr error
	return func() error {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case werr = <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				werr = <-done
			}
		})
		return werr
	}, nil
}

// Stop ends the server (SIGTERM, then SIGKILL after 20 s) and drops the
// database. It may be called more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(20 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		if err := s.drop(); err != nil {
			s.stopErr = fmt.Errorf("drop database %s: %w", s.dbName, err)
		}
	})
	return s.stopErr
}
