package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseErrs parses a config made of base plus extra and returns its
// problems as "key: message" lines (nil when it is valid).
func parseErrs(t *testing.T, extra string, env ...string) []string {
	t.Helper()
	base := "agent: {data_dir: /d}\nrig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n"
	_, err := Parse("/etc/a.yaml", []byte(base+extra), env)
	if err == nil {
		return nil
	}
	var es Errors
	require.True(t, errors.As(err, &es), "%v", err)
	var out []string
	for _, e := range es {
		out = append(out, e.Path+": "+e.Msg)
	}
	return out
}

// A queue limit of 1 gives the embedded broker a high-water mark of 0,
// which it refuses at start with an error about broker.listen: the config
// refuses it and names the key.
func TestBrokerQueueLimitsAtLeastTwo(t *testing.T) {
	for _, key := range []string{"max_inflight", "max_pending_writes"} {
		errs := parseErrs(t, fmt.Sprintf("broker:\n  embedded: true\n  limits: {%s: 1}\n", key))
		require.Len(t, errs, 1, key)
		assert.Contains(t, errs[0], "broker.limits."+key+": 1 is out of range [2, ")
		assert.Nil(t, parseErrs(t, fmt.Sprintf("broker:\n  embedded: true\n  limits: {%s: 2}\n", key)), key)
	}
}

// Two stores on one file would not start (the second open times out on
// the first's lock) and the agent would restart in a loop: every file the
// agent writes is compared, cleaned, with the others and the fixed ones.
func TestFilePathsDoNotCollide(t *testing.T) {
	const cloud = "cloud: {url: https://c.example.com, credential_file: /etc/cred}\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"buffer is the outbox", cloud + "buffer: {path: /d/outbox.db}\n", `buffer.path: "/d/outbox.db" is also the cloud outbox`},
		{"diagnoses is the outbox", cloud + "diagnoses: {path: /d/./outbox.db}\n", `diagnoses.path: "/d/outbox.db" is also the cloud outbox`},
		{"buffer is the calibration", "buffer: {path: /d/detector-calibration.json}\n", "buffer.path: \"/d/detector-calibration.json\" is also the detector calibration"},
		{"buffer is update.dir", "buffer: {path: /d/update}\n", `buffer.path: "/d/update" is update.dir "/d/update" or in it`},
		{"diagnoses in update.dir", "diagnoses: {path: /d/update/h.db}\n", `diagnoses.path: "/d/update/h.db" is update.dir "/d/update" or in it`},
		{"unclean equal paths", "buffer: {path: /x//b.db}\ndiagnoses: {path: /x/b.db}\n", `diagnoses.path: "/x/b.db" is also buffer.path`},
		{"relative equal paths", "buffer: {path: h.db}\ndiagnoses: {path: /etc/h.db}\n", `diagnoses.path: "/etc/h.db" is also buffer.path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrs(t, tc.yaml)
			require.Len(t, errs, 1, "%q", errs)
			assert.True(t, strings.HasPrefix(errs[0], tc.want), "got %q, want prefix %q", errs[0], tc.want)
		})
	}
	// Without a cloud link there is no outbox; distinct paths are fine.
	assert.Nil(t, parseErrs(t, "buffer: {path: /d/outbox.db}\n"))
	assert.Nil(t, parseErrs(t, "buffer: {path: /d/update.db}\ndiagnoses: {path: /d/updatex/h.db}\n"))
}
