package update

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// installOffered makes a (with offers) install the offered release at
// path and waits out its watch.
func installOffered(t *testing.T, a *agent, offers *fakeOffers, path, version string, rollout int64) {
	t.Helper()
	offers.set(&cloudapi.Offer{Target: path, Version: version, Rollout: rollout})
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatalf("offered %s: %v", version, err)
	}
	a.clock.Add(2 * time.Hour) // past the watch
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.Installed.Version != version || st.Installed.Path != path {
		t.Fatalf("offered %s: %+v", version, st.Record)
	}
}

// refusedIncompatible checks that the last cycle refused offer as not
// fitting this rig: ErrOffer and ErrIncompatible saying want, state
// incompatible naming the offer, installed kept, no attempt counted and
// nothing downloaded since archives requests.
func refusedIncompatible(t *testing.T, f *fixture, a *agent, err error, offer cloudapi.Offer, installed string, archives int, want string) {
	t.Helper()
	if !errors.Is(err, ErrOffer) || !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want ErrOffer and ErrIncompatible saying %q", err, want)
	}
	st := a.Status()
	if st.State != Incompatible || st.Installed.Path != installed || st.Target != nil || st.Attempts[offer.Target] != 0 ||
		!strings.Contains(st.LastError, want) {
		t.Fatalf("status %+v; want incompatible, %s kept, no attempt", st.Record, installed)
	}
	if w := (Failure{Path: offer.Target, Version: offer.Version, Rollout: offer.Rollout}); st.Failed == nil || *st.Failed != w {
		t.Errorf("failed %+v, want the refused offer %+v", st.Failed, w)
	}
	if n := len(f.archiveRequests()); n != archives {
		t.Errorf("archives requested: %v", f.archiveRequests()[archives:])
	}
}

// TestUnfitOfferIncompatible: an offered release for other hardware (same
// rig type: what a rollout selects on) was recorded and reported as a
// failure of that release and rollout, halting rollouts on mixed fleets.
// It is now refused as incompatible: no attempt, the offer named (so that
// the rollout leaves the agent out), and idle once the offer goes.
func TestUnfitOfferIncompatible(t *testing.T) {
	f := newFixture(t, "1.0.0")
	p := f.release("1.1.0", []string{"jetson-orin"}, nil)
	offers := &fakeOffers{}
	a := f.open(func(o *Options) { o.Offers = offers })
	offer := cloudapi.Offer{Target: p, Version: "1.1.0", Rollout: 5}
	offers.set(&offer)
	for range 2 { // refused again at every check, never counted
		err := a.Cycle(t.Context())
		refusedIncompatible(t, f, a, err, offer, "", 0, "hardware [jetson-orin] does not include this machine's [amd64]")
		if CycleErrorReason(err) != "incompatible" {
			t.Errorf("cycle error reason %q", CycleErrorReason(err))
		}
	}
	if tr := a.transitions(); tr[len(tr)-1] != "checking>incompatible!" {
		t.Errorf("transitions %v", tr)
	}
	if got, want := a.Status().CycleErrors, map[string]uint64{"incompatible": 2}; !maps.Equal(got, want) {
		t.Errorf("cycle errors %v, want %v (not counted as a broken offer)", got, want)
	}
	offers.set(nil)
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Idle || st.Failed != nil || st.LastError == "" {
		t.Errorf("offer withdrawn: %+v", st.Record)
	}
}

