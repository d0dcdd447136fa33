package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// docBlock is one fenced block of a tracked Markdown file with the marker
// on the line right before its opening fence.
type docBlock struct {
	file   string // the file's path from the repository root, e.g. docs/agent.md
	line   int    // the opening fence's line
	info   string // the fence's info string (sh, yaml, ...), "" when there is none
	marker string // the marker's text, "" when there is none
	body   string // the block's lines, dedented to the fence
}

func (b docBlock) name() string { return b.file + ":" + strconv.Itoa(b.line) }

var (
	docFence  = regexp.MustCompile("^( {0,3})(```+)\\s*(\\S*)")
	docMarker = regexp.MustCompile(`^<!-- (test: .+|not tested: .+|example: \w+|golden: \w+ \(\S+\)) -->$`)
	docGolden = regexp.MustCompile(`^golden: (\w+) \((\S+)\)$`)
)

// docFiles returns the Markdown files the harness checks, relative to
// root: every tracked *.md file (git ls-files) but those under .cache/ or
// a vendor/ folder, which are other projects' documents.
func docFiles(tb testing.TB, root string) []string {
	tb.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--", "*.md")
	cmd.Dir = root
	out, err := cmd.Output()
	require.NoError(tb, err, "git ls-files in %s: the harness checks the tracked Markdown files", root)
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" || strings.HasPrefix(f, ".cache/") || f == "vendor" || strings.HasPrefix(f, "vendor/") || strings.Contains(f, "/vendor/") {
			continue
		}
		files = append(files, f)
	}
	return files
}

// docBlocks returns every fenced block of the Markdown files docFiles
// names.
func docBlocks(tb testing.TB, root string) []docBlock {
	tb.Helper()
	files := docFiles(tb, root)
	require.NotEmpty(tb, files)
	var blocks []docBlock
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(tb, err)
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i++ {
			m := docFence.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			b := docBlock{file: f, line: i + 1, info: m[3]}
			if i > 0 {
				if mm := docMarker.FindStringSubmatch(strings.TrimSpace(lines[i-1])); mm != nil {
					b.marker = mm[1]
				}
			}
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != m[2]; i++ {
				body = append(body, strings.TrimPrefix(lines[i], m[1]))
			}
			require.Less(tb, i, len(lines), "%s: the block is never closed", b.name())
			b.body = strings.Join(body, "\n")
			blocks = append(blocks, b)
		}
	}
	return blocks
}

// docElsewhere is a test that checks the blocks of a marker kind itself.
type docElsewhere struct {
	test  string   // its file, from the repository root
	decl  string   // its declaration, which the file must hold
	files []string // the files whose blocks it reads (path.Match patterns from the root)
	info  string   // the fence's info string it looks for
}

// docCheckedElsewhere names, per marker kind, the test that checks those
// blocks, the files it reads and the fence it finds them by: the tests of
// other modules (this module cannot import their loaders, which are
// internal packages) and TestREADMECommands. The harness checks that the
// test still exists and that a block so marked is where the test looks.
var docCheckedElsewhere = map[string]docElsewhere{
	"agent-config":          {"agent/internal/config/docs_test.go", "func TestDocsAgentConfigs(", []string{"docs/*.md"}, "yaml"},
	"agent-config-fragment": {"agent/internal/config/docs_test.go", "func TestDocsAgentConfigs(", []string{"docs/*.md"}, "yaml"},
	"example":               {"shared/cloudapi/docs_test.go", "func TestDocExamples(", []string{"docs/agent-cloud-api.md", "docs/agent.md"}, "json"},
	"readme-commands":       {"tests/readme_test.go", "func TestREADMECommands(", []string{"README.md"}, "sh"},
}

