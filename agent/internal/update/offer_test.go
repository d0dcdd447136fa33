package update

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// fakeOffers is an Offers set by the test, as the agent's service sets it
// from check-in answers.
type fakeOffers struct {
	mu      sync.Mutex
	o       *cloudapi.Offer
	known   bool
	changed chan struct{}
}

func (f *fakeOffers) set(o *cloudapi.Offer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.o, f.known = o, true
	if f.changed != nil {
		close(f.changed)
	}
	f.changed = make(chan struct{})
}

func (f *fakeOffers) Offer() (*cloudapi.Offer, bool, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	return f.o, f.known, f.changed
}

// TestOffers: with Options.Offers, only the offered release is installed:
// none without an offer (the metadata is still refreshed), the offered one
// with its rollout reported, the kept previous bundle's release offered as
// an explicit rollback (ending the watch of the release it replaces), and
// never one whose signed version, presence or fit differs from the offer.
func TestOffers(t *testing.T) {
	f := newFixture(t, "1.0.0")
	p105 := f.release("1.0.5", nil, nil)
	p110 := f.release("1.1.0", nil, nil)
	offers := &fakeOffers{}
	offers.set(nil)
	a := f.open(func(o *Options) { o.Offers = offers })

	// No offer: fresh metadata, nothing installed, nothing downloaded.
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := a.Status()
	if st.State != Idle || st.Installed.Version != "1.0.0" || st.LastCheck == nil || st.LastCheck.Pick != nil || st.Rollout != 0 {
		t.Fatalf("no offer: %+v, check %+v", st.Record, st.LastCheck)
	}
	if !st.MetadataExpires.After(time.Now()) {
		t.Errorf("no offer: metadata not refreshed (expires %s)", st.MetadataExpires)
	}
	if reqs := f.archiveRequests(); len(reqs) != 0 {
		t.Fatalf("no offer: archives requested %v", reqs)
	}

	// Offered 1.0.5 by rollout 6, then 1.1.0 by rollout 7: installed
	// through every step.
	offers.set(&cloudapi.Offer{Target: p105, Version: "1.0.5", Rollout: 6})
	if err := a.Cycle(t.Context()); err != nil || a.Status().Installed.Version != "1.0.5" {
		t.Fatalf("offered 1.0.5: %v, %+v", err, a.Status().Record)
	}
	a.clock.Add(2 * time.Hour) // past the watch
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	offers.set(&cloudapi.Offer{Target: p110, Version: "1.1.0", Rollout: 7})
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st = a.Status()
	if st.State != Committed || st.Installed.Version != "1.1.0" || st.Installed.Rollout != 7 || st.Rollout != 7 {
		t.Fatalf("offered 1.1.0: %+v", st.Record)
	}

	// The kept previous bundle's release offered is an explicit rollback:
	// it ends the watch and is installed from the kept bundle, checked
	// against the fresh signed metadata, through the canary.
	calls := a.canary.calls
	offers.set(&cloudapi.Offer{Target: p105, Version: "1.0.5", Rollout: 8})
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st = a.Status()
	if st.State != Committed || st.Installed.Version != "1.0.5" || st.Previous.Version != "1.1.0" || st.Rollout != 8 {
		t.Fatalf("rollback offer 1.0.5: %+v", st.Record)
	}
	if a.canary.calls != calls+1 {
		t.Errorf("the rollback skipped the canary (%d calls, want %d)", a.canary.calls, calls+1)
	}
	tr := a.transitions()
	if want := []string{"committed>idle", "idle>checking", "checking>staged", "staged>canary", "canary>committing", "committing>committed"}; !slices.Equal(tr[len(tr)-len(want):], want) {
		t.Errorf("rollback transitions %v, want them to end with %v", tr, want)
	}
	// The same offer again: nothing to do.
	if err := a.Cycle(t.Context()); err != nil || a.Status().Installed.Version != "1.0.5" {
		t.Fatalf("same offer again: %v, %+v", err, a.Status().Record)
	}

	// 1.1.0 offered again: it is the kept previous bundle, staged from
	// there without a download, through the canary.
	a.clock.Add(2 * time.Hour) // past the watch
	n := len(f.archiveRequests())
	offers.set(&cloudapi.Offer{Target: p110, Version: "1.1.0", Rollout: 9})
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st = a.Status()
	if st.State != Committed || st.Installed.Version != "1.1.0" || st.Previous.Version != "1.0.5" || st.Installed.Rollout != 9 {
		t.Fatalf("1.1.0 again: %+v", st.Record)
	}
	if reqs := f.archiveRequests(); len(reqs) != n {
		t.Errorf("the kept previous bundle was downloaded again: %v", reqs[n:])
	}
	tr = a.transitions()
	if want := []string{"checking>staged", "staged>canary", "canary>committing", "committing>committed"}; !slices.Equal(tr[len(tr)-len(want):], want) {
		t.Errorf("transitions %v, want them to end with %v", tr, want)
	}
}

