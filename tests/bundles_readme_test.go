package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bundlesREADME is the README of the shipped bundles, whose figures
// TestBundlesREADME holds to the bundles.
const bundlesREADME = "models/bundles/README.md"

// mdTable is one Markdown table: its header cells and its rows' cells.
type mdTable struct {
	header []string
	rows   [][]string
}

// mdTables returns the Markdown tables of text, cells trimmed.
func mdTables(text string) []mdTable {
	var tables []mdTable
	var cur *mdTable
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") || !strings.HasSuffix(l, "|") {
			cur = nil
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case cur == nil:
			tables = append(tables, mdTable{header: cells})
			cur = &tables[len(tables)-1]
		case strings.Trim(strings.Join(cells, ""), "-: ") == "":
			// The delimiter row.
		default:
			cur.rows = append(cur.rows, cells)
		}
	}
	return tables
}

// mdTableWith returns the one table of tables whose header starts with
// the given cells.
func mdTableWith(tb testing.TB, tables []mdTable, first ...string) mdTable {
	tb.Helper()
	var found []mdTable
	for _, t := range tables {
		if len(t.header) >= len(first) && slices.Equal(t.header[:len(first)], first) {
			found = append(found, t)
		}
	}
	require.Len(tb, found, 1, "%s: one table whose header starts with %q", bundlesREADME, first)
	return found[0]
}

// column returns the index of the header cell name.
func (t mdTable) column(tb testing.TB, name string) int {
	tb.Helper()
	i := slices.Index(t.header, name)
	require.GreaterOrEqual(tb, i, 0, "%s: the table %q has no column %q", bundlesREADME, t.header, name)
	return i
}

// readmeInt parses a figure written with thousands separators (62,873).
func readmeInt(s string) (int64, error) {
	return strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
}

var (
	readmeBundleCell = regexp.MustCompile("^`([a-z0-9-]+)/`$")
	readmeFileCell   = regexp.MustCompile(`^([\d,]+) B \((\d+\.\d) KiB\)$`)
	readmeWindows    = regexp.MustCompile(`^([\d,]+) / ([\d,]+)$`)
	readmeAccuracy   = regexp.MustCompile(`^([a-z0-9_]+) (\d+\.\d\d)$`)
	readmeCode       = regexp.MustCompile("`([^`]+)`")
	readmeCycles     = regexp.MustCompile(`\b([\d,]+) cycles\b`)
	readmeHeldOut    = regexp.MustCompile(`\b(\d+(?:\.\d+)?) % of the runs held out\b`)
	readmeSizesVar   = regexp.MustCompile("`([A-Z_]+)` =\\s+`(\\{[^`]*\\})`")
	makefileVar      = regexp.MustCompile(`(?m)^([A-Z_]+)\s*\?=\s*(.*)$`)
)

