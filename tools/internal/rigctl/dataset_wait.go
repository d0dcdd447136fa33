package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// waitDataset polls data set d (GET /v1/datasets/{id}) every interval
// while it is building, with a progress line on stderr whenever the
// build moves; then prints it (the server's JSON with asJSON). A failed
// build exits ExitFailure with the server's reason.
func waitDataset(ctx context.Context, env Env, c *cloudclient.Client, what string, d fleetapi.Dataset, interval time.Duration, asJSON bool) int {
	d, raw, code := pollBuild(ctx, env, c, what, d, interval)
	if code != ExitOK {
		return code
	}
	if code := showDataset(env, d, raw, asJSON); code != ExitOK {
		return code
	}
	if d.State == "failed" {
		reason := "no reason given"
		if d.Error != nil {
			reason = *d.Error
		}
		errorf(env, "%s: data set %d %s failed: %s", what, d.ID, d.Name, reason)
		return ExitFailure
	}
	return ExitOK
}

// pollBuild polls data set d every interval while it is building, with a
// progress line on stderr whenever the build moves, and returns it once
// it is not (raw: the server's last answer, nil when d was not building).
func pollBuild(ctx context.Context, env Env, c *cloudclient.Client, what string, d fleetapi.Dataset, interval time.Duration) (fleetapi.Dataset, json.RawMessage, int) {
	path := fmt.Sprintf("/v1/datasets/%d", d.ID)
	var raw json.RawMessage
	last := ""
	for d.State == "building" {
		if line := buildLine(&d); line != last {
			fmt.Fprintln(env.Stderr, line)
			last = line
		}
		select {
		case <-ctx.Done():
			errorf(env, "%s: stopped waiting: data set %d is still building on the server (rigctl dataset get %d --wait)", what, d.ID, d.ID)
			return d, nil, ExitFailure
		case <-time.After(interval):
		}
		raw = nil
		if err := c.Do(ctx, "GET", path, nil, nil, &raw); err != nil {
			return d, nil, failed(env, fmt.Sprintf("%s: data set %d is building on the server, but", what, d.ID), err)
		}
		d = fleetapi.Dataset{}
		if err := decodeAnswer("GET "+path, raw, &d); err != nil {
			errorf(env, "%s: %v", what, err)
			return d, nil, ExitFailure
		}
	}
	return d, raw, ExitOK
}

// showDataset prints d: the server's JSON (raw, or d encoded when raw is
// nil) with asJSON, else the human form.
func showDataset(env Env, d fleetapi.Dataset, raw json.RawMessage, asJSON bool) int {
	if asJSON {
		if raw == nil {
			raw, _ = json.Marshal(d)
		}
		return printJSON(env, raw)
	}
	printDataset(env.Stdout, &d)
	return ExitOK
}

// buildLine is the progress line of a building data set.
func buildLine(d *fleetapi.Dataset) string {
	b := d.Build
	if b == nil {
		return fmt.Sprintf("data set %d %s: building", d.ID, d.Name)
	}
	line := fmt.Sprintf("data set %d %s: building: %s, rigs %d/%d, %d readings, %d windows", d.ID, d.Name, b.Phase,
		b.RigsDone, len(b.RigIDs), b.Readings, b.Windows)
	if b.Attempt > 1 {
		line += fmt.Sprintf(" (attempt %d)", b.Attempt)
	}
	if d.Error != nil && b.Phase == fleetapi.BuildQueued {
		line += "; last attempt: " + *d.Error
	}
	return line
}

// printDataset prints a data set: its summary line and, for a fleet data
// set's build, the labels and what each rig gave.
func printDataset(w io.Writer, d *fleetapi.Dataset) {
	size, digest := int64(0), ""
	if d.Bytes != nil {
		size = *d.Bytes
	}
	if d.Digest != nil {
		digest = *d.Digest
	}
	b := d.Build
	if b == nil {
		fmt.Fprintf(w, "data set %d %s: %s, rig type %s, %s, archive %.1f KB %s\n", d.ID, d.Name, d.Kind, d.RigType, d.State,
			float64(size)/1024, digest)
		return
	}
	switch d.State {
	case "ready":
		fmt.Fprintf(w, "data set %d %s: %s from fleet uploads, rig type %s, %s, %d windows, archive %.1f KB %s\n",
			d.ID, d.Name, d.Kind, d.RigType, d.State, b.Windows, float64(size)/1024, digest)
	default:
		fmt.Fprintf(w, "data set %d %s: %s from fleet uploads of %s, %s to %s, rig type %s, %s\n", d.ID, d.Name, d.Kind,
			strings.Join(b.RigIDs, ","), b.From.UTC().Format(time.RFC3339), b.To.UTC().Format(time.RFC3339), d.RigType, d.State)
	}
	fmt.Fprintf(w, "labels: %s\n", labelFlags(b.Labels).String())
	if len(b.Rigs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RIG\tREADINGS\tWINDOWS\tSKIPPED")
	for _, r := range b.Rigs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", r.RigID, r.Readings, r.Windows, r.Skipped)
	}
	_ = tw.Flush()
}
