// Package confyaml is the strict YAML config machinery shared by the rig
// agent's and rig-cloud's configs (agent/internal/config,
// cloud/internal/config), the rig firmware config (shared/rig) and test
// scenarios (tools/internal/scenario): one file, one YAML document,
// decoded strictly, with every problem reported at its place.
//
// # Basics
//
// A service config describes itself with a Spec and decodes in three
// steps: defaults, then the file and the environment (Spec.Decode), then
// its own validation, whose problems Source.Place puts where they came
// from:
//
//	var spec = confyaml.Spec{EnvPrefix: "RIG_AGENT_", UnknownKey: "see docs/agent.md ..."}
//	cfg := Defaults()
//	src, problems := spec.Decode(name, data, os.Environ(), &cfg)
//	if problems != nil { ... }
//	var v confyaml.Validator
//	v.IntIn("broker.qos", cfg.Broker.QoS, 1, 2)
//	src.Place(v.Problems) // file:line:col, or the variable that set the key
//
// Parse and Document are the lower level for files with rules of their
// own (shared/rig, scenarios): parse, check the document's shape,
// Decode, then Error and Place turn go-yaml's errors and validation
// problems into FieldErrors.
//
// # Errors
//
// Every problem is a FieldError, "file:line:col: key.path: message",
// quoting the bad value:
//
//	rig-agent.yaml:7:3: broker.qos: 0 is not 1 or 2 (...)
//	rig-agent.yaml:4:5: broker.tls.ca_fille: unknown key "ca_fille" (see docs/agent.md ...)
//	environment RIG_AGENT_BROKER_QOS: broker.qos: "x" is not an integer
//
// Decoding is strict: unknown keys, duplicate keys, values of the wrong
// type and more than one document fail, at the first such error. A
// variable with the Spec's prefix that names no key is an error too: a
// typo never goes unnoticed; with Spec.ServiceLinks, the variables
// Kubernetes makes for a Service named like the prefix
// (RIG_CLOUD_SERVICE_HOST=10.0.0.7, RIG_CLOUD_PORT=tcp://10.0.0.7:80, ...)
// are skipped. go-yaml's panics on malformed input are
// turned into errors (FuzzSpecDecode, FuzzParse).
//
// # Values
//
// ByteSize reads "512MiB" or "1.5GB"; time.Duration fields read Go
// durations ("30s"); Secret is a string that never prints. Environment
// values take the file's syntax; lists are comma-separated.
//
// A Document, a Source and a Spec are read-only once made and safe for
// concurrent use; a Validator is not.
package confyaml
