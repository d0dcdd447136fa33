package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/shared/confyaml"
)

const k8sDir = "../../../deploy/k8s"

// manifest reads one file of deploy/k8s as plain YAML data.
func manifest(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(k8sDir, name))
	require.NoError(t, err)
	doc, err := confyaml.Parse(data)
	require.NoError(t, err, name)
	var m map[string]any
	require.NoError(t, doc.Decode(&m), name)
	return m
}

// get walks m along keys (a string for a mapping, an int for a list).
func get(t *testing.T, m any, keys ...any) any {
	t.Helper()
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			mm, ok := m.(map[string]any)
			require.True(t, ok, "%v is no mapping (at %q)", m, k)
			m = mm[k]
		case int:
			l, ok := m.([]any)
			require.True(t, ok, "%v is no list (at %d)", m, k)
			require.Less(t, k, len(l))
			m = l[k]
		}
	}
	return m
}

// readsConfig returns the FILE of args' --config FILE, once rig-cloud run
// with args gets as far as reading it: with a bad file in its place it
// fails on the file's unknown key, not on its command line.
func readsConfig(t *testing.T, args []string) string {
	t.Helper()
	i := slices.Index(args, "--config")
	require.Positive(t, i, "args %q have no --config", args)
	require.Less(t, i+1, len(args))
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("server:\n  listn: x\n"), 0o600))
	try := slices.Clone(args)
	try[i+1] = bad
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitConfig, run(context.Background(), try, &stdout, &stderr))
	assert.Contains(t, stderr.String(), `unknown key "listn"`, "rig-cloud %q did not read its config", args)
	assert.NotContains(t, stderr.String(), "usage:")
	return args[i+1]
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	l, ok := v.([]any)
	require.True(t, ok, "%v is no list", v)
	var out []string
	for _, x := range l {
		s, ok := x.(string)
		require.True(t, ok, "%v is no string", x)
		out = append(out, s)
	}
	return out
}

