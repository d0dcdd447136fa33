package update

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/bundle"
)

func TestOptionsFromConfig(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	abs := func(p string) string {
		a, err := filepath.Abs(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "1.root.json")
	os.WriteFile(rootFile, []byte(`{"signed":{}}`), 0o644)
	yml := "agent:\n  data_dir: " + dir + "\nrig:\n  firmware_config: " + abs("firmware-configs/skab-testbed.yaml") +
		"\nmodel:\n  precision: int8\n  bundle_dir: " + abs("models/bundles/skab-testbed") +
		"\nupdate:\n  url: https://tuf.example.com/repo\n  root_file: " + rootFile + "\n  hardware: [arm64, jetson-orin]\n  disk_reserve: 128MiB\n  watch:\n    window: 2h\n"
	path := filepath.Join(dir, "rig-agent.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	o, err := OptionsFromConfig(cfg, "1.4.0")
	if err != nil {
		t.Fatal(err)
	}
	if o.Dir != filepath.Join(dir, "update") || o.URL != "https://tuf.example.com/repo" || string(o.TrustedRoot) != `{"signed":{}}` ||
		o.RigType != "skab-testbed" || o.ConfigDigest != cfg.Firmware.Digest() || o.InstalledDir != cfg.Model.BundleDir ||
		o.Hardware[1] != "jetson-orin" || o.AgentVersion != "1.4.0" || o.MaxAttempts != 3 || o.MaxBundleBytes != 512<<20 ||
		o.DiskReserve != 128<<20 || o.Watch.Window != 2*time.Hour || o.Watch.MaxErrorRate != 0.05 || o.CheckInterval != time.Hour || o.Precision != bundle.INT8 {
		t.Errorf("options %+v", o)
	}
	// The digest the updater matches releases by is the one bundles are
	// made for.
	if m, err := bundle.Load(cfg.Model.BundleDir); err != nil || m.ConfigDigest != o.ConfigDigest {
		t.Errorf("config digest %s, the shipped bundle's %v (%v)", o.ConfigDigest, m, err)
	}
	if c := CanaryFromConfig(cfg); c.Count != 32 || c.MinWindows != 8 || c.MinAgreement != 0.9 || c.Rig != cfg.Firmware {
		t.Errorf("canary %+v", c)
	}
	if d := config.Defaults().Update.DiskReserve; int64(d) != DefaultDiskReserve {
		t.Errorf("update.disk_reserve defaults to %s, the updater to %d", d, DefaultDiskReserve)
	}
	cfg.Update.URL = ""
	if _, err := OptionsFromConfig(cfg, "1.4.0"); err == nil {
		t.Error("no update.url accepted")
	}
}
