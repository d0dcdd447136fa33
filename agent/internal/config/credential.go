package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
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
