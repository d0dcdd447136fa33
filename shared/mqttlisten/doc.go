// Package mqttlisten is the TCP (or TLS) listener that the edge agent's
// embedded broker (agent/internal/ingest/broker) and the tools' test and
// demo broker (tools/internal/mqttbroker) give mochi-mqtt in place of its
// own listeners.TCP. It implements mochi-mqtt's listeners.Listener.
//
// mochi-mqtt 2.7.9's listeners.TCP has three faults that this listener
// does not:
//
//   - Its Close calls the server's closeClients, which takes the
//     clients' read lock twice in a row (Clients.GetByListener): a client
//     connecting or a session expiring at that moment queues for the
//     write lock in between and the broker hangs for good
//     (mochi-mqtt/server issue 488, unfixed in 2.7.9). Listener.Close
//     never calls it: it closes every connection it accepted itself and
//     waits until the server has let go of each, so the server's Close
//     finds no client left to disconnect.
//   - Its Serve drops a connection that Accept returned just as Close ran
//     without closing it: the client waits for ever (until a garbage
//     collection runs the descriptor's finalizer). Listener.Serve tracks
//     every accepted connection under a mutex and closes one accepted
//     once closing has begun at once; Close waits for Serve to return.
//   - It sets no deadline before the CONNECT packet, so a connection that
//     never sends one holds its descriptor and goroutines for ever, and
//     the server's Close waits for it. Config.ConnectWait bounds that
//     wait and Config.MaxPending the connections awaiting their CONNECT.
//
// Close also keeps a connection accepted meanwhile from adding to the
// server's client WaitGroup while the server's Close waits on it (a data
// race the race detector reported).
package mqttlisten
