package update

import (
	"errors"
	"fmt"
	"os"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/bundle"
)

// OptionsFromConfig maps a loaded agent config (update.*, agent.data_dir's
// derived update.dir, model.bundle_dir, and the firmware config's rig type
// and digest) to Options, reading update.root_file. The caller adds the
// Canary (a ModelCanary with the service's infer options and windows), the
// Activator, the Reporter, the Logger and, with a cloud link, the Offers.
// When update.url is on cloud.url's host (rig-cloud's /tuf), Credential
// reads cloud.credential_file, as the forwarder does. cfg must come from config.Load
// (Firmware set) with update.url set.
func OptionsFromConfig(cfg *config.Config, agentVersion string) (Options, error) {
	u := cfg.Update
	if !u.Enabled() {
		return Options{}, errors.New("update: update.url is not set")
	}
	if cfg.Firmware == nil {
		return Options{}, errors.New("update: the config's firmware config is not loaded (use config.Load)")
	}
	root, err := os.ReadFile(u.RootFile)
	if err != nil {
		return Options{}, fmt.Errorf("update: update.root_file: %w", err)
	}
	o := Options{
		Dir: u.Dir, URL: u.URL, TrustedRoot: root, InstalledDir: cfg.Model.BundleDir,
		RigType: cfg.Firmware.RigType, ConfigDigest: cfg.Firmware.Digest(),
		Hardware: u.Hardware, AgentVersion: agentVersion, Precision: bundle.Precision(cfg.Model.Precision),
		RequestTimeout: u.RequestTimeout, DownloadTimeout: u.DownloadTimeout,
		MaxBundleBytes: int64(u.MaxBundleBytes), DiskReserve: int64(u.DiskReserve), MaxAttempts: u.MaxAttempts,
		CheckInterval: u.CheckInterval,
		Watch: Watch{Window: u.Watch.Window, MinRuns: u.Watch.MinRuns, MaxErrorRate: u.Watch.MaxErrorRate,
			MaxLatency: u.Watch.MaxLatency, MaxSlowRate: u.Watch.MaxSlowRate},
	}
	if cfg.UpdateOnCloud() {
		// rig-cloud's /tuf: the forwarder's credential, read per request.
		o.Credential = cfg.Cloud.Credential
	}
	return o, nil
}

// CanaryFromConfig returns the ModelCanary update.canary.* describe; the
// caller sets Rig, Options and Windows.
func CanaryFromConfig(cfg *config.Config) *ModelCanary {
	c := cfg.Update.Canary
	return &ModelCanary{Rig: cfg.Firmware, Count: c.Windows, MinWindows: c.MinWindows, MaxLatency: c.MaxLatency, MinAgreement: c.MinAgreement}
}
