package tests

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	promql "github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ruleFiles are the Prometheus rule files of deploy/prometheus/ and the
// source folders of the binaries whose metrics each may name.
var ruleFiles = []struct{ file, src string }{
	{"deploy/prometheus/rig-agent.rules.yaml", "agent"},
	{"deploy/prometheus/rig-cloud.rules.yaml", "cloud"},
}

// runbookDoc is the document every alert's runbook_url points into.
const runbookDoc = "docs/operations.md"

// scrapeMetrics are series Prometheus itself adds to every target's scrape:
// rules may name them although no binary exports them.
var scrapeMetrics = map[string]bool{"up": true}

// targetLabels are the labels Prometheus attaches to every scraped series.
var targetLabels = map[string]bool{"job": true, "instance": true}

// exported is one metric family a binary registers: its type (counter,
// gauge, histogram, summary, or "" when the source does not say) and the
// label names it carries.
type exported struct {
	kind   string
	labels map[string]bool
	where  string // file:line of its definition
}

// TestPrometheusRules loads deploy/prometheus/*.rules.yaml with Prometheus'
// own rule-file parser and PromQL parser, and checks what Prometheus does
// not: every alert has a severity (page or ticket), a summary, a description
// and a runbook_url whose anchor is a heading of docs/operations.md; every
// metric a rule reads is one the binary exports (found in its source: every
// prometheus.*Opts Name and every agent desc; _bucket, _sum and _count only
// for histograms), or a series an earlier rule records, or `up`; and every
// label a selector matches is one the metric carries. A renamed metric or
// label therefore fails this test until the rules follow it.
func TestPrometheusRules(t *testing.T) {
	root := repoRoot(t)
	anchors := docAnchors(t, filepath.Join(root, runbookDoc))
	recorded := map[string]bool{}
	for _, rf := range ruleFiles {
		t.Run(filepath.Base(rf.file), func(t *testing.T) {
			inv := exportedMetrics(t, filepath.Join(root, rf.src))
			require.NotEmpty(t, inv, "no metric found in %s", rf.src)
			data, err := os.ReadFile(filepath.Join(root, rf.file))
			require.NoError(t, err)
			problems, rec := checkRules(data, inv, anchors)
			for _, p := range problems {
				t.Errorf("%s: %s", rf.file, p)
			}
			for r := range rec {
				assert.False(t, recorded[r], "%s: %s is recorded by another file too", rf.file, r)
				recorded[r] = true
			}
		})
	}
}

// TestPrometheusRulesCatchMistakes feeds checkRules rule files with one
// mistake each (a misspelled metric, a label the metric lacks, ...) and
// expects the problem it names: the check above cannot pass vacuously.
func TestPrometheusRulesCatchMistakes(t *testing.T) {
	root := repoRoot(t)
	inv := exportedMetrics(t, filepath.Join(root, "agent"))
	anchors := map[string]bool{"rigagentdown": true}
	alert := func(expr string, extra ...string) string {
		labels, ann := "severity: page", `summary: "s"
          description: "d"
          runbook_url: "docs/operations.md#rigagentdown"`
		for _, e := range extra {
			k, v, _ := strings.Cut(e, "=")
			switch k {
			case "labels":
				labels = v
			case "annotations":
				ann = v
			}
		}
		return fmt.Sprintf(`groups:
  - name: g
    rules:
      - alert: A
        expr: %s
        labels:
          %s
        annotations:
          %s
`, expr, labels, ann)
	}
	good := alert(`rate(rig_agent_ingest_readings_total[5m]) == 0`)
	problems, _ := checkRules([]byte(good), inv, anchors)
	require.Empty(t, problems, "the good rule file is refused")
	for _, tc := range []struct{ name, file, want string }{
		{"misspelled metric", alert(`rate(rig_agent_ingest_reading_total[5m]) == 0`),
			"rig_agent_ingest_reading_total is not a metric agent exports"},
		{"renamed metric", strings.ReplaceAll(good, "rig_agent_ingest_readings_total", "rig_agent_ingest_stored_total"),
			"rig_agent_ingest_stored_total is not a metric agent exports"},
		{"bucket of a counter", alert(`rig_agent_ingest_readings_total_bucket > 0`),
			"rig_agent_ingest_readings_total_bucket is not a metric agent exports"},
		{"unknown label", alert(`rig_agent_buffer_dropped_total{cause="max_age"} > 0`),
			`label "cause" of rig_agent_buffer_dropped_total: not a label it carries (reason, released)`},
		{"unknown recorded series", alert(`instance:rig_agent_nothing:rate5m > 0`),
			"instance:rig_agent_nothing:rate5m is recorded by no earlier rule"},
		{"bad PromQL", alert(`rate(rig_agent_ingest_readings_total[5m] == 0`), "unclosed left parenthesis"},
		{"no severity", alert(`rig_agent_ready == 0`, "labels=team: rigs"), "severity"},
		{"severity not page or ticket", alert(`rig_agent_ready == 0`, "labels=severity: critical"), `severity "critical"`},
		{"no summary", alert(`rig_agent_ready == 0`, `annotations=description: "d"
          runbook_url: "docs/operations.md#rigagentdown"`), "no summary"},
		{"runbook anchor missing", alert(`rig_agent_ready == 0`, `annotations=summary: "s"
          description: "d"
          runbook_url: "docs/operations.md#rigagentgone"`), `anchor "rigagentgone" is no heading of docs/operations.md`},
		{"runbook elsewhere", alert(`rig_agent_ready == 0`, `annotations=summary: "s"
          description: "d"
          runbook_url: "https://example.com/x"`), "runbook_url"},
		{"unknown field", strings.Replace(good, "expr:", "exprs:", 1), "exprs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, _ := checkRules([]byte(tc.file), inv, anchors)
			require.NotEmpty(t, problems)
			assert.Contains(t, strings.Join(problems, "\n"), tc.want)
		})
	}
}

