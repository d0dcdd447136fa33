// Command rig-cloud is the fleet's REST API (docs/cloud.md).
//
//	rig-cloud serve --config FILE   serve the API (applies migrations first unless database.migrate is false)
//	rig-cloud migrate --config FILE   apply pending migrations and exit
//	rig-cloud token create --config FILE (--system | --release | --org SLUG [--org-name NAME] --role ROLE) --name NAME [--ttl D]
//	rig-cloud token list --config FILE [--org SLUG]   the deployment's tokens (system, release), or an organisation's
//	rig-cloud token revoke --config FILE --id N [--cascade]   any token, system and release ones included
//	rig-cloud worker --config FILE    training worker: claims queued jobs and runs them until SIGINT/SIGTERM
//	rig-cloud --version
//
// Exit codes (exitcodes.go, shared/exitcode's, as rig-agent's): 0 done
// (also -h), 1 failure at run time (restarted by the unit), 64 (EX_USAGE)
// a bad command line, 78 (EX_CONFIG) a config rig-cloud refuses (when it
// is loaded, or at the start), 65 (EX_DATAERR) an applied migration that
// differs from this binary's. The unit deploy/systemd/rig-cloud@.service
// does not restart after 64, 65 or 78, and does restart after 2, the
// status of a Go panic or fatal error.
//
// The first SIGTERM or SIGINT stops gracefully (serve: drain, then shut
// down); a second one ends the process at once.
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
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/server"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// version is set at link time with -ldflags "-X main.version=...".
var version = "dev"

// ServeGCPercent is `serve`'s garbage collection target when GOGC is not
// set (the Go default is 100).
const ServeGCPercent = 200

