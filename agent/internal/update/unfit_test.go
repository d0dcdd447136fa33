package update

import (
	"errors"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/release"
)

// TestSignedBundleForAnotherConfigGivenUpAtOnce: a release whose signed
// custom metadata names this rig's firmware config, while the bundle in
// its archive (whose bytes the signed hash vouches for) was made for
// another one. Verification refused it, counted one attempt and removed
// the archive, and the next cycles downloaded the same signed bytes again
// to refuse them again, max_attempts times (on a metered link, against the
// day's byte budget the diagnoses share). Those bytes can never fit: the
// release is now given up at the first refusal.
func TestSignedBundleForAnotherConfigGivenUpAtOnce(t *testing.T) {
	f := newFixture(t, "1.0.0")
	other := "sha256:" + strings.Repeat("cd", 32)
	p := f.release("1.1.0", nil, func(m *bundle.Manifest) { m.ConfigDigest = other })
	f.forge(f.readKeys("targets"), func(s *metadata.TargetsType) {
		tf := s.Targets[p]
		rel, err := release.FromTargetFile(tf)
		if err != nil {
			t.Fatal(err)
		}
		rel.ConfigDigest = testConfigDigest // the release tool's mistake
		if err := rel.Apply(tf); err != nil {
			t.Fatal(err)
		}
	})
	a := f.open(func(o *Options) { o.MaxAttempts = 3 })
	if err := a.Cycle(t.Context()); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "firmware config") {
		t.Fatalf("first cycle: %v", err)
	}
	if st := a.Status(); st.State != Failed || st.Attempts[p] != 3 || a.Current() != f.factory {
		t.Fatalf("after the refusal: state %s, attempts %d, current %s", st.State, st.Attempts[p], a.Current())
	}
	before := len(f.archiveRequests())
	for range 2 {
		if err := a.Cycle(t.Context()); err != nil {
			t.Fatalf("later cycle: %v", err)
		}
	}
	if n := len(f.archiveRequests()); n != before {
		t.Errorf("the archive was downloaded %d more times", n-before)
	}
}
