package rigctl

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A bare "-" is a positional argument: Go's flag package stops at it and
// returns it unparsed, which made the mixed positional/flag loop spin
// forever. Every command that mixes them returns, none reaches the
// server with a flag taken for an argument.
func TestDashArgumentReturns(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	defer srv.Close()
	rigctlEnv(t, srv.URL, "tok")
	for _, args := range [][]string{
		{"jobs", "get", "-"},
		{"jobs", "logs", "-", "--json"},
		{"jobs", "cancel", "--json", "-"},
		{"models", "get", "-"},
		{"rigs", "health", "r1", "-"},
		{"dataset", "get", "-"},
		{"dataset", "cancel", "-"},
		{"rollout", "label", "myrig", "-"},
		{"rollout", "status", "-"},
		{"uploads", "cancel", "-"},
		{"agents", "revoke", "-", "-"},
	} {
		done := make(chan int, 1)
		go func() {
			var out, errb bytes.Buffer
			done <- Main(context.Background(), Env{Stdout: &out, Stderr: &errb, Version: "test"}, args)
		}()
		select {
		case code := <-done:
			assert.NotEqual(t, ExitOK, code, "%q", args)
		case <-time.After(30 * time.Second): // a hang guard, not a timing
			t.Fatalf("rigctl %q did not return", args)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		pos   []string
		state string
		json  bool
		code  int
	}{
		{args: []string{"a", "--json", "b"}, pos: []string{"a", "b"}, json: true},
		{args: []string{"-", "--state", "x"}, pos: []string{"-"}, state: "x"},
		{args: []string{"--state", "-", "a"}, pos: []string{"a"}, state: "-"},
		{args: []string{"--state", "--", "a"}, pos: []string{"a"}, state: "--"},
		{args: []string{"a", "--", "--json", "-x", "--"}, pos: []string{"a", "--json", "-x", "--"}},
		{args: []string{"--json=false", "a", "--state=s"}, pos: []string{"a"}, state: "s"},
		{args: []string{"-json", "a"}, pos: []string{"a"}, json: true},
		{args: []string{"a", "--nope"}, code: ExitUsage},
		{args: []string{"a", "--state"}, code: ExitUsage},
		{args: []string{"a", "-h"}, code: ExitOK},
		{args: nil},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(&bytes.Buffer{})
		asJSON := fs.Bool("json", false, "")
		state := fs.String("state", "", "")
		pos, code, ok := splitArgs(fs, tc.args)
		if tc.code != 0 || !ok {
			assert.False(t, ok, "%q", tc.args)
			assert.Equal(t, tc.code, code, "%q", tc.args)
			continue
		}
		require.True(t, ok, "%q", tc.args)
		assert.Equal(t, tc.pos, pos, "%q", tc.args)
		assert.Equal(t, tc.state, *state, "%q", tc.args)
		assert.Equal(t, tc.json, *asJSON, "%q", tc.args)
	}
}

// --limit is refused where it means nothing (it was accepted and
// ignored), and still taken by the lists.
func TestLimitOnlyOnLists(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[]}`))
	}))
	defer srv.Close()
	rigctlEnv(t, srv.URL, "tok")
	for _, args := range [][]string{
		{"jobs", "get", "1", "--limit", "5"},
		{"jobs", "cancel", "1", "--limit", "5"},
		{"jobs", "create", "--dataset", "1", "--limit", "5"},
		{"models", "get", "3", "--limit", "5"},
		{"models", "compare", "1", "2", "--limit", "5"},
	} {
		code, _, stderr := run(t, args...)
		assert.Equal(t, ExitUsage, code, "%q", args)
		assert.Contains(t, stderr, "flag provided but not defined: -limit", "%q", args)
	}
	assert.Zero(t, hits.Load(), "nothing was sent")
	for _, args := range [][]string{
		{"jobs", "list", "--limit", "5", "--json"},
		{"jobs", "logs", "1", "--limit", "5", "--json"},
		{"models", "list", "--limit", "5", "--json"},
	} {
		code, _, stderr := run(t, args...)
		assert.Equal(t, ExitOK, code, "%q: %s", args, stderr)
	}
}

// sites and agents take each flag only where it means something: create
// refuses --limit, list refuses --location, revoke refuses --rig and
// --limit (all were accepted and ignored).
func TestSitesAgentsFlagsPerForm(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[]}`))
	}))
	defer srv.Close()
	rigctlEnv(t, srv.URL, "tok")
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"sites", "create", "plant", "--limit", "5"}, "-limit"},
		{[]string{"sites", "list", "--location", "hall 2"}, "-location"},
		{[]string{"agents", "revoke", "a1", "--limit", "5"}, "-limit"},
		{[]string{"agents", "revoke", "a1", "--rig", "r1"}, "-rig"},
	} {
		code, _, stderr := run(t, tc.args...)
		assert.Equal(t, ExitUsage, code, "%q", tc.args)
		assert.Contains(t, stderr, "flag provided but not defined: "+tc.flag, "%q", tc.args)
	}
	assert.Zero(t, hits.Load(), "nothing was sent")
	for _, args := range [][]string{
		{"sites", "list", "--limit", "5", "--json"},
		{"agents", "list", "--rig", "r1", "--limit", "5", "--json"},
	} {
		code, _, stderr := run(t, args...)
		assert.Equal(t, ExitOK, code, "%q: %s", args, stderr)
	}
}
