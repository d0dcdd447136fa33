package enroll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

const (
	testToken = "rge_0123456789abcdef"
	testCred  = "rga_secret-credential"
)

// loadConfig writes an agent config for cloudURL (the ZeMA test rig:
// equipment id zema-rig-1, rig type zema-testrig) and loads it for
// enrollment; the credential file is <dir>/creds/credential.
func loadConfig(t *testing.T, cloudURL string) *config.Config {
	t.Helper()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		require.NoError(t, err)
		return a
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "rig-agent.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`agent:
  id: rig-001
  data_dir: %s
rig:
  firmware_config: %s
model:
  bundle_dir: %s
cloud:
  url: %s
  credential_file: creds/credential
`, filepath.Join(dir, "data"), abs("../../../firmware-configs/zema-testrig.yaml"), abs("../../../models/bundles/zema-testrig"), cloudURL)), 0o600))
	cfg, err := config.LoadForEnroll(path)
	require.NoError(t, err)
	return cfg
}

// fakeCloud answers enrollments with answer (status 200) or, when
// problem is set, with it; it counts the requests.
type fakeCloud struct {
	answer  cloudapi.EnrollResponse
	problem *cloudapi.Problem
	calls   atomic.Int32
	srv     *httptest.Server
}

func newFakeCloud(t *testing.T) *fakeCloud {
	f := &fakeCloud{answer: cloudapi.EnrollResponse{AgentID: "rig-001", RigID: "zema-rig-1", RigType: "zema-testrig", Credential: testCred, Generation: 1}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != cloudapi.PathEnroll || r.Header.Get("Authorization") != "Bearer "+testToken {
			cloudapi.NewProblem(cloudapi.ProblemUnauthorized, 401, "bad request to the fake: %s %s", r.Method, r.URL.Path).Write(w)
			return
		}
		var req cloudapi.EnrollRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.AgentID != "rig-001" || req.RigID != "zema-rig-1" {
			cloudapi.NewProblem(cloudapi.ProblemInvalidBody, 400, "body %+v (%v)", req, err).Write(w)
			return
		}
		if f.problem != nil {
			f.problem.Write(w)
			return
		}
		w.Header().Set("Content-Type", cloudapi.MediaJSON)
		_ = json.NewEncoder(w).Encode(f.answer)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func TestRunWritesCredential(t *testing.T) {
	f := newFakeCloud(t)
	cfg := loadConfig(t, f.srv.URL)
	res, err := Run(context.Background(), cfg, Options{Token: testToken, AgentID: "rig-001"})
	require.NoError(t, err)
	assert.Equal(t, &Result{AgentID: "rig-001", RigID: "zema-rig-1", RigType: "zema-testrig", Generation: 1, File: cfg.Cloud.CredentialFile,
		EnrollmentFile: cfg.Cloud.CredentialFile + ".enrollment.json"}, res)
	got, err := cfg.Cloud.Credential()
	require.NoError(t, err)
	assert.Equal(t, testCred, got, "the agent reads what enroll wrote")
	fi, err := os.Stat(cfg.Cloud.CredentialFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	fi, err = os.Stat(res.EnrollmentFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	gen, err := cfg.Cloud.Generation()
	require.NoError(t, err)
	assert.Equal(t, 1, gen, "the agent starts with the generation enroll saved")
	entries, err := os.ReadDir(filepath.Dir(cfg.Cloud.CredentialFile))
	require.NoError(t, err)
	assert.Len(t, entries, 2, "the credential and enrollment files, no temporary file left: %v", entries)

	// An existing file is refused before anything is sent.
	_, err = Run(context.Background(), cfg, Options{Token: testToken})
	require.ErrorIs(t, err, ErrCredentialExists)
	assert.Contains(t, err.Error(), cfg.Cloud.CredentialFile+" (this agent was enrolled before): nothing was sent; rig-agent enroll --force replaces it")
	assert.EqualValues(t, 1, f.calls.Load())

	// --force replaces it.
	f.answer.Credential, f.answer.Generation = "rga_second", 2
	res, err = Run(context.Background(), cfg, Options{Token: testToken, Force: true})
	require.NoError(t, err)
	assert.True(t, res.Replaced)
	assert.Equal(t, 2, res.Generation)
	got, err = cfg.Cloud.Credential()
	require.NoError(t, err)
	assert.Equal(t, "rga_second", got)
	gen, err = cfg.Cloud.Generation()
	require.NoError(t, err)
	assert.Equal(t, 2, gen, "the re-enrollment's")

	// A credential file replaced by hand: the saved generation is not its.
	require.NoError(t, os.WriteFile(cfg.Cloud.CredentialFile, []byte("rga_by_hand\n"), 0o600))
	gen, err = cfg.Cloud.Generation()
	require.NoError(t, err)
	assert.Zero(t, gen)
}

func TestRunRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		problem *cloudapi.Problem
		answer  func(*cloudapi.EnrollResponse)
		want    []string
		is      error
	}{
		{"used token", &cloudapi.Problem{Type: cloudapi.ProblemUnauthorized, Title: "Missing or invalid credential", Status: 401,
			Detail: "the credential is unknown, revoked, used or expired", Instance: "req-7"}, nil,
			[]string{"401 Missing or invalid credential: the credential is unknown, revoked, used or expired (request req-7)",
				"ask an operator for a new one (rigctl rigs enroll zema-rig-1)"}, nil},
		{"other rig", cloudapi.NewProblem(cloudapi.ProblemForbidden, 403, `rig mismatch: token for "press-1", agent says "zema-rig-1"`), nil,
			[]string{`token for "press-1"`, `the firmware config's equipment id "zema-rig-1"`}, nil},
		{"taken id", cloudapi.NewProblem("urn:hydrognn:problem:exists", 409, `agent "rig-001" is enrolled for rig "press-1"`), nil,
			[]string{"409", "rigctl agents revoke rig-001"}, nil},
		{"rig type", nil, func(a *cloudapi.EnrollResponse) { a.RigType = "excavator" },
			[]string{`rig "zema-rig-1" is of rig type "excavator" in the cloud, but the firmware config`, `says "zema-testrig"`, "credential was not saved"}, ErrRigType},
		{"other agent", nil, func(a *cloudapi.EnrollResponse) { a.AgentID = "rig-002" },
			[]string{`the cloud answered for agent "rig-002" of rig "zema-rig-1", not agent "rig-001"`}, nil},
		{"no credential", nil, func(a *cloudapi.EnrollResponse) { a.Credential = "two\nlines" },
			[]string{"no usable credential"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCloud(t)
			f.problem = tc.problem
			if tc.answer != nil {
				tc.answer(&f.answer)
			}
			cfg := loadConfig(t, f.srv.URL)
			_, err := Run(context.Background(), cfg, Options{Token: testToken})
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			if tc.problem != nil {
				var p *cloudapi.Problem
				require.ErrorAs(t, err, &p)
				assert.Equal(t, tc.problem.Status, p.Status)
				var re *RefusedError
				require.ErrorAs(t, err, &re)
			}
			assert.NotContains(t, err.Error(), testToken)
			assert.NotContains(t, err.Error(), testCred)
			_, serr := os.Stat(cfg.Cloud.CredentialFile)
			assert.ErrorIs(t, serr, os.ErrNotExist, "nothing written")
			entries, _ := os.ReadDir(filepath.Dir(cfg.Cloud.CredentialFile))
			assert.Empty(t, entries, "no temporary file left")
		})
	}
}

