package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/enroll"
)

const enrollUsage = `usage: rig-agent enroll --config FILE (--token-file FILE | --token rge_... | $RIG_AGENT_ENROLLMENT_TOKEN) [--agent-id ID] [--force]

Exchanges the one-time enrollment token of an operator (rigctl rigs enroll RIG) for the
agent's credential and writes it to cloud.credential_file (mode 0600). The agent id is
agent.id, the rig the firmware config's equipment id; the cloud's rig type must be the
firmware config's. Prefer --token-file (- for stdin) or the variable to --token, which
lands in the shell's history. The credential is never printed.`

// runEnroll is rig-agent enroll: exit 0 enrolled (or --help), 1 refused
// or failed, exitUsage (64) for a bad command line or token, exitConfig
// (78) for a bad config or one without cloud.url.
func runEnroll(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rig-agent enroll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, enrollUsage)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "the agent's YAML config `FILE` (cloud.url, cloud.credential_file, agent.id, rig.firmware_config)")
	token := fs.String("token", "", "the one-time enrollment `token` (rge_...; lands in shell history: prefer --token-file or $"+config.EnvEnrollmentToken+")")
	tokenFile := fs.String("token-file", "", "read the enrollment token from the first line of `FILE` (- : stdin)")
	agentID := fs.String("agent-id", "", "check that the config's agent.id is `ID` (default: agent.id, whatever it is)")
	force := fs.Bool("force", false, "replace an existing credential file (a re-enrollment: the cloud revokes the old credential)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	tok, err := enroll.Token(*token, *tokenFile, stdin, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "rig-agent enroll: %v\n", err)
		return exitUsage
	}
	cfg, err := config.LoadForEnroll(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "rig-agent enroll: config:\n%v\n", err)
		return exitConfig
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := enroll.Run(ctx, cfg, enroll.Options{Token: tok, AgentID: *agentID, Force: *force, Version: version})
	if err != nil {
		fmt.Fprintf(stderr, "rig-agent enroll: %v\n", err)
		switch {
		case errors.Is(err, enroll.ErrUsage):
			return exitUsage
		case errors.Is(err, enroll.ErrNoCloud):
			return exitConfig
		}
		return exitFailure
	}
	verb := "written to"
	if res.Replaced {
		verb = "replaced in"
	}
	fmt.Fprintf(stdout, "enrolled agent %s for rig %s (%s), generation %d; credential %s %s (mode 0600)\n",
		res.AgentID, res.RigID, res.RigType, res.Generation, verb, res.File)
	if res.EnrollmentErr != nil {
		fmt.Fprintf(stderr, "rig-agent enroll: warning: %v (the agent works without it: its first check-in names the generation)\n",
			res.EnrollmentErr)
	}
	fmt.Fprintf(stdout, "next: rig-agent --config %s --check, then start the agent\n", *cfgPath)
	return 0
}
