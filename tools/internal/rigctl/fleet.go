package rigctl

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// Fleet commands: rigctl talks to rig-cloud (docs/cloud.md) with the
// server and token of a login context, stored in ContextsFile; the
// environment's RIGCTL_SERVER and RIGCTL_TOKEN, both set, replace the
// current context (fleetClient).

func init() {
	register("login", "store a rig-cloud server and token as a context (login --server URL --token-file F [--name CTX])", runLogin)
	register("context", "list or switch login contexts (context list | context use NAME)", runContext)
	register("rigs", "fleet rigs (rigs list | status RIG | health RIG COMPONENT | create RIG --type T | enroll RIG | set RIG --firmware-digest D)", runRigs)
	register("alerts", "fleet alerts (alerts list | alerts ack ID | alerts resolve ID)", runAlerts)
	register("diagnoses", "a rig's diagnoses (diagnoses list --rig RIG [--from T] [--to T])", runDiagnoses)
}

// Environment overrides of the login context.
const (
	EnvServer = "RIGCTL_SERVER"
	EnvToken  = "RIGCTL_TOKEN"
)

// loginContext is one stored server and token.
type loginContext struct {
	Server string `json:"server"`
	Token  string `json:"token"`
}

// contexts is the file's content.
type contexts struct {
	Current  string                   `json:"current"`
	Contexts map[string]*loginContext `json:"contexts"`
}

// ContextsFile is where login contexts are kept:
// $XDG_CONFIG_HOME/hydrognn/rigctl-contexts.json (else
// ~/.config/hydrognn/...), mode 0600 (it holds tokens).
func ContextsFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config folder for login contexts: %w (set XDG_CONFIG_HOME)", err)
	}
	return filepath.Join(dir, "hydrognn", "rigctl-contexts.json"), nil
}

func loadContexts() (*contexts, string, error) {
	p, err := ContextsFile()
	if err != nil {
		return nil, "", err
	}
	cs := &contexts{Contexts: map[string]*loginContext{}}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return cs, p, nil
	}
	if err != nil {
		return nil, p, err
	}
	if err := json.Unmarshal(b, cs); err != nil {
		return nil, p, fmt.Errorf("%s: %w (remove it and log in again)", p, err)
	}
	if cs.Contexts == nil {
		cs.Contexts = map[string]*loginContext{}
	}
	return cs, p, nil
}