// TestOfferRefused: an offer is a permission, not a bypass: an offered
// target whose signed version is not the offer's, one not in the verified
// metadata, or one for other hardware is refused with ErrOffer, nothing
// downloaded, no attempt counted, the installed model kept; the one for
// other hardware does not fit this rig: state incompatible, not failed.
func TestOfferRefused(t *testing.T) {
	f := newFixture(t, "1.0.0")
	p120 := f.release("1.2.0", nil, nil)
	p130 := f.release("1.3.0", []string{"riscv64"}, nil)
	for _, tc := range []struct {
		name  string
		offer cloudapi.Offer
		want  string
		state StateName
	}{
		{"version mismatch", cloudapi.Offer{Target: p120, Version: "1.2.1", Rollout: 3}, "its signed version 1.2.0 is not the offered 1.2.1", Failed},
		{"not a target", cloudapi.Offer{Target: "skab-testbed/skab-testbed-9.0.0.tar.gz", Version: "9.0.0"}, "not a target of the verified metadata", Failed},
		{"other hardware", cloudapi.Offer{Target: p130, Version: "1.3.0"}, "hardware [riscv64] does not include this machine's [amd64]", Incompatible},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offers := &fakeOffers{}
			offers.set(&tc.offer)
			a := f.open(func(o *Options) { o.Offers = offers })
			err := a.Cycle(t.Context())
			if !errors.Is(err, ErrOffer) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.offer.Target) {
				t.Fatalf("got %v, want ErrOffer with %q", err, tc.want)
			}
			st := a.Status()
			if st.State != tc.state || st.Installed.Version != "1.0.0" || st.Target != nil || len(st.Attempts) != 0 || !strings.Contains(st.LastError, tc.want) {
				t.Fatalf("status %+v", st.Record)
			}
			if want := (Failure{Path: tc.offer.Target, Version: tc.offer.Version, Rollout: tc.offer.Rollout}); st.Failed == nil || *st.Failed != want {
				t.Errorf("failed %+v, want the refused offer %+v", st.Failed, want)
			}
			if reqs := f.archiveRequests(); len(reqs) != 0 {
				t.Fatalf("archives requested %v", reqs)
			}
		})
	}
}

// TestOfferFailureNamesRelease: a failed attempt of an offered release
// names it while the state is failed (Record.Failed: the service reports
// the failure with its target, so that the rollout counts it), and the
// next state forgets it.
func TestOfferFailureNamesRelease(t *testing.T) {
	f := newFixture(t, "1.0.0")
	p110 := f.release("1.1.0", nil, nil)
	offers := &fakeOffers{}
	offers.set(&cloudapi.Offer{Target: p110, Version: "1.1.0", Rollout: 4})
	a := f.open(func(o *Options) { o.Offers = offers })
	a.canary.mu.Lock()
	a.canary.err = fmt.Errorf("%w: the staged model disagrees", ErrCanary)
	a.canary.mu.Unlock()
	if err := a.Cycle(t.Context()); !errors.Is(err, ErrCanary) {
		t.Fatalf("got %v, want ErrCanary", err)
	}
	st := a.Status()
	if st.State != Failed || st.Target != nil || st.Attempts[p110] != 1 || st.Installed.Version != "1.0.0" {
		t.Fatalf("after the failed canary: %+v", st.Record)
	}
	if want := (Failure{Path: p110, Version: "1.1.0", Rollout: 4}); st.Failed == nil || *st.Failed != want {
		t.Fatalf("failed %+v, want %+v", st.Failed, want)
	}
	// Withdrawn: the next cycle is idle and names no failure.
	offers.set(nil)
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Idle || st.Failed != nil {
		t.Fatalf("after the withdrawal: %+v", st.Record)
	}
}

// TestOfferWithdrawn: an offer withdrawn during the download or the
// canary abandons the attempt at once, uncounted; offered again, the
// release installs.
func TestOfferWithdrawn(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	offers := &fakeOffers{}
	offer := &cloudapi.Offer{Target: path, Version: "1.1.0", Rollout: 4}
	offers.set(offer)
	a := f.open(func(o *Options) { o.Offers = offers })

	// Withdrawn while the archive downloads: the request is cancelled.
	f.mu.Lock()
	f.intercept = func(w http.ResponseWriter, r *http.Request, _ string) bool {
		offers.set(nil)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
			t.Error("the download was not cancelled when its offer was withdrawn")
		}
		return true
	}
	f.mu.Unlock()
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	check := func(what, last string) {
		t.Helper()
		st := a.Status()
		if st.State != Idle || st.Target != nil || len(st.Attempts) != 0 || st.Installed.Version != "1.0.0" {
			t.Fatalf("%s: %+v", what, st.Record)
		}
		if tr := a.transitions(); tr[len(tr)-1] != last {
			t.Fatalf("%s: transitions %v, want the last %s", what, tr, last)
		}
	}
	check("withdrawn during the download", "downloading>idle!")

	// Withdrawn during the canary.
	f.mu.Lock()
	f.intercept = nil
	f.mu.Unlock()
	offers.set(offer)
	a.canary.mu.Lock()
	a.canary.onCheck = func() { offers.set(&cloudapi.Offer{Target: "skab-testbed/other-2.0.0.tar.gz", Version: "2.0.0"}) }
	a.canary.mu.Unlock()
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("withdrawn during the canary", "canary>idle!")

	// Offered again: installed, no attempt was counted before.
	a.canary.mu.Lock()
	a.canary.onCheck = nil
	a.canary.mu.Unlock()
	offers.set(offer)
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Committed || st.Installed.Version != "1.1.0" {
		t.Fatalf("offered again: %+v", st.Record)
	}
}

