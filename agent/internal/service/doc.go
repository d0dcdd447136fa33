// Package service wires the rig agent's parts into one running agent:
// what `rig-agent --config FILE` runs. It owns the start order, the
// readiness rule and the ordered, bounded shutdown.
//
// # Start order
//
//  1. the data directory, the reading buffer (agent/internal/buffer) and
//     the diagnosis history (agent/internal/history); a damaged file
//     stops the start with the error that names the recovery command.
//     The buffer's whole-file check is bounded by Start's ctx only, not
//     by Options.StartTimeout, and logs its progress
//  2. with update.url, the model updater (agent/internal/update: Open
//     applies its recovery table and names the bundle to serve); then the
//     model (agent/infer: ONNX Runtime, bundle checks against the rig)
//  3. the embedded broker (broker.embedded), the codec plugin host (only
//     when the firmware config uses plugin codecs), the ingest. The
//     embedded broker refuses every client but the ingest until the
//     ingest has subscribed (broker.Options.Subscriber): it would
//     acknowledge what gateways publish before, and drop it
//  4. the diagnosis publisher (diagnoses.publish), the cloud forwarder
//     (cloud.url: agent/internal/forward, see NewCloudForwarder; the
//     history is its forward.Options.Seqs, so a check-in that finds the
//     numbering restarted raises the history's sequence), the windowing
//     runner
//  5. the HTTP API; then the goroutines start (ingest, windowing, sinks,
//     the updater's loop)
//
// Any failure undoes what was started, in reverse, and returns an error
// that says what to fix.
//
// # Stop order
//
// Stop (on SIGINT or SIGTERM in rig-agent) runs, each step bounded by the
// context's deadline:
//
//  0. stop the updater's loop (a download, verification, canary or
//     activation is cancelled and resumed at the next start; each gives
//     up within moments, a model open or bundle check left to end on its
//     own, and Stop waits for the loop at most a fifth of the time left,
//     5 s at most, then goes on without it, so the broker's drain and the
//     ingest keep their time; no model is swapped after it: a swap
//     waiting for the old runner gives up, so that a run hung in the
//     model cannot hold the stop past its deadline; the updater's context
//     is cancelled before the swap is told to give up, so the updater
//     takes it for a stop and counts no failed attempt)
//  1. embedded broker Drain: new publishes and connections are refused
//     (unacknowledged, so gateways keep them) and the ingest acknowledges
//     what the broker holds for it; the drain gets a third of the time
//     left (DefaultDrainTimeout without a deadline) and ends early when
//     the ingest fails to store or decode what it gets, so the later
//     steps keep their time
//  2. cancel the ingest: it stores and acknowledges what it received, then
//     closes its session
//  3. stop the windowing (it saves its progress; pending windows are
//     rebuilt at the next start), then the publisher and the forwarder
//  4. shut the HTTP API down (in-flight requests finish; at most 5 s and
//     never past the deadline)
//  5. close the model (left open, and closed when its runner stops, when
//     the windowing did not stop in 3: a run hung in it), the history, the
//     buffer (flushes queued commits), the plugin host, and last the
//     embedded broker
//  6. with update.url, update.Manager.Close writes the updater's
//     clean-stop marker: the next start counts no failed attempt or watch
//     restart against the release for this stop, even when its deadline
//     passed during a slow canary or activation (docs/releases.md,
//     "Recovery after a crash"); so does a Start that fails once the
//     model is up, not one that fails opening it
//
// # Model updates
//
// With update.url the Agent is the updater's Activator: Activate opens the
// new bundle, its detector and a new windowing runner, and only then stops
// the running runner (it saves its progress, which the new one resumes),
// starts the new one and closes the old model; a failure before the swap
// leaves the old model serving, and no runner ever runs a closed model.
// Every window the served model runs is fed to Manager.Observe; the
// canary's windows are the spans of the newest diagnoses, prepared from the
// buffer; the cloud forwarder is the updater's byte budget and reports its
// state at check-in. Without update.url none of this runs.
//
// # Readiness
//
// Ready (GET /health/ready) holds when the buffer is open, the ingest's
// MQTT session is up and subscribed, and the model is loaded; Stop makes
// the agent not ready first.
package service