// TestDocsBlocks makes every example in the tracked Markdown files
// (docFiles: README.md, docs/*.md, deploy/README.md, models/*/README.md,
// ...) a test: each fenced block carries a marker on the line before it,
// either `<!-- test: KIND ARGS -->` or `<!-- not tested: REASON -->`, so a
// new example cannot go in untested unnoticed. The kinds:
//
//   - shell: every line is a cheap `bin/...` command needing no service; run
//     like the README's, against freshly built binaries.
//   - cli-flags: every rigctl, rigsim, rig-agent and rig-cloud command in the
//     block names a command that exists and only flags it has (its -h output);
//     other lines (go, curl, make) are not run.
//   - make: every `make TARGET` line names a target of the Makefile.
//   - rigsim-scenario RIG: the block is a scenario file that `rigsim dataset
//     --rig RIG --scenario FILE` accepts.
//   - rig-fragment RIG: the block is one sensor or component entry; RIG with
//     the entry of the same id replaced by it passes `rigctl config validate`.
//   - agent-config, agent-config-fragment: agent/internal/config's
//     TestDocsAgentConfigs parses them with config.Parse.
//   - prometheus-config: the block is a prometheus.yml that decodes
//     strictly into the fields Prometheus reads, loads the rule files of
//     deploy/prometheus and scrapes every job those rules name.
//   - go-test DIR: every `go test` command (run from DIR, or from the
//     folder a `cd X` before it entered) names packages that exist, and its -run,
//     -bench and -fuzz patterns each select a test function of theirs
//     (-run '^$' selects none, on purpose); nothing is run.
//   - readme-commands (README.md's sh blocks): TestREADMECommands runs them.
//   - example: TYPE (docs/agent-cloud-api.md, docs/agent.md):
//     shared/cloudapi's TestDocExamples decodes them strictly and validates
//     them.
//
// A block written by a golden test is marked `<!-- golden: TestName (dir) -->`
// (dir: the test's package folder); the harness checks that the test exists.
func TestDocsBlocks(t *testing.T) {
	root := repoRoot(t)
	blocks := docBlocks(t, root)
	var run []docBlock
	for _, b := range blocks {
		kind, _, _ := strings.Cut(b.marker, " ")
		switch {
		case b.marker == "":
			t.Errorf("%s: fenced block without a marker: put `<!-- test: KIND -->` (see TestDocsBlocks) or `<!-- not tested: REASON -->` on the line before it", b.name())
		case strings.HasPrefix(b.marker, "not tested:"):
			assert.NotEmpty(t, strings.TrimSpace(strings.TrimPrefix(b.marker, "not tested:")), "%s: say why it is not tested", b.name())
		case strings.HasPrefix(b.marker, "example:"):
			checkedElsewhere(t, root, b, "example")
		case strings.HasPrefix(b.marker, "golden:"):
			m := docGolden.FindStringSubmatch(b.marker)
			files, _ := filepath.Glob(filepath.Join(root, m[2], "*_test.go"))
			found := false
			for _, f := range files {
				data, err := os.ReadFile(f)
				require.NoError(t, err)
				found = found || strings.Contains(string(data), "func "+m[1]+"(")
			}
			assert.True(t, found, "%s: the golden test %s is not in %s", b.name(), m[1], m[2])
		case kind == "test:":
			k := strings.Fields(strings.TrimPrefix(b.marker, "test:"))[0]
			if _, ok := docCheckedElsewhere[k]; ok {
				checkedElsewhere(t, root, b, k)
				continue
			}
			run = append(run, b)
		}
	}
	if t.Failed() {
		return
	}
	bin := buildBinaries(t)
	// The cli-flags check itself: an unknown flag or command is caught.
	require.Error(t, docHelpHas(bin+"/rigctl", []string{"rollout", "create"}, []string{"no-such-flag"}))
	require.Error(t, docHelpHas(bin+"/rigctl", []string{"no-such-command"}, nil))
	require.NoError(t, docHelpHas(bin+"/rigctl", []string{"rollout", "create"}, []string{"release", "soak"}))
	for _, b := range run {
		args := strings.Fields(strings.TrimPrefix(b.marker, "test:"))
		t.Run(b.name(), func(t *testing.T) {
			switch args[0] {
			case "shell":
				docShell(t, root, bin, b)
			case "cli-flags":
				docCLIFlags(t, bin, b)
			case "make":
				docMake(t, root, b)
			case "prometheus-config":
				docPrometheusConfig(t, root, b)
			case "go-test":
				require.Len(t, args, 2, "go-test DIR")
				docGoTest(t, filepath.Join(root, args[1]), b)
			case "rigsim-scenario":
				require.Len(t, args, 2, "rigsim-scenario RIG")
				f := filepath.Join(t.TempDir(), "scenario.yaml")
				require.NoError(t, os.WriteFile(f, []byte(b.body), 0o644))
				docRun(t, root, bin+"/rigsim", "dataset", "--rig", args[1], "--scenario", f,
					"--cycles", "2", "--grid-hz", "1", "--out", filepath.Join(t.TempDir(), "out"))
			case "rig-fragment":
				require.Len(t, args, 2, "rig-fragment RIG")
				f := filepath.Join(t.TempDir(), filepath.Base(args[1]))
				require.NoError(t, os.WriteFile(f, []byte(spliceEntry(t, filepath.Join(root, args[1]), b.body)), 0o644))
				docRun(t, root, bin+"/rigctl", "config", "validate", f)
			default:
				t.Errorf("%s: unknown test kind %q (see TestDocsBlocks)", b.name(), args[0])
			}
		})
	}
}

