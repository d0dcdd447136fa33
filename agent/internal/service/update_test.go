package service

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

// TestModelUpdate runs the whole agent (skab-testbed firmware config and
// bundle, embedded broker, real ONNX Runtime) against a TUF repository
// written by shared/tufrepo and served over HTTP. A release is published:
// the agent downloads it, runs the canary on windows it diagnosed from its
// buffer, commits, and serves it (/status, /bundle, /metrics, the next
// diagnoses). A second release whose model calls those windows anomalous
// fails its canary: the first release keeps serving.
// updateRig is a running agent with update.url on a shared/tufrepo
// repository served over HTTP (skab-testbed firmware config and bundle,
// embedded broker, real ONNX Runtime; windows of 30 s, one after the
// other: stride 30 rows, so the SKAB detector is not run; closed only by
// the data: lateness 5m).
type updateRig struct {
	t         *testing.T
	a         *Agent
	addr      string
	repo      *tufrepo.Repo
	dir       string
	bundleDir string
	gw        *gateway
	man       *bundle.Manifest
	clk       *agenttest.Clock
	t0        time.Time // 30 minutes ago, on a whole minute

	// cloud, with newUpdateRigCloud, is the agent's cloud: check-ins
	// answered with its offer, the repository at <cloud>/tuf behind the
	// agent's credential.
	cloud *fakeCloud

	mu       sync.Mutex
	archives []string // archive requests
	checks   int      // timestamp.json requests: metadata refreshes
}

func newUpdateRig(t *testing.T, edit func(*update.Options)) *updateRig {
	t.Helper()
	return startUpdateRig(t, edit, false)
}

// newUpdateRigCloud is newUpdateRig with a cloud link: the update
// repository is the cloud's /tuf (update.url on cloud.url), so only
// offered releases install and every request carries the credential.
func newUpdateRigCloud(t *testing.T) *updateRig {
	t.Helper()
	return startUpdateRig(t, nil, true)
}

func startUpdateRig(t *testing.T, edit func(*update.Options), withCloud bool) *updateRig {
	t.Helper()
	needORT(t)
	dir := t.TempDir()
	agentID := fmt.Sprintf("upd-%d", time.Now().UnixNano()%1_000_000_000)
	fwPath, bundleDir := isolatedRigFrom(t, dir, agentID, "../../../firmware-configs/skab-testbed.yaml", "../../../models/bundles/skab-testbed")
	u := &updateRig{t: t, dir: dir, bundleDir: bundleDir, clk: agenttest.NewClock(time.Now()),
		t0: time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)}
	var err error
	u.repo, err = tufrepo.Init(filepath.Join(dir, "repo"), filepath.Join(dir, "keys"), tufrepo.Options{})
	require.NoError(t, err)
	root, err := u.repo.Root()
	require.NoError(t, err)
	rootFile := filepath.Join(dir, "1.root.json")
	require.NoError(t, os.WriteFile(rootFile, root, 0o600))
	files := http.FileServer(http.Dir(u.repo.Dir()))
	repo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		if strings.HasPrefix(r.URL.Path, "/targets/") {
			u.archives = append(u.archives, r.URL.Path)
		}
		if r.URL.Path == "/timestamp.json" {
			u.checks++
		}
		u.mu.Unlock()
		files.ServeHTTP(w, r)
	})
	var srv *httptest.Server
	updateURL, cloudYAML := "", ""
	if withCloud {
		u.cloud = &fakeCloud{token: "upd-s3cret", tuf: repo}
		srv = httptest.NewServer(u.cloud)
		updateURL = srv.URL + "/tuf"
		cloudYAML = cloudSection(t, dir, srv.URL, u.cloud.token)
	} else {
		srv = httptest.NewServer(repo)
		updateURL = srv.URL
	}
	t.Cleanup(srv.Close)

	yaml := fmt.Sprintf(`agent:
  id: %s
  data_dir: %s
rig:
  firmware_config: %s
model:
  bundle_dir: %s
broker:
  embedded: true
  listen: 127.0.0.1:0
windowing:
  alignment: sliding
  stride_steps: 30
  lateness: 5m
api:
  listen: 127.0.0.1:0
update:
  url: %s
  root_file: %s
  canary:
    windows: 6
    min_windows: 4
logging:
  format: text
%s`, agentID, filepath.Join(dir, "data"), fwPath, bundleDir, updateURL, rootFile, cloudYAML)
	cfgPath := filepath.Join(dir, "rig-agent.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(yaml), 0o600))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u.a, err = Start(ctx, cfg, Options{Version: "1.0.0", Logger: testLogger(t),
		UpdateOptions: func(o *update.Options) {
			o.Now = u.clk.Now
			if edit != nil {
				edit(o)
			}
		}})
	require.NoError(t, err)
	t.Cleanup(func() { stopAgent(t, u.a) })
	waitFor(t, 15*time.Second, "agent ready", func() bool { return len(u.a.NotReady()) == 0 })
	u.addr = u.a.APIAddr()
	// The first check found nothing to install.
	waitFor(t, 10*time.Second, "the first check", func() bool {
		s := u.status().Update
		return s != nil && s.LastCheck != nil
	})
	u.gw = newGatewayFor(t, u.a.BrokerURL(), fwPath, bundleDir)
	u.man, err = bundle.Load(bundleDir)
	require.NoError(t, err)
	return u
}