// checkRules parses a rule file and returns its problems, one line each,
// and the series its recording rules record.
func checkRules(data []byte, inv map[string]*exported, anchors map[string]bool) (problems []string, recorded map[string]bool) {
	p := promql.NewParser(promql.Options{})
	groups, errs := rulefmt.Parse(data, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		problems = append(problems, err.Error())
	}
	if groups == nil {
		return problems, nil
	}
	recorded = map[string]bool{}
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			expr, err := p.ParseExpr(r.Expr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			problems = append(problems, checkSelectors(name, expr, inv, recorded)...)
			if r.Record != "" {
				if strings.Count(r.Record, ":") != 2 {
					problems = append(problems, fmt.Sprintf("%s: a recorded series is named level:metric:operations", r.Record))
				}
				recorded[r.Record] = true
				continue
			}
			if alerts[r.Alert] {
				problems = append(problems, fmt.Sprintf("%s: alert name used twice", r.Alert))
			}
			alerts[r.Alert] = true
			problems = append(problems, checkAlert(r, anchors)...)
		}
	}
	return problems, recorded
}

// checkSelectors checks every series selector of expr: the metric is
// exported (or recorded earlier, or added by the scrape) and every label
// it matches is one the metric carries.
func checkSelectors(rule string, expr promql.Expr, inv map[string]*exported, recorded map[string]bool) (problems []string) {
	promql.Inspect(expr, func(n promql.Node, _ []promql.Node) error {
		vs, ok := n.(*promql.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			problems = append(problems, fmt.Sprintf("%s: selector %s names no metric", rule, vs))
			return nil
		}
		var labels map[string]bool
		switch {
		case strings.Contains(name, ":"):
			if !recorded[name] {
				problems = append(problems, fmt.Sprintf("%s: %s is recorded by no earlier rule", rule, name))
			}
			return nil // its labels are those its rule keeps
		case scrapeMetrics[name]:
			labels = map[string]bool{}
		default:
			m, suffix := lookupMetric(inv, name)
			if m == nil {
				problems = append(problems, fmt.Sprintf("%s: %s is not a metric %s exports (renamed? see its source)", rule, name, sourceOf(inv)))
				return nil
			}
			labels = maps(m.labels)
			if suffix == "_bucket" {
				labels["le"] = true
			}
		}
		for _, lm := range vs.LabelMatchers {
			if lm.Name == model.MetricNameLabel || targetLabels[lm.Name] || labels[lm.Name] {
				continue
			}
			have := make([]string, 0, len(labels))
			for l := range labels {
				have = append(have, l)
			}
			slices.Sort(have)
			problems = append(problems, fmt.Sprintf("%s: label %q of %s: not a label it carries (%s)", rule, lm.Name, name, strings.Join(have, ", ")))
		}
		return nil
	})
	return problems
}

func maps(m map[string]bool) map[string]bool {
	c := make(map[string]bool, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// sourceOf names the folder inv was read from, for messages.
func sourceOf(inv map[string]*exported) string {
	for _, m := range inv {
		return strings.SplitN(m.where, string(filepath.Separator), 2)[0]
	}
	return "?"
}

// lookupMetric finds name in inv, as a family or as one of a histogram's
// (_bucket, _sum, _count) or a summary's (_sum, _count) series.
func lookupMetric(inv map[string]*exported, name string) (*exported, string) {
	if m := inv[name]; m != nil {
		return m, ""
	}
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, s)
		if !ok {
			continue
		}
		m := inv[base]
		if m != nil && (m.kind == "histogram" || m.kind == "summary" && s != "_bucket") {
			return m, s
		}
	}
	return nil, ""
}

