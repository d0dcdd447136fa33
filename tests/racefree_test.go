package tests

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// raceFreePackages reads the Makefile's RACE_FREE list: the package
// folders make test runs without the race detector.
func raceFreePackages(t *testing.T, makefile string) []string {
	t.Helper()
	f, err := os.Open(makefile)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RACE_FREE :="); ok {
			return strings.Fields(v)
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("%s: no RACE_FREE := line", makefile)
	return nil
}

// concurrencyIn lists, as file:line: what, every go statement, every call
// of a method named Parallel (t.Parallel) and every import of an errgroup
// in the Go files of dir, tests included.
func concurrencyIn(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "%s: no Go files", dir)
	fset := token.NewFileSet()
	var found []string
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			if strings.Contains(imp.Path.Value, "errgroup") {
				found = append(found, fset.Position(imp.Pos()).String()+": imports "+imp.Path.Value)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				found = append(found, fset.Position(n.Pos()).String()+": go statement")
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Parallel" {
					found = append(found, fset.Position(n.Pos()).String()+": Parallel()")
				}
			}
			return true
		})
	}
	return found
}

// TestRaceFreePackages: make test runs the RACE_FREE packages without
// -race (they are its slowest under the detector); that is only sound
// while nothing in them runs concurrently, which this checks.
func TestRaceFreePackages(t *testing.T) {
	root := repoRoot(t)
	pkgs := raceFreePackages(t, filepath.Join(root, "Makefile"))
	require.NotEmpty(t, pkgs)
	for _, p := range pkgs {
		require.False(t, strings.Contains(p, "..."), "RACE_FREE lists packages, not patterns: %s", p)
		assert.Empty(t, concurrencyIn(t, filepath.Join(root, p)),
			"%s is in the Makefile's RACE_FREE (tested without -race) but runs something concurrently: remove it from RACE_FREE or the concurrency", p)
	}
}

// TestConcurrencyInFindsGoroutines: the check above sees a go statement
// and a t.Parallel call.
func TestConcurrencyInFindsGoroutines(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n\nfunc f() { go f() }\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a_test.go"), []byte("package a\n\nimport \"testing\"\n\nfunc TestF(t *testing.T) { t.Parallel() }\n"), 0o600))
	found := concurrencyIn(t, dir)
	require.Len(t, found, 2, "%v", found)
	assert.Contains(t, found[0], "a.go:3:12: go statement")
	assert.Contains(t, found[1], "a_test.go:5:28: Parallel()")
}
