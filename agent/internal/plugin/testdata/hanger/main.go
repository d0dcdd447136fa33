// Command hanger is a test codec plugin: it decodes like the example
// plugin, but never answers a call whose payload is "hang".
package main

import (
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/plugins/examplecodec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

type hanger struct{}

func (hanger) Decode(req plugin.Request) ([]reading.Reading, error) {
	if string(req.Payload) == "hang" {
		select {}
	}
	return examplecodec.Decoder{}.Decode(req)
}

func main() { plugin.Serve(hanger{}) }
