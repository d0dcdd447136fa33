// Package rollout holds rig-cloud's rollout rules and the engine that
// applies them: how cohorts are sized (Plan), how an agent's check-in
// moves its state in a rollout (Observe), when a cohort advances or the
// rollout halts (Decide), and the background loop (Engine) that steps
// every running rollout.
//
// The rules are pure functions; the store (cloud/internal/store) runs
// them inside its transactions. The Engine is safe with several replicas:
// each step of a rollout happens in one transaction that holds the
// rollout's row lock, taken with FOR UPDATE SKIP LOCKED, so a replica
// that finds the row locked leaves the step to the holder, and a step
// re-reads the state under the lock (an operator's pause, or another
// replica's advance, is seen).
//
// See docs/releases.md, "Rollouts".
package rollout
