package rigctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/tarball"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// checkUCIFiles checks that dir holds the UCI layout's files of cfg
// (profile.txt and each active sensor's "<ID>.txt") before the data set
// is registered: a wrong --dir would otherwise become a data set holding
// its name for good, on which every training job fails.
func checkUCIFiles(dir string, cfg *rig.Config) error {
	names := []string{uci.ProfileFile}
	for _, s := range cfg.ActiveSensors() {
		names = append(names, s.UCIName()+".txt")
	}
	var missing []string
	for _, n := range names {
		if st, err := os.Stat(filepath.Join(dir, n)); err != nil || !st.Mode().IsRegular() {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--dir %s is not a data set of rig type %s in the UCI layout: it lacks %s", dir, cfg.RigType, strings.Join(missing, ", "))
	}
	return nil
}

// pendingDataset returns the organisation's pending data set named name
// when its kind and firmware config digest are kind and digest (an
// interrupted import of the same folder and config); nil when there is
// none.
func pendingDataset(ctx context.Context, c *cloudclient.Client, name, kind, digest string) (*fleetapi.Dataset, error) {
	ds, err := cloudclient.List[fleetapi.Dataset](ctx, c, "/v1/datasets", nil, 0)
	if err != nil {
		return nil, err
	}
	for i := range ds {
		d := &ds[i]
		if d.Name == name && d.State == "pending" && d.Kind == kind && d.ConfigDigest == digest {
			return d, nil
		}
	}
	return nil, nil
}

func init() {
	register("dataset", "import a UCI-layout folder into rig-cloud, or make a data set from fleet uploads (dataset import|create|get|cancel|delete)", runDataset)
}

const datasetUsage = `dataset import --dir DIR --rig FIRMWARE.yaml [--name NAME] [--kind sim|uci] [--description TEXT] [--idle-timeout 2m] [--context CTX] [--json]
       dataset create --from-uploads --rigs RIG[,RIG...] --from T --to T --rig FIRMWARE.yaml --name NAME
                      [--label TARGET=VALUE ...] [--description TEXT] [--no-wait] [--interval 2s] [--context CTX] [--json]
       dataset get ID [--wait] [--interval 2s] [--context CTX] [--json]
       dataset cancel ID [--wait] [--interval 2s] [--context CTX] [--json]
       dataset delete ID [--context CTX] [--json]

Registers a data set in the UCI hydraulic layout (real, or written by
rigsim dataset) with rig-cloud (POST /v1/datasets, with the firmware config
it was recorded with), then streams the folder as a tar.gz to PUT
/v1/datasets/{id}/archive. Training jobs name the data set's id. The server
and token are those of the login context (rigctl login), or
$RIGCTL_SERVER and $RIGCTL_TOKEN (an operator token or above). The upload
has no time limit: it prints its progress on stderr (bytes sent, rate;
none with --json) and gives up when nothing moved for --idle-timeout (0:
never), the wait for the answer after the last byte included. An import
that stopped before the archive was stored leaves the data set pending:
the same command again (same --name, --kind and firmware config) stores
the archive into it. A folder without the config's UCI files
(profile.txt, each active sensor's <ID>.txt) is refused before anything
is registered.

dataset create --from-uploads makes a data set from the readings the rigs
uploaded (rigctl uploads request) in [--from, --to): rig-cloud cuts them into
the firmware config's cycles (operation.cycle_s) with the edge agent's
resampling, labels every window with --label values (class values by
target; a target not named takes its normal class) and stores the data set
(POST /v1/datasets/from-uploads). The server checks the request and a
rig-cloud worker builds the data set in the background: the command waits,
with a progress line on stderr (phase, rigs done, readings read, windows
so far), and prints the data set ready and, per rig, the readings, the
windows kept and those skipped for a missing cell; a build that fails (no
complete window, too many windows, an archive over the blob store's cap)
exits 1 with the server's reason. --no-wait prints the data set building
and returns; dataset get ID [--wait] shows it (and waits for its build).

dataset cancel ID cancels a building data set's build (POST
/v1/datasets/{id}/cancel): a queued build at once (the data set is failed,
its error saying who cancelled), a running one when its worker next
heartbeats (the data set stays building until then; --wait waits for
that, exit 0 once the build has stopped, 1 if it finished first). A data
set that is not building is refused (409, exit 1).

dataset delete ID deletes a pending data set, one registered whose archive
was never stored (an import given up), so that its name is free again
(DELETE /v1/datasets/{id}). A ready data set is never deleted (jobs and
models name it) and one building is cancelled instead: both are refused
(409, exit 1).`

func runDataset(ctx context.Context, env Env, args []string) int {
	if len(args) > 0 && args[0] == "create" {
		return datasetCreate(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "get" {
		return datasetOne(ctx, env, "get", args[1:])
	}
	if len(args) > 0 && args[0] == "cancel" {
		return datasetOne(ctx, env, "cancel", args[1:])
	}
	if len(args) > 0 && args[0] == "delete" {
		return datasetDelete(ctx, env, args[1:])
	}
	if len(args) == 0 || args[0] != "import" {
		fmt.Fprintln(env.Stderr, "Usage: rigctl "+datasetUsage)
		return ExitUsage
	}
	fs := newFlags(env, "dataset import", datasetUsage)
	dir := fs.String("dir", "", "the data set `DIR` (UCI layout; required)")
	rigPath := fs.String("rig", "", "the firmware config `FILE` the data was recorded with (required)")
	name := fs.String("name", "", "the data set's name in the organisation (default: the folder's name)")
	kind := fs.String("kind", "sim", "uci (the real set's layout, recorded) or sim (written by rigsim)")
	desc := fs.String("description", "", "what the data set is, e.g. how it was generated")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	asJSON := fs.Bool("json", false, "print the server's JSON (and no progress lines on stderr)")
	idle := idleTimeoutFlag(fs)
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if *dir == "" || *rigPath == "" || fs.NArg() > 0 || (*kind != "sim" && *kind != "uci") || *idle < 0 {
		errorf(env, "dataset import: --dir DIR and --rig FILE are required, --kind is sim or uci, --idle-timeout is not negative (no other arguments)")
		return ExitUsage
	}
	if *name == "" {
		*name = filepath.Base(filepath.Clean(*dir))
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		errorf(env, "dataset import: --dir %s is not a folder", *dir)
		return ExitFailure
	}
	y, err := os.ReadFile(*rigPath)
	var cfg *rig.Config
	if err == nil {
		cfg, err = rig.Parse(*rigPath, y)
	}
	if err != nil {
		errorf(env, "dataset import: %v", err)
		return ExitFailure
	}
	if err := checkUCIFiles(*dir, cfg); err != nil {
		errorf(env, "dataset import: %v", err)
		return ExitFailure
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "dataset import: %v", err)
		return ExitFailure
	}
	var d fleetapi.Dataset
	err = c.Do(ctx, "POST", "/v1/datasets", nil, map[string]string{"name": *name, "kind": *kind, "rig_config": string(y),
		"description": *desc}, &d)
	if p := (*cloudapi.Problem)(nil); errors.As(err, &p) && p.Status == http.StatusConflict {
		// The name is taken: by an import that registered the data set
		// and stopped before its archive was stored, resumed here.
		pending, perr := pendingDataset(ctx, c, *name, *kind, cfg.Digest())
		if perr != nil {
			errorf(env, "dataset import: %s (and looking for a pending data set of that name: %v)", cloudclient.Describe(err), perr)
			return ExitFailure
		}
		if pending != nil {
			d, err = *pending, nil
			if !*asJSON {
				fmt.Fprintf(env.Stderr, "data set %d (%s) is registered without its archive: storing it now\n", d.ID, d.Name)
			}
		}
	}
	if err != nil {
		return failed(env, "dataset import", err)
	}
	// The archive streams: no client timeout on the upload (the server
	// bounds it by blob.upload_timeout); --idle-timeout gives up a
	// stalled one.
	up := *c
	up.HTTP = &http.Client{}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(pw, *dir)) }()
	var raw json.RawMessage
	var progress io.Writer
	if !*asJSON {
		progress = env.Stderr
	}
	err = watchUpload(ctx, progress, fmt.Sprintf("data set %d archive", d.ID), 0, *idle, pr, func(ctx context.Context, body io.Reader) error {
		return up.Upload(ctx, "PUT", fmt.Sprintf("/v1/datasets/%d/archive", d.ID), "application/gzip", body, &raw)
	})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return failed(env, fmt.Sprintf("dataset import: data set %d (%s) is registered but its archive was not stored "+
			"(the same command again stores it)", d.ID, d.Name), err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		errorf(env, "dataset import: decode answer: %v", err)
		return ExitFailure
	}
	size, digest := int64(0), ""
	if d.Bytes != nil {
		size = *d.Bytes
	}
	if d.Digest != nil {
		digest = *d.Digest
	}
	fmt.Fprintf(env.Stdout, "data set %d %s: %s, rig type %s, %s, archive %.1f KB %s\n", d.ID, d.Name, d.Kind, d.RigType, d.State,
		float64(size)/1024, digest)
	return ExitOK
}

