package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func init() {
	register("uploads", "ask rigs for their readings for training, and follow the requests (uploads request|list|cancel)", runUploads)
}

const uploadsUsage = `uploads request --rig RIG --from T --to T [--sensors ID,ID...] [--expires 168h] [--context CTX] [--json]
       uploads list [--rig RIG] [--state open|done|cancelled|expired] [--context CTX] [--json]
       uploads cancel ID [--context CTX] [--json]

request asks the rig's agent for the readings it buffers in [--from, --to)
(POST /v1/uploads; at most 31 days); the agent learns it at its next
check-in and uploads them in parts. list shows the requests with their
progress (ID RIG FROM TO STATE PARTS READINGS EXPIRES); cancel ends an open
one (the readings stored so far stay). Then make a data
set from the uploads with rigctl dataset create --from-uploads.`

func runUploads(ctx context.Context, env Env, args []string) int {
	sub, npos, ok := pickSubcommand(env, args, uploadsUsage, map[string]int{"request": 0, "list": 0, "cancel": 1})
	if !ok {
		return ExitUsage
	}
	fs := newFlags(env, "uploads "+sub, uploadsUsage)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	rigID := fs.String("rig", "", "the rig id")
	from := fs.String("from", "", "RFC 3339 `time` (request: required)")
	to := fs.String("to", "", "RFC 3339 `time`, exclusive (request: required)")
	sensors := fs.String("sensors", "", "comma-separated sensor ids (default: all)")
	expires := fs.Duration("expires", 0, "how long the request stays open (default: the server's, 7 days)")
	state := fs.String("state", "", "list: only requests in this `state` (open, done, cancelled, or expired: open past its expiry)")
	pos, code, ok := subcommand(fs, args[1:], npos)
	if !ok {
		return code
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "uploads %s: %v", sub, err)
		return ExitFailure
	}
	if sub == "cancel" {
		var raw json.RawMessage
		if err := c.Do(ctx, "POST", "/v1/uploads/"+url.PathEscape(pos[0])+"/cancel", nil, nil, &raw); err != nil {
			return failed(env, "uploads cancel "+pos[0], err)
		}
		if *asJSON {
			return printJSON(env, raw)
		}
		var u fleetapi.FleetUpload
		if err := decodeAnswer("POST /v1/uploads/"+pos[0]+"/cancel", raw, &u); err != nil {
			errorf(env, "uploads cancel %s: %v", pos[0], err)
			return ExitFailure
		}
		fmt.Fprintf(env.Stdout, "upload request %s: %s (%d parts, %d readings kept)\n", u.ID, u.State, u.Parts, u.Readings)
		return ExitOK
	}
	if sub == "list" {
		q := url.Values{}
		if *rigID != "" {
			q.Set("rig_id", *rigID)
		}
		if *state != "" {
			q.Set("state", *state)
		}
		ups, code, done := listRows[fleetapi.FleetUpload](ctx, env, c, "uploads list", "/v1/uploads", q, 0, *asJSON)
		if done {
			return code
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRIG\tFROM\tTO\tSTATE\tPARTS\tREADINGS\tEXPIRES")
		for _, u := range ups {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", u.ID, u.RigID, fmtTime(&u.From), fmtTime(&u.To), u.State,
				u.Parts, u.Readings, fmtTime(&u.ExpiresAt))
		}
		_ = tw.Flush()
		return ExitOK
	}

	fromT, err1 := time.Parse(time.RFC3339Nano, *from)
	toT, err2 := time.Parse(time.RFC3339Nano, *to)
	if *rigID == "" || err1 != nil || err2 != nil {
		errorf(env, "uploads request: --rig, and --from and --to as RFC 3339 times (e.g. 2025-03-01T00:00:00Z), are required")
		return ExitUsage
	}
	body := map[string]any{"rig_id": *rigID, "from": fromT, "to": toT}
	if *sensors != "" {
		body["sensors"] = strings.Split(*sensors, ",")
	}
	if *expires > 0 {
		body["expires_at"] = time.Now().Add(*expires).UTC()
	}
	var raw json.RawMessage
	if err := c.Do(ctx, "POST", "/v1/uploads", nil, body, &raw); err != nil {
		return failed(env, "uploads request", err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	var u fleetapi.FleetUpload
	if err := decodeAnswer("POST /v1/uploads", raw, &u); err != nil {
		errorf(env, "uploads request: %v", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "upload request %s: rig %s, %s to %s, %s until %s\n", u.ID, u.RigID, fmtTime(&u.From), fmtTime(&u.To),
		u.State, fmtTime(&u.ExpiresAt))
	return ExitOK
}

// labelFlags collects repeated --label TARGET=VALUE flags.
type labelFlags map[string]float64

func (l labelFlags) String() string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatFloat(l[k], 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

func (l labelFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	f, err := strconv.ParseFloat(v, 64)
	if !ok || k == "" || err != nil {
		return fmt.Errorf("%q is not TARGET=VALUE (a target's class value, e.g. cooler=100)", s)
	}
	l[k] = f
	return nil
}

func datasetCreate(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "dataset create", datasetUsage)
	fromUploads := fs.Bool("from-uploads", false, "make the data set from the rigs' uploaded readings (required: the only source)")
	rigs := fs.String("rigs", "", "comma-separated rig ids of the organisation (required)")
	from := fs.String("from", "", "RFC 3339 `time` (required)")
	to := fs.String("to", "", "RFC 3339 `time`, exclusive (required)")
	rigPath := fs.String("rig", "", "the rigs' firmware config `FILE` (required; sets the windows, sensors and targets)")
	name := fs.String("name", "", "the data set's name in the organisation (required)")
	desc := fs.String("description", "", "what the data set is (default: the server's summary)")
	labels := labelFlags{}
	fs.Var(labels, "label", "TARGET=VALUE: the class value of a target for every window (repeatable; default: each target's normal class)")
	noWait := fs.Bool("no-wait", false, "print the data set, building, and return (default: wait until a worker has built it)")
	interval := fs.Duration("interval", 2*time.Second, "how often to look at the build while waiting")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	asJSON := fs.Bool("json", false, "print the server's JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fromT, err1 := time.Parse(time.RFC3339Nano, *from)
	toT, err2 := time.Parse(time.RFC3339Nano, *to)
	if !*fromUploads || *rigs == "" || *rigPath == "" || *name == "" || err1 != nil || err2 != nil || fs.NArg() > 0 || *interval <= 0 {
		errorf(env, "dataset create: --from-uploads, --rigs, --rig FILE, --name and --from/--to as RFC 3339 times are required, --interval above 0 (no other arguments)")
		return ExitUsage
	}
	y, err := os.ReadFile(*rigPath)
	if err == nil {
		_, err = rig.Parse(*rigPath, y)
	}
	if err != nil {
		errorf(env, "dataset create: %v", err)
		return ExitFailure
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "dataset create: %v", err)
		return ExitFailure
	}
	body := map[string]any{"name": *name, "rig_config": string(y), "rig_ids": strings.Split(*rigs, ","), "from": fromT, "to": toT}
	if *desc != "" {
		body["description"] = *desc
	}
	if len(labels) > 0 {
		body["labels"] = map[string]float64(labels)
	}
	var raw json.RawMessage
	if err := c.Do(ctx, "POST", "/v1/datasets/from-uploads", nil, body, &raw); err != nil {
		return failed(env, "dataset create", err)
	}
	var d fleetapi.Dataset
	if err := decodeAnswer("POST /v1/datasets/from-uploads", raw, &d); err != nil {
		errorf(env, "dataset create: %v", err)
		return ExitFailure
	}
	if *noWait {
		if *asJSON {
			return printJSON(env, raw)
		}
		printDataset(env.Stdout, &d)
		return ExitOK
	}
	return waitDataset(ctx, env, c, "dataset create", d, *interval, *asJSON)
}
