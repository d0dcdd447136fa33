// Command rig-agent is the edge agent of a hydraulic rig: MQTT ingest into a
// durable buffer, windowing and ONNX Runtime inference, a local diagnosis
// history, MQTT publishing of diagnoses and a local HTTP API.
//
//	rig-agent --config /etc/hydrognn/rig-agent.yaml
//	rig-agent --config FILE --check   # validate the config and check the installed bundle against it, then exit
//	rig-agent --config FILE --check-model [--window FILE]   # also run the model once, print JSON
//	rig-agent enroll --config FILE --token-file FILE [--agent-id ID] [--force]   # enroll.go
//	rig-agent --version
//
// Exit codes (exitcodes.go): 0 after a clean stop (SIGINT or SIGTERM, also
// during the start), 1 when the agent failed to start or a part failed
// while running (with --check: the installed bundle would not start with
// this config), 64 (EX_USAGE) for a bad command line, 78 (EX_CONFIG) for
// a bad config (also one the start refused), 65 (EX_DATAERR) for a
// damaged store (buffer, history or outbox: an operator moves it aside).
// The unit does not restart after 64, 65 or 78, and does restart after 2,
// the status of a Go panic or fatal error. See docs/agent.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/service"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

// Bounds of start and stop. stopTimeout stays well below the systemd
// unit's TimeoutStopSec (45 s, deploy/systemd/rig-agent.service): after
// it, systemd kills the process. startTimeout bounds the start after the
// reading buffer is open: the buffer's whole-file check and compaction
// take as long as they take (minutes for a large file on slow flash); a
// signal stops them. A variable for the tests.
var startTimeout = 2 * time.Minute

const stopTimeout = 25 * time.Second

// startAgent is service.Start; a variable for the tests.
var startAgent = service.Start

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usage is the command line, printed for a usage error and with --help
// (then followed by the flags): the agent, and the enroll subcommand.
const usage = "usage: rig-agent --config FILE [--check | --check-model [--window FILE]]\n       rig-agent enroll --config FILE --token-file FILE [--agent-id ID] [--force]"

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "enroll" {
		return runEnroll(args[1:], os.Stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("rig-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fmt.Fprintln(stderr, "flags of the agent (rig-agent enroll -h: enroll's):")
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "the agent's YAML config `FILE` (see deploy/rig-agent.example.yaml)")
	check := fs.Bool("check", false, "load and validate the config (and the files it names), check the installed model bundle against it (manifest, rig, windowing; no ONNX Runtime), then exit")
	checkModelFlag := fs.Bool("check-model", false, "also open the model as configured, run it once on a window, print the outputs as JSON and exit")
	window := fs.String("window", "", "with --check-model: the window `FILE` (JSON: sensor id -> values per grid step, null missing); default a probe window around each sensor's mean")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *showVersion {
		fmt.Fprintln(stdout, "rig-agent", version)
		return 0
	}
	if *cfgPath == "" || fs.NArg() > 0 || (*window != "" && !*checkModelFlag) {
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "rig-agent: config:\n%v\n", err)
		return exitConfig
	}
	if *check {
		if err := service.CheckStart(cfg); err != nil {
			fmt.Fprintf(stderr, "rig-agent: %v\n", err)
			return 1
		}
		man, dir, err := checkBundle(cfg)
		if err != nil {
			fmt.Fprintf(stderr, "rig-agent: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: valid (agent %s, rig %s, bundle %s %s in %s)\n", *cfgPath, cfg.Agent.ID,
			cfg.Firmware.Equipment.ID, man.Name, man.Version, dir)
		return 0
	}
	log := newLogger(cfg.Logging, stderr)
	slog.SetDefault(log)
	if *checkModelFlag {
		return checkModel(cfg, *window, log, stdout, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	stopSignals := func() { signal.Stop(sigs) }
	defer stopSignals()
	go func() {
		select {
		case <-sigs:
			// The default action is restored before the stop is seen,
			// so a second signal kills the process the default way,
			// during a start's clean-up as during the stop (with
			// signal.NotifyContext the start could see its ctx done and
			// take a second signal before the handler was removed).
			stopSignals()
			cancel()
		case <-ctx.Done():
		}
	}()
	a, err := startAgent(ctx, cfg, service.Options{Version: version, Logger: log, StartTimeout: startTimeout})
	if err != nil {
		if ctx.Err() != nil {
			// A stop asked for during a long start (the buffer's
			// check): no failure.
			log.Info("rig-agent stopped during start", "err", err)
			return 0
		}
		log.Error("rig-agent could not start", "err", err)
		return startFailureCode(err)
	}
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("could not tell systemd the agent is ready", "err", err)
	}
	wdCtx, stopWatchdog := context.WithCancel(context.Background())
	wdDone := make(chan struct{})
	if every, err := watchdogEvery(); err != nil {
		log.Warn("systemd watchdog not fed", "err", err)
		close(wdDone)
	} else if every > 0 {
		go func() { defer close(wdDone); feedWatchdog(wdCtx, every, a.Stalled, log) }()
	} else {
		close(wdDone)
	}
	code := 0
	select {
	case <-ctx.Done():
		log.Info("signal received; stopping")
	case err := <-a.Failed():
		log.Error("a part of the agent failed; stopping", "err", err)
		code = exitFailure
		if service.StoreDamaged(err) {
			code = exitStore
		}
	}
	stopSignals() // a second signal now kills the process the default way
	stopWatchdog()
	<-wdDone
	_ = sdNotify("STOPPING=1")
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := a.Stop(stopCtx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || code == 0 {
			code = 1
		}
	}
	return code
}

// startFailureCode is the exit code for Start's err: exitStore for a
// damaged store, exitConfig for a config the start refused, else
// exitFailure (restarted).
func startFailureCode(err error) int {
	switch {
	case service.StoreDamaged(err):
		return exitStore
	case service.ConfigRefused(err):
		return exitConfig
	}
	return exitFailure
}

func newLogger(l config.Logging, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level)) // validated by config
	o := &slog.HandlerOptions{Level: level}
	if l.Format == "text" {
		return slog.New(slog.NewTextHandler(w, o))
	}
	return slog.New(slog.NewJSONHandler(w, o))
}
