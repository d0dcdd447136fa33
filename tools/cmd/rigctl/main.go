// Command rigctl is the command-line tool of operators, release managers and
// developers: firmware-config validation, JSON Schemas, the demo, and (as the
// project grows) training, benchmarks, fleet and rollout commands. Run
// `rigctl help` for the list.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hydrognn/hydrognn/tools/internal/rigctl"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := rigctl.Main(ctx, rigctl.Env{Stdout: os.Stdout, Stderr: os.Stderr, Version: version}, os.Args[1:])
	stop()
	os.Exit(code)
}
