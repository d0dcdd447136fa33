// Package publish sends every diagnosis the rig agent makes to a local
// MQTT topic (config diagnoses.topic, default
// hydrognn/agents/<agent.id>/diagnoses) as JSON (shared/diag.Diagnosis),
// QoS 1, not retained, so that an HMI, a PLC gateway or a SCADA system on
// the rig's network sees each result as it is made.
//
// # Basics
//
//	p, err := publish.New(publish.Options{Broker: "tcp://127.0.0.1:1883", ClientID: "rig-agent-rig-001-pub", Topic: topic})
//	go p.Run(ctx)           // connects, reconnects, publishes; returns when ctx is done
//	p.Enqueue(ctx, d)       // a windowing.Sink: queues, never blocks
//	p.Stats()
//
// It uses its own paho client (client id: the ingest's with "-pub"
// appended, clean session), separate from the ingest's, so that
// publishing never competes with the ingest's acknowledgement pipeline.
//
// # Delivery
//
// The topic is a live feed, not the record: the history
// (agent/internal/history, HTTP /diagnoses) holds every diagnosis. The
// queue holds at most Options.Queue diagnoses; when it is full the oldest
// queued one is dropped and counted (Stats.Dropped). While the broker is
// unreachable, diagnoses wait in the queue (bounded as above); a publish
// that the connected broker does not acknowledge within
// Options.PublishTimeout is tried again, up to Options.MaxAttempts times,
// then dropped and counted (Stats.Failed). Nothing is published twice on purpose, but QoS 1
// is at least once: subscribers should key on (agent_id, seq).
package publish
