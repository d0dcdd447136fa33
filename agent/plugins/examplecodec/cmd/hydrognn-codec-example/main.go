// Command hydrognn-codec-example is the example codec plugin
// (agent/plugins/examplecodec): the agent starts it for sensors bound to
// "plugin:example". Started by hand, it says so and exits 1.
package main

import (
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/plugins/examplecodec"
)

func main() {
	plugin.Serve(examplecodec.Decoder{})
}