func saveContexts(cs *contexts, p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(cs, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".rigctl-contexts-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// fleetClient returns a client for the named context. An explicit name
// always wins; with name "" RIGCTL_SERVER and RIGCTL_TOKEN are used when
// both are set, else the current context. One of them alone is ignored:
// a token is never sent to a server it was not given with.
func fleetClient(name string) (*cloudclient.Client, error) {
	var lc loginContext
	if name == "" && os.Getenv(EnvServer) != "" && os.Getenv(EnvToken) != "" {
		lc = loginContext{Server: os.Getenv(EnvServer), Token: os.Getenv(EnvToken)}
	} else {
		cs, p, err := loadContexts()
		if err != nil {
			return nil, err
		}
		if name == "" {
			name = cs.Current
		}
		if c := cs.Contexts[name]; c != nil {
			lc = *c
		} else if name != "" {
			return nil, fmt.Errorf("no login context %q in %s (rigctl context list)", name, p)
		}
	}
	if lc.Server == "" || lc.Token == "" {
		return nil, fmt.Errorf("not logged in: run rigctl login --server URL --token-file FILE (or set both %s and %s)", EnvServer, EnvToken)
	}
	return cloudclient.New(lc.Server, lc.Token), nil
}

// failed prints a request's error (a problem document clearly) and
// returns ExitFailure.
func failed(env Env, what string, err error) int {
	errorf(env, "%s: %s", what, cloudclient.Describe(err))
	return ExitFailure
}

// printJSON prints v on env.Stdout as indented JSON and returns ExitOK.
// A value that does not encode (a json.RawMessage that is not JSON, a
// NaN) prints nothing there: the error goes to env.Stderr and the
// command exits ExitFailure.
func printJSON(env Env, v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		errorf(env, "print JSON: %v", err)
		return ExitFailure
	}
	fmt.Fprintln(env.Stdout, string(b))
	return ExitOK
}

// listRows fetches up to limit rows of the list at path with query q
// for the command what. With asJSON it prints them as the server sent them;
// otherwise it decodes them into T, a row that does not decode being an
// error. done is true when the command is over, with exit code code.
func listRows[T any](ctx context.Context, env Env, c *cloudclient.Client, what, path string, q url.Values, limit int, asJSON bool) (rows []T, code int, done bool) {
	if limit < 0 {
		// ListRaw reads a negative limit as "all": a typo, not a wish.
		errorf(env, "%s: --limit %d is negative (0: all)", what, limit)
		return nil, ExitUsage, true
	}
	raws, err := cloudclient.ListRaw(ctx, c, path, q, limit)
	if err != nil {
		return nil, failed(env, what, err), true
	}
	if asJSON {
		return nil, printJSON(env, raws), true
	}
	rows, err = cloudclient.DecodeRows[T](path, raws)
	if err != nil {
		return nil, failed(env, what, err), true
	}
	return rows, ExitOK, false
}

// decodeAnswer decodes the answer to request (method and path, e.g.
// "POST /v1/releases") into v; the error names the request.
func decodeAnswer(request string, raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode the answer to %s: %w", request, err)
	}
	return nil
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// --- login and contexts ---

const loginUsage = `login --server URL (--token-file FILE | --token-stdin | --token TOKEN | $RIGCTL_TOKEN) [--name CTX]

Checks the token against the server (GET /v1/orgs), stores server and token as login
context CTX (default "default") in $XDG_CONFIG_HOME/hydrognn/rigctl-contexts.json (mode
0600) and makes it the current context. The token is the first line of --token-file or
of the standard input (--token-stdin), at most 4 KiB; else $RIGCTL_TOKEN. --token puts it
in the process list and the shell's history: rigctl warns.`

// maxTokenLine caps a token read from a file or the standard input.
const maxTokenLine = 4 << 10

// readTokenLine reads r's first line (without the line end and the
// spaces around it): at most maxTokenLine bytes, not empty.
func readTokenLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxTokenLine+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	if !strings.HasSuffix(line, "\n") && len(line) > maxTokenLine {
		return "", fmt.Errorf("the first line is longer than %d bytes", maxTokenLine)
	}
	tok := strings.TrimSpace(line)
	if tok == "" {
		return "", errors.New("the first line is empty")
	}
	return tok, nil
}