func (u *updateRig) status() api.StatusBody {
	var st api.StatusBody
	require.Equal(u.t, http.StatusOK, getJSON(u.t, u.addr, "/status", &st))
	return st
}

// windows publishes calm readings for the 30 s windows starting at
// t0+from (seconds) up to t0+to, then one reading 5 minutes after to, which
// closes them.
func (u *updateRig) windows(from, to int) {
	u.t.Helper()
	u.gw.publishCalm(u.t, u.man, u.t0.Add(time.Duration(from)*time.Second), to-from)
	u.gw.publishAt(u.t, u.t0.Add(time.Duration(to+300)*time.Second))
}

func TestModelUpdate(t *testing.T) {
	u := newUpdateRig(t, nil)
	a, addr, repo, bundleDir, dir := u.a, u.addr, u.repo, u.bundleDir, u.dir
	status := u.status
	st := status()
	assert.Equal(t, "idle", st.Update.State)
	assert.Equal(t, "1.0.0", st.Update.Installed.Version)
	assert.Equal(t, "1.0.0", st.Model.Version)

	// Six windows of readings near the sensors' means.
	u.windows(0, 180)
	waitDiagnoses(t, addr, 6)

	// Release 1.1.0: downloaded, canary on those windows, committed, served.
	release(t, repo, bundleDir, filepath.Join(dir, "rel-1.1.0"), "1.1.0", nil)
	a.Update().Kick()
	waitFor(t, 15*time.Second, "1.1.0 committed and served", func() bool {
		st = status()
		return st.Update.State == "committed" && st.Model.Version == "1.1.0"
	})
	assert.Equal(t, "1.0.0", st.Update.Previous.Version)
	assert.Empty(t, st.Update.LastError)
	var b api.BundleBody
	require.Equal(t, http.StatusOK, getJSON(t, addr, "/bundle", &b))
	assert.Equal(t, "1.1.0", b.Version)
	assert.Equal(t, "int8", b.Precision, "the bundle's int8 model by default")
	m := getText(t, addr, "/metrics")
	for _, want := range []string{
		`rig_agent_update_state{state="committed"} 1`,
		`rig_agent_update_state{state="idle"} 0`,
		`rig_agent_model_info{bundle="skab-testbed",precision="int8",provider="cpu",version="1.1.0"} 1`,
		`rig_agent_update_rollbacks_total 0`,
		// With update.url, update.dir's disk too.
		`rig_agent_disk_stat_errors_total{dir="updates",path="` + filepath.Join(dir, "data", "update") + `"} 0`,
		`rig_agent_disk_free_bytes{dir="updates",path="` + filepath.Join(dir, "data", "update") + `"} `,
	} {
		assert.Contains(t, m, want)
	}
	u.mu.Lock()
	assert.Len(t, u.archives, 1, "one archive download")
	u.mu.Unlock()

	// The next windows are diagnosed by 1.1.0, and watched.
	u.windows(600, 660) // with the window the reading at 480 s opened
	page := waitDiagnoses(t, addr, 9)
	last := page.Diagnoses[len(page.Diagnoses)-1]
	assert.Equal(t, "1.1.0", last.Model.Version)
	assert.Positive(t, status().Update.WatchRuns, "runs of the committed model feed the watchdog")

	// Release 1.2.0 calls the same windows anomalous (anomaly thresholds a
	// thousand times lower): its canary fails and 1.1.0 keeps serving.
	u.clk.Add(2 * time.Hour) // past the watch of 1.1.0
	path := release(t, repo, bundleDir, filepath.Join(dir, "rel-1.2.0"), "1.2.0", func(m *bundle.Manifest) {
		for i := range m.Heads {
			for j := range m.Heads[i].Thresholds {
				m.Heads[i].Thresholds[j] /= 1000
			}
		}
	})
	a.Update().Kick()
	waitFor(t, 15*time.Second, "1.2.0 refused", func() bool {
		st = status()
		return st.Update.State == "failed"
	})
	assert.Contains(t, st.Update.LastError, "canary failed")
	assert.Contains(t, st.Update.LastError, "the staged model calls")
	assert.Equal(t, 1, st.Update.Attempts[path])
	assert.Equal(t, "1.1.0", st.Update.Installed.Version)
	assert.Equal(t, "1.1.0", st.Model.Version)
	assert.Contains(t, getText(t, addr, "/metrics"), fmt.Sprintf(`rig_agent_update_attempts{path=%q} 1`, path))
	u.windows(1020, 1050)
	page = waitDiagnoses(t, addr, 11)
	assert.Equal(t, "1.1.0", page.Diagnoses[len(page.Diagnoses)-1].Model.Version, "the old model keeps serving")
}

