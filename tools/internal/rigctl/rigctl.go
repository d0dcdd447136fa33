package rigctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Env is what a command gets from its caller.
type Env struct {
	Stdout, Stderr io.Writer
	// Stdin is the standard input (nil: os.Stdin), read only by commands
	// told to (login --token-stdin).
	Stdin io.Reader
	// Version is the binary's version string.
	Version string
}

type command struct {
	summary string
	run     func(ctx context.Context, env Env, args []string) int
}

// commands is filled by the files that define each command.
var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, env Env, args []string) int) {
	commands[name] = command{summary: summary, run: run}
}

// Main runs rigctl with args (without the program name) and returns the
// exit code.
func Main(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(env.Stdout, "rigctl", env.Version)
		return ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "rigctl: unknown command %q\n\n", args[0])
		usage(env.Stderr)
		return ExitUsage
	}
	return cmd.run(ctx, env, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: rigctl COMMAND [ARGS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "  %-10s %s\n", "version", "print the version")
	fmt.Fprintln(w, "\nRun 'rigctl COMMAND -h' for a command's flags.")
}

// newFlags returns a FlagSet that reports errors to env.Stderr without
// exiting.
func newFlags(env Env, name, usageLine string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: rigctl %s\n", usageLine)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps -h and errors to exit codes; ok is false
// when the caller should return code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitUsage, false
	}
	return 0, true
}

func errorf(env Env, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(env.Stderr, "rigctl: "+msg)
}