func runLogin(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "login", loginUsage)
	server := fs.String("server", "", "rig-cloud base `URL`, e.g. https://cloud.example.com")
	token := fs.String("token", "", "API token (rgt_...; visible in the process list and shell history: prefer --token-file, --token-stdin or $RIGCTL_TOKEN)")
	tokenFile := fs.String("token-file", "", "read the API token from the first line of `FILE`")
	tokenStdin := fs.Bool("token-stdin", false, "read the API token from the first line of the standard input")
	name := fs.String("name", "default", "context name")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	given := 0
	for _, b := range []bool{*token != "", *tokenFile != "", *tokenStdin} {
		if b {
			given++
		}
	}
	if given > 1 {
		errorf(env, "login: give only one of --token, --token-file and --token-stdin")
		return ExitUsage
	}
	switch {
	case *token != "":
		errorf(env, "warning: --token shows the token in the process list and the shell's history; prefer --token-file FILE, --token-stdin or $%s", EnvToken)
	case *tokenFile != "":
		f, err := os.Open(*tokenFile)
		if err != nil {
			errorf(env, "login: --token-file: %v", err)
			return ExitUsage
		}
		*token, err = readTokenLine(f)
		f.Close()
		if err != nil {
			errorf(env, "login: --token-file %s: %v", *tokenFile, err)
			return ExitUsage
		}
	case *tokenStdin:
		in := env.Stdin
		if in == nil {
			in = os.Stdin
		}
		var err error
		if *token, err = readTokenLine(in); err != nil {
			errorf(env, "login: --token-stdin: %v", err)
			return ExitUsage
		}
	default:
		*token = os.Getenv(EnvToken)
	}
	if *server == "" || *token == "" || fs.NArg() > 0 || *name == "" {
		fs.Usage()
		return ExitUsage
	}
	u, err := url.Parse(*server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errorf(env, "login: --server %q is not an http(s) URL", *server)
		return ExitUsage
	}
	c := cloudclient.New(*server, *token)
	orgs, err := cloudclient.List[fleetapi.Org](ctx, c, "/v1/orgs", nil, 2)
	var prob *cloudapi.Problem
	who := "a system token"
	switch {
	case err != nil && errors.As(err, &prob) && prob.Status == 403 && strings.HasPrefix(*token, "rgt_"):
		// The one API token GET /v1/orgs refuses: a release token
		// (rig-cloud token create --release), which rigctl release
		// publish uses (docs/releases.md).
		who = "a release token (it publishes releases only: rigctl release publish)"
	case err != nil:
		return failed(env, "login", err)
	case len(orgs) == 1:
		// An organisation's token sees its own; a system token sees every
		// one, which in a deployment of one organisation looks the same:
		// the fleet routes tell them apart (403 for a system token).
		err := c.Do(ctx, "GET", "/v1/rigs", url.Values{"limit": {"1"}}, nil, nil)
		switch {
		case err == nil:
			who = "organisation " + orgs[0].Slug
		case errors.As(err, &prob) && prob.Status == 403:
			who = "a system token (it manages organisations only; the fleet commands need a token of the organisation)"
		default:
			return failed(env, "login", err)
		}
	}
	cs, p, err := loadContexts()
	if err != nil {
		errorf(env, "login: %v", err)
		return ExitFailure
	}
	cs.Contexts[*name] = &loginContext{Server: c.Server, Token: *token}
	cs.Current = *name
	if err := saveContexts(cs, p); err != nil {
		errorf(env, "login: save %s: %v", p, err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "logged in to %s as %s (context %q)\n", c.Server, who, *name)
	return ExitOK
}

