package rigsim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/tools/internal/mqttbroker"
	"github.com/hydrognn/hydrognn/tools/internal/scenario"
)

const configs = "../../../../firmware-configs/"

// rigsim runs Main and returns its exit code, stdout and stderr.
func rigsim(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Version: "test",
		Getenv: func(string) string { return "" },
		Now:    func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	code := Main(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{nil, ExitUsage, "Usage:"},
		{[]string{"frobnicate"}, ExitUsage, `unknown command "frobnicate"`},
		{[]string{"help"}, ExitOK, "rigsim dataset --rig FILE"},
		{[]string{"version"}, ExitOK, "rigsim test"},
		{[]string{"dataset", "--out", "x"}, ExitFailure, "--rig FILE is required"},
		{[]string{"dataset", "--rig", configs + "zema-testrig.yaml"}, ExitUsage, "--out DIR is required"},
		{[]string{"dataset", "--rig", configs + "zema-testrig.yaml", "--out", "x", "--random", "--scenario", "s.yaml"}, ExitFailure, "give --scenario or --random, not both"},
		{[]string{"dataset", "--rig", configs + "skab-testbed.yaml", "--out", "x", "--random"}, ExitFailure, "no condition target"},
		{[]string{"dataset", "--rig", configs + "zema-testrig.yaml", "--out", "x", "--scenario", "../../scenario/testdata/value-range.bad.yaml"}, ExitFailure, "120 out of range"},
		{[]string{"dataset", "--rig", "nope.yaml", "--out", "x"}, ExitFailure, "nope.yaml"},
		{[]string{"dataset", "extra"}, ExitUsage, "unexpected arguments"},
		{[]string{"publish", "--rig", configs + "skab-testbed.yaml"}, ExitUsage, "--broker URL is required"},
		{[]string{"publish", "--rig", configs + "skab-testbed.yaml", "--broker", "tcp://x:1", "--speed", "-1"}, ExitUsage, "must not be negative"},
		{[]string{"publish", "--rig", configs + "skab-testbed.yaml", "--broker", "tcp://x:1", "--cycles", "5"}, ExitUsage, "--cycles N only sets the span --random draws"},
		{[]string{"publish", "--rig", configs + "zema-testrig.yaml", "--broker", "tcp://x:1", "--scenario", "s.yaml", "--cycles", "0"}, ExitUsage, "give --random too"},
		{[]string{"publish", "--rig", configs + "zema-testrig.yaml", "--broker", "tcp://x:1", "--random", "--cycles", "2", "--duration", "121s"}, ExitUsage, "draws conditions for 2 cycles of 60 s (2m0s): give --duration D of at most that"},
		{[]string{"publish", "--rig", configs + "zema-testrig.yaml", "--broker", "tcp://x:1", "--random", "--cycles", "2"}, ExitUsage, "give --duration D of at most that"},
		{[]string{"publish", "--rig", configs + "excavator.yaml", "--broker", "tcp://x:1", "--random", "--cycles", "3", "--duration", "1h"}, ExitUsage, "--random --cycles 3 draws conditions for 3 cycles"},
		{[]string{"publish", "--rig", configs + "zema-testrig.yaml", "--broker", "tcp://x:1", "--random", "--cycles", "2", "--duration", "120s"}, ExitFailure, "cannot connect to the MQTT broker"},
		{[]string{"sensors"}, ExitUsage, "give --rig FILE or --rules"},
		{[]string{"compare", "--rig", configs + "zema-testrig.yaml"}, ExitUsage, "--rig, --real and --sim are required"},
	}
	for _, c := range cases {
		code, out, errs := rigsim(t, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.out) {
			t.Errorf("rigsim %q: exit %d, want %d; output:\n%s%s\nwant it to contain %q", c.args, code, c.code, out, errs, c.out)
		}
	}
}