// TestDowngradeOnlyToKeptPrevious: the agent accepted any older signed
// release offered as an explicit rollback, so the cloud's online keys (or
// any operator's rollout) could put any release ever signed back on the
// fleet. An older offer is now installed only when it is the kept previous
// bundle (same target path and manifest digest; for the bundle the agent
// was installed with, the same manifest digest); any other is refused as
// incompatible, logged and counted once per offer, and does not end the
// watch of the installed release.
func TestDowngradeOnlyToKeptPrevious(t *testing.T) {
	f := newFixture(t, "1.0.0")
	p105 := f.release("1.0.5", nil, nil)
	p110 := f.release("1.1.0", nil, nil)
	p120 := f.release("1.2.0", nil, nil)
	offers := &fakeOffers{}
	a := f.open(func(o *Options) { o.Offers = offers })
	installOffered(t, a, offers, p110, "1.1.0", 1)

	// 1.2.0 committed and watched: an offer of 1.0.5 leaves the watch be.
	offers.set(&cloudapi.Offer{Target: p120, Version: "1.2.0", Rollout: 2})
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	watch := a.Status().WatchUntil
	old := cloudapi.Offer{Target: p105, Version: "1.0.5", Rollout: 999}
	offers.set(&old)
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Committed || st.Installed.Version != "1.2.0" || !st.WatchUntil.Equal(watch) {
		t.Fatalf("1.0.5 offered during the watch of 1.2.0: %+v", st.Record)
	}

	// After the watch: refused, whatever the rollout, counted once.
	a.clock.Add(2 * time.Hour)
	n := len(f.archiveRequests())
	for range 2 {
		err := a.Cycle(t.Context())
		refusedIncompatible(t, f, a, err, old, p120, n, "not this agent's kept previous bundle (it is "+p110+" 1.1.0)")
	}
	if st := a.Status(); st.DowngradesRefused != 1 || st.Previous.Path != p110 {
		t.Errorf("downgrades refused %d, previous %+v; want 1, 1.1.0 kept", st.DowngradesRefused, st.Previous)
	}

	// The kept previous bundle's release: the explicit rollback.
	offers.set(&cloudapi.Offer{Target: p110, Version: "1.1.0", Rollout: 3})
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Committed || st.Installed.Version != "1.1.0" || !st.Installed.Downgrade || st.Previous.Version != "1.2.0" {
		t.Fatalf("rollback to the kept previous 1.1.0: %+v", st.Record)
	}

	// The bundle the agent was installed with (no target path) is its
	// kept previous bundle when the offered release has its manifest.
	g := newFixture(t, "1.0.0")
	q100 := g.release("1.0.0", nil, nil)
	q110 := g.release("1.1.0", nil, nil)
	offers = &fakeOffers{}
	b := g.open(func(o *Options) { o.Offers = offers })
	installOffered(t, b, offers, q110, "1.1.0", 1)
	offers.set(&cloudapi.Offer{Target: q100, Version: "1.0.0", Rollout: 2})
	if err := b.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := b.Status(); st.State != Committed || st.Installed.Version != "1.0.0" || st.DowngradesRefused != 0 {
		t.Fatalf("rollback to the factory bundle's release: %+v", st.Record)
	}
}

// TestEqualVersionOtherBundle: the agent took any offer whose version
// ranks equal to the installed one for the installed release, so another
// bundle at the same version, or 1.1.0+retrain2 (semver ignores build
// metadata) over 1.1.0, was never installed while the agent reported
// idle. It is now refused as incompatible, saying why; the installed
// release offered again is still nothing to do. (1.1.0+retrain2 beside
// 1.1.0 of the same bundle can no longer be published: tufrepo refuses
// it, TestEqualRankingVersionRefused; the agent's rule is the same
// equal-rank comparison, exercised here by another bundle.)
func TestEqualVersionOtherBundle(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		edit    func(*bundle.Manifest)
	}{
		{"another bundle", "1.1.0", func(m *bundle.Manifest) { m.Name = "skab-testbed-int8only" }},
		{"another bundle with build metadata", "1.1.0+retrain2", func(m *bundle.Manifest) { m.Name = "skab-testbed-int8only" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "1.0.0")
			p1 := f.release("1.1.0", nil, nil)
			p2 := f.release(tc.version, nil, tc.edit)
			offers := &fakeOffers{}
			a := f.open(func(o *Options) { o.Offers = offers })
			installOffered(t, a, offers, p1, "1.1.0", 1)
			n := len(f.archiveRequests())
			offer := cloudapi.Offer{Target: p2, Version: tc.version, Rollout: 2}
			offers.set(&offer)
			err := a.Cycle(t.Context())
			refusedIncompatible(t, f, a, err, offer, p1, n, "ranks equal to the installed 1.1.0")
			offers.set(&cloudapi.Offer{Target: p1, Version: "1.1.0", Rollout: 3})
			if err := a.Cycle(t.Context()); err != nil {
				t.Fatal(err)
			}
			if st := a.Status(); st.State != Idle || st.Installed.Path != p1 || st.LastCheck.Skipped[0].Reason != "offered and installed" {
				t.Errorf("installed release offered: %+v, %+v", st.Record, st.LastCheck)
			}
		})
	}
}