func runContext(_ context.Context, env Env, args []string) int {
	usage := func() int {
		fmt.Fprintln(env.Stderr, "Usage: rigctl context list [--json] | rigctl context use NAME")
		return ExitUsage
	}
	if len(args) == 0 {
		return usage()
	}
	cs, p, err := loadContexts()
	if err != nil {
		errorf(env, "context: %v", err)
		return ExitFailure
	}
	switch args[0] {
	case "list":
		fs := newFlags(env, "context list", "context list [--json]")
		asJSON := fs.Bool("json", false, "print JSON")
		if code, ok := parseFlags(fs, args[1:]); !ok {
			return code
		}
		names := make([]string, 0, len(cs.Contexts))
		for n := range cs.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
		if *asJSON {
			type row struct {
				Name    string `json:"name"`
				Server  string `json:"server"`
				Current bool   `json:"current"`
			}
			rows := []row{}
			for _, n := range names {
				rows = append(rows, row{n, cs.Contexts[n].Server, n == cs.Current})
			}
			return printJSON(env, rows)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CURRENT\tNAME\tSERVER")
		for _, n := range names {
			cur := ""
			if n == cs.Current {
				cur = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", cur, n, cs.Contexts[n].Server)
		}
		_ = tw.Flush()
		return ExitOK
	case "use":
		if len(args) != 2 {
			return usage()
		}
		if cs.Contexts[args[1]] == nil {
			errorf(env, "context use: no context %q in %s (rigctl context list)", args[1], p)
			return ExitFailure
		}
		cs.Current = args[1]
		if err := saveContexts(cs, p); err != nil {
			errorf(env, "context use: %v", err)
			return ExitFailure
		}
		fmt.Fprintf(env.Stdout, "current context: %s (%s)\n", args[1], cs.Contexts[args[1]].Server)
		return ExitOK
	}
	return usage()
}

// --- rigs ---

func runRigs(ctx context.Context, env Env, args []string) int {
	if len(args) > 0 && args[0] == "health" {
		return rigHealth(ctx, env, args[1:])
	}
	if len(args) > 0 && (args[0] == "create" || args[0] == "enroll") {
		return rigsAdmin(ctx, env, args) // admin.go
	}
	if len(args) > 0 && args[0] == "set" {
		return rigsSet(ctx, env, args) // admin.go
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "status") {
		fmt.Fprintln(env.Stderr, "Usage: rigctl rigs list [--site SITE] [--rig-type T] [--json] [--limit N] | rigctl rigs status RIG [--json] | rigctl rigs health RIG COMPONENT [--bucket 1h|1d] [--from T] [--to T] [--json]\n"+
			"     | rigctl rigs create RIG --type RIG_TYPE [--site SITE] [--label K=V]... [--json] | rigctl rigs enroll RIG [--json]\n"+
			"     | rigctl rigs set RIG --firmware-digest D [--json]")
		return ExitUsage
	}
	sub := args[0]
	fs := newFlags(env, "rigs "+sub, "rigs list [--site SITE] [--rig-type T] [--json] [--limit N] [--context CTX] | rigs status RIG [--json] [--context CTX]")
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	// status refuses --limit (it was accepted and ignored).
	limit, site, rigType := new(int), new(string), new(string)
	if sub == "list" {
		fs.IntVar(limit, "limit", 0, "most rigs to list (0: all)")
		fs.StringVar(site, "site", "", "list only the rigs of this site (its name or id: rigctl sites list)")
		fs.StringVar(rigType, "rig-type", "", "list only the rigs of this rig type")
	}
	rest := args[1:]
	var id string
	if sub == "status" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if code, ok := parseFlags(fs, rest); !ok {
		return code
	}
	if id == "" && sub == "status" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fs.Usage()
		return ExitUsage
	}
	if sub == "status" && id == "" {
		fs.Usage()
		return ExitUsage
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "rigs: %v", err)
		return ExitFailure
	}
	if sub == "status" {
		return rigStatus(ctx, env, c, id, *asJSON)
	}
	q := url.Values{}
	if *site != "" {
		st, err := findSite(ctx, c, *site) // admin.go
		if err != nil {
			return failed(env, "rigs list", err)
		}
		q.Set("site", strconv.FormatInt(st.ID, 10))
	}
	if *rigType != "" {
		q.Set("rig_type", *rigType)
	}
	rigs, code, done := listRows[fleetapi.Rig](ctx, env, c, "rigs list", "/v1/rigs", q, *limit, *asJSON)
	if done {
		return code
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RIG\tTYPE\tSITE\tCREATED")
	for _, r := range rigs {
		site := "-"
		if r.SiteID != nil {
			site = fmt.Sprint(*r.SiteID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.RigID, r.RigType, site, fmtTime(&r.CreatedAt))
	}
	_ = tw.Flush()
	return ExitOK
}

func rigStatus(ctx context.Context, env Env, c *cloudclient.Client, id string, asJSON bool) int {
	var raw json.RawMessage
	if err := c.Do(ctx, "GET", "/v1/rigs/"+url.PathEscape(id)+"/status", nil, nil, &raw); err != nil {
		return failed(env, "rigs status "+id, err)
	}
	if asJSON {
		return printJSON(env, raw)
	}
	var st fleetapi.RigStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		errorf(env, "rigs status: %v", err)
		return ExitFailure
	}
	w := env.Stdout
	fmt.Fprintf(w, "rig %s (%s)\n", st.RigID, st.RigType)
	fmt.Fprintf(w, "last seen    %s\n", fmtTime(st.LastSeen))
	if d := st.LastDiagnosis; d != nil {
		fmt.Fprintf(w, "last window  %s  health %.2f  %s  model %s  (agent %s, seq %d)\n",
			fmtTime(&d.WindowStart), d.Health, d.Status, d.ModelVersion, d.AgentID, d.Seq)
	} else {
		fmt.Fprintln(w, "last window  -")
	}
	fmt.Fprintf(w, "open alerts  %d\n", st.OpenAlerts)
	fmt.Fprintf(w, "firmware     %s registered\n", cmp.Or(st.FirmwareDigest, "none"))
	if st.FirmwareMismatch {
		fmt.Fprintf(w, "firmware mismatch: an agent reports another firmware digest (FIRMWARE marked !): the firmware changed, "+
			"or the registration is out of date (rigctl rigs set %s --firmware-digest D)\n", st.RigID)
	}
	if len(st.Agents) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "AGENT\tLINK\tLAST CHECK-IN\tVERSION\tMODEL\tUPDATE\tOUTBOX\tBUFFER\tSKEW MS\tFORMATS\tFIRMWARE")
		for _, a := range st.Agents {
			model, outbox, buffer, skew, formats := "-", "-", "-", "-", "-"
			if a.Model != nil {
				model = a.Model.Version
			}
			if a.Outbox != nil {
				outbox = fmt.Sprint(a.Outbox.Items)
			}
			if a.Buffer != nil {
				buffer = fmt.Sprint(a.Buffer.Records)
			}
			if a.ClockSkewMs != nil {
				skew = fmt.Sprint(*a.ClockSkewMs)
			}
			if f := a.BundleFormats; f != nil {
				formats = fmt.Sprintf("%d-%d", f.Min, f.Max)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.AgentID, a.Link, fmtTime(a.LastCheckinAt),
				orDash(a.AgentVersion), model, updateCell(a.Update), outbox, buffer, skew, formats, firmwareCell(a))
		}
		_ = tw.Flush()
	}
	return ExitOK
}

