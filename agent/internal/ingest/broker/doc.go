// Package broker runs an embedded MQTT broker (mochi-mqtt) inside the
// agent, so that a single rig needs nothing else: the gateways publish to
// it and the ingest connects to it over loopback like to any broker.
//
// # Basics
//
//	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:1883"})
//	...
//	ing, err := ingest.New(cfg, store, ingest.Options{Broker: b.URL()})
//	go ing.Run(ctx)
//	...
//	// Ordered stop: stop intake at the broker, let the ingest store what
//	// the broker holds for it, then stop the ingest, the store, the broker.
//	_ = b.Drain(drainCtx, ing.ClientID())
//	cancel()        // Run returns after storing and acknowledging what it has
//	_ = store.Close()
//	_ = b.Close()
//
// # No silent loss
//
// mochi-mqtt drops a QoS 1 message for a subscriber when the subscriber's
// outbound queue is full (MaximumClientWritesPending) or when it already
// holds MaximumInflight messages; by default it also drops held messages
// after a day. The broker here sets every one of these limits explicitly
// (Options) and adds back-pressure: a PUBLISH from a gateway waits, before
// the broker acknowledges it, while a connected subscriber (the ingest)
// holds HighWater or more unacknowledged messages (with Options.Subscriber
// set, only the ingest and the reserved ids count: another slow
// subscriber has its messages dropped, counted, instead). The gateway's
// connection is not read meanwhile, so the gateway slows down (its own
// in-flight window fills) instead of the broker dropping. A PUBLISH that
// waited MaxPublishWait goes on; should the subscriber still be full, the
// drop is counted (Stats.MessagesDropped, Stats.InflightDropped) and
// logged, never silent. Held messages never expire while their client's
// session lives: the session of a client away is kept
// Options.SessionExpiry (1 h), and at most Options.MaxSessions are stored
// (a new client id evicts the session away the longest, never the
// ingest's); messages held for a session removed are counted
// (Stats.SessionMessagesDropped).
//
// mochi-mqtt acknowledges a QoS 1 message that no one subscribed to and
// drops it. With Options.Subscriber set to the ingest's client id, the
// broker refuses every other client ("server unavailable": they retry)
// until the ingest has subscribed, so gateways that reconnect right after
// a restart with their backlog lose nothing.
//
// While the ingest is disconnected (between sessions), publishers are not
// held back: the broker keeps up to MaxInflight (65,535) messages for the
// ingest's persistent session and delivers them when it returns.
//
// # The ingest's client id
//
// With Options.Subscriber set, that client id is reserved to the ingest:
// a CONNECT with it must log in with Broker.SubscriberLogin, a username
// and a random password made at every Start that only the agent's own
// ingest is given. Anyone else using the id (a gateway with the shared
// Users login, or none) is refused, counted in Stats.TakeoversRefused
// and logged; without this a gateway could take the ingest's persistent
// session over, with its subscription and the messages held for it.
// Options.Reserved reserves further client ids (the agent's diagnosis
// publisher's) the same way, each to its own login (Broker.Login).
//
// # Caveats
//
//   - The broker keeps nothing on disk: messages it acknowledged to a
//     gateway but has not yet delivered to the ingest are lost if the agent
//     process dies (kill -9, power cut). They are bounded by the ingest's
//     in-flight window plus HighWater. With Drain before a planned stop,
//     nothing is lost: refused PUBLISH packets are not acknowledged, so
//     gateways send them again. For zero loss across crashes use an
//     external Mosquitto with persistence (deploy/mosquitto/mosquitto.conf).
//   - Back-pressure applies to QoS 1 and 2 only; QoS 0 is fire and forget.
//   - A connection must send its CONNECT (after its TLS handshake) within
//     10 s, or it is closed; at most Options.MaxConnecting (256) may await
//     it, a new one beyond is closed at once (Stats.ConnectingRefused).
//     Close ends every connection, those that have not sent their CONNECT
//     or were accepted during Close included, before stopping mochi-mqtt.
//     The listener doing this, in place of mochi-mqtt's own, is
//     shared/mqttlisten, which the tools' broker uses too.
//   - The default listener is loopback only and allows anyone; set Users
//     or TLS with client certificates (and TLS anyway: passwords cross
//     the network) before listening on a LAN address. The agent's own
//     clients connect to a TLS listener with Broker.ClientTLS.
package broker
