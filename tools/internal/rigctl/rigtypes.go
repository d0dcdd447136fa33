package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// The organisation's rig-type registry in rig-cloud (docs/cloud.md, "Rig
// types"): firmware configs stored by rig type and version.

func init() {
	register("rig-types", "the organisation's registered rig types (rig-types list | show NAME | versions NAME | upload FILE | validate FILE | delete NAME --version N)", runRigTypes)
}

const rigTypesUsage = `rig-types list [--limit N] [--json] [--context CTX]
     | rig-types show NAME [--version N] [--yaml] [--json] [--context CTX]
     | rig-types versions NAME [--limit N] [--json] [--context CTX]
     | rig-types upload FILE [--json] [--context CTX]
     | rig-types validate FILE [--json] [--context CTX]
     | rig-types delete NAME --version N [--context CTX]

list shows the organisation's rig types, each at its latest version (NAME VERSION DIGEST
COMPONENTS EDGES SENSORS TARGETS CREATED); show one (--version: an older one; --yaml: its
firmware config as uploaded); versions lists every version of one, oldest first (VERSION
DIGEST TOPOLOGY COMPONENTS EDGES SENSORS TARGETS CREATED). upload registers a firmware config
(an operator's token) as a version of its rig_type: content already registered (the same
digest) is that version ("already registered"), other content the next one ("new"). validate checks a firmware config on the server without storing it.
Once the organisation has registered a rig type, rigs create --type must name one.
delete removes version N (an admin's token), making room under the organisation's quota of
rig-type versions (quotas.max_rig_type_versions); the server refuses the latest version while
older ones remain (delete those first) and the only version of a rig type some rig uses.`

func runRigTypes(ctx context.Context, env Env, args []string) int {
	sub, npos, ok := pickSubcommand(env, args, rigTypesUsage, map[string]int{"list": 0, "show": 1, "versions": 1, "upload": 1, "validate": 1, "delete": 1})
	if !ok {
		return ExitUsage
	}
	fs := newFlags(env, "rig-types "+sub, rigTypesUsage)
	ctxName := fs.String("context", "", "login context (default: the current one)")
	// Each form takes only its own flags.
	limit, version, asYAML, asJSON := new(int), new(int), new(bool), new(bool)
	if sub != "delete" {
		fs.BoolVar(asJSON, "json", false, "print the server's JSON")
	}
	switch sub {
	case "list":
		fs.IntVar(limit, "limit", 0, "most rig types to list (0: all)")
	case "versions":
		fs.IntVar(limit, "limit", 0, "most versions to list (0: all)")
	case "show":
		fs.IntVar(version, "version", 0, "the version to show (0: the latest)")
		fs.BoolVar(asYAML, "yaml", false, "print the firmware config (YAML, as uploaded) only")
	case "delete":
		fs.IntVar(version, "version", 0, "the version to delete (required)")
	}
	pos, code, ok := subcommand(fs, args[1:], npos)
	if !ok {
		return code
	}
	if *asJSON && *asYAML {
		errorf(env, "rig-types show: --json and --yaml exclude each other")
		return ExitUsage
	}
	if sub == "delete" && (*version < 1 || *version > math.MaxInt32) {
		errorf(env, "rig-types delete: --version N is required, an integer in [1, %d] (rigctl rig-types list, rig-types show NAME)", math.MaxInt32)
		return ExitUsage
	}
	if *version < 0 {
		errorf(env, "rig-types show: --version %d is negative (0: the latest)", *version)
		return ExitUsage
	}
	var text string
	if sub == "upload" || sub == "validate" {
		b, err := readRigConfigFile(pos[0])
		if err != nil {
			errorf(env, "rig-types %s: %v", sub, err)
			return ExitFailure
		}
		text = string(b)
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "rig-types %s: %v", sub, err)
		return ExitFailure
	}
	switch sub {
	case "list":
		return rigTypesList(ctx, env, c, *limit, *asJSON)
	case "versions":
		return rigTypeVersions(ctx, env, c, pos[0], *limit, *asJSON)
	case "show":
		return rigTypeShow(ctx, env, c, pos[0], *version, *asJSON, *asYAML)
	case "delete":
		q := url.Values{"version": {strconv.Itoa(*version)}}
		if err := c.Do(ctx, "DELETE", "/v1/rig-types/"+url.PathEscape(pos[0]), q, nil, nil); err != nil {
			return failed(env, "rig-types delete "+pos[0], err)
		}
		fmt.Fprintf(env.Stdout, "deleted rig type %s version %d\n", pos[0], *version)
		return ExitOK
	case "validate":
		var raw json.RawMessage
		if err := c.Do(ctx, "POST", "/v1/rig-types/validate", nil, fleetapi.RigTypeRequest{Config: text}, &raw); err != nil {
			return failed(env, "rig-types validate "+pos[0], err)
		}
		if *asJSON {
			return printJSON(env, raw)
		}
		var s fleetapi.RigTypeSummary
		if err := decodeAnswer("POST /v1/rig-types/validate", raw, &s); err != nil {
			errorf(env, "rig-types validate: %v", err)
			return ExitFailure
		}
		fmt.Fprintf(env.Stdout, "%s: a valid firmware config of rig type %s (topology %s): %s\ndigest %s\n",
			pos[0], s.Name, s.TopologyVersion, counts(s.Components, s.Edges, s.Sensors, s.Targets), s.Digest)
		return ExitOK
	default: // upload
		var raw json.RawMessage
		if err := c.Do(ctx, "POST", "/v1/rig-types", nil, fleetapi.RigTypeRequest{Config: text}, &raw); err != nil {
			return failed(env, "rig-types upload "+pos[0], err)
		}
		if *asJSON {
			return printJSON(env, raw)
		}
		var t fleetapi.RigTypeUpload
		if err := decodeAnswer("POST /v1/rig-types", raw, &t); err != nil {
			errorf(env, "rig-types upload: %v", err)
			return ExitFailure
		}
		state := " (new)"
		if !t.New {
			state = " (already registered)"
		}
		fmt.Fprintf(env.Stdout, "rig type %s version %d%s: %s\ndigest %s\n", t.Name, t.Version, state,
			counts(t.Components, t.Edges, t.Sensors, t.Targets), t.Digest)
		return ExitOK
	}
}