// TestModelUpdateOffers runs the whole agent with a cloud link whose
// /tuf is the update repository (update.url on cloud.url: every metadata
// and archive request must carry the agent's credential) and whose
// check-in answers carry the offers (shared/cloudapi). A published but
// not offered release is not installed; offered, it installs without a
// kick (the offer's change wakes the updater) and the check-ins report
// the rollout; an offer of the kept previous bundle's release (here the
// bundle the agent was installed with) during the watch is an explicit
// rollback, installed through the canary; an offer of an older release
// the agent never ran is reported incompatible, with its target and
// rollout; an offer whose version is not the signed one is refused
// (failed), the model kept.
func TestModelUpdateOffers(t *testing.T) {
	u := newUpdateRigCloud(t)
	a, repo, bundleDir, dir := u.a, u.repo, u.bundleDir, u.dir
	u.windows(0, 180)
	waitDiagnoses(t, u.addr, 6)
	checks := func() int {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.checks
	}
	archives := func() int {
		u.mu.Lock()
		defer u.mu.Unlock()
		return len(u.archives)
	}

	// Published, not offered: the metadata is refreshed, nothing installed.
	p110 := release(t, repo, bundleDir, filepath.Join(dir, "rel-1.1.0"), "1.1.0", nil)
	n := checks()
	a.Update().Kick()
	waitFor(t, 10*time.Second, "a check", func() bool { return checks() > n })
	time.Sleep(100 * time.Millisecond)
	st := u.status()
	assert.Equal(t, "1.0.0", st.Model.Version)
	assert.Contains(t, []string{"idle", "checking"}, st.Update.State)
	assert.Zero(t, archives(), "nothing downloaded without an offer")

	// Offered by rollout 5: installed, served, reported with the rollout.
	u.cloud.setOffer(&cloudapi.Offer{Target: p110, Version: "1.1.0", Rollout: 5})
	waitFor(t, 20*time.Second, "1.1.0 committed and served", func() bool {
		st = u.status()
		return st.Update.State == "committed" && st.Model.Version == "1.1.0"
	})
	assert.Equal(t, int64(5), st.Update.Rollout)
	waitFor(t, 10*time.Second, "the check-in reports the commit and its rollout", func() bool {
		r := u.cloud.lastUpdate()
		return r.State == "committed" && r.Installed == "1.1.0" && r.Rollout == 5
	})

	// The release of the bundle the agent was installed with (its kept
	// previous bundle) offered during the watch: an explicit rollback,
	// through the download, verification and canary.
	p100 := release(t, repo, bundleDir, filepath.Join(dir, "rel-1.0.0"), "1.0.0", nil)
	u.cloud.setOffer(&cloudapi.Offer{Target: p100, Version: "1.0.0", Rollout: 6})
	waitFor(t, 20*time.Second, "rolled back to the offered 1.0.0", func() bool {
		st = u.status()
		return st.Update.State == "committed" && st.Model.Version == "1.0.0"
	})
	assert.Equal(t, "1.1.0", st.Update.Previous.Version)
	assert.Equal(t, 2, archives(), "the rollback release was downloaded")

	// An older release the agent never ran: incompatible, reported with
	// its target and rollout, nothing downloaded, 1.0.0 serves.
	u.clk.Add(2 * time.Hour) // past the watch of 1.0.0
	p090 := release(t, repo, bundleDir, filepath.Join(dir, "rel-0.9.0"), "0.9.0", nil)
	u.cloud.setOffer(&cloudapi.Offer{Target: p090, Version: "0.9.0", Rollout: 8})
	waitFor(t, 10*time.Second, "the check-in reports the downgrade refused", func() bool {
		r := u.cloud.lastUpdate()
		return r.State == "incompatible" && r.Rollout == 8 && r.Target == p090 && r.TargetVersion == "0.9.0" &&
			strings.Contains(r.LastError, "not this agent's kept previous bundle")
	})
	assert.Equal(t, "1.0.0", u.status().Model.Version)
	assert.Equal(t, 2, archives())

	// An offer whose version is not the signed one: refused, 1.0.0 serves.
	p120 := release(t, repo, bundleDir, filepath.Join(dir, "rel-1.2.0"), "1.2.0", nil)
	u.cloud.setOffer(&cloudapi.Offer{Target: p120, Version: "1.2.1", Rollout: 7})
	waitFor(t, 20*time.Second, "the offer refused", func() bool {
		st = u.status()
		return st.Update.State == "failed"
	})
	assert.Contains(t, st.Update.LastError, "its signed version 1.2.0 is not the offered 1.2.1")
	assert.Equal(t, "1.0.0", st.Model.Version)
	assert.Equal(t, 2, archives())
	waitFor(t, 10*time.Second, "the check-in reports the refusal", func() bool {
		r := u.cloud.lastUpdate()
		return r.State == "failed" && r.Rollout == 7 && strings.Contains(r.LastError, "not the offered 1.2.1")
	})
	r := u.cloud.lastUpdate()
	assert.Equal(t, p120, r.Target, "the failure names the refused release, so that its rollout counts it")
	assert.Equal(t, "1.2.1", r.TargetVersion)

	u.cloud.mu.Lock()
	defer u.cloud.mu.Unlock()
	assert.Zero(t, u.cloud.refused, "every request carried the credential")
	assert.Empty(t, u.cloud.bad)
}

