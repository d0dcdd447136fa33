package release

import "testing"

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
		ok   bool
	}{
		{"1.0.0", "1.0.0", 0, true},
		{"1.0.1", "1.0.0", 1, true},
		{"1.0.0", "1.1.0", -1, true},
		{"1.10.0", "1.9.9", 1, true},
		{"v2.0.0", "1.99.99", 1, true},
		{"v2.0.0", "2.0.0+b", 0, true},
		{"1.0.0-rc.1", "1.0.0", -1, true},
		{"1.0.0-rc.2", "1.0.0-rc.10", -1, true},
		{"1.0.0-alpha", "1.0.0-1", 1, true},
		{"1.0.0-rc.1", "1.0.0-rc.1.1", -1, true},
		{"1.0.0+build.5", "1.0.0", 0, true},
		{"dev", "1.0.0", 0, false},
		{"zema-2025.03", "1.0.0", 0, false},
		{"1.0", "1.0.0", 0, false},
		{"1.0.0", "1", 0, false},
		{"01.0.0", "1.0.0", 0, false},
	} {
		got, ok := CompareVersions(c.a, c.b)
		if got != c.want || ok != c.ok {
			t.Errorf("CompareVersions(%q, %q) = %d, %v, want %d, %v", c.a, c.b, got, ok, c.want, c.ok)
		}
	}
}

// FuzzCompareVersions: the order is antisymmetric and reflexive.
func FuzzCompareVersions(f *testing.F) {
	for _, s := range []string{"1.0.0", "v1.2.3", "1.0.0-rc.1", "1.0.0-alpha.beta+x", "0.0.0-1.a"} {
		f.Add(s, "1.0.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ok1 := CompareVersions(a, b)
		ba, ok2 := CompareVersions(b, a)
		if ok1 != ok2 || ab != -ba {
			t.Errorf("compare(%q, %q) = %d, %v; reversed %d, %v", a, b, ab, ok1, ba, ok2)
		}
		if aa, ok := CompareVersions(a, a); ok && aa != 0 {
			t.Errorf("compare(%q, itself) = %d", a, aa)
		}
	})
}
