package rigctl

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDocsDiagnoseExample: the `rigctl diagnose` example in
// docs/inference.md ("Health and status") is this command's output on
// rigsim's data, so it changes when the model or the diagnosis rules do
// (review r1 finding 10: the docs' diagnoses showed the false critical of
// finding 1). Numbers are compared within 0.005 (ONNX Runtime builds
// round differently), everything else exactly.
func TestDocsDiagnoseExample(t *testing.T) {
	needORT(t)
	doc, err := os.ReadFile("../../../docs/inference.md")
	require.NoError(t, err)
	const marker = "<!-- golden: TestDocsDiagnoseExample (tools/internal/rigctl) -->"
	_, block, ok := strings.Cut(string(doc), marker)
	require.True(t, ok, "docs/inference.md has no %s", marker)
	block, _, _ = strings.Cut(strings.SplitN(block, "```\n", 2)[1], "```")
	_, want, ok := strings.Cut(block, "$ rigctl diagnose --bundle models/bundles/excavator --dataset sim:/tmp/exc\n")
	require.True(t, ok, "the example's command changed: update the test")

	data := simulate(t, excavatorRig, "", 4) // rigsim dataset --cycles 4 --grid-hz 1 --seed 3
	code, got, errOut := runBin(t, "diagnose", "--bundle", excavatorBundle, "--dataset", "sim:"+data)
	require.Equal(t, ExitOK, code, errOut)
	got = strings.ReplaceAll(got, "sim:"+data, "sim:/tmp/exc")

	sameOutput(t, want, got)
}

// sameOutput fails t unless got has want's lines, the same but for
// their numbers, which may differ by 0.005 or one unit of their last
// printed digit, whichever is larger (ONNX Runtime builds round
// differently, and a remaining useful life in tenths of an hour moves
// with the health's third decimal).
func sameOutput(t *testing.T, want, got string) {
	t.Helper()
	wl, gl := strings.Split(strings.TrimRight(want, "\n"), "\n"), strings.Split(strings.TrimRight(got, "\n"), "\n")
	require.Equal(t, len(wl), len(gl), "lines; the command now prints:\n%s", got)
	for i := range wl {
		require.True(t, sameLine(wl[i], gl[i]), "line %d:\n docs: %s\n now:  %s\nthe command now prints:\n%s", i+1, wl[i], gl[i], got)
	}
}

// number is a number as the diagnose output prints it.
var number = regexp.MustCompile(`\d+(\.\d+)?`)

// sameLine reports whether lines a and b are the same but for their
// numbers (sameOutput).
func sameLine(a, b string) bool {
	if number.ReplaceAllString(a, "#") != number.ReplaceAllString(b, "#") {
		return false
	}
	an, bn := number.FindAllString(a, -1), number.FindAllString(b, -1)
	for k := range an {
		x, errX := strconv.ParseFloat(an[k], 64)
		y, errY := strconv.ParseFloat(bn[k], 64)
		if errX != nil || errY != nil {
			return false
		}
		tol := 0.005
		if _, frac, ok := strings.Cut(an[k], "."); ok {
			tol = max(tol, math.Pow(10, -float64(len(frac))))
		} else {
			tol = 0 // counts are exact
		}
		if math.Abs(x-y) > tol+1e-9 {
			return false
		}
	}
	return true
}

// TestDocsDiagnoseClockExample: the `rigctl diagnose --start --cycle`
// example in docs/inference.md ("Health and status") is this command's
// output on the real UCI cycles 1, 14, ..., 209 (accumulatorCycles), the
// lines the example's grep keeps.
func TestDocsDiagnoseClockExample(t *testing.T) {
	needORT(t)
	doc, err := os.ReadFile("../../../docs/inference.md")
	require.NoError(t, err)
	const marker = "<!-- golden: TestDocsDiagnoseClockExample (tools/internal/rigctl) -->"
	_, block, ok := strings.Cut(string(doc), marker)
	require.True(t, ok, "docs/inference.md has no %s", marker)
	block, _, _ = strings.Cut(strings.SplitN(block, "```\n", 2)[1], "```")
	const cmd = "$ rigctl diagnose --bundle models/bundles/zema-testrig --dataset uci:/tmp/acc --start 2026-03-01T06:00:00Z --cycle 13m | grep -E '^cycle (1|9|10|11|17):'\n"
	_, want, ok := strings.Cut(block, cmd)
	require.True(t, ok, "the example's command changed: update the test")

	code, out, errOut := runBin(t, "diagnose", "--bundle", zemaBundle, "--dataset", "uci:"+accumulatorCycles(t),
		"--start", "2026-03-01T06:00:00Z", "--cycle", "13m")
	require.Equal(t, ExitOK, code, errOut)
	var got strings.Builder
	keep := regexp.MustCompile(`^cycle (1|9|10|11|17):`)
	for line := range strings.Lines(out) {
		if keep.MatchString(line) {
			got.WriteString(line)
		}
	}
	sameOutput(t, want, got.String())
}
