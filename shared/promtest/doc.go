// Package promtest reads Prometheus' text exposition format and rule
// files, for the tests that check the rules of deploy/prometheus/
// against what rig-agent and rig-cloud really export:
//
//	exported := promtest.Families(body)               // from GET /metrics
//	for _, n := range promtest.RuleMetrics(rules, "rig_agent_") {
//		assert.True(t, exported[n], "%s is not exported", n)
//	}
//
// It is for tests only.
package promtest