func TestRunNotAProblem(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway from the proxy", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := Run(context.Background(), loadConfig(t, srv.URL), Options{Token: testToken})
	var re *RefusedError
	require.ErrorAs(t, err, &re)
	assert.Nil(t, re.Unwrap())
	// A proxy's 502 may come after the cloud enrolled the agent: the
	// token may be used up, and the hint says what to do then.
	assert.Contains(t, err.Error(), "/v1/agent/enroll: 502 Bad Gateway: bad gateway from the proxy\nThe cloud, or a proxy on the way, failed; "+
		"the cloud may have enrolled the agent and used up the token (no credential was saved): run rig-agent enroll again later with the same token; "+
		`if it is refused as unknown, used or expired (401), ask an operator to check agent "rig-001" (rigctl agents list --rig zema-rig-1)`)
	assert.NotContains(t, err.Error(), "not used")
}

// An error once the request was sent (here a timeout waiting for the
// answer) says the token may be used up; one before says it was not.
func TestRunTransportErrorsSayWhetherTheTokenWasSent(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // the answer never comes in time
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := loadConfig(t, srv.URL)
	cfg.Cloud.Timeout = time.Second
	_, err := Run(context.Background(), cfg, Options{Token: testToken})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "(cloud.timeout 1s); the request was sent, so the cloud may have enrolled the agent and used up the token")
	assert.NotContains(t, err.Error(), "not used")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = Run(context.Background(), loadConfig(t, closed), Options{Token: testToken})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the request was not sent, so the token was not used")
}

