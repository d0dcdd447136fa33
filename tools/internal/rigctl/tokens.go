package rigctl

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// API tokens of an organisation (its admin's token) or of the deployment
// (a system token): list and revoke (docs/cloud.md, "Authentication and
// tenancy").

func init() {
	register("tokens", "API tokens (tokens list [--org ID] | tokens revoke ID [--cascade])", runTokens)
}

const tokensUsage = `tokens list [--org ID] [--limit N] [--json] [--context CTX]
     | tokens revoke ID [--cascade] [--json] [--context CTX]

list shows API tokens (ID NAME ROLE CREATED EXPIRES REVOKED BY LAST-USED), never their
secrets: an admin's token lists its organisation's (GET /v1/tokens), a system token the
deployment's system and release tokens, or with --org ID that organisation's
(GET /v1/orgs/ID/tokens). BY is the id of the token that made it, LAST-USED when it last
authenticated a request (to about a minute). revoke refuses the token from now on
(DELETE /v1/tokens/ID); --cascade also revokes every token it made, theirs, and so on.`

func runTokens(ctx context.Context, env Env, args []string) int {
	sub, npos, ok := pickSubcommand(env, args, tokensUsage, map[string]int{"list": 0, "revoke": 1})
	if !ok {
		return ExitUsage
	}
	fs := newFlags(env, "tokens "+sub, tokensUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	org, limit, cascade := new(int64), new(int), new(bool)
	if sub == "list" {
		fs.Int64Var(org, "org", 0, "list this organisation's tokens (a system token; default: the caller's own, or the deployment's)")
		fs.IntVar(limit, "limit", 0, "most tokens to list (0: all)")
	} else {
		fs.BoolVar(cascade, "cascade", false, "also revoke every token it made, recursively")
	}
	pos, code, ok := subcommand(fs, args[1:], npos)
	if !ok {
		return code
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "tokens %s: %v", sub, err)
		return ExitFailure
	}
	if sub == "revoke" {
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id < 1 {
			errorf(env, "tokens revoke: %q is not a token id (rigctl tokens list)", pos[0])
			return ExitUsage
		}
		q := url.Values{}
		if *cascade {
			q.Set("cascade", "true")
		}
		if err := c.Do(ctx, "DELETE", fmt.Sprintf("/v1/tokens/%d", id), q, nil, nil); err != nil {
			return failed(env, "tokens revoke "+pos[0], err)
		}
		if *asJSON {
			return printJSON(env, map[string]any{"id": id, "revoked": true, "cascade": *cascade})
		}
		what := ""
		if *cascade {
			what = ", with every token it made"
		}
		fmt.Fprintf(env.Stdout, "token %d revoked%s: refused from now on\n", id, what)
		return ExitOK
	}
	path := "/v1/tokens"
	if *org < 0 {
		errorf(env, "tokens list: --org %d is not an organisation id", *org)
		return ExitUsage
	}
	if *org > 0 {
		path = fmt.Sprintf("/v1/orgs/%d/tokens", *org)
	}
	toks, code, done := listRows[fleetapi.Token](ctx, env, c, "tokens list", path, nil, *limit, *asJSON)
	if done {
		return code
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tEXPIRES\tREVOKED\tBY\tLAST-USED")
	for _, t := range toks {
		by := "-"
		if t.CreatedBy != nil {
			by = strconv.FormatInt(*t.CreatedBy, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, fmtTime(&t.CreatedAt), fmtTime(t.ExpiresAt),
			fmtTime(t.RevokedAt), by, fmtTime(t.LastUsedAt))
	}
	_ = tw.Flush()
	return ExitOK
}