func checkedElsewhere(t *testing.T, root string, b docBlock, kind string) {
	t.Helper()
	where := docCheckedElsewhere[kind]
	data, err := os.ReadFile(filepath.Join(root, where.test))
	if assert.NoError(t, err, "%s: %s blocks are checked by %s", b.name(), kind, where.test) {
		assert.Contains(t, string(data), where.decl, "%s: %s blocks are checked by %s", b.name(), kind, where.test)
	}
	assert.NotEmpty(t, where.files)
	for _, pat := range where.files {
		assert.Contains(t, string(data), pat, "%s: %s must read %s, where docCheckedElsewhere says it looks", b.name(), where.test, pat)
	}
	read := false
	for _, pat := range where.files {
		ok, err := path.Match(pat, b.file)
		require.NoError(t, err)
		read = read || ok
	}
	assert.True(t, read, "%s: %s reads %s blocks only in %v: this one would go unchecked", b.name(), where.test, kind, where.files)
	assert.Equal(t, where.info, b.info, "%s: %s finds %s blocks by their ```%s fence", b.name(), where.test, kind, where.info)
}

func docRun(t *testing.T, root, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s %s\n%s", name, strings.Join(args, " "), out)
	return string(out)
}

// docLines returns the block's command lines: comments dropped, lines
// continued with a backslash joined, and each line cut at " #".
func docLines(body string) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		if cur == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur += c + " "
			continue
		}
		l, _, _ = strings.Cut(cur+l, " #")
		cur = ""
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

func docShell(t *testing.T, root, bin string, b docBlock) {
	tmp := t.TempDir()
	for _, c := range docLines(b.body) {
		require.True(t, strings.HasPrefix(c, "bin/"), "%s: a shell block has only bin/ commands: %q (mark it cli-flags instead)", b.name(), c)
		if strings.Contains(c, "../shared/data") {
			if _, err := os.Stat(filepath.Join(root, "../shared/data")); err != nil {
				t.Skip("../shared/data is absent")
			}
		}
		line := strings.ReplaceAll(c, "/tmp/", tmp+"/")
		line = strings.ReplaceAll(line, "bin/", bin+"/")
		docRun(t, root, "bash", "-c", line)
	}
}

var (
	docBinaries   = regexp.MustCompile(`^(?:\S*/)?(?:[a-z]+-)??(rigctl|rigsim|rig-agent|rig-cloud)$`)
	docShellWords = map[string]bool{"do": true, "then": true, "else": true, "time": true, "exec": true}
	docSegmentAt  = regexp.MustCompile(`^(?:;|&&|\s\|\s|\$\(|\))`)
	docWord       = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	docFlag       = regexp.MustCompile(`(?:^|[\s\[(|])--?([a-z][a-z0-9-]*)`)
)

// docCLIFlags checks each hydrognn command of the block against the
// binary's help: the command exists and has every flag the line uses.
func docCLIFlags(t *testing.T, bin string, b docBlock) {
	n := 0
	for _, l := range docLines(b.body) {
		for _, seg := range docSegments(l) {
			// The command's first word, after variable assignments.
			f := strings.Fields(seg)
			start := 0
			for start < len(f) && (strings.Contains(f[start], "=") || docShellWords[f[start]]) {
				start++
			}
			if start == len(f) || !docBinaries.MatchString(f[start]) {
				continue
			}
			n++
			exe := docBinaries.FindStringSubmatch(f[start])[1]
			var words []string
			for _, w := range f[start+1:] {
				if len(words) == 3 || !docWord.MatchString(w) {
					break
				}
				words = append(words, w)
			}
			var flags []string
			for _, m := range docFlag.FindAllStringSubmatch(strings.Join(f[start+1:], " "), -1) {
				if m[1] != "h" && m[1] != "help" {
					flags = append(flags, m[1])
				}
			}
			assert.NoError(t, docHelpHas(bin+"/"+exe, words, flags), "%s: %s", b.name(), l)
		}
	}
	assert.NotZero(t, n, "%s: a cli-flags block without a rigctl, rigsim, rig-agent or rig-cloud command", b.name())
}

