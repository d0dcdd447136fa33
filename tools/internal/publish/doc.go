// Package publish sends a stream of sensor readings to an MQTT broker the
// way a rig's field gateways do: each sensor's readings go to the topic, in
// the payload codec and at the QoS of its binding in the firmware config
// (rig.Sensor.MQTT).
//
// # Basics
//
//	p, err := publish.New(cfg, publish.Options{Broker: "tcp://127.0.0.1:1883", Speed: 1})
//	if err != nil { ... }            // bad options, unknown codec, sensor without a topic
//	defer p.Close()
//	stats, err := p.Run(ctx, src, start) // connects, streams, drains, returns the summary
//
// New validates the options and every sensor's binding without touching the
// network. Run connects (Connect may be called first to fail early), pulls
// time-ordered batches from a Source, groups them into messages, paces them
// against the injected Clock and publishes them with the paho client.
//
// # Grouping
//
// Readings of sensors that share a topic (and so a codec and QoS) are
// collected per topic and sent as one message per flush. A flush happens at
// the end of every source batch, or, with Options.FlushInterval, once the
// oldest collected reading of a topic is that much simulated time older than
// the newest batch. A message never holds more than MaxReadingsPerMessage
// readings; codecs that carry a single reading per payload (json) get one
// message per reading.
//
// Sequence numbers: a reading whose Seq is 0 is given the next number of its
// sensor's counter (starting at 1); a reading with a Seq keeps it and moves
// the counter there. Subscribers use Seq to count readings lost on the way.
// Sparkplug B carries one seq per message instead: every message of an edge
// node (the GROUP/NODE of spBv1.0/GROUP/TYPE/NODE/DEVICE) gets the next
// number from 0 to 255, wrapping, and the readings' own Seq is not sent.
// No NBIRTH is published; Sparkplug B also keeps time to the millisecond.
//
// # Pacing
//
// Speed 1 publishes in real time: a batch whose last reading is d of
// simulated time after the start goes out d of wall time after Run began.
// Speed N compresses time N-fold; Speed 0 publishes as fast as the broker
// acknowledges. When publishing falls behind the schedule it does not skip
// data: it catches up as fast as it can and reports the largest lag in
// Stats.MaxLag.
//
// # Flow control and delivery
//
// At most MaxInFlight messages are unacknowledged at any time; when the
// window is full, Run (and so the source) waits: there is no unbounded queue
// anywhere in the package. With QoS 1 or 2 a message counts as delivered
// when the broker acknowledged it (PUBACK, PUBCOMP); with QoS 0 when it was
// written to the connection.
//
// The client keeps its session (clean session false, unless
// Options.CleanSession) and reconnects by itself with exponential backoff
// capped at MaxReconnectInterval. While it is reconnecting, QoS 1 and 2
// messages stay in the client's session store and in the window, and are
// resent once connected, so Run blocks rather than loses them; duplicates
// are possible, as QoS 1 allows. paho's publish tokens are wrong across a
// reconnect (a failed write reports an error for a message that is resent
// later; the resend completes the old tokens before any acknowledgement),
// so delivery is read from the session store instead, which the client
// empties exactly on acknowledgement. QoS 0 messages published while the
// connection is down are lost, which is what QoS 0 means.
//
// A broker acknowledgement does not mean a subscriber got the message: a
// Mosquitto with its defaults (max_queued_messages 1000,
// max_inflight_messages 20) silently drops QoS 1 messages for a subscriber
// that falls behind. See docs/ml-notes.md; give brokers that feed the agent
// max_queued_messages 0 (or a large value) and watch Seq gaps.
//
// # Stopping
//
// When ctx is cancelled, Run stops pulling from the source, publishes what it
// had already grouped and waits for outstanding acknowledgements, all within
// DrainTimeout, then returns ctx's error with the stats. Close disconnects;
// it is idempotent and waits for every goroutine the Publisher started.
//
// # Caveats
//
//   - A reading a codec cannot carry stops the run with ErrEncode: a NaN or
//     infinite value (send quality bad instead), a zero time, or, for
//     Sparkplug B, quality uncertain.
//   - A payload over codec.MaxPayload, which subscribers reject, is split;
//     the topic's readings-per-message cap is halved for good.
//   - Close is meant for after Run: closing during a Run makes the
//     remaining publishes fail (counted in Stats.Errors).
//
// # Tests
//
// The tests run against an embedded mochi-mqtt broker, and against the
// Mosquitto at $MQTT_URL when it is set:
//
//	MQTT_URL=tcp://127.0.0.1:1883 go test -race ./internal/publish/...
//	go test -run '^$' -bench Publish -benchtime 50000x ./internal/publish/
//
// # Concurrency
//
// A Publisher runs one Run at a time (a second concurrent Run returns
// ErrRunning). Stats may be called from any goroutine while Run is going.
package publish
