package unitfiletest

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// File is a systemd unit or drop-in: its directives (Key=Value lines, in
// order, the section dropped) and its comment lines (without '#').
type File struct {
	Directives [][2]string
	Comments   []string
}

// Read reads the unit or drop-in at path; the test fails if it cannot be
// read or holds a line that is neither a comment, a section nor a
// directive.
func Read(t testing.TB, path string) File {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("unitfiletest: %v", err)
	}
	var u File
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#"):
			u.Comments = append(u.Comments, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		case line == "" || strings.HasPrefix(line, "["):
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("unitfiletest: %s: %q is no directive", path, line)
			}
			u.Directives = append(u.Directives, [2]string{k, v})
		}
	}
	return u
}

// Values returns the values of key, in order.
func (u File) Values(key string) []string {
	var out []string
	for _, d := range u.Directives {
		if d[0] == key {
			out = append(out, d[1])
		}
	}
	return out
}

// InstallMode returns the mode of the header's `install ... -m MODE ...
// DEST` comment line that installs dest; the test fails if there is none.
func (u File) InstallMode(t testing.TB, dest string) os.FileMode {
	t.Helper()
	for _, c := range u.Comments {
		f := strings.Fields(c)
		if len(f) < 3 || f[0] != "install" || f[len(f)-1] != dest {
			continue
		}
		i := slices.Index(f, "-m")
		if i <= 0 || i+1 >= len(f) {
			t.Fatalf("unitfiletest: %q names no mode", c)
		}
		m, err := strconv.ParseUint(f[i+1], 8, 32)
		if err != nil {
			t.Fatalf("unitfiletest: %q: %v", c, err)
		}
		return os.FileMode(m)
	}
	t.Fatalf("unitfiletest: no install line for %s in the header", dest)
	return 0
}
