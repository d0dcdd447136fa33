// Package mqttbroker starts an in-process mochi-mqtt broker for rigctl's
// demo and for the tools' tests: a TCP (or TLS) listener on loopback,
// optional username/password logins, extra hooks, and a Close that cannot
// deadlock.
//
// mochi-mqtt 2.7.9's Server.Close disconnects a listener's clients
// through Clients.GetByListener, which takes the clients' read lock twice
// in a row: a client connecting or disconnecting at that moment queues
// for the write lock in between, and the broker hangs for good
// (mochi-mqtt/server issue 488, unfixed in 2.7.9; it hung a CI run for
// ten minutes). Broker's listener (shared/mqttlisten, the agent's too)
// never calls it: it closes the connections it accepted itself, one
// accepted during Close included, and waits until the server has let go
// of each, so the server's Close finds no client left to disconnect.
//
// The edge agent's embedded broker (agent/internal/ingest/broker) is a
// different thing: authenticated gateways, flow control, connections
// awaiting their CONNECT bounded. This package is for the
// tools, where any MQTT 3.1.1 broker will do.
package mqttbroker
