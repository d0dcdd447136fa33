package enroll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/forward"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/durable"
)

// TokenPrefix starts every enrollment token (rigctl rigs enroll, POST
// /v1/rigs/{rig}/enrollments).
const TokenPrefix = "rge_"

// maxAnswerBytes caps the server's answer.
const maxAnswerBytes = 1 << 20

// MaxTokenFileBytes caps what Token reads of --token-file (a token is at
// most 256 characters): a larger file, or a device that never ends, is
// ErrUsage instead of being read whole.
const MaxTokenFileBytes = 4 << 10

// Sentinel errors, matched with errors.Is.
var (
	// ErrCredentialExists is returned when cloud.credential_file exists
	// and Options.Force is not set; nothing was sent.
	ErrCredentialExists = errors.New("the credential file exists")
	// ErrRigType is returned when the cloud has the rig with another rig
	// type than the firmware config's; the credential was not saved.
	ErrRigType = errors.New("the cloud's rig type is not the firmware config's")
	// ErrUsage is returned for a token or an agent id that cannot be
	// right (a usage error); nothing was sent.
	ErrUsage = errors.New("bad enrollment request")
	// ErrNoCloud is returned when the config has no cloud.url.
	ErrNoCloud = errors.New("no cloud link configured")
)

// Options configure Run. Token is required; the zero value of every
// other field means its default.
type Options struct {
	// Token is the one-time enrollment token (rge_...).
	Token string
	// AgentID, when set, must be the config's agent.id (else ErrUsage):
	// a check, since the agent sends agent.id with every request and the
	// credential is good for that id only (default: "": agent.id).
	AgentID string
	// Force replaces an existing credential file (default: refused with
	// ErrCredentialExists).
	Force bool
	// Version is the agent's build, sent in the User-Agent header
	// (default: none).
	Version string
	// HTTPClient sends the request (default: forward.NewHTTPClient()).
	HTTPClient *http.Client
}

// Result is a saved enrollment.
type Result struct {
	// AgentID, RigID and RigType are what the credential is bound to.
	AgentID, RigID, RigType string
	// Generation counts the enrollments of AgentID (1: the first).
	Generation int
	// File is the credential file written (cloud.credential_file).
	File string
	// Replaced is true when File existed before (Options.Force).
	Replaced bool
	// EnrollmentFile is the file beside File that holds Generation for
	// the agent's start (config.Cloud.EnrollmentFile; "" when it could
	// not be written: EnrollmentErr says why, and the agent learns the
	// generation at its first check-in instead).
	EnrollmentFile string
	EnrollmentErr  error
}

// RefusedError is the server's refusal of the enrollment.
type RefusedError struct {
	// URL is the enrollment URL.
	URL string
	// Status is the HTTP status.
	Status int
	// Problem is the answer's problem document (nil when the answer was
	// none; then Body is its start).
	Problem *cloudapi.Problem
	Body    string
	// Hint says what to do ("" when nothing general applies).
	Hint string
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s: ", e.URL)
	if e.Problem != nil {
		b.WriteString(e.Problem.Error())
		if e.Problem.Instance != "" {
			fmt.Fprintf(&b, " (request %s)", e.Problem.Instance)
		}
	} else {
		fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
		if e.Body != "" {
			b.WriteString(": " + e.Body)
		}
	}
	if e.Hint != "" {
		b.WriteString("\n" + e.Hint)
	}
	return b.String()
}

// Unwrap returns the problem document (nil when there was none).
func (e *RefusedError) Unwrap() error {
	if e.Problem == nil {
		return nil
	}
	return e.Problem
}

