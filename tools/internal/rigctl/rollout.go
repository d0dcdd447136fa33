package rigctl

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// Rollout commands: rig-cloud's rollouts of model releases to an
// organisation's rigs (docs/releases.md, Rollouts), with the login
// context of the fleet commands.

func init() {
	register("rollout", "model rollouts (rollout create | list | status ID | edit ID | pause | resume | abort | rollback ID | label RIG K=V...)", runRollout)
}

const rolloutUsage = `rollout create --release PATH [--previous PATH] [--site NAME]... [--rig ID]... [--label K=V]... [--rig-type T]
                      [--cohorts 1,10%,50%,100%] [--soak 1h] [--success 0.9] [--failure 0.1] [--allow-downgrade]
     | rollout list [--limit N] | rollout status ID
     | rollout edit ID [--success-threshold X] [--failure-threshold X] [--soak D]   (a paused or halted rollout)
     | rollout pause ID | rollout resume ID | rollout abort ID | rollout rollback ID
     | rollout label RIG [K=V]...   (replaces the rig's labels; none: removes them)
  every form takes --json (the server's JSON) and --context CTX`

// strList is a repeatable string flag.
type strList []string

func (l *strList) String() string     { return strings.Join(*l, ",") }
func (l *strList) Set(s string) error { *l = append(*l, s); return nil }

// parseLabels reads K=V pairs.
func parseLabels(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q is not KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// parseCohorts reads "1,10%,50%:2h,100%": a count of agents or a
// percentage of the selection, each with an optional :SOAK.
func parseCohorts(s string) ([]rolloutapi.CohortSpec, error) {
	var out []rolloutapi.CohortSpec
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		size, soak, hasSoak := strings.Cut(item, ":")
		var c rolloutapi.CohortSpec
		if p, ok := strings.CutSuffix(size, "%"); ok {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || f <= 0 {
				return nil, fmt.Errorf("cohort %q: %q is not a percentage", item, size)
			}
			c.Percent = f
		} else {
			n, err := strconv.Atoi(size)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("cohort %q: %q is neither a count of agents nor a percentage (N%%)", item, size)
			}
			c.Agents = n
		}
		if hasSoak {
			d, err := time.ParseDuration(soak)
			if err != nil || d < 0 {
				return nil, fmt.Errorf("cohort %q: soak %q is not a duration (30m, 2h)", item, soak)
			}
			c.SoakS = d.Seconds()
		}
		out = append(out, c)
	}
	return out, nil
}