// readRigConfigFile reads a firmware config of at most rig.MaxFileSize
// bytes.
func readRigConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, rig.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > rig.MaxFileSize {
		return nil, fmt.Errorf("%s is larger than a firmware config may be (%d bytes)", path, rig.MaxFileSize)
	}
	return b, nil
}

func counts(components, edges, sensors, targets int) string {
	return fmt.Sprintf("%d components, %d edges, %d sensors, %d targets", components, edges, sensors, targets)
}

// shortDigest is a digest's first 12 hex digits, for tables.
func shortDigest(d string) string {
	if rest, ok := strings.CutPrefix(d, "sha256:"); ok && len(rest) > 12 {
		return "sha256:" + rest[:12]
	}
	return d
}

func rigTypesList(ctx context.Context, env Env, c *cloudclient.Client, limit int, asJSON bool) int {
	ts, code, done := listRows[fleetapi.RigType](ctx, env, c, "rig-types list", "/v1/rig-types", nil, limit, asJSON)
	if done {
		return code
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tDIGEST\tCOMPONENTS\tEDGES\tSENSORS\tTARGETS\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", t.Name, t.Version, shortDigest(t.Digest),
			t.Components, t.Edges, t.Sensors, t.Targets, fmtTime(&t.CreatedAt))
	}
	_ = tw.Flush()
	return ExitOK
}

// rigTypeVersions prints every version of rig type name (GET
// /v1/rig-types/{name}/versions), oldest first.
func rigTypeVersions(ctx context.Context, env Env, c *cloudclient.Client, name string, limit int, asJSON bool) int {
	what := "rig-types versions " + name
	ts, code, done := listRows[fleetapi.RigType](ctx, env, c, what, "/v1/rig-types/"+url.PathEscape(name)+"/versions", nil, limit, asJSON)
	if done {
		return code
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tDIGEST\tTOPOLOGY\tCOMPONENTS\tEDGES\tSENSORS\tTARGETS\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", t.Version, shortDigest(t.Digest), t.TopologyVersion,
			t.Components, t.Edges, t.Sensors, t.Targets, fmtTime(&t.CreatedAt))
	}
	_ = tw.Flush()
	return ExitOK
}

func rigTypeShow(ctx context.Context, env Env, c *cloudclient.Client, name string, version int, asJSON, asYAML bool) int {
	var q url.Values
	if version > 0 {
		q = url.Values{"version": {strconv.Itoa(version)}}
	}
	var raw json.RawMessage
	if err := c.Do(ctx, "GET", "/v1/rig-types/"+url.PathEscape(name), q, nil, &raw); err != nil {
		return failed(env, "rig-types show "+name, err)
	}
	if asJSON {
		return printJSON(env, raw)
	}
	var t fleetapi.RigType
	if err := decodeAnswer("GET /v1/rig-types/"+name, raw, &t); err != nil {
		errorf(env, "rig-types show: %v", err)
		return ExitFailure
	}
	if asYAML {
		fmt.Fprint(env.Stdout, t.Config)
		if !strings.HasSuffix(t.Config, "\n") {
			fmt.Fprintln(env.Stdout)
		}
		return ExitOK
	}
	by := "-"
	if t.CreatedBy != nil {
		by = "token " + strconv.FormatInt(*t.CreatedBy, 10)
	}
	w := env.Stdout
	fmt.Fprintf(w, "rig type %s version %d\n", t.Name, t.Version)
	fmt.Fprintf(w, "digest      %s\n", t.Digest)
	fmt.Fprintf(w, "topology    %s\n", t.TopologyVersion)
	fmt.Fprintf(w, "contents    %s\n", counts(t.Components, t.Edges, t.Sensors, t.Targets))
	fmt.Fprintf(w, "created     %s by %s\n", fmtTime(&t.CreatedAt), by)
	return ExitOK
}