// datasetDelete is dataset delete: DELETE /v1/datasets/{id} of a pending
// data set.
func datasetDelete(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "dataset delete", datasetUsage)
	ctxName := fs.String("context", "", "login context (default: the current one)")
	asJSON := fs.Bool("json", false, "print {\"id\": ID, \"deleted\": true}")
	pos, code, ok := subcommand(fs, args, 1)
	if !ok {
		return code
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		errorf(env, "dataset delete: %q is not a data set id (a positive integer)", pos[0])
		return ExitUsage
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "dataset delete: %v", err)
		return ExitFailure
	}
	if err := c.Do(ctx, "DELETE", fmt.Sprintf("/v1/datasets/%d", id), nil, nil, nil); err != nil {
		return failed(env, "dataset delete "+pos[0], err)
	}
	if *asJSON {
		return printJSON(env, map[string]any{"id": id, "deleted": true})
	}
	fmt.Fprintf(env.Stdout, "data set %d deleted: its name is free again\n", id)
	return ExitOK
}

// datasetOne is dataset get and dataset cancel (sub): one data set by
// id, GET /v1/datasets/{id} or POST .../cancel, shown as the server
// answered; --wait then polls its build (waitDataset, pollBuild).
func datasetOne(ctx context.Context, env Env, sub string, args []string) int {
	what := "dataset " + sub
	fs := newFlags(env, what, datasetUsage)
	waitHelp := "wait while the data set is building (progress on stderr); exit 1 when its build fails"
	if sub == "cancel" {
		waitHelp = "wait until a running build has stopped (progress on stderr)"
	}
	wait := fs.Bool("wait", false, waitHelp)
	interval := fs.Duration("interval", 2*time.Second, "how often to look at the build while waiting")
	ctxName := fs.String("context", "", "login context (default: the current one)")
	asJSON := fs.Bool("json", false, "print the server's JSON")
	pos, code, ok := subcommand(fs, args, 1)
	if !ok {
		return code
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 || *interval <= 0 {
		errorf(env, "%s: %q is not a data set id (a positive integer), or --interval is not above 0", what, pos[0])
		return ExitUsage
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "%s: %v", what, err)
		return ExitFailure
	}
	method, path := "GET", fmt.Sprintf("/v1/datasets/%d", id)
	if sub == "cancel" {
		method, path = "POST", path+"/cancel"
	}
	var raw json.RawMessage
	if err := c.Do(ctx, method, path, nil, nil, &raw); err != nil {
		return failed(env, what, err)
	}
	var d fleetapi.Dataset
	if err := decodeAnswer(method+" "+path, raw, &d); err != nil {
		errorf(env, "%s: %v", what, err)
		return ExitFailure
	}
	switch {
	case *wait && sub == "get":
		return waitDataset(ctx, env, c, what, d, *interval, *asJSON)
	case *wait:
		d, polled, code := pollBuild(ctx, env, c, what, d, *interval)
		if code != ExitOK {
			return code
		}
		if polled != nil {
			raw = polled
		}
		if code := showDataset(env, d, raw, *asJSON); code != ExitOK {
			return code
		}
		if d.State != "failed" {
			errorf(env, "%s: data set %d %s is %s: its build finished before its worker saw the cancel", what, d.ID, d.Name, d.State)
			return ExitFailure
		}
	case *asJSON:
		return printJSON(env, raw)
	default:
		printDataset(env.Stdout, &d)
	}
	if !*asJSON && d.Error != nil {
		fmt.Fprintf(env.Stdout, "error: %s\n", *d.Error)
	}
	if sub == "cancel" && !*wait && d.State == "building" {
		fmt.Fprintf(env.Stdout, "the build stops at its worker's next heartbeat: rigctl dataset get %d --wait\n", d.ID)
	}
	return ExitOK
}