// The Kubernetes manifests start rig-cloud as it is: each Deployment's
// command line is one rig-cloud accepts, its config file is the
// ConfigMap's and loads with the Deployment's environment (each variable a
// config key's), the Service's link variables are turned off, and the
// blob store and scratch folders are writable volumes (the root file
// system is read-only).
func TestKubernetesManifests(t *testing.T) {
	kust := manifest(t, "kustomization.yaml")
	resources := strs(t, get(t, kust, "resources"))
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" {
			assert.Contains(t, resources, b, "kustomization.yaml does not list %s", b)
		}
	}

	cm := manifest(t, "configmap.yaml")
	cmName := get(t, cm, "metadata", "name")

	keyEnv := map[string]bool{}
	for _, k := range config.Keys() {
		keyEnv[k.Env] = true
	}

	for _, tc := range []struct{ file, cmd string }{{"api-deployment.yaml", "serve"}, {"worker-deployment.yaml", "worker"}} {
		t.Run(tc.file, func(t *testing.T) {
			d := manifest(t, tc.file)
			pod := get(t, d, "spec", "template", "spec")
			assert.Equal(t, false, get(t, pod, "enableServiceLinks"), "enableServiceLinks must be false")
			ctr := get(t, pod, "containers", 0)

			// The command line: rig-cloud's own parsing, with the config
			// file swapped for a bad one, must get as far as the config.
			args := strs(t, get(t, ctr, "args"))
			require.NotEmpty(t, args)
			assert.Equal(t, tc.cmd, args[0])
			assert.Contains(t, usage, "rig-cloud "+args[0]+" --config FILE")
			cfgPath := readsConfig(t, args)

			// The config file is the ConfigMap's, mounted.
			mounts := map[string]map[string]any{} // volume name -> mount
			for _, m := range get(t, ctr, "volumeMounts").([]any) {
				mounts[get(t, m, "name").(string)] = m.(map[string]any)
			}
			volumes := map[string]map[string]any{}
			for _, v := range get(t, pod, "volumes").([]any) {
				volumes[get(t, v, "name").(string)] = v.(map[string]any)
			}
			var cmVol string
			for name, v := range volumes {
				if v["configMap"] != nil && get(t, v, "configMap", "name") == cmName {
					cmVol = name
				}
			}
			require.NotEmpty(t, cmVol, "no volume of ConfigMap %v", cmName)
			dir, key := path.Split(cfgPath)
			assert.Equal(t, path.Clean(dir), get(t, mounts[cmVol], "mountPath"))
			data, ok := get(t, cm, "data", key).(string)
			require.True(t, ok, "ConfigMap %v has no key %q", cmName, key)

			// Every variable is a config key's; the config loads with them.
			env := []string{
				// Set by Kubernetes were enableServiceLinks true: skipped.
				"RIG_CLOUD_SERVICE_HOST=10.96.14.3", "RIG_CLOUD_PORT=tcp://10.96.14.3:80",
			}
			for _, e := range get(t, ctr, "env").([]any) {
				name := get(t, e, "name").(string)
				assert.True(t, keyEnv[name], "env %s is no config key's variable (config.Keys)", name)
				val := "x"
				if name == "RIG_CLOUD_DATABASE_URL" {
					val = "postgres://u@db:5432/rigcloud"
				}
				env = append(env, name+"="+val)
			}
			cfg, err := config.Parse(cfgPath, []byte(data), env)
			require.NoError(t, err)

			// The root file system is read-only: what rig-cloud writes is
			// on a writable volume.
			assert.Equal(t, true, get(t, ctr, "securityContext", "readOnlyRootFilesystem"))
			writable := func(p string) bool {
				for name, m := range mounts {
					mp := m["mountPath"].(string)
					if name != cmVol && m["readOnly"] != true && (p == mp || strings.HasPrefix(p, mp+"/")) {
						return true
					}
				}
				return false
			}
			assert.True(t, writable(cfg.Blob.Dir), "blob.dir %s is on no writable volume", cfg.Blob.Dir)
			if tc.cmd == "worker" {
				wd := cfg.Worker.WorkDir
				if wd == "" {
					wd = "/tmp"
				}
				assert.True(t, writable(wd), "worker.work_dir %s is on no writable volume", wd)
				// No liveness probe: a CPU-bound training job could make it
				// time out and get its own worker killed.
				assert.Nil(t, get(t, ctr, "livenessProbe"), "no liveness probe on the worker")
				grace, err := strconv.ParseFloat(fmt.Sprint(get(t, pod, "terminationGracePeriodSeconds")), 64)
				require.NoError(t, err)
				assert.Greater(t, grace, (jobs.FinishGrace + stopMargin).Seconds(),
					"a worker's terminationGracePeriodSeconds must exceed jobs.FinishGrace with a margin")
				if cfg.Worker.MetricsListen == "" {
					assert.Nil(t, get(t, ctr, "ports"), "worker.metrics_listen is off: the worker serves no HTTP")
				} else {
					_, port, _ := strings.Cut(cfg.Worker.MetricsListen, ":")
					assert.Equal(t, port, fmt.Sprint(get(t, ctr, "ports", 0, "containerPort")), "worker.metrics_listen and the container port differ")
					assert.Equal(t, port, get(t, d, "spec", "template", "metadata", "annotations", "prometheus.io/port"), "the scrape annotation names another port")
				}
			} else {
				_, port, _ := strings.Cut(cfg.Server.Listen, ":")
				assert.Equal(t, port, fmt.Sprint(get(t, ctr, "ports", 0, "containerPort")), "server.listen and the container port differ")
				// Prometheus scrapes each replica's server.metrics_listen
				// (the API's port answers /metrics only to loopback
				// without server.metrics_token).
				_, mport, _ := strings.Cut(cfg.Server.MetricsListen, ":")
				require.NotEmpty(t, mport, "server.metrics_listen is off: Prometheus cannot scrape the API")
				ports := map[string]string{} // name -> containerPort
				for _, p := range get(t, ctr, "ports").([]any) {
					ports[fmt.Sprint(get(t, p, "name"))] = fmt.Sprint(get(t, p, "containerPort"))
				}
				assert.Equal(t, mport, ports["metrics"], "server.metrics_listen and the container port metrics differ")
				assert.Equal(t, mport, get(t, d, "spec", "template", "metadata", "annotations", "prometheus.io/port"), "the scrape annotation names another port")
				grace, err := strconv.ParseFloat(fmt.Sprint(get(t, pod, "terminationGracePeriodSeconds")), 64)
				require.NoError(t, err)
				assert.Greater(t, grace, (cfg.Server.DrainDelay + cfg.Server.ShutdownTimeout).Seconds(),
					"terminationGracePeriodSeconds must exceed server.drain_delay + server.shutdown_timeout")
			}
		})
	}
}

// stopMargin is what a stop timeout leaves beyond the time rig-cloud
// takes to stop: the process's exit, the last log lines.
const stopMargin = 10 * time.Second

