package config

import "github.com/hydrognn/hydrognn/shared/confyaml"

// Secret is a string that is never printed (shared/confyaml): String,
// LogValue and the YAML and JSON encodings show "<redacted>" (or "" when
// empty). Use Reveal where the value itself is needed.
type Secret = confyaml.Secret
