package tufrepo

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TestEqualRankingVersionRefused: 1.0.0+retrain2 over a released 1.0.0
// (or 1.0.0 over 1.0.0+retrain2) was published, though semantic versions
// ignore +build and an agent that installed one refuses the other as
// another bundle at its version: the release could never be installed
// where the other was. SignRelease (rigctl release publish), AddBundle
// and Publish (rig-cloud) now refuse it, saying to bump the version;
// another bundle name or rig type at that version, and a higher patch
// version, are still released.
func TestEqualRankingVersionRefused(t *testing.T) {
	srv, _, offline := onlineRepo(t)
	s, arch := signed(t, srv, offline, "1.0.0")
	mustPublish(t, srv, s, arch)
	released := s.File.Path

	for _, v := range []string{"1.0.0+retrain2", "v1.0.0"} {
		_, err := SignRelease(srv.root, srv.targets, offline, testBundle(t, v), nil, &bytes.Buffer{}, Options{})
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "ranks equal to the released 1.0.0") ||
			!strings.Contains(err.Error(), "higher patch version") {
			t.Errorf("SignRelease %s over 1.0.0: %v, want ErrExists saying to bump the version", v, err)
		}
	}

	// Targets signed without the check (an older rigctl): rig-cloud
	// refuses them, writing nothing.
	cur, err := srv.targets.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	without, err := metadata.Targets().FromBytes(cur)
	if err != nil {
		t.Fatal(err)
	}
	delete(without.Signed.Targets, released)
	f, err := os.CreateTemp(srv.Dir(), ".incoming-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	b, err := SignRelease(srv.root, without, offline, testBundle(t, "1.0.0+retrain2"), nil, f, Options{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	md, err := metadata.Targets().FromBytes(b.Targets)
	if err != nil {
		t.Fatal(err)
	}
	md.Signed.Targets[released] = srv.targets.Signed.Targets[released]
	md.ClearSignatures()
	keys, err := readKeys(offline)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := signWith(md, k); err != nil {
			t.Fatal(err)
		}
	}
	targets, err := md.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Versions()
	if _, _, err := srv.Publish(targets, f.Name()); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "ranks equal") {
		t.Errorf("Publish of 1.0.0+retrain2 over 1.0.0: %v, want ErrRefused", err)
	}
	if got := srv.Versions(); !equalVersions(got, before) {
		t.Errorf("versions %v after a refused release, want %v", got, before)
	}

	// A higher patch version is released, and another bundle at 1.0.0.
	s, arch = signed(t, srv, offline, "1.0.1+retrain2")
	mustPublish(t, srv, s, arch)
	other := testBundle(t, "1.0.0+int8")
	m := mustLoad(t, other)
	m.Name += "-int8"
	if err := bundle.Write(other, m); err != nil {
		t.Fatal(err)
	}
	if _, err := SignRelease(srv.root, srv.targets, offline, other, nil, &bytes.Buffer{}, Options{}); err != nil {
		t.Errorf("another bundle at 1.0.0: %v", err)
	}

	// AddBundle (a repository holding all keys) refuses it too.
	r, _ := newRepo(t, Options{})
	if _, _, err := r.AddBundle(testBundle(t, "2.0.0+b1"), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.AddBundle(testBundle(t, "2.0.0"), nil); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "ranks equal") {
		t.Errorf("AddBundle 2.0.0 over 2.0.0+b1: %v, want ErrExists", err)
	}
	if _, _, err := r.AddBundle(testBundle(t, "2.0.0-rc1"), nil); err != nil {
		t.Errorf("AddBundle 2.0.0-rc1 (ranks below 2.0.0): %v", err)
	}
}
