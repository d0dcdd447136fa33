package unitfiletest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// writeFile writes content to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRead: directives in order without their section, comments without
// '#', repeated keys kept; the install line's mode for its destination.
func TestRead(t *testing.T) {
	p := writeFile(t, t.TempDir(), "x.service", "# x.service\n#   install -o root -m 0644 x.yaml /etc/x/x.yaml\n\n[Service]\nUser=x\nEnvironment=\"A=1\"\nEnvironment=B=2\n")
	u := Read(t, p)
	if want := []string{"x.service", "install -o root -m 0644 x.yaml /etc/x/x.yaml"}; !slices.Equal(u.Comments, want) {
		t.Errorf("comments %q, want %q", u.Comments, want)
	}
	if want := []string{`"A=1"`, "B=2"}; !slices.Equal(u.Values("Environment"), want) {
		t.Errorf("Environment %q, want %q", u.Values("Environment"), want)
	}
	if got := u.Values("Group"); got != nil {
		t.Errorf("Group %q, want none", got)
	}
	if got := u.InstallMode(t, "/etc/x/x.yaml"); got != 0o644 {
		t.Errorf("install mode %04o, want 0644", got)
	}
}