// checkAlert checks an alerting rule's labels and annotations.
func checkAlert(r rulefmt.Rule, anchors map[string]bool) (problems []string) {
	add := func(format string, args ...any) {
		problems = append(problems, r.Alert+": "+fmt.Sprintf(format, args...))
	}
	switch sev := r.Labels["severity"]; sev {
	case "page", "ticket":
	case "":
		add("no severity label (page or ticket)")
	default:
		add("severity %q: want page or ticket", sev)
	}
	for _, a := range []string{"summary", "description", "runbook_url"} {
		if strings.TrimSpace(r.Annotations[a]) == "" {
			add("no %s annotation", a)
		}
	}
	if u := r.Annotations["runbook_url"]; u != "" {
		doc, anchor, ok := strings.Cut(u, "#")
		switch {
		case !ok || doc != runbookDoc:
			add("runbook_url %q: want %s#ANCHOR", u, runbookDoc)
		case !anchors[anchor]:
			add("runbook_url %q: anchor %q is no heading of %s", u, anchor, runbookDoc)
		}
	}
	return problems
}

// docAnchors returns the anchors GitHub gives the headings of a Markdown
// file: lower case, punctuation dropped, spaces as hyphens.
func docAnchors(tb testing.TB, path string) map[string]bool {
	tb.Helper()
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	anchors := map[string]bool{}
	inFence := false
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		anchors[a] = true
	}
	return anchors
}

// exportedMetrics reads the non-test Go files under dir and returns the
// metric families they register: the Name of every prometheus.CounterOpts,
// GaugeOpts, HistogramOpts and SummaryOpts literal (with the label names
// of the *Vec constructor it is passed to), every prometheus.NewDesc with a
// constant name, and every call of a helper that returns
// prometheus.NewDesc(PREFIX+name, ...) (the agent's desc). A Desc given to
// prometheus.MustNewConstHistogram is a histogram.
func exportedMetrics(tb testing.TB, dir string) map[string]*exported {
	tb.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "vendor" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), "prometheus") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, data, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		files = append(files, f)
		return nil
	})
	require.NoError(tb, err)
	base := filepath.Dir(dir)
	where := func(n ast.Node) string {
		p := fset.Position(n.Pos())
		rel, _ := filepath.Rel(base, p.Filename)
		return rel + ":" + strconv.Itoa(p.Line)
	}

	// Helpers returning prometheus.NewDesc(PREFIX+param, ...): name -> PREFIX.
	descFuncs := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil || len(fd.Body.List) != 1 {
				continue
			}
			ret, ok := fd.Body.List[0].(*ast.ReturnStmt)
			if !ok || len(ret.Results) != 1 {
				continue
			}
			call, ok := ret.Results[0].(*ast.CallExpr)
			if !ok || !isProm(call.Fun, "NewDesc") || len(call.Args) == 0 {
				continue
			}
			if be, ok := call.Args[0].(*ast.BinaryExpr); ok && be.Op == token.ADD {
				if prefix, ok := stringLit(be.X); ok {
					descFuncs[fd.Name.Name] = prefix
				}
			}
		}
	}

	inv := map[string]*exported{}
	add := func(name, kind string, labels []string, n ast.Node) *exported {
		m := inv[name]
		if m == nil {
			m = &exported{labels: map[string]bool{}, where: where(n)}
			inv[name] = m
		}
		if kind != "" {
			m.kind = kind
		}
		for _, l := range labels {
			m.labels[l] = true
		}
		return m
	}
	descVars := map[string]string{} // variable holding a Desc -> metric name
	// descName returns the metric a Desc-making call defines, if any.
	descName := func(call *ast.CallExpr) (string, []string, bool) {
		if id, ok := call.Fun.(*ast.Ident); ok {
			if prefix, ok := descFuncs[id.Name]; ok && len(call.Args) > 0 {
				if s, ok := stringLit(call.Args[0]); ok {
					var labels []string
					for _, a := range call.Args[min(2, len(call.Args)):] {
						if l, ok := stringLit(a); ok {
							labels = append(labels, l)
						}
					}
					return prefix + s, labels, true
				}
			}
		}
		if isProm(call.Fun, "NewDesc") && len(call.Args) >= 3 {
			if s, ok := stringLit(call.Args[0]); ok {
				return s, stringSlice(call.Args[2]), true
			}
		}
		return "", nil, false
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, v := range n.Values {
					if call, ok := v.(*ast.CallExpr); ok && i < len(n.Names) {
						if name, _, ok := descName(call); ok {
							descVars[n.Names[i].Name] = name
						}
					}
				}
			case *ast.CallExpr:
				if name, labels, ok := descName(n); ok {
					add(name, "", labels, n)
					return true
				}
				if len(n.Args) == 0 {
					return true
				}
				lit, ok := n.Args[0].(*ast.CompositeLit)
				if !ok {
					return true
				}
				kind := optsKind(lit.Type)
				if kind == "" {
					return true
				}
				for _, e := range lit.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if k, _ := kv.Key.(*ast.Ident); !ok || k == nil || k.Name != "Name" {
						continue
					}
					if s, ok := stringLit(kv.Value); ok {
						var labels []string
						if len(n.Args) > 1 {
							labels = stringSlice(n.Args[1])
						}
						add(s, kind, labels, lit)
					}
				}
			}
			return true
		})
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			kind := ""
			switch {
			case isProm(call.Fun, "MustNewConstHistogram"), isProm(call.Fun, "NewConstHistogram"):
				kind = "histogram"
			case isProm(call.Fun, "MustNewConstSummary"), isProm(call.Fun, "NewConstSummary"):
				kind = "summary"
			default:
				return true
			}
			if id, ok := call.Args[0].(*ast.Ident); ok && descVars[id.Name] != "" {
				inv[descVars[id.Name]].kind = kind
			}
			return true
		})
	}
	return inv
}