const usage = `usage:
  rig-cloud serve --config FILE
  rig-cloud migrate --config FILE
  rig-cloud token create --config FILE (--system | --release | --org SLUG [--org-name NAME] --role viewer|operator|admin) --name NAME [--ttl DURATION]
  rig-cloud token list --config FILE [--org SLUG]
  rig-cloud token revoke --config FILE --id N [--cascade]
  rig-cloud worker --config FILE
  rig-cloud --version
Every config key can be set in the environment as RIG_CLOUD_<SECTION>_<KEY> (docs/cloud.md).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the default action is back: a second one
	// ends the process at once (a drain or shutdown that hangs).
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// serve and work are server.Serve and server.Work; a test makes them
// crash (crashrestart_test.go).
var (
	serve = server.Serve
	work  = server.Work
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, "rig-cloud", version)
		return exitOK
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "serve", "migrate", "worker":
		fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		path := fs.String("config", "", "config file (YAML; deploy/rig-cloud.example.yaml)")
		if code, done := parseArgs(fs, args[1:], stderr); done {
			return code
		}
		cfg, log, code := load(*path, stderr)
		if cfg == nil {
			return code
		}
		if args[0] == "migrate" {
			applied, err := server.Migrate(ctx, cfg, log)
			if err != nil {
				log.Error("migrate failed", "err", err)
				return failureCode(err)
			}
			fmt.Fprintln(stdout, migrateReport(applied))
			return exitOK
		}
		if args[0] == "worker" {
			if err := work(ctx, cfg, log, version); err != nil {
				log.Error("worker failed", "err", err)
				return failureCode(err)
			}
			return exitOK
		}
		// The API's live heap is small and short-lived garbage is most of
		// what it allocates: collect at three times the live heap, not
		// twice, unless GOGC says otherwise (bench cloud: 11-14 % more
		// requests per second for about 14 MB more peak memory;
		// docs/benchmarks.md).
		if _, set := os.LookupEnv("GOGC"); !set {
			debug.SetGCPercent(ServeGCPercent)
		}
		if err := serve(ctx, cfg, log, nil); err != nil {
			log.Error("serve failed", "err", err)
			return failureCode(err)
		}
		return exitOK
	case "token":
		return tokenCmd(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "rig-cloud: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// migrateReport says what rig-cloud migrate did: how many migrations it
// applied and their versions ("applied 3 migrations (versions 18-20)"),
// or that there was none to apply, and how many this binary has.
func migrateReport(applied []int) string {
	all := "every migration of this binary is applied"
	if ms, err := db.Migrations(); err == nil && len(ms) > 0 {
		all = fmt.Sprintf("all %d migrations of this binary (up to version %d) are applied", len(ms), ms[len(ms)-1].Version)
	}
	switch len(applied) {
	case 0:
		return "no migrations to apply: " + all
	case 1:
		return fmt.Sprintf("applied 1 migration (version %d); %s", applied[0], all)
	}
	return fmt.Sprintf("applied %d migrations (versions %s); %s", len(applied), versionRanges(applied), all)
}

// versionRanges writes ascending versions as runs: "1-17, 19, 20".
func versionRanges(vs []int) string {
	var b strings.Builder
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		switch {
		case j-i >= 2:
			fmt.Fprintf(&b, "%d-%d", vs[i], vs[j])
		case j > i:
			fmt.Fprintf(&b, "%d, %d", vs[i], vs[j])
		default:
			fmt.Fprintf(&b, "%d", vs[i])
		}
		i = j + 1
	}
	return b.String()
}

// parseArgs parses a subcommand's args into fs; done says the command
// ends here, with code: exitOK after -h (the flag package printed the
// flags), exitUsage for a bad flag or an argument left over (never the
// flag package's 2, a Go panic's status).
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, done bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK, true
	}
	if err != nil || fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage, true
	}
	return exitOK, false
}

// load reads the config (or, without --config, defaults and the
// environment) and makes the logger.
func load(path string, stderr io.Writer) (*config.Config, *slog.Logger, int) {
	var cfg *config.Config
	var err error
	if path == "" {
		cfg, err = config.Parse("(no --config)", nil, os.Environ())
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		// Invalid (config.ErrInvalid), or unreadable: a restart reads
		// the same file.
		fmt.Fprintln(stderr, err)
		return nil, nil, exitConfig
	}
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	var h slog.Handler = slog.NewJSONHandler(stderr, opts)
	if cfg.Log.Format == "text" {
		h = slog.NewTextHandler(stderr, opts)
	}
	return cfg, slog.New(h).With("service", "rig-cloud", "version", version), 0
}

// DefaultSystemTTL is a system token's lifetime when token create is
// given no --ttl: a system token may make an admin of every organisation,
// so one that leaks should not work for ever (--ttl 0: no expiry).
const DefaultSystemTTL = 24 * time.Hour

func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return tokenList(ctx, args[1:], stdout, stderr)
		case "revoke":
			return tokenRevoke(ctx, args[1:], stdout, stderr)
		}
	}
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file")
	system := fs.Bool("system", false, "a system token: creates organisations and their tokens")
	releaseTok := fs.Bool("release", false, "a release token: publishes signed model releases (POST /v1/releases), nothing else")
	org := fs.String("org", "", "organisation slug")
	orgName := fs.String("org-name", "", "create the organisation with this name when it does not exist")
	role := fs.String("role", "", "viewer, operator or admin")
	name := fs.String("name", "", "what the token is for (shown in listings)")
	ttl := fs.Duration("ttl", 0, fmt.Sprintf("lifetime (0: no expiry; --system without --ttl: %s)", DefaultSystemTTL))
	if code, done := parseArgs(fs, args[1:], stderr); done {
		return code
	}
	ttlSet := false
	fs.Visit(func(f *flag.Flag) { ttlSet = ttlSet || f.Name == "ttl" })
	if *system && !ttlSet {
		*ttl = DefaultSystemTTL
	}
	r := store.Role(*role)
	switch {
	case *name == "":
		fmt.Fprintln(stderr, "rig-cloud token create: --name is required")
		return exitUsage
	case (*system || *releaseTok) && (*org != "" || *role != ""):
		fmt.Fprintln(stderr, "rig-cloud token create: --system and --release take no --org or --role")
		return exitUsage
	case *system && *releaseTok:
		fmt.Fprintln(stderr, "rig-cloud token create: give --system or --release, not both")
		return exitUsage
	case *system:
		r = store.RoleSystem
	case *releaseTok:
		r = store.RoleRelease
	case *org == "" || !store.ValidRole(r):
		fmt.Fprintln(stderr, "rig-cloud token create: give --system, --release, or --org SLUG with --role viewer, operator or admin")
		return exitUsage
	case *ttl < 0:
		fmt.Fprintln(stderr, "rig-cloud token create: --ttl must not be negative")
		return exitUsage
	}
	cfg, log, code := load(*path, stderr)
	if cfg == nil {
		return code
	}
	_ = log
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	secret, err := server.CreateToken(tctx, cfg, *org, *orgName, *name, r, *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "rig-cloud token create:", err)
		return failureCode(err)
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintln(stderr, "rig-cloud: the token is shown once; store it now")
	return exitOK
}

// tokenList prints API tokens: the deployment's (system, release) or,
// with --org, an organisation's; never their secrets.
func tokenList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file")
	org := fs.String("org", "", "organisation slug (default: the deployment's system and release tokens)")
	if code, done := parseArgs(fs, args, stderr); done {
		return code
	}
	cfg, _, code := load(*path, stderr)
	if cfg == nil {
		return code
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	toks, err := server.ListTokens(tctx, cfg, *org)
	if err != nil {
		fmt.Fprintln(stderr, "rig-cloud token list:", err)
		return failureCode(err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tEXPIRES\tREVOKED\tBY\tLAST-USED")
	at := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, t := range toks {
		by := "-"
		if t.CreatedBy != nil {
			by = fmt.Sprint(*t.CreatedBy)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, at(&t.CreatedAt), at(t.ExpiresAt), at(t.RevokedAt), by, at(t.LastUsedAt))
	}
	_ = tw.Flush()
	return exitOK
}

// tokenRevoke revokes any API token (system and release ones included):
// the config gives database-level trust.
func tokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file")
	id := fs.Int64("id", 0, "the token's id (rig-cloud token list)")
	cascade := fs.Bool("cascade", false, "also revoke every token it made, recursively")
	if code, done := parseArgs(fs, args, stderr); done {
		return code
	}
	if *id < 1 {
		fmt.Fprintln(stderr, "rig-cloud token revoke: --id N is required (rig-cloud token list)")
		return exitUsage
	}
	cfg, _, code := load(*path, stderr)
	if cfg == nil {
		return code
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ids, err := server.RevokeToken(tctx, cfg, *id, *cascade)
	if err != nil {
		fmt.Fprintf(stderr, "rig-cloud token revoke: token %d: %v\n", *id, err)
		return failureCode(err)
	}
	fmt.Fprintf(stdout, "revoked %d token(s) %v\n", len(ids), ids)
	return exitOK
}
