package confyaml

import "log/slog"

// Secret is a string that is never printed: String, LogValue and the
// YAML and JSON encodings show "<redacted>" (or "" when empty). Use
// Reveal where the value itself is needed.
type Secret string

const redacted = "<redacted>"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "<redacted>", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// LogValue keeps the secret out of logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps the secret out of JSON dumps.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalYAML keeps the secret out of YAML dumps.
func (s Secret) MarshalYAML() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }
