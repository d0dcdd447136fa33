// Package plugin runs vendor payload codecs out of process, through
// hashicorp/go-plugin, so that a codec that crashes, hangs or leaks cannot
// take the agent down.
//
// A firmware config binds a sensor's topic to "plugin:NAME"
// (rig.MQTTBinding.Codec); the agent finds the executable
// hydrognn-codec-NAME in its plugin directory, starts it, and sends it each
// payload of that topic.
//
// # Writing a plugin
//
// A plugin is a main package that implements Decoder and calls Serve:
//
//	type myFormat struct{}
//
//	func (myFormat) Decode(req plugin.Request) ([]reading.Reading, error) {
//		// parse req.Payload; return the raw (unscaled) readings, or an error
//		// that says what is wrong with the payload
//	}
//
//	func main() { plugin.Serve(myFormat{}) }
//
// Build it as hydrognn-codec-NAME into the agent's plugin directory.
// agent/plugins/examplecodec is a complete example that `make build` builds
// as bin/hydrognn-codec-example. Run by hand, a plugin prints that it must be
// started by the agent and exits 1.
//
// # The interface
//
// The protocol is go-plugin's net/rpc transport (gob encoding over a Unix
// socket, multiplexed with yamux) with the handshake in Handshake: protocol
// version 1, magic cookie HYDROGNN_CODEC_PLUGIN. The plugin set holds one
// plugin, named "codec" (PluginName), whose RPC service has one method:
//
//	Plugin.Decode(Request{Topic, Payload, Sensor, Now}) -> Reply{Readings}, error
//
// Request.Topic is the MQTT topic, Payload the message body (at most
// codec.MaxPayload bytes), Sensor the topic's only sensor when exactly one
// sensor is bound to it (else ""), Now the time the message arrived.
// Readings are what shared/codec decoders return: raw values, the sensor
// id (or "" for Request.Sensor), the sample time (or zero for Now), the
// publisher's sequence number and quality. The host checks every reading
// with the rules of the built-in codecs (codec.CheckReading: a sensor id
// of 1 to 256 bytes of UTF-8 without control characters, a finite value,
// a time in years 1678 to 2262; any quality 0 to 255, unknown codes
// counting as bad downstream, as with the built-in codecs); one bad
// reading rejects the payload with a *codec.Error naming the reading's
// index and field. The agent then applies scale and offset and validates
// every reading as for built-in codecs.
//
// An error returned by Decode means the payload is bad: the agent rejects
// the message (reason "malformed") and acknowledges it. A panic in Decode is
// recovered by Serve and reported the same way.
//
// # Failures
//
// The host (Host, Codec) calls the plugin with a per-call timeout
// (HostOptions.CallTimeout). A plugin process that exits during a call,
// does not answer within the timeout, or sends a reply longer than
// MaxReplyBytes (about 20 MiB: MaxReadings readings with the longest
// sensor ids; the host stops reading there and never decodes more), is
// killed, counted (Stats.Crashes, Stats.Timeouts, Stats.TooLarge) and
// restarted on the next call, after a backoff that
// doubles from HostOptions.MinBackoff to HostOptions.MaxBackoff and resets
// after a successful call. The failed call returns an error wrapping
// ErrFailed; the ingest then leaves the message unacknowledged (the broker
// has it if the agent goes down), waits for the restart and tries again,
// and after a few failures on the same payload rejects it as
// "plugin_failed" (see agent/internal/ingest). Calls made while the plugin
// waits for its restart fail at once with an error wrapping ErrFailed,
// ErrUnavailable and ErrRestarting.
//
// ErrUnavailable marks the calls that never reached the plugin with the
// payload: a failed start, a pending restart, a closed host. The payload
// is not to blame for those, so the ingest does not count them against it:
// a plugin that cannot start keeps its messages unacknowledged (and the
// broker keeps them) instead of getting them rejected as "plugin_failed".
//
// Starting a plugin (its handshake and the connection to its codec
// service) has one deadline, HostOptions.StartTimeout: a plugin that
// stalls before or after its handshake is killed when it passes, counted
// (Stats.StartFailures), and the restart backoff applies. The start does
// not hold the codec's lock: calls that arrive meanwhile wait for it at
// most CallTimeout, then fail with ErrFailed, ErrUnavailable and
// ErrRestarting; a failed start fails with ErrFailed and ErrUnavailable; Stats
// answers at once, and Close kills the starting process (if go-plugin's
// handshake is still running, as soon as it ends: it is bounded by
// StartTimeout too).
//
// The host speaks go-plugin's net/rpc wire protocol itself after the
// handshake (go-plugin starts the process; the host opens the yamux
// session, dispenses "codec" and reads its replies through a codec that
// counts bytes), so that each reply can be capped; plugins are unchanged.
//
// # Lifetime
//
// A plugin process is the leader of its own process group, so that the
// host's kill (SIGKILL to the group: Close, a crash, a timeout) also ends
// what the plugin started. Serve ignores SIGINT (go-plugin) and SIGTERM, so
// that a stop signal sent to all of the agent's processes (a service
// manager's, a terminal's) leaves the plugins serving while the agent
// drains and closes them in order (TestPluginIgnoresSIGTERM). On Linux a
// plugin is started with Pdeathsig SIGKILL: it dies with an agent that
// could not close it (killed, crashed; TestPluginDiesWithAgent), where
// go-plugin's plugin side would serve on, orphaned, for good. Elsewhere
// it outlives such an agent.
//
// # Caveats
//
//   - The plugin directory must be writable only by the agent's owner (or
//     root): whatever executable sits there under the right name is run.
//   - gob is Go-specific: plugins are written in Go, against this package.
//   - One plugin process serves every topic bound to its NAME; calls may
//     arrive concurrently, so Decoder implementations must be safe for
//     concurrent use.
package plugin
