package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestEnrollCommandLine checks rig-agent enroll's usage errors (exit 64)
// and config errors (exit 78);
// agent/internal/enroll tests the enrollment against a fake cloud and
// tools/internal/rigctl's TestEnrollWithRigctl against rig-cloud.
func TestEnrollCommandLine(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:0") // no cloud.url
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte("rge_abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RIG_AGENT_ENROLLMENT_TOKEN", "")
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"no config", []string{"enroll", "--token", "rge_abc"}, exitUsage, "usage: rig-agent enroll --config FILE"},
		{"no token", []string{"enroll", "--config", cfg}, exitUsage, "no enrollment token: give --token-file FILE"},
		{"api token", []string{"enroll", "--config", cfg, "--token", "rgt_abc"}, exitUsage, "--token: this is an API token (rgt_...)"},
		{"no cloud", []string{"enroll", "--config", cfg, "--token-file", tokFile}, exitConfig, "cloud.url is empty in " + cfg},
		{"bad config", []string{"enroll", "--config", filepath.Join(dir, "nope.yaml"), "--token-file", tokFile}, exitConfig, "no such file"},
		{"extra argument", []string{"enroll", "--config", cfg, "--token-file", tokFile, "now"}, exitUsage, "usage: rig-agent enroll"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, run(tc.args, &out, &errb))
			assert.Contains(t, errb.String(), tc.err)
			assert.NotContains(t, errb.String(), "rge_abc", "the token is never printed")
			assert.Empty(t, out.String())
		})
	}
}
