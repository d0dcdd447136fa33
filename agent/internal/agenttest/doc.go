// Package agenttest holds test helpers shared by rig-agent's packages that
// run the whole agent (agent/internal/service in process, cmd/rig-agent as
// a subprocess): a real Mosquitto to test against, and an isolated copy of
// a shipped rig (firmware config and bundle) per test.
//
// It is imported by tests only. Helpers take a testing.TB, fail the test
// on an error and skip it when a service they need is absent.
package agenttest
