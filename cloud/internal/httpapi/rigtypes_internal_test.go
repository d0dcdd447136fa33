package httpapi

import "testing"

func TestKeyPointer(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"", ""},
		{"rig_type", "/rig_type"},
		{"sensors[3].unit", "/sensors/3/unit"},
		{"targets[0].classes[1].health", "/targets/0/classes/1/health"},
		{"grid[1][2]", "/grid/1/2"},
		{"a/b.c~d", "/a~1b/c~0d"},
	} {
		if got := keyPointer(c.path); got != c.want {
			t.Errorf("keyPointer(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}