// TestBundlesREADME holds every figure of models/bundles/README.md to the
// shipped bundles, so the README cannot describe bundles no longer
// shipped: one row per bundle folder in each table; the data each was
// trained on (provenance.dataset, checkTrainedOn); parameters
// (provenance.config.parameters), file sizes (models[].bytes, which must
// be the files' sizes), training and validation windows and validation
// accuracies (metrics) as the manifests have them; the sizes each bundle
// was trained with (provenance.config) and the Makefile variables named
// for them (MODEL_SIZES, SKAB_SIZES) as the Makefile sets them.
func TestBundlesREADME(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, bundlesREADME))
	require.NoError(t, err)
	text := string(data)

	dirs, err := filepath.Glob(filepath.Join(root, "models", "bundles", "*", bundle.ManifestFile))
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	manifests := map[string]*bundle.Manifest{}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		m, err := bundle.Load(dir)
		require.NoError(t, err)
		manifests[filepath.Base(dir)] = m
	}

	// The Makefile's sizes variables, as the README quotes them.
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	makeVars := map[string]string{}
	for _, m := range makefileVar.FindAllStringSubmatch(string(mk), -1) {
		makeVars[m[1]] = strings.TrimSpace(m[2])
	}
	sizes := map[string]map[string]any{}
	for _, m := range readmeSizesVar.FindAllStringSubmatch(text, -1) {
		want, ok := makeVars[m[1]]
		if assert.True(t, ok, "%s quotes %s, which the Makefile does not set with ?=", bundlesREADME, m[1]) {
			assert.Equal(t, want, m[2], "%s: %s is not the Makefile's", bundlesREADME, m[1])
		}
		var s map[string]any
		require.NoError(t, json.Unmarshal([]byte(m[2]), &s), "%s: %s", bundlesREADME, m[1])
		sizes[m[1]] = s
	}

	tables := mdTables(text)
	figures := mdTableWith(t, tables, "bundle", "trained on")
	colTrained := figures.column(t, "trained on")
	colSizes, colParams := figures.column(t, "sizes"), figures.column(t, "parameters")
	colFP32, colInt8 := figures.column(t, "fp32"), figures.column(t, "int8")
	colWindows, colAcc := figures.column(t, "windows (train / validation)"), figures.column(t, "validation accuracy")
	seen := map[string]bool{}
	for _, row := range figures.rows {
		require.Len(t, row, len(figures.header), "%s: row %q", bundlesREADME, row)
		b := readmeBundleCell.FindStringSubmatch(row[0])
		require.NotNil(t, b, "%s: the bundle cell %q is not `NAME/`", bundlesREADME, row[0])
		name := b[1]
		m, ok := manifests[name]
		require.True(t, ok, "%s: row %s: no such bundle in models/bundles", bundlesREADME, name)
		seen[name] = true
		where := bundlesREADME + ": " + name

		checkTrainedOn(t, where, row[colTrained], m)

		// The sizes it was trained with, by the Makefile variable named.
		v := strings.Trim(row[colSizes], "`")
		s, ok := sizes[v]
		if assert.True(t, ok, "%s: sizes %q is not a variable whose value the README quotes", where, row[colSizes]) {
			for k, want := range s {
				assert.EqualValues(t, want, m.Provenance.Config[k], "%s: %s sets %s, the manifest's provenance.config differs", where, v, k)
			}
		}

		n, err := readmeInt(row[colParams])
		if assert.NoError(t, err, "%s: parameters", where) {
			assert.EqualValues(t, m.Provenance.Config["parameters"], n, "%s: parameters (provenance.config.parameters)", where)
		}

		for col, p := range map[int]bundle.Precision{colFP32: bundle.FP32, colInt8: bundle.INT8} {
			mf := m.Model(p)
			require.NotNil(t, mf, "%s: no %s model", where, p)
			fi, err := os.Stat(filepath.Join(root, "models", "bundles", name, mf.File))
			require.NoError(t, err)
			assert.Equal(t, mf.Bytes, fi.Size(), "%s: %s: the manifest's bytes are not the file's size", where, mf.File)
			c := readmeFileCell.FindStringSubmatch(row[col])
			if !assert.NotNil(t, c, "%s: %s cell %q is not `BYTES B (KIB KiB)`", where, p, row[col]) {
				continue
			}
			bytes, err := readmeInt(c[1])
			require.NoError(t, err)
			assert.Equal(t, fi.Size(), bytes, "%s: %s bytes", where, mf.File)
			assert.Equal(t, fmt.Sprintf("%.1f", float64(fi.Size())/1024), c[2], "%s: %s KiB", where, mf.File)
		}

		w := readmeWindows.FindStringSubmatch(row[colWindows])
		if assert.NotNil(t, w, "%s: windows cell %q is not `TRAIN / VALIDATION`", where, row[colWindows]) {
			for i, key := range []string{"train.windows", "val.windows"} {
				n, err := readmeInt(w[i+1])
				require.NoError(t, err)
				assert.EqualValues(t, m.Metrics[key], n, "%s: metrics[%q]", where, key)
			}
		}

		// One accuracy per class head, in any order; none without one.
		var targets []string
		for _, h := range m.Heads {
			if h.Kind == bundle.HeadClass {
				targets = append(targets, h.Target)
			}
		}
		acc := map[string]string{}
		cell := row[colAcc]
		if len(targets) == 0 {
			assert.True(t, strings.HasPrefix(cell, "none"), "%s: the bundle has no class head, so no accuracy: %q", where, cell)
		} else {
			body, ok := strings.CutSuffix(cell, " %")
			assert.True(t, ok, "%s: accuracy cell %q does not end in ` %%`", where, cell)
			for _, part := range strings.Split(body, ", ") {
				a := readmeAccuracy.FindStringSubmatch(part)
				if assert.NotNil(t, a, "%s: %q is not `TARGET NN.NN`", where, part) {
					assert.NotContains(t, acc, a[1], "%s: %s twice", where, a[1])
					acc[a[1]] = a[2]
				}
			}
		}
		assert.ElementsMatch(t, targets, sortedKeys(acc), "%s: one accuracy per class head", where)
		for target, got := range acc {
			want, ok := m.Metrics[target+".accuracy"]
			if assert.True(t, ok, "%s: the manifest has no metrics[%q]", where, target+".accuracy") {
				assert.Equal(t, fmt.Sprintf("%.2f", want*100), got, "%s: %s accuracy (metrics[%q] × 100)", where, target, target+".accuracy")
			}
		}
	}
	assert.ElementsMatch(t, sortedKeys(manifests), sortedKeys(seen), "%s: one row per shipped bundle", bundlesREADME)

	// The sizes each bundle was trained with, column by column.
	cfg := mdTableWith(t, tables, "bundle", "hidden")
	seen = map[string]bool{}
	for _, row := range cfg.rows {
		require.Len(t, row, len(cfg.header), "%s: row %q", bundlesREADME, row)
		b := readmeBundleCell.FindStringSubmatch(row[0])
		require.NotNil(t, b, "%s: the bundle cell %q is not `NAME/`", bundlesREADME, row[0])
		m, ok := manifests[b[1]]
		require.True(t, ok, "%s: row %s: no such bundle in models/bundles", bundlesREADME, b[1])
		seen[b[1]] = true
		for i, key := range cfg.header[1:] {
			got, err := strconv.ParseFloat(row[i+1], 64)
			if assert.NoError(t, err, "%s: %s %s", bundlesREADME, b[1], key) {
				assert.EqualValues(t, m.Provenance.Config[key], got, "%s: %s: provenance.config.%s", bundlesREADME, b[1], key)
			}
		}
	}
	assert.ElementsMatch(t, sortedKeys(manifests), sortedKeys(seen), "%s: one sizes row per shipped bundle", bundlesREADME)
}

