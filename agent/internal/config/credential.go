package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/hydrognn/hydrognn/shared/durable"
)

// Credential reads the agent's cloud credential from CredentialFile: one
// line (a trailing newline is removed). It reads the file on every call,
// so a rotated file is picked up by the next request. The forwarder and
// the model updater (for a repository on the cloud, see
// UpdateOnCloud) both send it as "Authorization: Bearer <credential>".
// The error names the file, never the credential.
func (c Cloud) Credential() (string, error) {
	data, err := os.ReadFile(c.CredentialFile)
	if err != nil {
		return "", fmt.Errorf("cloud.credential_file: %w", err)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("cloud.credential_file %s: want one line holding the credential", c.CredentialFile)
	}
	return s, nil
}

// Enrollment is what rig-agent enroll saves beside the credential
// (EnrollmentFile): the enrollment generation the cloud answered
// (cloudapi.EnrollResponse.Generation) for the credential whose SHA-256
// it names. The forwarder starts with that generation in its
// Idempotency-Keys, before a check-in names it.
type Enrollment struct {
	AgentID    string `json:"agent_id"`
	Generation int    `json:"generation"`
	// CredentialSHA256 is CredentialDigest of the credential enrolled.
	CredentialSHA256 string `json:"credential_sha256"`
}

// EnrollmentSuffix ends the name of the enrollment file: it is
// cloud.credential_file with this suffix, in the same folder.
const EnrollmentSuffix = ".enrollment.json"

// EnrollmentFile returns the path of the enrollment file
// (CredentialFile + EnrollmentSuffix).
func (c Cloud) EnrollmentFile() string { return c.CredentialFile + EnrollmentSuffix }

// CredentialDigest returns the hex SHA-256 of a credential, as
// Enrollment.CredentialSHA256 names it (never the credential itself).
func CredentialDigest(cred string) string {
	sum := sha256.Sum256([]byte(cred))
	return hex.EncodeToString(sum[:])
}

// Generation returns the enrollment generation saved for the credential
// now in CredentialFile: 0 when no enrollment file exists (an agent
// enrolled by an older rig-agent) or it was saved for another credential
// (the credential file was replaced by hand). An error names a file that
// cannot be read or decoded, or a credential file that cannot be read.
//
// The 0 fallback loses and duplicates nothing, so the forwarder sends on
// with it (its keys say 0 until an accepted check-in names the
// generation; the check-in comes first after every start, and rig-cloud
// names it in every answer, so the gap lasts only while check-ins are
// refused):
//   - The Idempotency-Key is advisory. What the cloud stores is decided by
//     the item keys of the identity the credential resolves to (agents.id,
//     one row per generation, + seq; + request id and part for uploads),
//     never by the header; rig-cloud does not read the header at all. No
//     diagnosis is taken for a conflict or a duplicate because of it.
//   - A server that caches answers by the header (docs/agent-cloud-api.md
//     allows it) sees the same batch under the 0 key and, after a
//     check-in, under the generation's: two keys, a cache miss, answered
//     by the item keys (duplicate), nothing lost. A wrongly replayed
//     answer needs another identity of the same agent id to have sent the
//     same seqs (or upload parts) under generation 0 as well: enrolled
//     without this file too and never told its generation. Keys from
//     before the generation was hashed in (b974bf0) hash other bytes and
//     never equal a generation-0 key.
//   - Holding the diagnoses until a check-in names the generation would
//     stop them whenever check-ins are refused (400, 413, 422: by contract
//     they never stop diagnoses) or the cloud is older than the field
//     (which never names it), until the outbox's caps drop them: a real
//     loss to avoid a hypothetical one.
func (c Cloud) Generation() (int, error) {
	data, err := os.ReadFile(c.EnrollmentFile())
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("enrollment file: %w", err)
	}
	var e Enrollment
	if err := json.Unmarshal(data, &e); err != nil {
		return 0, fmt.Errorf("enrollment file %s: %w", c.EnrollmentFile(), err)
	}
	if e.Generation < 0 {
		return 0, fmt.Errorf("enrollment file %s: generation %d is negative", c.EnrollmentFile(), e.Generation)
	}
	cred, err := c.Credential()
	if err != nil {
		return 0, err
	}
	if e.CredentialSHA256 != CredentialDigest(cred) {
		return 0, nil
	}
	return e.Generation, nil
}

// SaveEnrollment writes e to the enrollment file atomically (a temporary
// file beside it, synced, renamed over it; mode 0600) and syncs the
// folder with syncDir (nil: not synced).
func (c Cloud) SaveEnrollment(e Enrollment, syncDir func(dir string) error) error {
	path := c.EnrollmentFile()
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("enrollment file %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("enrollment file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	err = durable.SyncClose(tmp, err)
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil && syncDir != nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("enrollment file %s: %w", path, err)
	}
	return nil
}

// UpdateOnCloud reports whether update.url is served by the agent's cloud
// (cloud.url's scheme, host and port: rig-cloud serves its TUF
// repository at <cloud.url>/tuf), so that the updater sends the cloud
// credential with its requests. A repository elsewhere gets no
// credential: it is never sent to another host.
func (c *Config) UpdateOnCloud() bool {
	if !c.Cloud.Enabled() || !c.Update.Enabled() {
		return false
	}
	return SameOrigin(c.Cloud.URL, c.Update.URL)
}

// SameOrigin reports whether two URLs have the same scheme, host and port
// (default ports made explicit); false when either does not parse.
func SameOrigin(a, b string) bool {
	ua, err := url.Parse(a)
	if err != nil {
		return false
	}
	ub, err := url.Parse(b)
	if err != nil {
		return false
	}
	return origin(ua) == origin(ub)
}

func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}
