// Package config is rig-cloud's configuration: one YAML file
// (deploy/rig-cloud.example.yaml documents every key), environment
// overrides, defaults, and validation with precise errors. It follows the
// agent's config (agent/internal/config) key for key in its rules.
//
// # Basics
//
//	cfg, err := config.Load("/etc/rig-cloud/rig-cloud.yaml")
//	if err != nil { ... } // every problem, one per line: file:line:col: key.path: what is wrong with "value"
//	pool, err := db.Open(ctx, cfg.Database.URL.Reveal(), cfg.DBOptions())
//
// # Precedence
//
// Defaults (Defaults), then the file, then the environment: each
// RIG_CLOUD_<SECTION>_<KEY> variable (the key path upper-cased, '.' as
// '_', e.g. RIG_CLOUD_DATABASE_URL; Keys lists them all) overrides one
// key. Durations and byte sizes take the file's syntax. A RIG_CLOUD_
// variable that names no key is an error, as is an unknown key in the
// file: a typo never goes unnoticed. The exception is the variables
// Kubernetes gives every pod for a Service whose name starts with
// rig-cloud (RIG_CLOUD_SERVICE_HOST, RIG_CLOUD_SERVICE_PORT[_<NAME>],
// RIG_CLOUD_PORT, RIG_CLOUD_PORT_<N>_<PROTO>[_PROTO|_PORT|_ADDR], with the
// values Kubernetes puts there): they are skipped
// (confyaml.Spec.ServiceLinks). Relative paths (TLS files) are
// resolved against the config file's directory.
//
// # Errors
//
// Decoding is strict (unknown keys, wrong types and duplicate keys fail),
// with shared/confyaml as for the agent and the firmware config: a
// FieldError names the file (or the environment variable), line and
// column, key path and the bad value:
//
//	rig-cloud.yaml:4:3: server.listn: unknown key "listn" (see docs/cloud.md for the keys of each section)
//
// A file that does not decode fails at the first such error; a file that
// decodes gets every invalid value reported together. Either way the
// error is Errors and errors.Is(err, ErrInvalid) holds.
//
// Parse and Load also load server.tls's certificate and key when they are
// set: a missing, unreadable or mismatched pair is a FieldError of
// server.tls.cert_file or key_file, reported before anything connects to
// the database. Validate reads no file.
//
// database.url is a Secret (never printed); set it in the environment
// (RIG_CLOUD_DATABASE_URL) rather than in the file. A Config is plain data:
// safe for concurrent reads once loaded.
package config
