package rigctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hydrognn/hydrognn/shared/rig"
)

func init() {
	register("config", "validate firmware configs (config validate [--json] FILE...)", runConfig)
}

// validateResult is one file's outcome in `config validate --json`.
type validateResult struct {
	File       string   `json:"file"`
	Valid      bool     `json:"valid"`
	RigType    string   `json:"rig_type,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	Components int      `json:"components,omitempty"`
	Sensors    int      `json:"sensors,omitempty"`
	Errors     []string `json:"errors,omitempty"`
}

func runConfig(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 || args[0] != "validate" {
		errorf(env, "usage: rigctl config validate [--json] FILE...")
		return ExitUsage
	}
	fs := newFlags(env, "config validate", "config validate [--json] FILE...\n\nExits 0 when every file is valid, 1 otherwise; each problem is printed as FILE:LINE:COL: KEY.PATH: message.")
	asJSON := fs.Bool("json", false, "print one JSON object per file instead of text")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return ExitUsage
	}
	code := ExitOK
	var results []validateResult
	for _, f := range fs.Args() {
		res := validateResult{File: f}
		cfg, err := rig.Load(f)
		if err != nil {
			code = ExitFailure
			var es rig.Errors
			if errors.As(err, &es) {
				for _, e := range es {
					res.Errors = append(res.Errors, e.Error())
				}
			} else {
				res.Errors = []string{err.Error()}
			}
		} else {
			res.Valid = true
			res.RigType, res.Digest = cfg.RigType, cfg.Digest()
			res.Components, res.Sensors = len(cfg.Components), len(cfg.Sensors)
		}
		results = append(results, res)
		if !*asJSON {
			if res.Valid {
				fmt.Fprintf(env.Stdout, "ok      %s: rig type %s, %d components, %d sensors, %s\n",
					f, res.RigType, res.Components, res.Sensors, res.Digest)
			} else {
				fmt.Fprintf(env.Stdout, "invalid %s: %d problem(s)\n", f, len(res.Errors))
				for _, e := range res.Errors {
					fmt.Fprintln(env.Stderr, e)
				}
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			errorf(env, "write output: %v", err)
			return ExitFailure
		}
	}
	return code
}