func runRollout(ctx context.Context, env Env, args []string) int {
	sub, npos, ok := pickSubcommand(env, args, rolloutUsage, map[string]int{"create": 0, "list": 0, "status": 1, "edit": 1,
		"pause": 1, "resume": 1, "abort": 1, "rollback": 1, "label": -1})
	if !ok {
		return ExitUsage
	}
	fs := newFlags(env, "rollout "+sub, rolloutUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	var (
		limit                               *int
		release, previous, rigType, cohorts *string
		soak                                *time.Duration
		success, failure                    *float64
		allowDowngrade                      *bool
		sites, rigs, labels                 strList
	)
	switch sub {
	case "list":
		limit = fs.Int("limit", 0, "most rollouts to list, newest first (0: all)")
	case "create":
		release = fs.String("release", "", "the release's target `PATH` (required; rigctl release publish prints it)")
		previous = fs.String("previous", "", "the release a rollback offers (default: the older release the selected agents serve; else the newest older release of the same bundle, no prerelease nor halted one)")
		allowDowngrade = fs.Bool("allow-downgrade", false, "roll out a release older than what selected agents serve (admin tokens only)")
		rigType = fs.String("rig-type", "", "only rigs of this type (must be the release's)")
		cohorts = fs.String("cohorts", "", "cohorts: counts of agents or percentages of the selection, cumulative, each with an optional :SOAK (default 1,10%,50%,100%)")
		soak = fs.Duration("soak", 0, "each cohort's soak unless it names one (0: the server's default, 1h)")
		success = fs.Float64("success", 0, "share of a cohort that must have committed and stayed through the soak to go on (0: 0.9)")
		failure = fs.Float64("failure", 0, "share of a cohort failed or rolled back that halts the rollout (0: 0.1)")
		fs.Var(&sites, "site", "only rigs at this site (repeatable)")
		fs.Var(&rigs, "rig", "only this rig (repeatable)")
		fs.Var(&labels, "label", "only rigs with this label, `KEY=VALUE` (repeatable: all must match)")
	case "edit":
		success = fs.Float64("success-threshold", 0, "new share (0, 1] of a cohort that must have committed and stayed through the soak to go on")
		failure = fs.Float64("failure-threshold", 0, "new share (0, 1] of a cohort failed or rolled back that halts the rollout")
		soak = fs.Duration("soak", 0, "new soak of the current and later cohorts (0s: none)")
	}
	var pos []string
	if npos < 0 {
		// label RIG K=V...: any number of positional arguments after RIG.
		var code int
		var ok bool
		if pos, code, ok = splitArgs(fs, args[1:]); !ok {
			return code
		}
		if len(pos) == 0 {
			fs.Usage()
			return ExitUsage
		}
	} else {
		var code int
		var ok bool
		if pos, code, ok = subcommand(fs, args[1:], npos); !ok {
			return code
		}
	}
	if npos == 1 && !positiveID(env, "rollout "+sub, pos[0]) {
		return ExitUsage
	}
	var body any
	switch sub {
	case "create":
		if *release == "" {
			errorf(env, "rollout create: --release PATH is required")
			return ExitUsage
		}
		l, err := parseLabels(labels)
		if err != nil {
			errorf(env, "rollout create: --label: %v", err)
			return ExitUsage
		}
		req := rolloutapi.CreateRequest{Release: *release, Previous: *previous, AllowDowngrade: *allowDowngrade, SoakS: soak.Seconds(), SuccessThreshold: *success, FailureThreshold: *failure,
			Selection: rolloutapi.Selection{Sites: sites, Rigs: rigs, RigType: *rigType}}
		if len(l) > 0 {
			req.Selection.Labels = l
		}
		if *cohorts != "" {
			if req.Cohorts, err = parseCohorts(*cohorts); err != nil {
				errorf(env, "rollout create: --cohorts: %v", err)
				return ExitUsage
			}
		}
		body = req
	case "edit":
		// Only the flags given change; the server validates the values.
		var req rolloutapi.EditRequest
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "success-threshold":
				req.SuccessThreshold = success
			case "failure-threshold":
				req.FailureThreshold = failure
			case "soak":
				s := soak.Seconds()
				req.SoakS = &s
			}
		})
		if req.SuccessThreshold == nil && req.FailureThreshold == nil && req.SoakS == nil {
			errorf(env, "rollout edit: nothing to change: give --success-threshold, --failure-threshold or --soak")
			return ExitUsage
		}
		body = req
	case "label":
		l, err := parseLabels(pos[1:])
		if err != nil {
			errorf(env, "rollout label: %v", err)
			return ExitUsage
		}
		body = rolloutapi.LabelsRequest{Labels: l}
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "rollout: %v", err)
		return ExitFailure
	}
	if sub == "list" {
		ros, code, done := listRows[rolloutapi.Rollout](ctx, env, c, "rollout list", "/v1/rollouts", nil, *limit, *asJSON)
		if done {
			return code
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRELEASE\tVERSION\tSTATE\tCOHORT\tAGENTS\tCOMMITTED\tFAILED\tROLLED BACK\tINCOMPATIBLE\tCREATED")
		for _, r := range ros {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Release.Target, r.Release.Version, r.State, r.Cohort+1, len(r.Cohorts),
				r.Agents, r.Counts[rolloutapi.AgentCommitted], r.Counts[rolloutapi.AgentFailed], r.Counts[rolloutapi.AgentRolledBack],
				r.Counts[rolloutapi.AgentIncompatible], fmtTime(&r.CreatedAt))
		}
		_ = tw.Flush()
		return ExitOK
	}
	var raw json.RawMessage
	what := "rollout " + sub
	var method, path string
	switch sub {
	case "create":
		method, path = "POST", "/v1/rollouts"
	case "status":
		method, path = "GET", "/v1/rollouts/"+pos[0]
	case "edit":
		method, path = "PATCH", "/v1/rollouts/"+pos[0]
	case "label":
		what += " " + pos[0]
		method, path = "PUT", "/v1/rigs/"+url.PathEscape(pos[0])+"/labels"
	default:
		method, path = "POST", "/v1/rollouts/"+pos[0]+"/"+sub
	}
	err = c.Do(ctx, method, path, nil, body, &raw)
	if npos == 1 {
		what += " " + pos[0]
	}
	if err != nil {
		return failed(env, what, err)
	}
	if sub == "create" {
		// The warnings go to stderr also with --json (they are in the
		// JSON too), so that they are seen.
		var w struct {
			Warnings []string `json:"warnings"`
		}
		if json.Unmarshal(raw, &w) == nil {
			for _, s := range w.Warnings {
				errorf(env, "rollout create: warning: %s", s)
			}
		}
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	if sub == "label" {
		var l rolloutapi.RigLabels
		if err := decodeAnswer(method+" "+path, raw, &l); err != nil {
			errorf(env, "%s: %v", what, err)
			return ExitFailure
		}
		fmt.Fprintf(env.Stdout, "rig %s labels: %s\n", l.RigID, labelText(l.Labels))
		return ExitOK
	}
	var r rolloutapi.Rollout
	if err := decodeAnswer(method+" "+path, raw, &r); err != nil {
		errorf(env, "%s: %v", what, err)
		return ExitFailure
	}
	switch sub {
	case "create":
		sizes := make([]string, len(r.Cohorts))
		for i, co := range r.Cohorts {
			sizes[i] = strconv.Itoa(co.Size)
		}
		fmt.Fprintf(env.Stdout, "rollout %d %s: %s (%s) to %d agents in cohorts of %s\n", r.ID, r.State, r.Release.Target, r.Release.Version,
			r.Agents, strings.Join(sizes, ", "))
	case "status", "edit":
		printRollout(env.Stdout, &r)
	default:
		fmt.Fprintf(env.Stdout, "rollout %d: %s (%s)\n", r.ID, r.State, r.Reason)
	}
	return ExitOK
}

