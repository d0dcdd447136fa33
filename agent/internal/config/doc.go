// Package config is the rig agent's configuration: one YAML file
// (deploy/rig-agent.example.yaml documents every key), environment
// overrides, defaults, and validation with precise errors.
//
// # Basics
//
//	cfg, err := config.Load("/etc/hydrognn/rig-agent.yaml")
//	if err != nil { ... } // every problem, one per line: file:line:col: key.path: what is wrong with "value"
//	cfg.Firmware // the rig's firmware config, loaded and validated with shared/rig
//	b, err := buffer.Open(ctx, cfg.Buffer.Path, cfg.BufferOptions(logger))
//
// # Precedence
//
// Defaults (Defaults), then the file, then the environment: each
// RIG_AGENT_<SECTION>_<KEY> variable (the key path upper-cased, '.' as
// '_', e.g. RIG_AGENT_BROKER_TLS_CA_FILE; Keys lists them all) overrides
// one key. Lists are comma-separated, durations and byte sizes take the
// file's syntax. A RIG_AGENT_ variable that names no key is an error, as
// is an unknown key in the file: a typo never goes unnoticed (except
// EnvEnrollmentToken, rig-agent enroll's token, which is skipped). Derived
// defaults are filled last (agent.id from the host name, broker.client_id
// from agent.id, buffer.path from agent.data_dir), and relative paths are
// resolved against the config file's directory.
//
// # Errors
//
// Decoding is strict (unknown keys, wrong types and duplicate keys fail),
// with shared/confyaml as for rig-cloud and the firmware config: a
// FieldError names the file (or the environment variable), line and
// column, key path and the bad value, e.g.
//
//	rig-agent.yaml:14:8: broker.qos: 0 is not 1 or 2 (...)
//
// A file that does not decode (syntax, unknown key, wrong type) fails at
// the first such error; a file that decodes gets every invalid value
// reported together. Either way the error is Errors and errors.Is(err,
// ErrInvalid) holds. Validate checks values only; Load also loads the
// firmware config (errors.Is(err, rig.ErrInvalid) when it is bad) and
// checks that the named files and directories exist (LoadForEnroll: all
// but cloud.credential_file, which rig-agent enroll writes).
//
// A minimal file names the firmware config, the model bundle and, for a
// cycle-aligned bundle, the time of one load cycle start (the windowing
// refuses a cycle-aligned bundle without it; "epoch" for cycles at whole
// multiples of the cycle length since the Unix epoch, as rigsim's):
//
//	rig:
//	  firmware_config: zema-testrig.yaml
//	model:
//	  bundle_dir: /var/lib/rig-agent/bundles/zema-testrig
//	windowing:
//	  cycle_anchor: 2026-03-01T06:00:00Z
//
// Secrets (broker.password) are of type Secret, which never prints its
// value. A Config is plain data: safe for concurrent reads once loaded.
package config
