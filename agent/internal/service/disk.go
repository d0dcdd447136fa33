package service

import (
	"log/slog"
	"path/filepath"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/diskspace"
)

// Roles of the directories whose free space the agent exports
// (rig_agent_disk_free_bytes{dir}).
const (
	DiskData    = "data"    // agent.data_dir: the outbox, trend and detector state
	DiskStore   = "store"   // buffer.path's directory: the reading buffer
	DiskHistory = "history" // diagnoses.path's directory: the diagnosis history
	DiskUpdates = "updates" // update.dir: downloads and installed bundles
)

// diskDirs are the directories the agent writes, by role; updates only
// with an updater (update.dir exists only then).
func diskDirs(cfg *config.Config, updates bool) []diskspace.Dir {
	dirs := []diskspace.Dir{
		{Role: DiskData, Path: cfg.Agent.DataDir},
		{Role: DiskStore, Path: filepath.Dir(cfg.Buffer.Path)},
		{Role: DiskHistory, Path: filepath.Dir(cfg.Diagnoses.Path)},
	}
	if updates {
		dirs = append(dirs, diskspace.Dir{Role: DiskUpdates, Path: cfg.Update.Dir})
	}
	return dirs
}

// diskMonitor is the Monitor behind the agent's disk metrics: statfs at
// each scrape, bounded by diskspace.DefaultTimeout.
func diskMonitor(cfg *config.Config, updates bool, log *slog.Logger) (*diskspace.Monitor, error) {
	return diskspace.NewMonitor(diskDirs(cfg, updates), 0, log)
}