// firmwareCell is the firmware digest an agent reported, short (sha256:
// and its first 12 hex digits; "-": none reported), with "!" when it is
// not the rig's registered one (firmware_mismatch).
func firmwareCell(a fleetapi.AgentStatus) string {
	d := a.ReportedFirmwareDigest
	if d == "" {
		return "-"
	}
	if len(d) > len("sha256:")+12 {
		d = d[:len("sha256:")+12]
	}
	if a.FirmwareMismatch {
		d += "!"
	}
	return d
}

// updateCell is an agent's model update state in one cell: the state,
// then the release in progress and the rollout whose offer it follows
// ("-": not reported), e.g. "canary 1.1.0 rollout 3".
func updateCell(u *cloudapi.UpdateStatus) string {
	if u == nil {
		return "-"
	}
	cell := orDash(u.State)
	if v := cmp.Or(u.TargetVersion, u.Target); v != "" {
		cell += " " + v
	}
	if u.Rollout != 0 {
		cell += fmt.Sprintf(" rollout %d", u.Rollout)
	}
	return cell
}

const rigHealthUsage = `rigs health RIG COMPONENT [--bucket 1h|1d] [--from T|DURATION] [--to T] [--tz ZONE] [--json] [--context CTX]

A component's health history (GET /v1/rigs/{rig}/components/{component}/health): per hour
or day of --tz (an IANA time zone such as Europe/Berlin; default UTC: buckets start at the
zone's own whole hours and midnights, and START is shown in its offset), the diagnoses that
report it, the unknown ones among them, the rig's diagnoses without it (MISSING: its
sensors masked), their average and minimum health (without unknown windows) and the worst
status. Buckets without diagnoses of the rig are not shown.`

// rangeQuery sets to and from of q from the flags --to (an RFC 3339 time;
// empty: now) and --from (an RFC 3339 time or a duration before --to,
// e.g. 72h; empty: none, the server's default). A flag that is neither
// is reported on env.Stderr for the command what: ok is false and the
// command exits ExitUsage.
func rangeQuery(env Env, what, from, to string, q url.Values) (ok bool) {
	toT := time.Now().UTC()
	if to != "" {
		t, err := time.Parse(time.RFC3339Nano, to)
		if err != nil {
			errorf(env, "%s: --to %q is not an RFC 3339 time (e.g. 2025-03-01T00:00:00Z)", what, to)
			return false
		}
		toT = t
	}
	q.Set("to", toT.Format(time.RFC3339Nano))
	if from == "" {
		return true
	}
	if d, err := time.ParseDuration(from); err == nil {
		q.Set("from", toT.Add(-d).Format(time.RFC3339Nano))
	} else if t, err := time.Parse(time.RFC3339Nano, from); err == nil {
		q.Set("from", t.Format(time.RFC3339Nano))
	} else {
		errorf(env, "%s: --from %q is neither an RFC 3339 time nor a duration like 72h", what, from)
		return false
	}
	return true
}

