package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Enrollment tokens of a rig (an operator's token): list and revoke
// (docs/cloud.md, "rigctl fleet administration"); rigs enroll makes them.

func init() {
	register("enrollments", "a rig's enrollment tokens (enrollments list RIG | enrollments revoke RIG (ID | --all))", runEnrollments)
}

const enrollmentsUsage = `enrollments list RIG [--limit N] [--json] [--context CTX]
     | enrollments revoke RIG (ID | --all) [--json] [--context CTX]

list shows the rig's enrollment tokens (ID STATE CREATED EXPIRES BY USED REVOKED AGENT
REPLACE), never their secrets (GET /v1/rigs/RIG/enrollments): STATE is usable, used, expired
or revoked, BY the id of the API token that made it (rigctl tokens list), AGENT the agent
id a used token enrolled, REPLACE the agent id it may take over (rigs enroll --replace).
revoke refuses token ID from now on (DELETE /v1/rigs/RIG/enrollments/ID; a used or
expired token stays as it is), or with --all every usable token of the rig
(DELETE /v1/rigs/RIG/enrollments), saying how many.`

func runEnrollments(ctx context.Context, env Env, args []string) int {
	sub, _, ok := pickSubcommand(env, args, enrollmentsUsage, map[string]int{"list": 1, "revoke": 2}) // revoke: RIG ID, or RIG --all
	if !ok {
		return ExitUsage
	}
	fs := newFlags(env, "enrollments "+sub, enrollmentsUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	limit, all := new(int), new(bool)
	if sub == "list" {
		fs.IntVar(limit, "limit", 0, "most tokens to list (0: all)")
	} else {
		fs.BoolVar(all, "all", false, "revoke every usable enrollment token of the rig")
	}
	pos, code, ok := splitArgs(fs, args[1:])
	if !ok {
		return code
	}
	// list takes RIG; revoke RIG ID, or RIG with --all (never both: a
	// forgotten ID must not revoke the rig's every token).
	want := 1
	if sub == "revoke" && !*all {
		want = 2
	}
	if len(pos) != want {
		if sub == "revoke" && *all && len(pos) == 2 {
			errorf(env, "enrollments revoke: give a token ID or --all, not both")
		} else {
			fs.Usage()
		}
		return ExitUsage
	}
	rig := pos[0]
	base := "/v1/rigs/" + url.PathEscape(rig) + "/enrollments"
	var id int64
	if len(pos) == 2 {
		var err error
		if id, err = strconv.ParseInt(pos[1], 10, 64); err != nil || id < 1 {
			errorf(env, "enrollments revoke: %q is not an enrollment token id (rigctl enrollments list %s)", pos[1], rig)
			return ExitUsage
		}
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "enrollments %s: %v", sub, err)
		return ExitFailure
	}
	switch {
	case sub == "revoke" && *all:
		var raw json.RawMessage
		if err := c.Do(ctx, "DELETE", base, nil, nil, &raw); err != nil {
			return failed(env, "enrollments revoke "+rig+" --all", err)
		}
		if *asJSON {
			return printJSON(env, raw)
		}
		var r fleetapi.EnrollmentsRevoked
		if err := decodeAnswer("DELETE "+base, raw, &r); err != nil {
			errorf(env, "enrollments revoke: %v", err)
			return ExitFailure
		}
		fmt.Fprintf(env.Stdout, "%d usable enrollment tokens of rig %s revoked: refused from now on\n", r.Revoked, rig)
		return ExitOK
	case sub == "revoke":
		if err := c.Do(ctx, "DELETE", fmt.Sprintf("%s/%d", base, id), nil, nil, nil); err != nil {
			return failed(env, fmt.Sprintf("enrollments revoke %s %d", rig, id), err)
		}
		if *asJSON {
			return printJSON(env, map[string]any{"rig_id": rig, "id": id, "revoked": true})
		}
		fmt.Fprintf(env.Stdout, "enrollment token %d of rig %s revoked (if it was usable): refused from now on\n", id, rig)
		return ExitOK
	}
	toks, code, done := listRows[fleetapi.EnrollmentToken](ctx, env, c, "enrollments list "+rig, base, nil, *limit, *asJSON)
	if done {
		return code
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCREATED\tEXPIRES\tBY\tUSED\tREVOKED\tAGENT\tREPLACE")
	for _, t := range toks {
		by := "-"
		if t.CreatedBy != nil {
			by = strconv.FormatInt(*t.CreatedBy, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.State, fmtTime(&t.CreatedAt), fmtTime(&t.ExpiresAt), by,
			fmtTime(t.UsedAt), fmtTime(t.RevokedAt), orDash(t.AgentID), orDash(t.Replace))
	}
	_ = tw.Flush()
	return ExitOK
}