// release adds a copy of the bundle in src with version (edit applied to
// its manifest) to the repository and returns its target path.
func release(t testing.TB, repo *tufrepo.Repo, src, dst, version string, edit func(*bundle.Manifest)) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o750))
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".onnx") {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o640))
		}
	}
	m, err := bundle.Load(src)
	require.NoError(t, err)
	m.Version = version
	if edit != nil {
		edit(m)
	}
	require.NoError(t, bundle.Write(dst, m))
	rel, _, err := repo.AddBundle(dst, nil)
	require.NoError(t, err)
	return rel.Path()
}

// publishCalm publishes n seconds of readings from start, one per sensor
// and second, within a tenth of a standard deviation of each sensor's mean:
// windows the shipped model calls healthy.
func (g *gateway) publishCalm(tb testing.TB, man *bundle.Manifest, start time.Time, n int) {
	tb.Helper()
	std := map[string]float64{}
	for _, s := range man.Input.Sensors {
		std[s.ID] = s.Std
	}
	var toks []mqtt.Token
	for k := range n {
		byTopic := map[string][]reading.Reading{}
		codecs := map[string]string{}
		for i, s := range g.fw.Sensors {
			if s.Inactive {
				continue
			}
			g.seq[s.ID]++
			v := g.means[s.ID] + 0.1*std[s.ID]*math.Sin(float64(k)/7+float64(i))
			byTopic[s.MQTT.Topic] = append(byTopic[s.MQTT.Topic], reading.Reading{Sensor: s.ID,
				Time: start.Add(time.Duration(k)*time.Second + 250*time.Millisecond), Value: v, Seq: g.seq[s.ID]})
			codecs[s.MQTT.Topic] = s.MQTT.Codec
		}
		for topic, rs := range byTopic {
			c, err := codec.Lookup(codecs[topic])
			require.NoError(tb, err)
			payload, err := c.Encode(nil, rs)
			require.NoError(tb, err)
			toks = append(toks, g.c.Publish(topic, 1, false, payload))
		}
	}
	for _, tok := range toks {
		require.True(tb, tok.WaitTimeout(20*time.Second), "publish acknowledged")
		require.NoError(tb, tok.Error())
	}
}

