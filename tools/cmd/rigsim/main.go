// Command rigsim simulates a hydraulic rig from its firmware config: it
// writes data sets in the UCI layout and publishes live readings over MQTT.
// Run `rigsim help` for the commands; docs/simulator.md describes the
// physics.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hydrognn/hydrognn/tools/internal/sim/rigsim"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := rigsim.Main(ctx, rigsim.Env{Stdout: os.Stdout, Stderr: os.Stderr, Version: version}, os.Args[1:])
	stop()
	os.Exit(code)
}
