package gnn_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// checkoutRoot is the repository root, found from this file's location.
func checkoutRoot(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("no caller: the checkout's root is not known")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// trainCall is one `rigctl train` of the Makefile's models target: the
// flags it passes for one bundle, the last of a repeated flag winning (as
// Go's flag package does).
type trainCall struct {
	bundle string
	flags  map[string]string
}

var (
	makeAssign   = regexp.MustCompile(`(?m)^([A-Z0-9_]+)\s*(?:\?=|:=|=)\s*(.*)$`)
	makeRef      = regexp.MustCompile(`\$\(([A-Z0-9_]+)\)`)
	modelsRecipe = regexp.MustCompile(`(?m)^models:.*\n((?:\t.*\n)+)`)
	trainFunc    = regexp.MustCompile(`train\(\) \{ "\$tmp/rigctl" train (.*?) "\$\{@:2\}"; \};`)
	bundleCase   = regexp.MustCompile(`(?s)\s([a-z0-9-]+)\) (.*?);;`)
)

// makeModels reads the Makefile text: the `rigctl train` call its models
// target makes for each bundle of its MODELS, variables expanded with their
// values in the file (?=, := and =; the environment and the command line
// are not read).
func makeModels(makefile string) (map[string]trainCall, error) {
	vars := map[string]string{}
	for _, m := range makeAssign.FindAllStringSubmatch(makefile, -1) {
		vars[m[1]] = strings.TrimSpace(m[2])
	}
	expand := func(s string) (string, error) {
		for range 10 {
			var missing string
			s = makeRef.ReplaceAllStringFunc(s, func(ref string) string {
				name := makeRef.FindStringSubmatch(ref)[1]
				v, ok := vars[name]
				if !ok {
					missing = name
				}
				return v
			})
			if missing != "" {
				return "", fmt.Errorf("$(%s) is not set in the Makefile", missing)
			}
			if !makeRef.MatchString(s) {
				return strings.ReplaceAll(s, "$$", "$"), nil
			}
		}
		return "", fmt.Errorf("%q: variables nest too deep", s)
	}

	r := modelsRecipe.FindStringSubmatch(makefile)
	if r == nil {
		return nil, fmt.Errorf("no models: target with a recipe")
	}
	recipe := strings.ReplaceAll(r[1], "\\\n", " ")
	// make's $$ is the shell's $; the variables are expanded per call.
	fn := trainFunc.FindStringSubmatch(strings.ReplaceAll(recipe, "$$", "$"))
	if fn == nil {
		return nil, fmt.Errorf("models: no train() { \"$$tmp/rigctl\" train ... \"$${@:2}\"; } function")
	}
	common := fn[1]

	names, err := expand("$(MODELS)")
	if err != nil {
		return nil, err
	}
	calls := map[string]trainCall{}
	for _, c := range bundleCase.FindAllStringSubmatch(recipe, -1) {
		name, body := c[1], strings.ReplaceAll(c[2], "$$", "$")
		if !slices.Contains(strings.Fields(names), name) {
			continue
		}
		_, args, ok := strings.Cut(body, "train "+name+" ")
		if !ok {
			return nil, fmt.Errorf("models: the %s case runs no `train %s`", name, name)
		}
		words, err := shellWords(strings.ReplaceAll(common, "$1", name) + " " + args)
		if err != nil {
			return nil, fmt.Errorf("models: %s: %w", name, err)
		}
		call := trainCall{bundle: name, flags: map[string]string{}}
		for i := 0; i < len(words); i += 2 {
			if !strings.HasPrefix(words[i], "--") || i+1 == len(words) {
				return nil, fmt.Errorf("models: %s: %q is not a --flag VALUE pair", name, words[i:])
			}
			if call.flags[words[i][2:]], err = expand(words[i+1]); err != nil {
				return nil, fmt.Errorf("models: %s: %s: %w", name, words[i], err)
			}
		}
		calls[name] = call
	}
	for _, name := range strings.Fields(names) {
		if _, ok := calls[name]; !ok {
			return nil, fmt.Errorf("models: MODELS names %s, but no case of the recipe trains it", name)
		}
	}
	return calls, nil
}

// shellWords splits s into words as sh would: quotes grouped, not expanded.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced %c in %q", quote, s)
	}
	if in {
		words = append(words, w.String())
	}
	return words, nil
}

// predates are the gnn.Sizes fields added after the shipped bundles were
// trained, with the value a manifest without one stands for: the bundle
// was trained without the feature (-1, none).
var predates = map[string]any{"view_attn": -1}

