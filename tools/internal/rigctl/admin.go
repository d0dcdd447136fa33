package rigctl

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// Fleet administration (an operator's token): sites, rigs and their
// enrollment tokens, agents and their revocation (docs/cloud.md, "rigctl
// fleet administration"). rigs create, rigs enroll and rigs set are reached through
// the rigs command of fleet.go.

func init() {
	register("sites", "fleet sites (sites create NAME | sites list)", runSites)
	register("agents", "enrolled agents (agents list [--rig RIG] | agents revoke AGENT)", runAgents)
}

const sitesUsage = `sites create NAME [--location TEXT] [--json] [--context CTX]
     | sites list [--limit N] [--json] [--context CTX]

create adds a site, a place where rigs stand (POST /v1/sites; names are unique in the
organisation); list shows them (ID NAME LOCATION CREATED). rigs create --site NAME puts a
rig there; rollout create --site NAME selects its rigs.`

func runSites(ctx context.Context, env Env, args []string) int {
	sub, npos, ok := pickSubcommand(env, args, sitesUsage, map[string]int{"create": 1, "list": 0})
	if !ok {
		return ExitUsage
	}
	fs := newFlags(env, "sites "+sub, sitesUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	// Each form takes only its own flags: create refuses --limit, list
	// refuses --location (they were accepted and ignored).
	location, limit := new(string), new(int)
	if sub == "create" {
		fs.StringVar(location, "location", "", "where the site is, free text (default: none)")
	} else {
		fs.IntVar(limit, "limit", 0, "most sites to list (0: all)")
	}
	pos, code, ok := subcommand(fs, args[1:], npos)
	if !ok {
		return code
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "sites %s: %v", sub, err)
		return ExitFailure
	}
	if sub == "list" {
		sites, code, done := listRows[fleetapi.Site](ctx, env, c, "sites list", "/v1/sites", nil, *limit, *asJSON)
		if done {
			return code
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tLOCATION\tCREATED")
		for _, s := range sites {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.ID, s.Name, orDash(s.Location), fmtTime(&s.CreatedAt))
		}
		_ = tw.Flush()
		return ExitOK
	}
	var raw json.RawMessage
	if err := c.Do(ctx, "POST", "/v1/sites", nil, fleetapi.SiteRequest{Name: pos[0], Location: *location}, &raw); err != nil {
		return failed(env, "sites create "+pos[0], err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	var s fleetapi.Site
	if err := decodeAnswer("POST /v1/sites", raw, &s); err != nil {
		errorf(env, "sites create: %v", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "site %d %s created\n", s.ID, s.Name)
	return ExitOK
}

const rigsCreateUsage = `rigs create RIG --type RIG_TYPE [--site SITE] [--label K=V]... [--firmware-digest D] [--json] [--context CTX]

Registers a rig (POST /v1/rigs): RIG is its firmware config's equipment id, RIG_TYPE the
config's rig_type (an agent whose firmware config says another type refuses to enroll).
SITE is a site's name or id (rigctl sites list). Labels (for rollout selections) are set
after the rig is created (PUT /v1/rigs/RIG/labels); should that fail, the rig stays, without
labels: set them with rigctl rollout label RIG K=V....`

const rigsEnrollUsage = `rigs enroll RIG [--replace AGENT] [--agent-config FILE] [--json] [--context CTX]

Makes a one-time enrollment token for the rig's agent (POST /v1/rigs/RIG/enrollments) and
prints it once, with its expiry and the command to run on the rig's computer:
rig-agent enroll --config FILE --token-file TOKEN_FILE (docs/agent.md, "Enrolling the
agent"). A token enrolls one agent, once, before it expires (or before the token that
made it is revoked). Enrolling the id of an agent of the rig that checked in lately is
refused unless the token was made with --replace AGENT (its credential is then revoked)
or the agent was revoked first (rigctl agents revoke AGENT).`

// rigsAdmin runs rigs create and rigs enroll (args[0]).
func rigsAdmin(ctx context.Context, env Env, args []string) int {
	sub := args[0]
	usage := rigsCreateUsage
	if sub == "enroll" {
		usage = rigsEnrollUsage
	}
	fs := newFlags(env, "rigs "+sub, usage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	rigType := fs.String("type", "", "create: the rig type, the firmware config's rig_type (required)")
	site := fs.String("site", "", "create: the `SITE` (name or id) the rig stands at (default: none)")
	digest := fs.String("firmware-digest", "", "create: the digest of the firmware config the rig runs (default: none)")
	var labels strList
	fs.Var(&labels, "label", "create: a label `K=V` of the rig (repeatable)")
	agentCfg := fs.String("agent-config", "/etc/hydrognn/rig-agent.yaml", "enroll: the agent's config `FILE` on the rig, for the printed command")
	replace := fs.String("replace", "", "enroll: the token may take over this `AGENT` id's identity on the rig even while it checks in")
	pos, code, ok := subcommand(fs, args[1:], 1)
	if !ok {
		return code
	}
	rigID := pos[0]
	if sub == "enroll" {
		if *rigType != "" || *site != "" || *digest != "" || len(labels) > 0 {
			errorf(env, "rigs enroll: --type, --site, --firmware-digest and --label belong to rigs create")
			return ExitUsage
		}
		c, err := fleetClient(*ctxName)
		if err != nil {
			errorf(env, "rigs enroll: %v", err)
			return ExitFailure
		}
		return rigEnroll(ctx, env, c, rigID, *agentCfg, *replace, *asJSON)
	}
	if *rigType == "" {
		errorf(env, "rigs create: --type RIG_TYPE is required (the firmware config's rig_type, e.g. zema-testrig)")
		return ExitUsage
	}
	lm, err := parseLabels(labels)
	if err == nil && len(lm) > 0 {
		if msg := rolloutapi.ValidateLabels(lm); msg != "" {
			err = fmt.Errorf("labels: %s", msg)
		}
	}
	if err != nil {
		errorf(env, "rigs create: %v", err)
		return ExitUsage
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "rigs create: %v", err)
		return ExitFailure
	}
	req := fleetapi.RigRequest{RigID: rigID, RigType: *rigType, FirmwareDigest: *digest}
	var siteName string
	if *site != "" {
		s, err := findSite(ctx, c, *site)
		if err != nil {
			return failed(env, "rigs create "+rigID, err)
		}
		req.SiteID, siteName = &s.ID, s.Name
	}
	var raw json.RawMessage
	if err := c.Do(ctx, "POST", "/v1/rigs", nil, req, &raw); err != nil {
		return failed(env, "rigs create "+rigID, err)
	}
	var r fleetapi.Rig
	if err := decodeAnswer("POST /v1/rigs", raw, &r); err != nil {
		errorf(env, "rigs create: %v", err)
		return ExitFailure
	}
	var rl rolloutapi.RigLabels
	if len(lm) > 0 {
		path := "/v1/rigs/" + url.PathEscape(rigID) + "/labels"
		if err := c.Do(ctx, "PUT", path, nil, rolloutapi.LabelsRequest{Labels: lm}, &rl); err != nil {
			errorf(env, "rigs create %s: the rig was created, but not its labels: %s (set them with rigctl rollout label %s K=V...)",
				rigID, cloudclient.Describe(err), rigID)
			return ExitFailure
		}
	}
	if *asJSON {
		if len(lm) == 0 {
			return printJSON(env, raw)
		}
		var obj map[string]json.RawMessage
		if err := decodeAnswer("POST /v1/rigs", raw, &obj); err != nil {
			errorf(env, "rigs create: %v", err)
			return ExitFailure
		}
		obj["labels"], _ = json.Marshal(rl.Labels)
		return printJSON(env, obj)
	}
	where := ""
	if r.SiteID != nil {
		where = fmt.Sprintf(", site %d %s", *r.SiteID, siteName)
	}
	fmt.Fprintf(env.Stdout, "rig %s created: rig type %s%s, labels %s\n", r.RigID, r.RigType, where, labelText(rl.Labels))
	fmt.Fprintf(env.Stdout, "next: rigctl rigs enroll %s (a one-time token for its agent)\n", r.RigID)
	return ExitOK
}

const rigsSetUsage = `rigs set RIG --firmware-digest D [--json] [--context CTX]

Changes a rig's registration (PATCH /v1/rigs/RIG): --firmware-digest D replaces its
registered firmware digest (sha256:<64 lowercase hex>, the firmware config's digest, which
rigctl rig-types validate prints; "" for none), after a firmware change or to correct it, so
that the rig's firmware mismatch flag (rigctl rigs status) clears.`

// rigsSet runs rigs set (args[0] is "set").
func rigsSet(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "rigs set", rigsSetUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	digest := fs.String("firmware-digest", "", "the digest `D` of the firmware config the rig runs (\"\": none)")
	pos, code, ok := subcommand(fs, args[1:], 1)
	if !ok {
		return code
	}
	rigID, given := pos[0], false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "firmware-digest" })
	switch {
	case !given:
		errorf(env, "rigs set: --firmware-digest D is required (the firmware config's digest, \"\" for none)")
		return ExitUsage
	case *digest != "" && !cloudapi.ValidDigest(*digest):
		errorf(env, "rigs set: --firmware-digest %q is not sha256:<64 lowercase hex> (rigctl rig-types validate FILE prints a config's digest), nor \"\" for none",
			cloudapi.ClipText(*digest, 80))
		return ExitUsage
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "rigs set: %v", err)
		return ExitFailure
	}
	path := "/v1/rigs/" + url.PathEscape(rigID)
	var raw json.RawMessage
	if err := c.Do(ctx, "PATCH", path, nil, fleetapi.RigEdit{FirmwareDigest: digest}, &raw); err != nil {
		return failed(env, "rigs set "+rigID, err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	var r fleetapi.Rig
	if err := decodeAnswer("PATCH "+path, raw, &r); err != nil {
		errorf(env, "rigs set: %v", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "rig %s: firmware digest %s registered\n", r.RigID, cmp.Or(r.FirmwareDigest, "none"))
	return ExitOK
}

// findSite returns the site named (or else numbered) s.
func findSite(ctx context.Context, c *cloudclient.Client, s string) (*fleetapi.Site, error) {
	sites, err := cloudclient.List[fleetapi.Site](ctx, c, "/v1/sites", nil, 0)
	if err != nil {
		return nil, err
	}
	for i := range sites {
		if sites[i].Name == s {
			return &sites[i], nil
		}
	}
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		for i := range sites {
			if sites[i].ID == id {
				return &sites[i], nil
			}
		}
	}
	return nil, fmt.Errorf("--site: no site named (or numbered) %q in your organisation (rigctl sites list; rigctl sites create NAME)", s)
}

// rigEnroll makes an enrollment token and prints it with what to run.
func rigEnroll(ctx context.Context, env Env, c *cloudclient.Client, rigID, agentCfg, replace string, asJSON bool) int {
	var raw json.RawMessage
	var body any
	if replace != "" {
		body = fleetapi.EnrollmentRequest{Replace: replace}
	}
	if err := c.Do(ctx, "POST", "/v1/rigs/"+url.PathEscape(rigID)+"/enrollments", nil, body, &raw); err != nil {
		return failed(env, "rigs enroll "+rigID, err)
	}
	if asJSON {
		return printJSON(env, raw)
	}
	var e fleetapi.Enrollment
	if err := decodeAnswer("POST /v1/rigs/"+rigID+"/enrollments", raw, &e); err != nil {
		errorf(env, "rigs enroll: %v", err)
		return ExitFailure
	}
	w := env.Stdout
	fmt.Fprintf(w, "enrollment token for rig %s, valid once until %s (shown only now):\n", e.RigID, fmtTime(&e.ExpiresAt))
	if e.Replace != "" {
		fmt.Fprintf(w, "it may replace agent %s of the rig, even while that agent checks in\n", e.Replace)
	}
	fmt.Fprintf(w, "  %s\n", e.Token)
	fmt.Fprintln(w, "on the rig's computer, put it in a file (or in $RIG_AGENT_ENROLLMENT_TOKEN; not on a command line) and run:")
	fmt.Fprintf(w, "  rig-agent enroll --config %s --token-file TOKEN_FILE\n", agentCfg)
	return ExitOK
}

const agentsUsage = `agents list [--rig RIG] [--limit N] [--json] [--context CTX]
     | agents revoke AGENT [--json] [--context CTX]

list shows the enrolled agents, each id's current identity (AGENT RIG GEN ENROLLED REVOKED
LAST CHECK-IN). revoke refuses the agent's credential from now on (POST
/v1/agents/AGENT/revoke); the id can then be enrolled again, for any rig of the
organisation (rigctl rigs enroll RIG). --json of revoke prints {"agent_id","revoked"}.`

func runAgents(ctx context.Context, env Env, args []string) int {
	sub, npos, ok := pickSubcommand(env, args, agentsUsage, map[string]int{"list": 0, "revoke": 1})
	if !ok {
		return ExitUsage
	}
	fs := newFlags(env, "agents "+sub, agentsUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	// list only: revoke refuses --rig and --limit (they were accepted and
	// ignored).
	rigID, limit := new(string), new(int)
	if sub == "list" {
		fs.StringVar(rigID, "rig", "", "only the agents of this rig")
		fs.IntVar(limit, "limit", 0, "most agents to list (0: all)")
	}
	pos, code, ok := subcommand(fs, args[1:], npos)
	if !ok {
		return code
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "agents %s: %v", sub, err)
		return ExitFailure
	}
	if sub == "revoke" {
		id := pos[0]
		if err := c.Do(ctx, "POST", "/v1/agents/"+url.PathEscape(id)+"/revoke", nil, nil, nil); err != nil {
			return failed(env, "agents revoke "+id, err)
		}
		if *asJSON {
			return printJSON(env, map[string]any{"agent_id": id, "revoked": true})
		}
		fmt.Fprintf(env.Stdout, "agent %s revoked: its credential is refused from now on\n", id)
		return ExitOK
	}
	q := url.Values{}
	if *rigID != "" {
		q.Set("rig_id", *rigID)
	}
	agents, code, done := listRows[fleetapi.Agent](ctx, env, c, "agents list", "/v1/agents", q, *limit, *asJSON)
	if done {
		return code
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tRIG\tGEN\tENROLLED\tREVOKED\tLAST CHECK-IN")
	for _, a := range agents {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", a.AgentID, a.RigID, a.Generation, fmtTime(&a.EnrolledAt), fmtTime(a.RevokedAt),
			fmtTime(a.LastCheckinAt))
	}
	_ = tw.Flush()
	return ExitOK
}
