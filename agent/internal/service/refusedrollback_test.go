package service

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// TestRefusedRollbackReportedToCloud: a rollback offered during the
// post-commit watch that the agent refuses (the signed 1.0.0 is another
// bundle than the 1.0.0 it was installed with, its kept previous bundle)
// is told to the cloud: the check-ins report it incompatible with the
// offer's target and rollout (the rollout shows the agent refused it),
// watch_until saying the installed 1.1.0 is still watched, instead of a
// healthy commit of 1.1.0. Once the offer is withdrawn, the commit is
// reported again.
func TestRefusedRollbackReportedToCloud(t *testing.T) {
	u := newUpdateRigCloud(t)
	repo, bundleDir, dir := u.repo, u.bundleDir, u.dir
	u.windows(0, 180)
	waitDiagnoses(t, u.addr, 6)

	p110 := release(t, repo, bundleDir, filepath.Join(dir, "rel-1.1.0"), "1.1.0", nil)
	u.cloud.setOffer(&cloudapi.Offer{Target: p110, Version: "1.1.0", Rollout: 5})
	waitFor(t, 20*time.Second, "the check-in reports 1.1.0 committed", func() bool {
		r := u.cloud.lastUpdate()
		return r.State == "committed" && r.Installed == "1.1.0" && r.Rollout == 5
	})

	p100 := release(t, repo, bundleDir, filepath.Join(dir, "rel-1.0.0"), "1.0.0",
		func(m *bundle.Manifest) { m.Metrics = map[string]float64{"other": 1} })
	u.cloud.setOffer(&cloudapi.Offer{Target: p100, Version: "1.0.0", Rollout: 5})
	waitFor(t, 20*time.Second, "the check-in reports the rollback refused", func() bool {
		r := u.cloud.lastUpdate()
		return r.State == "incompatible" && r.Rollout == 5 && r.Target == p100 && r.TargetVersion == "1.0.0" &&
			r.Installed == "1.1.0" && r.WatchUntil != nil && r.LastError != ""
	})
	st := u.status()
	assert.Equal(t, "committed", st.Update.State, "the agent's own state: 1.1.0 committed, watched")
	assert.Equal(t, "1.1.0", st.Model.Version)
	assert.True(t, strings.Contains(u.cloud.lastUpdate().LastError, "1.0.0"), u.cloud.lastUpdate().LastError)

	u.cloud.setOffer(nil)
	u.a.Update().Kick()
	waitFor(t, 20*time.Second, "the commit reported again once the offer is withdrawn", func() bool {
		r := u.cloud.lastUpdate()
		return r.State == "committed" && r.Installed == "1.1.0" && r.Target == ""
	})
}