// rigHealth prints a component's health history.
func rigHealth(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "rigs health", rigHealthUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	bucket := fs.String("bucket", "1h", "bucket size: 1h or 1d")
	from := fs.String("from", "", "RFC 3339 `time` or a duration before --to, e.g. 72h (default: 24 h, with 1d 30 days, before --to)")
	to := fs.String("to", "", "RFC 3339 `time`, exclusive (default: now)")
	tz := fs.String("tz", "", "IANA time `zone` whose hours or days the buckets are, e.g. Europe/Berlin (default: UTC)")
	pos, code, ok := subcommand(fs, args, 2)
	if !ok {
		return code
	}
	q := url.Values{"bucket": {*bucket}}
	if *tz != "" {
		q.Set("tz", *tz)
	}
	if !rangeQuery(env, "rigs health", *from, *to, q) {
		return ExitUsage
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "rigs health: %v", err)
		return ExitFailure
	}
	var raw json.RawMessage
	path := "/v1/rigs/" + url.PathEscape(pos[0]) + "/components/" + url.PathEscape(pos[1]) + "/health"
	if err := c.Do(ctx, "GET", path, q, nil, &raw); err != nil {
		return failed(env, "rigs health "+pos[0]+" "+pos[1], err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	var h fleetapi.HealthHistory
	if err := json.Unmarshal(raw, &h); err != nil {
		errorf(env, "rigs health: %v", err)
		return ExitFailure
	}
	num := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.2f", *p)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tWINDOWS\tUNKNOWN\tMISSING\tAVG HEALTH\tMIN HEALTH\tWORST STATUS")
	for _, b := range h.Buckets {
		// The start as the server wrote it: in the zone's offset.
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", b.Start.Format(time.RFC3339), b.Windows, b.UnknownWindows, b.MissingWindows,
			num(b.AvgHealth), num(b.MinHealth), b.WorstStatus)
	}
	_ = tw.Flush()
	return ExitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// --- alerts ---

func runAlerts(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "ack" && args[0] != "resolve") {
		fmt.Fprintln(env.Stderr, "Usage: rigctl alerts list [--state open|acknowledged|resolved] [--rig RIG] [--severity info|low|medium|high|critical] [--limit N] [--oldest] [--json] | rigctl alerts ack ID | rigctl alerts resolve ID")
		return ExitUsage
	}
	sub := args[0]
	fs := newFlags(env, "alerts "+sub, "alerts list [--state S] [--rig RIG] [--severity S] [--limit N] [--oldest] [--json] | alerts ack|resolve ID [--json]")
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	// ack and resolve refuse list's flags (they were accepted and ignored).
	state, rig, severity, limit, oldest := new(string), new(string), new(string), new(int), new(bool)
	if sub == "list" {
		fs.StringVar(state, "state", "", "list only alerts in this state: open, acknowledged or resolved")
		fs.StringVar(rig, "rig", "", "list only the alerts of this rig (its rig id)")
		fs.StringVar(severity, "severity", "", "list only alerts of this severity: info, low, medium, high or critical")
		fs.IntVar(limit, "limit", 0, "most alerts to list, newest first (0: all)")
		fs.BoolVar(oldest, "oldest", false, "list oldest first (the API's default order) instead of newest first")
	}
	rest := args[1:]
	var id string
	if sub != "list" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if code, ok := parseFlags(fs, rest); !ok {
		return code
	}
	if id == "" && sub != "list" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		fs.Usage()
		return ExitUsage
	}
	if sub != "list" && id == "" {
		fs.Usage()
		return ExitUsage
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "alerts: %v", err)
		return ExitFailure
	}
	if sub != "list" {
		var raw json.RawMessage
		if err := c.Do(ctx, "POST", "/v1/alerts/"+url.PathEscape(id)+"/"+sub, nil, nil, &raw); err != nil {
			return failed(env, "alerts "+sub+" "+id, err)
		}
		if *asJSON {
			return printJSON(env, raw)
		}
		var a fleetapi.Alert
		if err := json.Unmarshal(raw, &a); err != nil {
			errorf(env, "alerts %s %s: decode answer: %v", sub, id, err)
			return ExitFailure
		}
		fmt.Fprintf(env.Stdout, "alert %d (%s %s %s on %s): %s\n", a.ID, a.Severity, a.Component, alertFault(a), a.RigID, a.State)
		return ExitOK
	}
	// Newest first: --limit 20 shows the 20 latest alerts, not the 20
	// oldest (often long resolved).
	q := url.Values{"order": {"newest"}}
	if *oldest {
		q.Set("order", "oldest")
	}
	if *state != "" {
		q.Set("state", *state)
	}
	if *rig != "" {
		q.Set("rig", *rig)
	}
	if *severity != "" {
		q.Set("severity", *severity)
	}
	alerts, code, done := listRows[fleetapi.Alert](ctx, env, c, "alerts list", "/v1/alerts", q, *limit, *asJSON)
	if done {
		return code
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRIG\tCOMPONENT\tFAULT\tSEVERITY\tSTATE\tOPENED\tLAST SEEN\tCOUNT")
	for _, a := range alerts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", a.ID, a.RigID, a.Component, alertFault(a), a.Severity, a.State,
			fmtTime(&a.OpenedAt), fmtTime(&a.LastSeenAt), a.Occurrences)
	}
	_ = tw.Flush()
	return ExitOK
}