// checkTrainedOn holds a "trained on" cell to the manifest m: its first
// code span is provenance.dataset without the kind (uci:, sim:, skab:),
// "N cycles" is every window (metrics train.windows + val.windows: one per
// cycle) and "P % of the runs held out" is provenance.config.val_fraction.
func checkTrainedOn(tb testing.TB, where, cell string, m *bundle.Manifest) {
	tb.Helper()
	_, data, ok := strings.Cut(m.Provenance.Dataset, ":")
	assert.True(tb, ok, "%s: provenance.dataset %q is not KIND:DATA", where, m.Provenance.Dataset)
	code := readmeCode.FindStringSubmatch(cell)
	if assert.NotNil(tb, code, "%s: trained on %q names no `data`", where, cell) {
		assert.Equal(tb, data, code[1], "%s: trained on: provenance.dataset is %q", where, m.Provenance.Dataset)
	}
	// Figures outside the code span only (a command's flags are its own).
	prose := readmeCode.ReplaceAllString(cell, "")
	if c := readmeCycles.FindStringSubmatch(prose); c != nil {
		n, err := readmeInt(c[1])
		require.NoError(tb, err)
		assert.EqualValues(tb, m.Metrics["train.windows"]+m.Metrics["val.windows"], n,
			"%s: trained on %s cycles: metrics train.windows + val.windows", where, c[1])
	}
	if h := readmeHeldOut.FindStringSubmatch(prose); h != nil {
		vf, ok := m.Provenance.Config["val_fraction"].(float64)
		if assert.True(tb, ok, "%s: trained on holds out %s %%, the manifest has no provenance.config.val_fraction", where, h[1]) {
			assert.Equal(tb, strconv.FormatFloat(vf*100, 'f', -1, 64), h[1], "%s: trained on: %% of the runs held out (provenance.config.val_fraction × 100)", where)
		}
	}
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestMDTables checks the table reader TestBundlesREADME relies on.
func TestMDTables(t *testing.T) {
	got := mdTables("text\n| a | b |\n|---|---:|\n| 1 | 2 |\n| 3 |  4 |\n\n| c |\n|---|\n| x |\n")
	require.Len(t, got, 2)
	assert.Equal(t, []string{"a", "b"}, got[0].header)
	assert.Equal(t, [][]string{{"1", "2"}, {"3", "4"}}, got[0].rows)
	assert.Equal(t, []string{"c"}, got[1].header)
	assert.Equal(t, [][]string{{"x"}}, got[1].rows)
}

// recordTB records the failures of the checks it is passed, instead of
// failing the test.
type recordTB struct {
	testing.TB
	errors []string
}

func (r *recordTB) Helper() {}

func (r *recordTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestCheckTrainedOn checks that a "trained on" cell that differs from the
// manifest fails: the data, the cycles and the held-out share, each
// changed in a copy of zema-testrig's row.
func TestCheckTrainedOn(t *testing.T) {
	m, err := bundle.Load(filepath.Join(repoRoot(t), "models", "bundles", "zema-testrig"))
	require.NoError(t, err)
	const cell = "all 1,723 cycles of `../shared/data/uci-hydraulic-1hz` (15 % of the runs held out for early stopping)"
	for _, c := range []struct {
		old, new string
		fails    bool
	}{
		{fails: false},
		{old: "uci-hydraulic-1hz", new: "uci-hydraulic-10hz", fails: true},
		{old: "1,723 cycles", new: "1,724 cycles", fails: true},
		{old: "15 %", new: "20 %", fails: true},
		{old: "`../shared", new: "`uci:../shared", fails: true},
	} {
		r := &recordTB{TB: t}
		checkTrainedOn(r, "zema-testrig", strings.Replace(cell, c.old, c.new, 1), m)
		assert.Equal(t, c.fails, len(r.errors) > 0, "%q -> %q: errors %q", c.old, c.new, r.errors)
	}
	r := &recordTB{TB: t}
	m.Provenance.Dataset = "uci:../shared/data/other"
	checkTrainedOn(r, "zema-testrig", cell, m)
	assert.NotEmpty(t, r.errors, "provenance.dataset changed")
}