// Token returns the enrollment token of rig-agent enroll: flag (--token)
// or else the first line of the file (--token-file; "-" is stdin) or
// else the variable config.EnvEnrollmentToken as getenv returns it. Both
// flag and file set, or none of the three, is ErrUsage; so is a value
// that is not an enrollment token. The error never holds the token.
func Token(flag, file string, stdin io.Reader, getenv func(string) string) (string, error) {
	var tok, from string
	switch {
	case flag != "" && file != "":
		return "", fmt.Errorf("%w: give --token or --token-file, not both", ErrUsage)
	case flag != "":
		tok, from = flag, "--token"
	case file != "":
		data, err := readTokenFile(file, stdin)
		if err != nil {
			return "", fmt.Errorf("%w: --token-file: %w", ErrUsage, err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		tok, from = strings.TrimSpace(line), "--token-file "+file
	default:
		tok, from = strings.TrimSpace(getenv(config.EnvEnrollmentToken)), config.EnvEnrollmentToken
		if tok == "" {
			return "", fmt.Errorf("%w: no enrollment token: give --token-file FILE, set %s, or --token rge_... (the one-time token of rigctl rigs enroll RIG)",
				ErrUsage, config.EnvEnrollmentToken)
		}
	}
	if err := checkToken(tok); err != nil {
		return "", fmt.Errorf("%w: %s: %s", ErrUsage, from, err)
	}
	return tok, nil
}

// readTokenFile reads at most MaxTokenFileBytes of file ("-": stdin); a
// longer one is an error.
func readTokenFile(file string, stdin io.Reader) ([]byte, error) {
	r, name := stdin, "stdin"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, file
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxTokenFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxTokenFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a token file (it holds the token of rigctl rigs enroll on its first line)", name, MaxTokenFileBytes)
	}
	return data, nil
}

// checkToken says what is wrong with an enrollment token, without
// quoting it.
func checkToken(tok string) error {
	switch {
	case tok == "":
		return errors.New("empty")
	case strings.HasPrefix(tok, "rga_"):
		return errors.New("this is an agent credential (rga_...), not an enrollment token (rge_...)")
	case strings.HasPrefix(tok, "rgt_"):
		return errors.New("this is an API token (rgt_...), not an enrollment token (rge_...)")
	case !strings.HasPrefix(tok, TokenPrefix):
		return fmt.Errorf("not an enrollment token (%s...; rigctl rigs enroll RIG makes one)", TokenPrefix)
	case len(tok) > 256 || strings.ContainsFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return errors.New("not one word of at most 256 characters")
	}
	return nil
}

// Run enrolls the agent of cfg (loaded with config.LoadForEnroll, with
// cloud.url set) and saves the credential to cloud.credential_file, as
// the package documentation describes. It returns what the credential
// is bound to.
func Run(ctx context.Context, cfg *config.Config, o Options) (*Result, error) {
	if !cfg.Cloud.Enabled() {
		return nil, fmt.Errorf("%w: cloud.url is empty in %s: set cloud.url and cloud.credential_file, then enroll", ErrNoCloud, cfg.File)
	}
	if cfg.Firmware == nil {
		return nil, errors.New("enroll: the firmware config is not loaded (use config.LoadForEnroll)")
	}
	if err := checkToken(o.Token); err != nil {
		return nil, fmt.Errorf("%w: token: %s", ErrUsage, err)
	}
	agentID := cfg.Agent.ID
	if o.AgentID != "" && o.AgentID != agentID {
		return nil, fmt.Errorf("%w: --agent-id %q is not the config's agent.id %q: the agent sends agent.id with every request, "+
			"and the cloud refuses a credential of another id; set agent.id: %s in %s (or %sAGENT_ID) and enroll again",
			ErrUsage, o.AgentID, agentID, o.AgentID, cfg.File, config.EnvPrefix)
	}
	req := cloudapi.EnrollRequest{AgentID: agentID, RigID: cfg.Firmware.Equipment.ID}
	if err := cloudapi.ValidateEnroll(&req); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}

	path := cfg.Cloud.CredentialFile
	tmp, existed, err := prepare(path, o.Force)
	if err != nil {
		return nil, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()

	url := strings.TrimRight(cfg.Cloud.URL, "/") + cloudapi.PathEnroll
	ans, err := post(ctx, cfg, o, url, &req)
	if err != nil {
		return nil, err
	}
	if ans.AgentID != req.AgentID || ans.RigID != req.RigID {
		return nil, fmt.Errorf("POST %s: the cloud answered for agent %q of rig %q, not agent %q of rig %q: "+
			"the credential was not saved (is cloud.url rig-cloud?)", url, ans.AgentID, ans.RigID, req.AgentID, req.RigID)
	}
	if ans.RigType != cfg.Firmware.RigType {
		return nil, fmt.Errorf("%w: rig %q is of rig type %q in the cloud, but the firmware config %s says %q: the cloud would "+
			"reject every diagnosis, so the credential was not saved. The token is used up (agent %q is enrolled without a saved "+
			"credential): correct rig.firmware_config or register the rig with rig type %q, then enroll again with a new token "+
			"(rigctl rigs enroll %s), which replaces that enrollment",
			ErrRigType, ans.RigID, ans.RigType, cfg.Rig.FirmwareConfig, cfg.Firmware.RigType, ans.AgentID, cfg.Firmware.RigType, ans.RigID)
	}
	if ans.Credential == "" || len(ans.Credential) > 1024 ||
		strings.ContainsFunc(ans.Credential, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return nil, fmt.Errorf("POST %s: the answer holds no usable credential (empty, too long or not one word): not saved; %s",
			url, spent(&req))
	}
	if placed, err := commit(tmp, path, ans.Credential, o.Force); err != nil {
		if placed {
			return nil, fmt.Errorf("the credential is saved in %s, but %w: the agent can use the file; should it be gone or "+
				"empty after a power loss, ask an operator for a new token (rigctl rigs enroll %s) and enroll again", path, err, req.RigID)
		}
		return nil, fmt.Errorf("save the credential: %w; %s", err, spent(&req))
	}
	res := &Result{AgentID: ans.AgentID, RigID: ans.RigID, RigType: ans.RigType, Generation: ans.Generation,
		File: path, Replaced: existed, EnrollmentFile: cfg.Cloud.EnrollmentFile()}
	// The generation, for the forwarder's Idempotency-Keys before its
	// first check-in. Without it the agent works as well: the check-in
	// names the generation.
	if err := cfg.Cloud.SaveEnrollment(config.Enrollment{AgentID: ans.AgentID, Generation: ans.Generation,
		CredentialSHA256: config.CredentialDigest(ans.Credential)}, syncDir); err != nil {
		res.EnrollmentFile, res.EnrollmentErr = "", err
	}
	return res, nil
}

// post sends the enrollment and decodes a 200 answer; another answer is
// a *RefusedError.
func post(ctx context.Context, cfg *config.Config, o Options, url string, req *cloudapi.EnrollRequest) (*cloudapi.EnrollResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode the enrollment: %w", err)
	}
	timeout := cfg.Cloud.Timeout
	if timeout <= 0 {
		timeout = forward.DefaultTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Whether the request reached the wire: after that the cloud may have
	// enrolled the agent whatever happens to the answer.
	var sent atomic.Bool
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				sent.Store(true)
			}
		},
	})
	hr, err := http.NewRequestWithContext(rctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("enroll at %s: %w", url, err)
	}
	hr.Header.Set("Content-Type", cloudapi.MediaJSON)
	hr.Header.Set("Accept", cloudapi.MediaJSON+", "+cloudapi.MediaProblem)
	hr.Header.Set(cloudapi.HeaderAuthorization, "Bearer "+o.Token)
	hr.Header.Set("User-Agent", forward.UserAgent(o.Version))
	hc := o.HTTPClient
	if hc == nil {
		hc = forward.NewHTTPClient()
	}
	res, err := hc.Do(hr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (cloud.timeout %s)", err, timeout)
		}
		if !sent.Load() {
			return nil, fmt.Errorf("enroll at %s (cloud.url): %w; the request was not sent, so the token was not used: try again", url, err)
		}
		return nil, fmt.Errorf("enroll at %s (cloud.url): %w; the request was sent, so %s", url, err, maybeSpent(req))
	}
	defer res.Body.Close()
	spentHint := maybeSpent(req)
	if res.StatusCode == http.StatusOK {
		spentHint = "the cloud enrolled the agent (200 OK) but no credential was saved: " + spent(req)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("POST %s: read the answer (%d): %w; %s", url, res.StatusCode, err, spentHint)
	}
	if len(data) > maxAnswerBytes {
		return nil, fmt.Errorf("POST %s: answer (%d) larger than %d bytes; %s", url, res.StatusCode, maxAnswerBytes, spentHint)
	}
	if res.StatusCode != http.StatusOK {
		return nil, refused(url, res, data, req)
	}
	var ans cloudapi.EnrollResponse
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, fmt.Errorf("POST %s: decode the answer: %w; %s", url, err, spentHint)
	}
	return &ans, nil
}