// TestModelUpdateWatchdogRollback: a release that passes its canary but
// runs too slowly once it serves (a watchdog bound of 1 ns: every run is
// slow) is rolled back by the agent itself: the previous model serves
// again, the release is given up and counted as a rollback.
func TestModelUpdateWatchdogRollback(t *testing.T) {
	u := newUpdateRig(t, func(o *update.Options) { o.Watch = update.Watch{MinRuns: 2, MaxLatency: time.Nanosecond} })
	u.windows(0, 180)
	waitDiagnoses(t, u.addr, 6)
	path := release(t, u.repo, u.bundleDir, filepath.Join(u.dir, "rel-1.1.0"), "1.1.0", nil)
	u.a.Update().Kick()
	waitFor(t, 15*time.Second, "1.1.0 committed", func() bool { return u.status().Model.Version == "1.1.0" })
	u.windows(600, 660) // three windows run by 1.1.0, each slower than 1 ns
	var st api.StatusBody
	waitFor(t, 15*time.Second, "rolled back to 1.0.0", func() bool {
		st = u.status()
		return st.Update.Rollbacks == 1 && st.Model.Version == "1.0.0"
	})
	assert.Equal(t, "idle", st.Update.State)
	assert.Equal(t, "1.0.0", st.Update.Installed.Version)
	assert.Nil(t, st.Update.Previous)
	assert.Contains(t, st.Update.LastError, "took longer than 1ns")
	assert.Equal(t, 3, st.Update.Attempts[path], "given up (update.max_attempts)")
	assert.Contains(t, getText(t, u.addr, "/metrics"), "rig_agent_update_rollbacks_total 1")
	// The old model diagnoses the next windows; the release is not tried again.
	u.windows(1020, 1050)
	page := waitDiagnoses(t, u.addr, 11)
	assert.Equal(t, "1.0.0", page.Diagnoses[len(page.Diagnoses)-1].Model.Version)
	u.a.Update().Kick()
	time.Sleep(200 * time.Millisecond)
	assert.Equal(t, "1.0.0", u.status().Model.Version)
}

// TestActivateFailureKeepsModel: a bundle the service cannot open (no
// bundle, another rig's) is refused by Activate before anything is
// stopped: the running model and its windowing go on; activating the
// bundle already served changes nothing.
func TestActivateFailureKeepsModel(t *testing.T) {
	u := newUpdateRig(t, nil)
	runner := u.a.Windowing()
	for _, dir := range []string{t.TempDir(), "../../../models/bundles/zema-testrig"} {
		err := u.a.Activate(t.Context(), dir)
		require.Error(t, err, dir)
		assert.Contains(t, err.Error(), "open model bundle "+dir)
	}
	require.NoError(t, u.a.Activate(t.Context(), u.bundleDir))
	assert.Same(t, runner, u.a.Windowing(), "the same runner goes on")
	u.windows(0, 60)
	page := waitDiagnoses(t, u.addr, 2)
	assert.Equal(t, "1.0.0", page.Diagnoses[1].Model.Version)
	assert.Equal(t, "1.0.0", u.status().Model.Version)
}
