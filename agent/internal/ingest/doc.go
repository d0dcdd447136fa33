// Package ingest moves sensor readings from MQTT into the agent's durable
// store: it subscribes to every sensor topic of a rig's firmware config,
// decodes each payload with the sensor's codec, applies the configured
// scale and offset, validates, and appends to a Store. A message is
// acknowledged to the broker only after the Store committed its readings,
// so whatever the agent had not stored when it crashed is delivered again.
//
// # Basics
//
//	in, err := ingest.New(cfg, buf, ingest.Options{Broker: "tcp://127.0.0.1:1883"})
//	if err != nil { ... }     // bad options, unknown codec, plugin codec without a host
//	go in.Run(ctx)            // connects, reconnects, returns nil when ctx is done
//	st := in.Stats()          // for /metrics: rates, rejections, gaps, ack latency
//
// The embedded broker (package broker) gives a single rig a broker in the
// agent's own process; the ingest connects to it over loopback like to
// any other.
//
// # Delivery
//
// The MQTT session is persistent (clean session off, a stable client id,
// Options.ClientID) and messages are acknowledged by hand: paho's automatic
// acknowledgement is off, and the PUBACK of a message is sent after Append
// returned nil for the batch holding its readings (or at once, in order,
// for a message whose every reading was rejected). Acknowledgements go out
// in the order the messages came in.
//
// When Append fails, nothing of the batch, nor of anything received after
// it, is acknowledged: the session is closed, and after a backoff a new
// one resumes the broker's session, which delivers the unacknowledged
// messages again (MQTT 3.1.1 redelivers on session resumption only). A
// lost connection is handled the same way. Run returns only when its ctx
// is done.
//
// Messages delivered again may have been stored already (their
// acknowledgement was lost with the connection or the process). The ingest
// recognises them by the publishers' sequence numbers and times (see
// ReasonDuplicate) and counts them instead of storing them twice; a Store
// that implements Resumer carries this across restarts of the agent. This
// relies on the broker redelivering in the original order, as MQTT
// requires (the embedded broker works around a mochi-mqtt bug for that).
//
// # Back-pressure
//
// paho calls the message handler from one goroutine, in order. The handler
// decodes and validates, then takes a slot of the in-flight budget
// (Options.MaxInFlight messages, Options.MaxInFlightBytes bytes) and
// queues the message for the appender goroutine, which batches what is
// queued into one Append (up to Options.MaxBatch readings; the batch grows
// while the previous Append runs) and acknowledges. A slot is freed when
// its message is acknowledged. With the budget spent the handler blocks,
// paho stops reading the connection, and TCP pushes back to the broker,
// which queues (deploy/mosquitto/mosquitto.conf says how to keep Mosquitto
// from dropping then). There is no unbounded queue in the ingest.
//
// # Validation
//
// Each reading is checked, in this order, and rejected with a Reason when
// it fails: the sensor must be bound to the topic it came on and active;
// the value after scale and offset must be finite and, unless the reading's
// quality is bad (2, or any code above it), within the sensor's range widened by
// Options.RangeTolerance of its span; the time must not be more than
// Options.MaxFutureSkew ahead of the agent's clock (nor older than
// Options.MaxAge, if set); and it must not be a duplicate. Whole messages
// are rejected when the topic is not one of the config's (a subscription
// left in the broker's session by an older config) or the codec refuses the
// payload. Rejected readings are not stored; every rejection is counted by
// reason (Stats.Rejected), the latest are kept (Rejections), and they are
// logged with slog at most once per Options.LogInterval per reason, with
// the count of lines held back.
//
// # Sequence numbers and gaps
//
// Publishers number each sensor's readings (reading.Seq, from 1); a jump
// forward counts the readings in between as lost (Stats.Gaps). A number
// that goes back with a newer time is a publisher that restarted
// (Stats.SeqResets), not a duplicate. Sparkplug B numbers messages per edge
// node instead, 0 to 255 and wrapping: for Sparkplug B topics of the form
// spBv1.0/GROUP/NDATA/NODE or spBv1.0/GROUP/DDATA/NODE/DEVICE the ingest
// also subscribes to the node's NBIRTH and the device's DBIRTH, takes the
// metric aliases from them (so DATA messages may use aliases) and counts
// missing messages per node (an NBIRTH restarts the count; a backward step
// of 128 or more counts as a redelivery, not a gap). A node that also
// publishes for devices the config does not name makes gaps appear for
// their messages.
//
// # Codec plugins
//
// A binding "plugin:NAME" is decoded through Options.Plugins (normally a
// plugin.Host). When the plugin fails (crash or timeout, error wrapping
// plugin.ErrFailed), the message is not acknowledged; the handler waits
// for the plugin's restart and tries again, holding everything behind it.
// After Options.MaxDecodeFailures failures on the same payload the message
// is rejected as ReasonPluginFailed and acknowledged, so a payload that
// kills the plugin every time cannot stall the rig. A successful decode
// clears the payload's count. A plugin that was not called with the
// payload (plugin.ErrUnavailable: it cannot start, its restart is pending)
// counts nothing against it: the message waits, unacknowledged, for at
// most Options.MaxPluginWait (Stats.PluginWaits). Then its topic is held:
// it and the topic's later messages are left unacknowledged for the rest
// of the session, so that the other topics go on, and Options.HeldRetry
// later the session ends for the broker to deliver them again, in order
// (Stats.PluginHeld). At most Options.MaxHeldPerTopic of a topic, and
// Options.MaxHeld of all the held topics, are held in a session (the
// broker delivers them again each session, so this bounds its backlog):
// later ones are acknowledged and rejected as
// ReasonPluginUnavailable, so that they do not fill the broker's
// in-flight window for the agent and stall or lose the other topics.
//
// # Caveats
//
//   - While the Store blocks for longer than KeepAlive plus PingTimeout,
//     paho cannot read the ping answer and drops the connection; what was
//     not acknowledged is delivered again after the reconnect.
//   - Readings without a time take the arrival time: if such a message is
//     delivered twice, it is stored twice, unless a seq tells: with a seq
//     not after the sensor's mark, a redelivery by the broker (MQTT DUP
//     flag) is a duplicate, a first delivery a restarted publisher. Their time
//     is not compared with the sensor's duplicate mark (only within their
//     message), so a step back of the agent's clock does not drop them.
//   - While the agent's clock is not synchronised (Options.ClockSynced:
//     the kernel's STA_UNSYNC), readings ahead of it by more than
//     MaxFutureSkew (up to MaxUnsyncedSkew) are stored and counted
//     (Stats.FutureUnsynced), not rejected: the agent's clock is the
//     likelier to be wrong. They do not move their sensor's duplicate
//     mark (checked within their message, and against the newest time
//     stored ahead only when the broker redelivers their message, so a
//     redelivery is not stored twice), nor does a stored time ahead of
//     the clock at start. So are
//     readings more than MaxAge behind it (Stats.OldUnsynced), a clock
//     ahead (bad RTC) not being trusted to age them out.
//   - Sparkplug B births are not retained by brokers: after the agent
//     starts, DATA messages that name metrics by alias only are refused
//     (ReasonMalformed) until the node publishes a new NBIRTH.
//   - Stats.AckLatency runs from the handler's first look at a message to
//     its acknowledgement; time spent in TCP buffers and paho's channels
//     before is not in it.
package ingest