// maybeSpent is what to do when the cloud may or may not have enrolled
// the agent (and used up the token): no answer, or a failure that a proxy
// may have given after the cloud enrolled it.
func maybeSpent(req *cloudapi.EnrollRequest) string {
	return fmt.Sprintf("the cloud may have enrolled the agent and used up the token (no credential was saved): run rig-agent "+
		"enroll again later with the same token; if it is refused as unknown, used or expired (401), ask an operator to check agent %q "+
		"(rigctl agents list --rig %s) and for a new token (rigctl rigs enroll %s), whose enrollment replaces that one",
		req.AgentID, req.RigID, req.RigID)
}

// spent is what to do when the cloud enrolled the agent but no
// credential was saved.
func spent(req *cloudapi.EnrollRequest) string {
	return fmt.Sprintf("the token is used up (agent %q is enrolled without a saved credential): enroll again with a new token "+
		"(rigctl rigs enroll %s), whose enrollment replaces that one", req.AgentID, req.RigID)
}

// refused makes the RefusedError of a failed answer, with what to do.
func refused(url string, res *http.Response, data []byte, req *cloudapi.EnrollRequest) error {
	e := &RefusedError{URL: url, Status: res.StatusCode}
	if mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type")); mt == cloudapi.MediaProblem {
		var p cloudapi.Problem
		if json.Unmarshal(data, &p) == nil && (p.Type != "" || p.Title != "") {
			if p.Status == 0 {
				p.Status = res.StatusCode
			}
			e.Problem = &p
		}
	}
	if e.Problem == nil {
		s := strings.TrimSpace(string(data))
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		e.Body = s
	}
	switch st := res.StatusCode; {
	case st == http.StatusUnauthorized:
		e.Hint = "The enrollment token is unknown, used or expired (a token enrolls once, within its lifetime): " +
			"ask an operator for a new one (rigctl rigs enroll " + req.RigID + ")."
	case st == http.StatusForbidden:
		e.Hint = fmt.Sprintf("The token was made for another rig than this agent's (the firmware config's equipment id %q): "+
			"ask for a token of rig %s (rigctl rigs enroll %s).", req.RigID, req.RigID, req.RigID)
	case st == http.StatusConflict:
		e.Hint = fmt.Sprintf("Agent id %q is taken. Re-enrolling this rig's agent while its old identity still checks in: "+
			"stop the old agent, then have an operator revoke it (rigctl agents revoke %s; this token stays usable) "+
			"or make a token that replaces it (rigctl rigs enroll %s --replace %s) and enroll with that one. "+
			"Enrolled for another rig: an operator revokes it there first (each such refusal counts against this token, "+
			"revoked at the third), or give this agent another agent.id.", req.AgentID, req.AgentID, req.RigID, req.AgentID)
	case st == http.StatusNotFound:
		e.Hint = "Is cloud.url rig-cloud's base URL (without /v1)?"
	case st == http.StatusTooManyRequests:
		e.Hint = "Too many enrollment attempts from this address: try again later"
		if ra, ok := cloudapi.ParseRetryAfter(res.Header.Get(cloudapi.HeaderRetryAfter), time.Now()); ok {
			e.Hint += " (in " + ra.Round(time.Second).String() + ")"
		}
		e.Hint += "; the token was not used."
	case st >= 500:
		// A proxy's 502 or 504 may come after the cloud enrolled the agent;
		// the cloud's own 500 after a commit it could not confirm too.
		e.Hint = "The cloud, or a proxy on the way, failed; " + maybeSpent(req) + "."
	}
	return e
}

