// Package liveness is the agent's heartbeat registry: each long-running
// loop (the ingest with its group commit into the reading buffer, the
// windowing and inference, the diagnosis publisher, the cloud forwarder,
// the model updater) beats at least every Interval while it is healthy,
// also while it waits for work, and a loop that has not beaten for the
// registry's limit (agent.stall_after) is stalled: hung in a call that
// does not return (a disk write, a model run, a lock). Time since a beat
// is measured on the monotonic clock, so a step of the wall clock changes
// nothing. A step that may legitimately outlast the limit is beaten for
// (Beater.Cover) only up to a bound of its own; Sleep is a loop's wait
// that beats.
//
// /health/live answers 503 naming the stalled loops, the metrics export
// each loop's last beat, and rig-agent stops its systemd watchdog
// notifications (WATCHDOG=1) while a loop is stalled, so that systemd
// restarts a hung agent (WatchdogSec= of the unit).
//
// A nil *Beater beats nothing: the packages that run the loops take one
// in their options and work without it.
package liveness