func labelText(l map[string]string) string {
	if len(l) == 0 {
		return "-"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

// configText is ", firmware config D" for a release with a config digest
// D (the agents it is offered to run that config), "" for one without (a
// rollout made before the field: offered whatever the agents run).
func configText(r rolloutapi.Release) string {
	if r.ConfigDigest == "" {
		return ""
	}
	return ", firmware config " + r.ConfigDigest
}

// printRollout prints a rollout with a table of its cohorts and one of
// its agents.
func printRollout(w io.Writer, r *rolloutapi.Rollout) {
	fmt.Fprintf(w, "rollout %d: %s\n", r.ID, r.State)
	if r.Reason != "" {
		fmt.Fprintf(w, "reason:     %s\n", r.Reason)
	}
	fmt.Fprintf(w, "release:    %s (%s, bundle format %d%s)\n", r.Release.Target, r.Release.Version, r.Release.BundleFormat, configText(r.Release))
	if r.Previous != nil {
		fmt.Fprintf(w, "previous:   %s (%s, bundle format %d%s)\n", r.Previous.Target, r.Previous.Version, r.Previous.BundleFormat, configText(*r.Previous))
	}
	sel, _ := json.Marshal(r.Selection)
	fmt.Fprintf(w, "selection:  rig type %s, %s\n", r.RigType, sel)
	fmt.Fprintf(w, "thresholds: success %v, failure %v\n", r.SuccessThreshold, r.FailureThreshold)
	fmt.Fprintf(w, "agents:     %d, cohort %d of %d\n", r.Agents, r.Cohort+1, len(r.Cohorts))
	if n := r.Counts[rolloutapi.AgentIncompatible]; n > 0 {
		fmt.Fprintf(w, "incompatible: %d agents do not read bundle format %d or the release does not fit them (see DETAIL): not counted in the thresholds\n", n, r.Release.BundleFormat)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COHORT\tSIZE\tSOAK\tSTATE\tSTARTED\tOFFERED\tDOWNLOADING\tCANARY\tCOMMITTED\tFAILED\tROLLED BACK\tINCOMPATIBLE")
	for _, c := range r.Cohorts {
		n := c.Counts
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", c.Index, c.Size, time.Duration(c.SoakS*float64(time.Second)), c.State, fmtTime(c.StartedAt),
			n[rolloutapi.AgentOffered], n[rolloutapi.AgentDownloading], n[rolloutapi.AgentCanary], n[rolloutapi.AgentCommitted], n[rolloutapi.AgentFailed], n[rolloutapi.AgentRolledBack],
			n[rolloutapi.AgentIncompatible])
	}
	_ = tw.Flush()
	if len(r.AgentStates) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tRIG\tCOHORT\tSTATE\tCOMMITTED\tUPDATED\tLAST CHECK-IN\tDETAIL")
	for _, a := range r.AgentStates {
		detail := a.Detail
		if len(detail) > 80 {
			detail = detail[:77] + "..."
		}
		if detail == "" {
			detail = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", a.AgentID, a.RigID, a.Cohort, a.State, fmtTime(a.CommittedAt), fmtTime(&a.UpdatedAt),
			fmtTime(a.LastCheckinAt), detail)
	}
	_ = tw.Flush()
}

var _ flag.Value = (*strList)(nil)