// docHelpHas runs EXE WORDS... -h with the longest prefix of words whose
// help lists every flag, and says why when none does or the command is
// unknown.
func docHelpHas(exe string, words, flags []string) error {
	var first string
	for k := len(words); k >= min(1, len(words)); k-- {
		out, _ := exec.Command(exe, append(append([]string{}, words[:k]...), "-h")...).CombinedOutput()
		help := string(out)
		if k == len(words) {
			first = help
		}
		if strings.Contains(help, "unknown command") {
			if k == 1 {
				return fmt.Errorf("%s %s: unknown command", filepath.Base(exe), words[0])
			}
			continue
		}
		ok := true
		for _, fl := range flags {
			if !regexp.MustCompile(`(?:^|[^a-z0-9-])--?` + regexp.QuoteMeta(fl) + `(?:[^a-z0-9-]|$)`).MatchString(help) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("%s %s: not a command with the flags %v; its help:\n%s", filepath.Base(exe), strings.Join(words, " "), flags, first)
}

// docPromConfig is the part of Prometheus' configuration file
// (prometheus.yml) that the deploy docs show; decoded with unknown fields
// refused, so a misspelt or misplaced key fails.
type docPromConfig struct {
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		Scheme        string `yaml:"scheme"`
		Authorization *struct {
			Type            string `yaml:"type"`
			Credentials     string `yaml:"credentials"`
			CredentialsFile string `yaml:"credentials_file"`
		} `yaml:"authorization"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

var docPromJob = regexp.MustCompile(`job="([a-z0-9-]+)"`)

// docPrometheusConfig checks a prometheus.yml block: it decodes strictly,
// its rule files are deploy/prometheus's *.rules.yaml (by base name, all of
// them), and it has one scrape job, with host:port targets, for every job
// name those rules select.
func docPrometheusConfig(t *testing.T, root string, b docBlock) {
	var c docPromConfig
	dec := yaml.NewDecoder(strings.NewReader(b.body))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&c), "%s: not a prometheus.yml of the known fields", b.name())
	rules, err := filepath.Glob(filepath.Join(root, "deploy", "prometheus", "*.rules.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, rules)
	var want, got []string
	wantJobs := map[string]bool{}
	for _, f := range rules {
		want = append(want, filepath.Base(f))
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range docPromJob.FindAllStringSubmatch(string(data), -1) {
			wantJobs[m[1]] = true
		}
	}
	for _, f := range c.RuleFiles {
		got = append(got, path.Base(f))
	}
	assert.ElementsMatch(t, want, got, "%s: rule_files are deploy/prometheus/*.rules.yaml", b.name())
	jobs := map[string]bool{}
	for _, sc := range c.ScrapeConfigs {
		assert.False(t, jobs[sc.JobName], "%s: job %q twice", b.name(), sc.JobName)
		jobs[sc.JobName] = true
		if sc.Authorization != nil {
			assert.False(t, sc.Authorization.Credentials != "" && sc.Authorization.CredentialsFile != "", "%s: job %s: credentials and credentials_file are exclusive", b.name(), sc.JobName)
		}
		require.NotEmpty(t, sc.StaticConfigs, "%s: job %s has no targets", b.name(), sc.JobName)
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				_, port, err := net.SplitHostPort(tg)
				if assert.NoError(t, err, "%s: job %s: target %q is not host:port", b.name(), sc.JobName, tg) {
					_, err := strconv.ParseUint(port, 10, 16)
					assert.NoError(t, err, "%s: job %s: target %q", b.name(), sc.JobName, tg)
				}
			}
		}
	}
	for j := range wantJobs {
		assert.True(t, jobs[j], "%s: the rules select job=%q, which the config does not scrape", b.name(), j)
	}
}

// docSegments cuts a command line into its commands at ;, &&, " | ", $(
// and ), outside quotes only: single quotes hold everything up to the next
// one, double quotes everything but a $( ... ), which is a command (with
// quotes of its own) again.
func docSegments(l string) []string {
	var segs []string
	start := 0
	var ctx []byte // the open quotes and $( (as '(') around position i
	top := func() byte {
		if len(ctx) == 0 {
			return 0
		}
		return ctx[len(ctx)-1]
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch top() {
		case '\'':
			if c == '\'' {
				ctx = ctx[:len(ctx)-1]
			}
			continue
		case '"':
			switch {
			case c == '"':
				ctx = ctx[:len(ctx)-1]
			case strings.HasPrefix(l[i:], "$("):
				ctx = append(ctx, '(')
				segs = append(segs, l[start:i])
				i++
				start = i + 1
			}
			continue
		}
		if c == '\'' || c == '"' {
			ctx = append(ctx, c)
			continue
		}
		m := docSegmentAt.FindString(l[i:])
		if m == "" {
			continue
		}
		switch {
		case m == "$(":
			ctx = append(ctx, '(')
		case m == ")" && top() == '(':
			ctx = ctx[:len(ctx)-1]
		}
		segs = append(segs, l[start:i])
		i += len(m) - 1
		start = i + 1
	}
	return append(segs, l[start:])
}

// docSplitTop splits s at each sep outside parentheses and brackets, as go
// test splits a -run pattern into its levels at '/'.
func docSplitTop(s string, sep byte) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case sep:
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// docWords splits a shell command line into words, with single and double
// quotes removed (no escapes or expansions: enough for go test lines).
func docWords(l string) []string {
	var words []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range l {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// docGoTestValueFlags are go test's flags that take a value.
var docGoTestValueFlags = map[string]bool{
	"run": true, "bench": true, "fuzz": true, "skip": true, "benchtime": true, "count": true,
	"fuzztime": true, "fuzzminimizetime": true, "timeout": true, "tags": true, "cpu": true,
	"parallel": true, "coverprofile": true, "cpuprofile": true, "memprofile": true, "list": true,
	"exec": true, "o": true, "ldflags": true, "gcflags": true, "covermode": true, "coverpkg": true,
}

var docTestFunc = regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz|Example)\w*)\(`)

// docGoTest checks the go test lines of a block without running them:
// their packages exist under dir (or the folder a `cd X` before them
// enters), and each -run, -bench and -fuzz pattern selects at least one
// function of its kind in those packages' _test.go files.
func docGoTest(t *testing.T, dir string, b docBlock) {
	n := 0
	wd := dir // a cd holds for the lines after it, as in a shell
	for _, l := range docLines(b.body) {
		for _, seg := range docSegments(l) {
			w := docWords(strings.TrimSpace(seg))
			for len(w) > 0 && strings.Contains(w[0], "=") && !strings.HasPrefix(w[0], "-") {
				w = w[1:] // VAR=value before the command
			}
			if len(w) == 2 && w[0] == "cd" {
				wd = filepath.Join(wd, w[1])
				continue
			}
			if len(w) < 2 || w[0] != "go" || w[1] != "test" {
				continue
			}
			n++
			flags := map[string]string{}
			var pkgs []string
			for i := 2; i < len(w); i++ {
				if !strings.HasPrefix(w[i], "-") {
					pkgs = append(pkgs, w[i])
					continue
				}
				name, val, hasVal := strings.Cut(strings.TrimLeft(w[i], "-"), "=")
				if !hasVal && docGoTestValueFlags[name] && i+1 < len(w) {
					i++
					val = w[i]
				}
				flags[name] = val
			}
			if len(pkgs) == 0 {
				pkgs = []string{"."}
			}
			var funcs []string
			for _, p := range pkgs {
				root, all := strings.CutSuffix(p, "/...")
				pdir := filepath.Join(wd, root)
				fi, err := os.Stat(pdir)
				if !assert.NoError(t, err, "%s: `%s`: no package %s", b.name(), l, p) || !assert.True(t, fi.IsDir(), "%s: %s", b.name(), p) {
					continue
				}
				files, _ := filepath.Glob(filepath.Join(pdir, "*_test.go"))
				if all {
					files = nil
					require.NoError(t, filepath.WalkDir(pdir, func(f string, d os.DirEntry, err error) error {
						if err == nil && !d.IsDir() && strings.HasSuffix(f, "_test.go") {
							files = append(files, f)
						}
						return err
					}))
				}
				assert.NotEmpty(t, files, "%s: `%s`: %s has no tests", b.name(), l, p)
				for _, f := range files {
					data, err := os.ReadFile(f)
					require.NoError(t, err)
					for _, m := range docTestFunc.FindAllStringSubmatch(string(data), -1) {
						funcs = append(funcs, m[1])
					}
				}
			}
			for flag, kinds := range map[string][]string{"run": {"Test", "Fuzz", "Example"}, "bench": {"Benchmark"}, "fuzz": {"Fuzz"}} {
				pat, ok := flags[flag]
				if !ok || pat == "^$" {
					continue
				}
				// Each alternative of the top-level tests' part selects a
				// function, so that a renamed test in a list is noticed.
				for _, alt := range docSplitTop(docSplitTop(pat, '/')[0], '|') {
					re, err := regexp.Compile(alt)
					if !assert.NoError(t, err, "%s: `%s`: -%s", b.name(), l, flag) {
						continue
					}
					found := false
					for _, f := range funcs {
						for _, k := range kinds {
							found = found || strings.HasPrefix(f, k) && re.MatchString(f)
						}
					}
					assert.True(t, found, "%s: `%s`: -%s %q: %q selects no %v function of %v", b.name(), l, flag, pat, alt, kinds, pkgs)
				}
			}
		}
	}
	assert.NotZero(t, n, "%s: a go-test block without a go test command", b.name())
}

var docMakeTarget = regexp.MustCompile(`(?m)^([a-z0-9-]+):`)

func docMake(t *testing.T, root string, b docBlock) {
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	targets := map[string]bool{}
	for _, m := range docMakeTarget.FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	n := 0
	for _, l := range docLines(b.body) {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "make" {
			continue
		}
		n++
		for _, w := range f[1:] {
			if strings.Contains(w, "=") {
				break // variables follow the targets
			}
			if strings.HasPrefix(w, "-") {
				continue
			}
			assert.True(t, targets[w], "%s: `%s`: the Makefile has no target %q", b.name(), l, w)
		}
	}
	assert.NotZero(t, n, "%s: a make block without a make command", b.name())
}

// spliceEntry returns the YAML file with the list entry of the fragment's id
// (a line `  - {id: X, ...` or `  - id: X`) replaced by the fragment.
func spliceEntry(t *testing.T, path, frag string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	m := regexp.MustCompile(`^\s*- \{?id: ([^,\s}]+)`).FindStringSubmatch(frag)
	require.NotNil(t, m, "a rig fragment starts with `- id: X` or `- {id: X`")
	lines := strings.Split(string(data), "\n")
	start := -1
	for i, l := range lines {
		if mm := regexp.MustCompile(`^\s*- \{?id: ([^,\s}]+)`).FindStringSubmatch(l); mm != nil && mm[1] == m[1] {
			start = i
			break
		}
	}
	require.GreaterOrEqual(t, start, 0, "%s has no entry with id %s", path, m[1])
	indent := len(lines[start]) - len(strings.TrimLeft(lines[start], " "))
	end := start + 1
	for ; end < len(lines); end++ {
		l := lines[end]
		ind := len(l) - len(strings.TrimLeft(l, " "))
		if strings.TrimSpace(l) != "" && (ind < indent || ind == indent && strings.HasPrefix(strings.TrimSpace(l), "- ")) {
			break
		}
	}
	out := append(append(append([]string{}, lines[:start]...), strings.Split(frag, "\n")...), lines[end:]...)
	return strings.Join(out, "\n")
}

// TestDocsSegments: the harness cuts command lines into commands outside
// quotes only, and a -run pattern into its alternatives outside groups.
func TestDocsSegments(t *testing.T) {
	for l, want := range map[string][]string{
		`cd x && go test -run 'TestA;B' ./y; make`:           {"cd x ", " go test -run 'TestA;B' ./y", " make"},
		`go test -run '^(TestA|TestB)$' ./x | tail`:          {"go test -run '^(TestA|TestB)$' ./x", "tail"},
		`X="$(rigctl version | cut -d' ' -f1)" rigsim -h`:    {`X="`, "rigctl version", "cut -d' ' -f1", `" rigsim -h`},
		`eval "$(make -s env)"; go test -run "A|B" ./x`:      {`eval "`, "make -s env", `"`, ` go test -run "A|B" ./x`},
		`(cd x && go test -bench 'Run$|Kind' -run '^$' ./y)`: {"(cd x ", " go test -bench 'Run$|Kind' -run '^$' ./y", ""},
	} {
		assert.Equal(t, want, docSegments(l), "%s", l)
	}
	for pat, want := range map[string][]string{
		"TestA|TestB":           {"TestA", "TestB"},
		"^(TestA|TestB)$|TestC": {"^(TestA|TestB)$", "TestC"},
		`[|]x|y`:                {"[|]x", "y"},
		`a\|b|c`:                {`a\|b`, "c"},
	} {
		assert.Equal(t, want, docSplitTop(pat, '|'), "%s", pat)
	}
	assert.Equal(t, []string{"TestA|TestB", "sub|x"}, docSplitTop("TestA|TestB/sub|x", '/'))
}
