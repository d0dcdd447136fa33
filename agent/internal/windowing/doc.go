// Package windowing turns the rig agent's stored readings into diagnoses:
// it follows the reading buffer, cuts windows as the model bundle's input
// spec says (cycle-aligned or sliding; config.Windowing may override),
// prepares each window with shared/prep (the trainer's code), runs the
// model (agent/infer), numbers the diagnosis and stores it in the history
// (agent/internal/history), then hands it to the sinks (MQTT publisher,
// cloud forwarder).
//
// # Basics
//
//	r, err := windowing.New(buf, model, hist, windowing.Options{AgentID: "rig-001", CycleS: 60, Anchor: cycleStart, Sinks: []windowing.Sink{pub}})
//	go r.Run(ctx) // returns nil when ctx is done
//	r.Stats()
//
// # Cycle alignment needs an anchor
//
// A cycle-aligned bundle (the UCI and excavator bundles) is trained and
// judged on windows that start with the rig's load cycle. New refuses
// cycle-aligned windows without Options.Anchor (ErrNoAnchor): cutting
// them at whole cycles since 1970 would only match the rig by chance, and
// a 1 s offset already takes the UCI bundle's accuracy down to 7-56 %
// with nothing to warn of it. time.Unix(0, 0) is the explicit epoch
// (rigsim's cycles start there).
//
// # When a window is diagnosed
//
// The runner scans every new reading of the buffer (in sequence order,
// from its cursor) and marks each window the reading's time falls in as
// pending. A pending window [start, end) closes when either
//
//   - the data has moved on: a reading with a time at or after
//     end + Lateness was seen (the watermark); this lets a backlog that a
//     gateway publishes after an outage be diagnosed window by window at
//     full speed, or
//   - the wall clock is past end + Lateness and no reading for the
//     window arrived during the last Lateness (sensors that stopped).
//
// Windows close in start order. A closed window reads all its readings
// from the buffer by time (Buffer.Range), whatever order they arrived in,
// and is prepared, run and diagnosed once. A window in which no reading at
// all arrived is not diagnosed (there is nothing to diagnose; /status
// shows the age of the last reading). Readings that arrive for a window
// already closed are counted as late (Stats.LateReadings) and not used.
//
// # Missing and stale sensors
//
// shared/prep masks every cell without data (mask 0) and lists sensors
// with no data in the window (Missing) or with gaps longer than their hold
// (Stale). The model sees the mask; the diagnosis carries both lists in
// diag.Window, and agent/infer adds a sensor_fault finding per component
// with missing sensors and scores their anomaly as masked. Nothing is
// zero-filled silently.
//
// # Sequence numbers and restarts
//
// The history assigns Diagnosis.Seq (strictly increasing, persisted) and
// stores, in the same transaction, the runner's Progress: the start of the
// last window closed and a buffer cursor below every pending window's
// first reading. After a restart the runner scans the buffer from that
// cursor, so pending windows are rebuilt and no window is diagnosed twice
// or skipped. The progress names the buffer file its cursor counts in
// (Buffer.ID): after a damaged buffer was moved aside, the new one, which
// numbers its readings from 1 again, is scanned from its start (windows up
// to the last one closed are still not diagnosed again).
//
// # Sinks
//
// After a diagnosis is stored, each Sink's Enqueue is called in order. A
// sink's error is counted and logged (rate-limited); it never stops the
// windowing: the history holds every diagnosis, and a sink that must not
// miss any (the cloud forwarder) should resume from history.Store.After
// with its own cursor (history.Store.SetCursor).
//
// # Concurrency
//
// Run is called once; Stats is safe for concurrent use.
package windowing