// TestCredential: with Options.Credential every request to the repository
// (metadata, archive, ranged resume) carries the bearer credential a
// server like rig-cloud's /tuf requires; a refused or missing credential
// is ErrUnauthorized naming the URL, with nothing installed or counted.
func TestCredential(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	f.token = "agent-secret"
	cred := func(s string) func() (string, error) { return func() (string, error) { return s, nil } }

	for _, tc := range []struct {
		name string
		cred func() (string, error)
		want string
	}{
		{"refused", cred("stale"), "the cloud refused the agent's credential"},
		{"none", nil, "no credential was sent"},
		{"unreadable", func() (string, error) { return "", errors.New("cloud.credential_file: missing") }, "no credential to send"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := f.open(func(o *Options) { o.Credential = tc.cred })
			err := a.Cycle(t.Context())
			if !errors.Is(err, ErrUnauthorized) || !errors.Is(err, ErrMetadata) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), f.srv.URL+"/") {
				t.Fatalf("got %v, want ErrUnauthorized with %q and the URL", err, tc.want)
			}
			if st := a.Status(); st.Installed.Version != "1.0.0" || st.Target != nil || len(st.Attempts) != 0 {
				t.Fatalf("status %+v", st.Record)
			}
		})
	}

	// The right credential: metadata, a cut download and its ranged
	// resume all pass the server's check.
	cut := true
	f.mu.Lock()
	f.unauthorized = 0
	f.intercept = func(w http.ResponseWriter, r *http.Request, file string) bool {
		if !cut {
			return false
		}
		cut = false
		b, _ := os.ReadFile(file)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:1000])
		return true
	}
	f.mu.Unlock()
	a := f.open(func(o *Options) { o.Credential = cred("agent-secret") })
	if err := a.Cycle(t.Context()); !errors.Is(err, ErrTruncated) {
		t.Fatalf("cut download: %v", err)
	}
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Committed || st.Installed.Version != "1.1.0" {
		t.Fatalf("with the credential: %+v", st.Record)
	}
	reqs := f.archiveRequests()
	if !strings.HasSuffix(reqs[len(reqs)-1], "bytes=1000-") {
		t.Errorf("archive requests %v, want a ranged resume last", reqs)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unauthorized != 0 {
		t.Errorf("%d requests went without the credential", f.unauthorized)
	}
}

// TestOfferUnknownKeepsDownload: after a restart, before the first
// check-in answer (the offer is not known yet), a cycle refreshes the
// metadata but neither abandons the download in progress nor starts one;
// the answer offering the same release resumes it with a Range request.
func TestOfferUnknownKeepsDownload(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	cut := true
	f.intercept = func(w http.ResponseWriter, r *http.Request, file string) bool {
		if !cut {
			return false
		}
		b, _ := os.ReadFile(file)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:1000])
		return true
	}
	offer := &cloudapi.Offer{Target: path, Version: "1.1.0", Rollout: 2}
	offers := &fakeOffers{}
	offers.set(offer)
	a := f.open(func(o *Options) { o.Offers = offers })
	if err := a.Cycle(t.Context()); !errors.Is(err, ErrTruncated) {
		t.Fatalf("cut download: %v", err)
	}
	cut = false

	// The agent restarts: no answer yet.
	offers = &fakeOffers{}
	b := f.open(func(o *Options) { o.Offers = offers })
	if err := b.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := b.Status()
	if st.State != Downloading || st.Target == nil || st.Target.Path != path || st.LastCheck == nil {
		t.Fatalf("before the first answer: %+v", st.Record)
	}
	if n := len(f.archiveRequests()); n != 1 {
		t.Fatalf("%d archive requests before the first answer, want the first one only", n)
	}
	offers.set(offer)
	if err := b.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := b.Status(); st.State != Committed || st.Installed.Version != "1.1.0" {
		t.Fatalf("after the answer: %+v", st.Record)
	}
	if reqs := f.archiveRequests(); len(reqs) != 2 || !strings.HasSuffix(reqs[1], "bytes=1000-") {
		t.Errorf("archive requests %v, want the cut one then bytes=1000-", reqs)
	}
}
