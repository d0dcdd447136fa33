package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hydrognn/hydrognn/shared/confyaml"
)

// Secret is a string that is never printed (shared/confyaml): String,
// LogValue and the YAML and JSON encodings show "<redacted>" (or "" when
// empty). Use Reveal where the value itself is needed.
type Secret = confyaml.Secret

// PasswordValue returns the broker password: Password, or the content of
// PasswordFile without its trailing newline, or "" when neither is set.
func (b Broker) PasswordValue() (Secret, error) {
	if b.PasswordFile == "" {
		return b.Password, nil
	}
	data, err := os.ReadFile(b.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("broker.password_file: %w", err)
	}
	return Secret(strings.TrimRight(string(data), "\r\n")), nil
}

// MinAPITokenLen is the shortest api.token_file content accepted.
const MinAPITokenLen = 16

// TokenValue returns the local API's bearer token: the content of
// TokenFile without its trailing newline, or "" when TokenFile is not
// set. A token shorter than MinAPITokenLen or holding white space or
// control characters is an error.
func (a API) TokenValue() (Secret, error) {
	if a.TokenFile == "" {
		return "", nil
	}
	data, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return "", fmt.Errorf("api.token_file: %q cannot be read: %w", a.TokenFile, errors.Unwrap(err))
	}
	tok := strings.TrimRight(string(data), "\r\n")
	if len(tok) < MinAPITokenLen {
		return "", fmt.Errorf("api.token_file: %q holds %d characters, want at least %d (e.g. openssl rand -hex 32 > FILE)", a.TokenFile, len(tok), MinAPITokenLen)
	}
	if i := strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return "", fmt.Errorf("api.token_file: %q holds white space or a control character at byte %d: a bearer token is one word", a.TokenFile, i)
	}
	return Secret(tok), nil
}
