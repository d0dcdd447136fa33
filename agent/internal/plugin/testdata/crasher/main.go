// Command crasher is a test codec plugin: it decodes like the example
// plugin, but exits the process in the middle of a call whose payload is
// "crash", and panics on "panic".
package main

import (
	"os"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/plugins/examplecodec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

type crasher struct{}

func (crasher) Decode(req plugin.Request) ([]reading.Reading, error) {
	switch string(req.Payload) {
	case "crash":
		os.Exit(3)
	case "panic":
		panic("test panic")
	}
	return examplecodec.Decoder{}.Decode(req)
}

func main() { plugin.Serve(crasher{}) }