func TestDatasetAndCompare(t *testing.T) {
	dir := t.TempDir()
	sim1, sim2 := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	sc := filepath.Join(dir, "scenario.yaml")
	code, out, errs := rigsim(t, "dataset", "--rig", configs+"zema-testrig.yaml", "--out", sim1, "--random",
		"--cycles", "2", "--grid-hz", "1", "--seed", "4", "--write-scenario", sc)
	if code != ExitOK {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(out, "wrote 2 cycles of 17 sensors") || !strings.Contains(errs, "cycle 2/2 (100%)") {
		t.Errorf("output: %s\nprogress: %s", out, errs)
	}
	set, err := uci.Read(sim1, nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	if set.Cycles != 2 || set.Samples(0) != 60 {
		t.Errorf("%d cycles, %d samples", set.Cycles, set.Samples(0))
	}
	// The written scenario reproduces the run.
	if _, err := scenario.Load(sc); err != nil {
		t.Fatal(err)
	}
	code, _, errs = rigsim(t, "dataset", "--rig", configs+"zema-testrig.yaml", "--out", sim2, "--scenario", sc,
		"--cycles", "2", "--grid-hz", "1", "--seed", "4", "-q")
	if code != ExitOK || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, f := range []string{"PS1.txt", "TS1.txt", "profile.txt", "cycles.txt"} {
		a, _ := os.ReadFile(filepath.Join(sim1, f))
		b, _ := os.ReadFile(filepath.Join(sim2, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between --random and its written scenario", f)
		}
	}
	code, out, errs = rigsim(t, "compare", "--rig", configs+"zema-testrig.yaml", "--real", sim1, "--sim", sim2)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "| sensor | 0-9s idle | 9-19s 120 bar |") || !strings.Contains(out, "| PS1 |") {
		t.Errorf("compare output:\n%s", out)
	}
}

func TestDatasetWindow(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := rigsim(t, "dataset", "--rig", configs+"skab-testbed.yaml", "--out", dir, "--cycles", "3", "--window-s", "10", "-q")
	if code != ExitOK {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	set, err := uci.Read(dir, []string{"Current", "VolumeFlowRateRMS"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if set.Cycles != 3 || set.Samples(0) != 10 {
		t.Errorf("%d windows of %d samples; want 3 of 10", set.Cycles, set.Samples(0))
	}
}

func TestSensors(t *testing.T) {
	code, out, _ := rigsim(t, "sensors", "--rig", configs+"zema-testrig.yaml")
	if code != ExitOK || !strings.Contains(out, "PS1") || !strings.Contains(out, "outlet pressure") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	code, out, _ = rigsim(t, "sensors", "--rules")
	if code != ExitOK || !strings.HasPrefix(out, "| component type | sensor kind | ports |") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

// startBroker starts an embedded broker with hook, closed at cleanup.
func startBroker(t *testing.T, hook mochi.Hook) *mqttbroker.Broker {
	t.Helper()
	b, err := mqttbroker.Start(mqttbroker.Options{Hooks: []mochi.Hook{hook}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestPublish streams a few simulated seconds into an embedded broker.
func TestPublish(t *testing.T) {
	var mu sync.Mutex
	topics := map[string]int{}
	b := startBroker(t, &countHook{mu: &mu, topics: topics})
	code, out, errs := rigsim(t, "publish", "--rig", configs+"skab-testbed.yaml", "--broker", b.URL(),
		"--speed", "0", "--duration", "3s")
	if code != ExitOK {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(out, "published 24 readings") {
		t.Errorf("output: %s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if topics["hydrognn/skab/daq"] == 0 {
		t.Errorf("broker got %v", topics)
	}
}

// TestPublishLost: a broker that never acknowledges (the hook drops every
// QoS 1 publish) leaves the messages unconfirmed when the drain timeout
// runs out; publish.Run returns nil then, but rigsim must fail and say so.
func TestPublishLost(t *testing.T) {
	b := startBroker(t, new(dropHook))
	code, out, errs := rigsim(t, "publish", "--rig", configs+"skab-testbed.yaml", "--broker", b.URL(),
		"--speed", "0", "--duration", "3s")
	if code != ExitFailure {
		t.Errorf("exit %d, want %d (ExitFailure): %s%s", code, ExitFailure, out, errs)
	}
	if !strings.Contains(out, "published 0 readings in 0 messages") || !strings.Contains(out, "24 readings not delivered") ||
		strings.Contains(out, " 0 unconfirmed") {
		t.Errorf("summary: %s", out)
	}
	if !strings.Contains(errs, "stayed unconfirmed by the broker: 24 readings not delivered") {
		t.Errorf("stderr: %s", errs)
	}
}

// dropHook drops every publish without acknowledging it.
type dropHook struct{ mochi.HookBase }

func (h *dropHook) ID() string { return "drop" }

func (h *dropHook) Provides(b byte) bool { return b == mochi.OnPublish }

func (h *dropHook) OnPublish(*mochi.Client, packets.Packet) (packets.Packet, error) {
	return packets.Packet{}, packets.ErrRejectPacket
}

type countHook struct {
	mochi.HookBase
	mu     *sync.Mutex
	topics map[string]int
}

func (h *countHook) ID() string { return "count" }

func (h *countHook) Provides(b byte) bool { return b == mochi.OnPublish }

func (h *countHook) OnPublish(_ *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	h.mu.Lock()
	h.topics[pk.TopicName]++
	h.mu.Unlock()
	return pk, nil
}
