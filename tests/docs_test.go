package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docBlock is one fenced block of a docs/*.md file with the marker on the
// line right before its opening fence.
type docBlock struct {
	file   string // docs/NAME.md
	line   int    // the opening fence's line
	marker string // the marker's text, "" when there is none
	body   string // the block's lines, dedented to the fence
}

func (b docBlock) name() string { return b.file + ":" + strconv.Itoa(b.line) }

var (
	docFence  = regexp.MustCompile("^( {0,3})(```+)")
	docMarker = regexp.MustCompile(`^<!-- (test: .+|not tested: .+|example: \w+|golden: \w+ \(\S+\)) -->$`)
	docGolden = regexp.MustCompile(`^golden: (\w+) \((\S+)\)$`)
)

// docBlocks returns every fenced block of the docs.
func docBlocks(tb testing.TB, root string) []docBlock {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(tb, err)
	require.NotEmpty(tb, files)
	var blocks []docBlock
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(tb, err)
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i++ {
			m := docFence.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			b := docBlock{file: "docs/" + filepath.Base(f), line: i + 1}
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

// docCheckedElsewhere names, per marker kind, the test of another module
// that checks those blocks (this module cannot import their loaders, which
// are internal packages). The harness checks that the test still exists.
var docCheckedElsewhere = map[string][2]string{
	"agent-config":          {"agent/internal/config/docs_test.go", "func TestDocsAgentConfigs("},
	"agent-config-fragment": {"agent/internal/config/docs_test.go", "func TestDocsAgentConfigs("},
	"example":               {"shared/cloudapi/docs_test.go", "func TestDocExamples("},
}

// TestDocsBlocks makes every example in docs/*.md a test: each fenced block
// carries a marker on the line before it, either `<!-- test: KIND ARGS -->`
// or `<!-- not tested: REASON -->`, so a new example cannot go in untested
// unnoticed. The kinds:
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
//   - example: TYPE (docs/agent-cloud-api.md): shared/cloudapi's
//     TestDocExamples decodes them.
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
	data, err := os.ReadFile(filepath.Join(root, where[0]))
	if assert.NoError(t, err, "%s: %s blocks are checked by %s", b.name(), kind, where[0]) {
		assert.Contains(t, string(data), where[1], "%s: %s blocks are checked by %s", b.name(), kind, where[0])
	}
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
	docSegment    = regexp.MustCompile(`;|&&|\s\|\s|\$\(|\)`)
	docWord       = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	docFlag       = regexp.MustCompile(`(?:^|[\s\[(|])--?([a-z][a-z0-9-]*)`)
)

// docCLIFlags checks each hydrognn command of the block against the
// binary's help: the command exists and has every flag the line uses.
func docCLIFlags(t *testing.T, bin string, b docBlock) {
	n := 0
	for _, l := range docLines(b.body) {
		for _, seg := range docSegment.Split(l, -1) {
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