// alertFault is an alert's FAULT column: its fault, or for an anomaly
// alert (fault "") "anomaly", with the fault the agent's rules suspected
// in its latest window, e.g. "anomaly (cavitation suspected)".
func alertFault(a fleetapi.Alert) string {
	switch {
	case a.Fault != "":
		return a.Fault
	case a.Suspected != "":
		return "anomaly (" + a.Suspected + " suspected)"
	}
	return "anomaly"
}

// --- diagnoses ---

func runDiagnoses(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprintln(env.Stderr, "Usage: rigctl diagnoses list --rig RIG [--from T] [--to T] [--limit N] [--json]")
		return ExitUsage
	}
	fs := newFlags(env, "diagnoses list", "diagnoses list --rig RIG [--from T] [--to T] [--limit N] [--json]")
	asJSON := fs.Bool("json", false, "print the server's JSON (an array of diagnoses)")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	rigID := fs.String("rig", "", "rig id (required)")
	from := fs.String("from", "", "RFC 3339 `time` or a duration before --to, e.g. 72h (default: 24h before --to)")
	to := fs.String("to", "", "RFC 3339 `time`, exclusive (default: now)")
	limit := fs.Int("limit", 0, "most diagnoses (0: all in the range)")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if *rigID == "" || fs.NArg() > 0 {
		fs.Usage()
		return ExitUsage
	}
	q := url.Values{}
	if !rangeQuery(env, "diagnoses list", *from, *to, q) {
		return ExitUsage
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "diagnoses: %v", err)
		return ExitFailure
	}
	path := "/v1/rigs/" + url.PathEscape(*rigID) + "/diagnoses"
	diags, code, done := listRows[diag.Diagnosis](ctx, env, c, "diagnoses list", path, q, *limit, *asJSON)
	if done {
		return code
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WINDOW START\tAGENT\tSEQ\tHEALTH\tSTATUS\tMODEL\tANOMALIES")
	for _, d := range diags {
		var an []string
		for _, a := range d.Anomalies {
			f := string(a.Fault)
			if f == "" {
				f = "anomaly"
			}
			an = append(an, fmt.Sprintf("%s:%s(%s)", strings.Join(a.Components, "+"), f, a.Severity))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%s\t%s\t%s\n", fmtTime(&d.Window.Start), d.AgentID, d.Seq, d.Health, d.Status,
			d.Model.Version, orDash(strings.Join(an, ", ")))
	}
	_ = tw.Flush()
	return ExitOK
}
