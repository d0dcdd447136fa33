package rig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hydrognn/hydrognn/shared/confyaml"
)

// MaxFileSize caps the size of a firmware config file (1 MiB); a larger file
// is refused before it is parsed.
const MaxFileSize = confyaml.MaxFileSize

// unknownKey is the advice given with an unknown key.
const unknownKey = "check the spelling against `rigctl schema rig`"

// Load reads, decodes and validates the firmware config at path. Unknown
// keys, wrong types and invalid values are reported as Errors, each naming
// the file, line, key path and bad value.
func Load(path string) (*Config, error) {
	data, err := confyaml.ReadFile(path, "firmware config")
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes and validates a firmware config held in data; name is used
// in error messages (usually the file path).
func Parse(name string, data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Errors{{File: name, Msg: "file is empty"}}
	}
	doc, err := confyaml.Parse(data)
	if err != nil {
		return nil, Errors{doc.Error(name, err, unknownKey)}
	}
	if doc.Docs() != 1 {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("want exactly one YAML document, found %d", doc.Docs())}}
	}
	if doc.Empty() {
		return nil, Errors{{File: name, Msg: "file is empty"}}
	}
	var cfg Config
	if err := doc.Decode(&cfg); err != nil {
		return nil, Errors{doc.Error(name, err, unknownKey)}
	}
	if err := cfg.validate(); err != nil {
		var es Errors
		if errors.As(err, &es) {
			doc.Place(name, es)
			return nil, es
		}
		return nil, err
	}
	return &cfg, nil
}

// Validate checks a Config built in code (Parse and Load call it for you).
// It returns Errors listing every problem, or nil.
func (c *Config) Validate() error { return c.validate() }

// Digest returns "sha256:<hex>" over the canonical JSON encoding of the
// config: comments, key order and formatting of the file do not change it,
// any change of content does. Model bundles record it to refuse a rig whose
// description differs from the one they were trained for.
func (c *Config) Digest() string {
	b, err := json.Marshal(c)
	if err != nil {
		// A Config holds only plain values; Marshal cannot fail.
		panic(fmt.Sprintf("rig: marshal config: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