// bundleDrift lists how the bundle man differs from what call would train
// now: the firmware config (--rig, read under root) and the window of
// man.Input.Steps through gnn.New with the sizes of --sizes give the
// resolved sizes and parameter count, which must be provenance.config's;
// the dataset (--dataset-label, else --data) and seed (--seed) must be
// provenance's, and --out the bundle's folder.
func bundleDrift(root string, call trainCall, man *bundle.Manifest) ([]string, error) {
	var drift []string
	differ := func(format string, a ...any) { drift = append(drift, fmt.Sprintf(format, a...)) }

	if want := "models/bundles/" + call.bundle; call.flags["out"] != want {
		differ("--out %q, want %q", call.flags["out"], want)
	}
	cfg, err := rig.Load(filepath.Join(root, call.flags["rig"]))
	if err != nil {
		return nil, fmt.Errorf("--rig: %w", err)
	}
	var sizes gnn.Sizes
	if s := call.flags["sizes"]; s != "" {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sizes); err != nil {
			return nil, fmt.Errorf("--sizes %s: %w", s, err)
		}
	}
	m, err := gnn.New(cfg, man.Input.Steps, sizes)
	if err != nil {
		return nil, fmt.Errorf("gnn.New(%s, %d steps, %+v): %w", call.flags["rig"], man.Input.Steps, sizes, err)
	}
	b, err := json.Marshal(m.Sizes)
	if err != nil {
		return nil, err
	}
	var resolved map[string]any
	if err := json.Unmarshal(b, &resolved); err != nil {
		return nil, err
	}
	conf := man.Provenance.Config
	for _, k := range slices.Sorted(maps.Keys(resolved)) {
		got, ok := conf[k]
		if !ok {
			if got, ok = predates[k]; !ok {
				differ("provenance.config has no %s (gnn.New resolves it to %v)", k, resolved[k])
				continue
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(resolved[k]) {
			differ("provenance.config.%s = %v, gnn.New resolves --sizes %s to %v", k, got, call.flags["sizes"], resolved[k])
		}
	}
	if got, want := fmt.Sprint(conf["parameters"]), strconv.Itoa(m.NumParams()); got != want {
		differ("provenance.config.parameters = %s, gnn.New's model has %s", got, want)
	}

	dataset := call.flags["dataset-label"]
	if dataset == "" {
		dataset = call.flags["data"]
	}
	if man.Provenance.Dataset != dataset {
		differ("provenance.dataset = %q, make models trains on %q", man.Provenance.Dataset, dataset)
	}
	if got := strconv.FormatInt(man.Provenance.Seed, 10); got != call.flags["seed"] {
		differ("provenance.seed = %s, make models passes --seed %s", got, call.flags["seed"])
	}
	return drift, nil
}

// TestShippedBundlesMakeModels holds every bundle in models/bundles/ to
// what `make models` would train now: the Makefile's models target trains
// each of them (MODELS), and for each, gnn.New on the firmware config it
// passes, the manifest's window (input.steps) and the sizes it passes
// (MODEL_SIZES, or SKAB_SIZES where a bundle's call overrides --sizes)
// resolves to the manifest's provenance.config sizes and parameter count,
// so a change to gnn.DefaultSizes or to a sizes variable cannot leave the
// shipped bundles behind silently; the dataset and seed are the
// provenance's too.
func TestShippedBundlesMakeModels(t *testing.T) {
	root := checkoutRoot(t)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	calls, err := makeModels(string(mk))
	if err != nil {
		t.Fatalf("Makefile: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(root, "models", "bundles", "*", bundle.ManifestFile))
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped bundles in models/bundles: %v", err)
	}
	var shipped []string
	for _, f := range files {
		name := filepath.Base(filepath.Dir(f))
		shipped = append(shipped, name)
		t.Run(name, func(t *testing.T) {
			call, ok := calls[name]
			if !ok {
				t.Fatalf("models/bundles/%s: make models does not train it (Makefile MODELS)", name)
			}
			man, err := bundle.Load(filepath.Dir(f))
			if err != nil {
				t.Fatal(err)
			}
			drift, err := bundleDrift(root, call, man)
			if err != nil {
				t.Fatalf("models/bundles/%s: %v", name, err)
			}
			for _, d := range drift {
				t.Errorf("models/bundles/%s/manifest.json: %s (retrain it: make models MODELS=%s)", name, d, name)
			}
		})
	}
	for name := range calls {
		if !slices.Contains(shipped, name) {
			t.Errorf("make models trains %s, which models/bundles does not ship", name)
		}
	}
}

// TestBundleDriftDetects checks that the comparison fails on the drift it
// is for: a sizes variable, a default the sizes resolve to, the parameter
// count, the dataset and the seed, each changed on a copy.
func TestBundleDriftDetects(t *testing.T) {
	root := checkoutRoot(t)
	mkb, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := string(mkb)
	load := func(t *testing.T, name string) *bundle.Manifest {
		man, err := bundle.Load(filepath.Join(root, "models", "bundles", name))
		if err != nil {
			t.Fatal(err)
		}
		return man
	}
	drift := func(t *testing.T, makefile, name string, man *bundle.Manifest) []string {
		calls, err := makeModels(makefile)
		if err != nil {
			t.Fatal(err)
		}
		d, err := bundleDrift(root, calls[name], man)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := drift(t, mk, "zema-testrig", load(t, "zema-testrig")); len(d) != 0 {
		t.Fatalf("the shipped zema-testrig drifts already: %q", d)
	}

	for _, c := range []struct {
		name, bundle, old, new string
		edit                   func(*bundle.Manifest)
		want                   []string
	}{
		{name: "MODEL_SIZES", bundle: "zema-testrig", old: "MODEL_SIZES      ?= {}", new: `MODEL_SIZES      ?= {"hidden":8}`,
			want: []string{"provenance.config.hidden = 16, gnn.New resolves --sizes {\"hidden\":8} to 8", "provenance.config.parameters"}},
		{name: "SKAB_SIZES", bundle: "skab-testbed", old: `"readout":8`, new: `"readout":4`,
			want: []string{"provenance.config.readout = 8", "provenance.config.parameters"}},
		// A default that changes reads like a manifest trained with another.
		{name: "default window", bundle: "excavator", edit: func(m *bundle.Manifest) { m.Provenance.Config["window"] = 8.0 },
			want: []string{"provenance.config.window = 8, gnn.New resolves --sizes {} to 4"}},
		{name: "view_attn", bundle: "excavator", edit: func(m *bundle.Manifest) { m.Provenance.Config["view_attn"] = 8.0 },
			want: []string{"provenance.config.view_attn = 8"}},
		{name: "parameters", bundle: "excavator", edit: func(m *bundle.Manifest) { m.Provenance.Config["parameters"] = 40023.0 },
			want: []string{"provenance.config.parameters = 40023, gnn.New's model has 40022"}},
		{name: "steps", bundle: "zema-testrig", edit: func(m *bundle.Manifest) { m.Input.Steps = 30 },
			want: []string{"provenance.config.parameters"}},
		{name: "EXCAVATOR_CYCLES", bundle: "excavator", old: "EXCAVATOR_CYCLES ?= 1500", new: "EXCAVATOR_CYCLES ?= 1600",
			want: []string{"provenance.dataset = \"sim:rigsim dataset --rig firmware-configs/excavator.yaml --random --cycles 1500"}},
		{name: "seed", bundle: "skab-testbed", edit: func(m *bundle.Manifest) { m.Provenance.Seed = 2 },
			want: []string{"provenance.seed = 2, make models passes --seed 1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			makefile := mk
			if c.old != "" {
				if !strings.Contains(mk, c.old) {
					t.Fatalf("the Makefile has no %q", c.old)
				}
				makefile = strings.Replace(mk, c.old, c.new, 1)
			}
			man := load(t, c.bundle)
			if c.edit != nil {
				c.edit(man)
			}
			d := drift(t, makefile, c.bundle, man)
			for _, w := range c.want {
				if !slices.ContainsFunc(d, func(s string) bool { return strings.HasPrefix(s, w) }) {
					t.Errorf("no drift starting %q in %q", w, d)
				}
			}
		})
	}
}

// TestMakeModelsParses checks the Makefile reader on a small models target:
// the per-bundle flags override the function's, variables expand.
func TestMakeModelsParses(t *testing.T) {
	mk := "MODELS ?= a b\nS ?= {}\nT ?= {\"hidden\":8}\nD := x --n $(N)\nN ?= 3\n\n" +
		"models: ## x\n" +
		"\t@train() { \"$$tmp/rigctl\" train --rig \"r/$$1.yaml\" --sizes '$(S)' --seed 1 \"$${@:2}\"; }; \\\n" +
		"\tfor m in $(MODELS); do case \"$$m\" in \\\n" +
		"\ta) train a --data 'd:$(D)' ;; \\\n" +
		"\tb) echo b; \\\n\t\ttrain b --data y --sizes '$(T)' ;; \\\n" +
		"\t*) exit 2 ;; \\\n\tesac; done\n"
	calls, err := makeModels(mk)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"a": {"rig": "r/a.yaml", "sizes": "{}", "seed": "1", "data": "d:x --n 3"},
		"b": {"rig": "r/b.yaml", "sizes": `{"hidden":8}`, "seed": "1", "data": "y"},
	}
	if len(calls) != len(want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	for name, flags := range want {
		if got := calls[name].flags; fmt.Sprint(got) != fmt.Sprint(flags) {
			t.Errorf("%s: flags %v, want %v", name, got, flags)
		}
	}
	if _, err := makeModels(strings.Replace(mk, "MODELS ?= a b", "MODELS ?= a b c", 1)); err == nil {
		t.Error("MODELS naming a bundle no case trains: no error")
	}
}
