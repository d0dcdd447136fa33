package config

import (
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