// optsKind is the metric type of a prometheus.*Opts literal's type, "" for
// any other type.
func optsKind(t ast.Expr) string {
	for _, k := range []string{"Counter", "Gauge", "Histogram", "Summary"} {
		if isProm(t, k+"Opts") {
			return strings.ToLower(k)
		}
	}
	return ""
}

// isProm reports whether e is prometheus.NAME.
func isProm(e ast.Expr, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == "prometheus"
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

// stringSlice returns the strings of a []string{...} literal.
func stringSlice(e ast.Expr) []string {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range lit.Elts {
		if s, ok := stringLit(el); ok {
			out = append(out, s)
		}
	}
	return out
}

// promRuleCR is the PrometheusRule of deploy/prometheus/, for the
// Prometheus Operator: the rule files' groups under spec.groups.
const promRuleCR = "deploy/prometheus/prometheusrule.yaml"

// EnvUpdatePromRule, set to 1, makes TestPrometheusRuleResource write
// deploy/prometheus/prometheusrule.yaml from the rule files instead of
// comparing it with them.
const EnvUpdatePromRule = "HYDROGNN_UPDATE_PROMRULE"

// TestPrometheusRuleResource: deploy/prometheus/prometheusrule.yaml holds
// exactly the groups of the rule files (it is made from them, so the two
// cannot drift: HYDROGNN_UPDATE_PROMRULE=1 writes it anew), and its
// spec passes the same checks as the files.
func TestPrometheusRuleResource(t *testing.T) {
	root := repoRoot(t)
	var b strings.Builder
	b.WriteString(`# Made by TestPrometheusRuleResource (tests/prometheus_rules_test.go) from
# rig-agent.rules.yaml and rig-cloud.rules.yaml: edit those, then run
#   cd tests && HYDROGNN_UPDATE_PROMRULE=1 go test -run TestPrometheusRuleResource .
# For the Prometheus Operator: kubectl apply -k deploy/prometheus
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: hydrognn
spec:
  groups:
`)
	for _, rf := range ruleFiles {
		data, err := os.ReadFile(filepath.Join(root, rf.file))
		require.NoError(t, err)
		_, body, ok := strings.Cut(string(data), "\ngroups:\n")
		require.True(t, ok, "%s: no top-level groups:", rf.file)
		fmt.Fprintf(&b, "    # from %s\n", filepath.Base(rf.file))
		for line := range strings.SplitSeq(strings.TrimRight(body, "\n"), "\n") {
			if line != "" {
				b.WriteString("  ")
			}
			b.WriteString(line + "\n")
		}
	}
	path := filepath.Join(root, promRuleCR)
	if os.Getenv(EnvUpdatePromRule) == "1" {
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b.String(), string(got), "%s is not made from the rule files: run `cd tests && %s=1 go test -run TestPrometheusRuleResource .`", promRuleCR, EnvUpdatePromRule)

	// The spec, as a rule file, passes the checks of TestPrometheusRules
	// (against both binaries' metrics).
	_, spec, _ := strings.Cut(string(got), "\nspec:\n")
	var rules strings.Builder
	for line := range strings.SplitSeq(spec, "\n") {
		rules.WriteString(strings.TrimPrefix(line, "  ") + "\n")
	}
	inv := exportedMetrics(t, filepath.Join(root, "agent"))
	for name, m := range exportedMetrics(t, filepath.Join(root, "cloud")) {
		inv[name] = m
	}
	problems, _ := checkRules([]byte(rules.String()), inv, docAnchors(t, filepath.Join(root, runbookDoc)))
	assert.Empty(t, problems)
}