// A folder sync that fails once the credential file is linked in place
// does not say the token is used up and to enroll again: the file is
// there and the agent can use it.
func TestRunFolderSyncFailureAfterLink(t *testing.T) {
	orig := syncDir
	syncDir = func(string) error { return errors.New("sync folder: input/output error") }
	t.Cleanup(func() { syncDir = orig })
	f := newFakeCloud(t)
	cfg := loadConfig(t, f.srv.URL)
	_, err := Run(context.Background(), cfg, Options{Token: testToken})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the credential is saved in "+cfg.Cloud.CredentialFile+", but sync folder: input/output error: the agent can use the file")
	assert.NotContains(t, err.Error(), "token is used up")
	got, err := cfg.Cloud.Credential()
	require.NoError(t, err)
	assert.Equal(t, testCred, got)
}

func TestRunChecksFirst(t *testing.T) {
	f := newFakeCloud(t)
	cfg := loadConfig(t, f.srv.URL)
	_, err := Run(context.Background(), cfg, Options{Token: testToken, AgentID: "rig-002"})
	require.ErrorIs(t, err, ErrUsage)
	assert.Contains(t, err.Error(), `--agent-id "rig-002" is not the config's agent.id "rig-001"`)
	_, err = Run(context.Background(), cfg, Options{Token: "rgt_abc"})
	require.ErrorIs(t, err, ErrUsage)
	assert.Contains(t, err.Error(), "an API token (rgt_...), not an enrollment token")
	nc := *cfg
	nc.Cloud.URL = ""
	_, err = Run(context.Background(), &nc, Options{Token: testToken})
	require.ErrorIs(t, err, ErrNoCloud)
	require.NoError(t, os.MkdirAll(cfg.Cloud.CredentialFile, 0o700))
	_, err = Run(context.Background(), cfg, Options{Token: testToken, Force: true})
	assert.ErrorContains(t, err, "is a directory")
	assert.Zero(t, f.calls.Load(), "nothing sent")
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(file, []byte(testToken+"\n"), 0o600))
	bad := filepath.Join(dir, "bad")
	require.NoError(t, os.WriteFile(bad, []byte("rga_x\n"), 0o600))
	huge := filepath.Join(dir, "huge") // e.g. the wrong file: never read whole
	require.NoError(t, os.WriteFile(huge, []byte(testToken+"\n"+strings.Repeat("x", 1<<20)), 0o600))
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == config.EnvEnrollmentToken {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name, flag, file, stdin, env string
		want, err                    string
	}{
		{name: "flag", flag: testToken, want: testToken},
		{name: "file", file: file, env: "rge_other", want: testToken},
		{name: "stdin", file: "-", stdin: testToken + "\n", want: testToken},
		{name: "env", env: " " + testToken + "\n", want: testToken},
		{name: "both", flag: testToken, file: file, err: "give --token or --token-file, not both"},
		{name: "none", err: "no enrollment token: give --token-file FILE, set RIG_AGENT_ENROLLMENT_TOKEN"},
		{name: "credential", file: bad, err: "--token-file " + bad + ": this is an agent credential (rga_...), not an enrollment token"},
		{name: "missing file", file: filepath.Join(dir, "nope"), err: "no such file"},
		{name: "not a token", flag: "hello", err: "--token: not an enrollment token (rge_...;"},
		{name: "two words", env: "rge_a b", err: "RIG_AGENT_ENROLLMENT_TOKEN: not one word"},
		{name: "huge file", file: huge, err: "--token-file: " + huge + " is larger than 4096 bytes: not a token file"},
		{name: "huge stdin", file: "-", stdin: testToken + "\n" + strings.Repeat("x", 5000), err: "--token-file: stdin is larger than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Token(tc.flag, tc.file, strings.NewReader(tc.stdin), env(tc.env))
			if tc.err != "" {
				require.ErrorIs(t, err, ErrUsage)
				assert.Contains(t, err.Error(), tc.err)
				assert.NotContains(t, err.Error(), "rga_x")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
