// Command forker is a test codec plugin: it decodes like the example
// plugin, but first starts a child of its own (a grandchild of the host)
// that inherits its stderr and outlives it (for a minute), as a plugin
// running a helper process might.
package main

import (
	"os"
	"os/exec"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/plugins/examplecodec"
)

const childEnv = "HYDROGNN_FORKER_CHILD"

func main() {
	if os.Getenv(childEnv) != "" {
		time.Sleep(time.Minute)
		return
	}
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	child := exec.Command(self)
	child.Env = append(os.Environ(), childEnv+"=1")
	child.Stderr = os.Stderr // before Serve replaces os.Stderr: the host's pipe
	if err := child.Start(); err != nil {
		panic(err)
	}
	plugin.Serve(examplecodec.Decoder{})
}