// prepare checks the credential file may be written and makes the
// temporary file beside it (mode 0600). existed reports whether path
// exists (allowed with force only).
func prepare(path string, force bool) (tmp *os.File, existed bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.IsDir():
		return nil, false, fmt.Errorf("cloud.credential_file %s is a directory", path)
	case err == nil && !force:
		return nil, false, fmt.Errorf("%w: %s (this agent was enrolled before): nothing was sent; "+
			"rig-agent enroll --force replaces it (a re-enrollment: the cloud revokes the old credential)", ErrCredentialExists, path)
	case err == nil:
		existed = true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("cloud.credential_file: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("cloud.credential_file: create its folder: %w", err)
	}
	tmp, err = os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, false, fmt.Errorf("cloud.credential_file: cannot write in %s: %w", dir, err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, false, fmt.Errorf("cloud.credential_file: %w", err)
	}
	return tmp, existed, nil
}

// commit writes cred to tmp, syncs it and puts it at path: linked (an
// existing path is ErrCredentialExists) or, with force, renamed over it;
// then it syncs the folder. placed reports whether the file is at path
// (only syncing the folder failed). The caller removes tmp's name.
func commit(tmp *os.File, path, cred string, force bool) (placed bool, err error) {
	if _, err := tmp.WriteString(cred + "\n"); err != nil {
		return false, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return false, fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if force {
		if err := os.Rename(tmp.Name(), path); err != nil {
			return false, fmt.Errorf("rename to %s: %w", path, err)
		}
	} else if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, fmt.Errorf("%w: %s was written by someone else meanwhile", ErrCredentialExists, path)
		}
		// A file system without hard links: check, then rename.
		if _, serr := os.Lstat(path); serr == nil {
			return false, fmt.Errorf("%w: %s was written by someone else meanwhile", ErrCredentialExists, path)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return false, fmt.Errorf("rename to %s: %w", path, err)
		}
	}
	return true, syncDir(filepath.Dir(path))
}

// syncDir makes a rename or link in dir durable (a variable for tests).
var syncDir = durable.SyncDir
