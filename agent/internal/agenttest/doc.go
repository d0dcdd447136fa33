// Package agenttest holds test helpers shared by rig-agent's packages: for
// those that run the whole agent (agent/internal/service in process,
// cmd/rig-agent as a subprocess), a real Mosquitto to test against, an
// isolated copy of a shipped rig (firmware config and bundle) per test and
// the ONNX Runtime check; for any package, a settable Clock and the
// fake clouds' check of the agent's credential (Authorized) and request
// handling (Cloud).
//
// It is imported by tests only. Helpers take a testing.TB, fail the test
// on an error and skip it when a service they need is absent (fail it
// under HYDROGNN_REQUIRE_SERVICES=1, as make test sets: shared/testenv).
package agenttest