// The systemd unit, used for the API and (with worker) the workers,
// leaves each its time to stop before SIGKILL: a worker jobs.FinishGrace
// to upload and register a job whose work has ended (a SIGKILL loses the
// upload and the job waits for its lease), the API its drain delay and
// shutdown timeout (their defaults).
func TestSystemdStopTimeout(t *testing.T) {
	data, err := os.ReadFile(cloudUnit)
	require.NoError(t, err)
	var stop time.Duration
	found := 0
	for line := range strings.Lines(string(data)) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "TimeoutStopSec=")
		if !ok {
			continue
		}
		found++
		stop = systemdSpan(t, v)
	}
	require.Equal(t, 1, found, "one TimeoutStopSec= in rig-cloud@.service")
	assert.Greater(t, stop, jobs.FinishGrace+stopMargin, "TimeoutStopSec must exceed jobs.FinishGrace with a margin: workers use this unit")
	d := config.Defaults().Server
	assert.Greater(t, stop, d.DrainDelay+d.ShutdownTimeout+stopMargin, "TimeoutStopSec must exceed server.drain_delay + server.shutdown_timeout")
}

// systemdSpan parses the systemd time spans the units use: a number of
// seconds, or numbers with the units s, min, h (e.g. "1min 30s").
func systemdSpan(t *testing.T, v string) time.Duration {
	t.Helper()
	var total time.Duration
	for f := range strings.FieldsSeq(v) {
		i := strings.IndexFunc(f, func(r rune) bool { return r < '0' || r > '9' })
		if i < 0 {
			i = len(f)
		}
		n, err := strconv.Atoi(f[:i])
		require.NoError(t, err, "time span %q", v)
		unit := map[string]time.Duration{"": time.Second, "s": time.Second, "sec": time.Second, "min": time.Minute, "m": time.Minute, "h": time.Hour}
		u, ok := unit[f[i:]]
		require.True(t, ok, "unit %q of time span %q", f[i:], v)
		total += time.Duration(n) * u
	}
	return total
}

// TestNetworkPolicies: deploy/k8s/networkpolicy.yaml selects the pods of
// both Deployments, lets in every port their container serves (a port no
// rule names would be unreachable once the policy applies), the API's
// http port from anywhere, and the unauthenticated metrics ports only
// from a namespace (Prometheus').
func TestNetworkPolicies(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(k8sDir, "networkpolicy.yaml"))
	require.NoError(t, err)
	var policies []map[string]any
	for i, part := range strings.Split(string(data), "\n---\n") {
		doc, err := confyaml.Parse([]byte(part))
		require.NoError(t, err, "networkpolicy.yaml document %d", i+1)
		var m map[string]any
		require.NoError(t, doc.Decode(&m), "networkpolicy.yaml document %d", i+1)
		require.Equal(t, "NetworkPolicy", get(t, m, "kind"))
		policies = append(policies, m)
	}

	selects := func(p map[string]any, labels map[string]any) bool {
		sel, ok := get(t, p, "spec", "podSelector", "matchLabels").(map[string]any)
		require.True(t, ok, "policy %v: podSelector.matchLabels", get(t, p, "metadata", "name"))
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return true
	}

	for _, file := range []string{"api-deployment.yaml", "worker-deployment.yaml"} {
		t.Run(file, func(t *testing.T) {
			d := manifest(t, file)
			labels := get(t, d, "spec", "template", "metadata", "labels").(map[string]any)
			var mine []map[string]any
			for _, p := range policies {
				if selects(p, labels) {
					mine = append(mine, p)
				}
			}
			require.Len(t, mine, 1, "one NetworkPolicy selects the pods of %s", file)
			p := mine[0]
			assert.Equal(t, []string{"Ingress"}, strs(t, get(t, p, "spec", "policyTypes")))

			// port name -> the rules' from clauses (nil: from anywhere).
			allowed := map[string][]any{}
			for _, r := range get(t, p, "spec", "ingress").([]any) {
				from, _ := get(t, r, "from").([]any)
				for _, port := range get(t, r, "ports").([]any) {
					name := fmt.Sprint(get(t, port, "port"))
					_, dup := allowed[name]
					assert.False(t, dup, "port %s is in two rules", name)
					allowed[name] = from
				}
			}
			ctr := get(t, d, "spec", "template", "spec", "containers", 0)
			for _, port := range get(t, ctr, "ports").([]any) {
				name := fmt.Sprint(get(t, port, "name"))
				from, ok := allowed[name]
				require.True(t, ok, "container port %s of %s is let in by no rule: unreachable", name, file)
				switch name {
				case "metrics":
					require.Len(t, from, 1, "metrics: from one namespace")
					ns := get(t, from[0], "namespaceSelector", "matchLabels")
					assert.NotEmpty(t, ns, "metrics: from a namespace selected by labels, not from anywhere")
				case "http":
					assert.Empty(t, from, "http: from anywhere (agents and operators)")
				default:
					t.Errorf("port %s: the test knows no rule for it", name)
				}
				delete(allowed, name)
			}
			assert.Empty(t, allowed, "rules name ports the container does not serve")
		})
	}
}
