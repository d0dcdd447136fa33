package plugin

import (
	"errors"
	"fmt"
	"net/rpc"
	"os"
	"os/signal"
	"syscall"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// Handshake is the go-plugin handshake of codec plugins. A plugin started
// with another protocol version or without the cookie refuses to run.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "HYDROGNN_CODEC_PLUGIN",
	MagicCookieValue: "codec-v1-3f1d0c6e",
}

// PluginName is the name of the one plugin in a codec plugin's plugin set.
const PluginName = "codec"

// BinaryPrefix starts the file name of a codec plugin: plugin:NAME is the
// executable BinaryPrefix+NAME in the plugin directory.
const BinaryPrefix = "hydrognn-codec-"

// Request is one payload to decode.
type Request struct {
	// Topic is the MQTT topic the payload came on.
	Topic string
	// Payload is the message body (at most codec.MaxPayload bytes).
	Payload []byte
	// Sensor is the sensor id of readings whose payload names none: set
	// when exactly one sensor is bound to Topic, else "".
	Sensor string
	// Now is when the message arrived: the time of readings whose
	// payload carries none.
	Now time.Time
}

// Reply is what Plugin.Decode returns.
type Reply struct {
	// Readings are the decoded readings with raw (unscaled) values.
	Readings []reading.Reading
}

// Decoder is what a codec plugin implements.
type Decoder interface {
	// Decode returns the readings of req.Payload, or an error saying what
	// is wrong with it. A reading may leave Sensor empty (then
	// req.Sensor is used) and Time zero (then req.Now). Decode may be
	// called concurrently.
	Decode(req Request) ([]reading.Reading, error)
}

// Serve runs d as a codec plugin: call it from the plugin's main. It
// returns only when the agent ends the plugin (and then exits the
// process); started by hand, it prints an explanation and exits 1.
//
// The plugin ignores SIGINT (go-plugin) and SIGTERM: a stop signal sent
// to all of the agent's processes at once (a terminal's Ctrl-C, kill of a
// process group, a service manager that signals the whole service) would
// otherwise end the plugins while the agent still drains messages through
// them. The agent ends its plugins when it closes (SIGKILL), and on Linux
// the kernel kills them when the agent dies (Pdeathsig).
func Serve(d Decoder) {
	ignoreTerm()
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         goplugin.PluginSet{PluginName: &rpcPlugin{impl: d}},
	})
}

// ignoreTerm makes SIGTERM do nothing (Serve). signal.Notify, not
// signal.Ignore: an ignored signal stays ignored in the processes the
// plugin starts, a caught one does not.
func ignoreTerm() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	go func() {
		for range ch {
		}
	}()
}

// rpcPlugin is the go-plugin Plugin of both sides: Server on the plugin's,
// Client on the host's.
type rpcPlugin struct {
	impl Decoder
}

// Server implements goplugin.Plugin.
func (p *rpcPlugin) Server(*goplugin.MuxBroker) (any, error) {
	if p.impl == nil {
		return nil, errors.New("codec plugin: no Decoder")
	}
	return &rpcServer{impl: p.impl}, nil
}

// Client implements goplugin.Plugin: the host keeps the raw *rpc.Client
// to make calls with a timeout.
func (p *rpcPlugin) Client(_ *goplugin.MuxBroker, c *rpc.Client) (any, error) {
	return c, nil
}

// rpcServer is the net/rpc service the host calls as "Plugin.Decode".
type rpcServer struct {
	impl Decoder
}

// Decode serves one request. A panic in the Decoder becomes an error, so
// that a payload that trips a bug is rejected instead of killing the
// plugin.
func (s *rpcServer) Decode(req Request, reply *Reply) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("plugin panicked: %v", r)
		}
	}()
	rs, err := s.impl.Decode(req)
	if err != nil {
		return err
	}
	reply.Readings = rs
	return nil
}
