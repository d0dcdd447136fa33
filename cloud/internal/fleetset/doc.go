// Package fleetset assembles a training data set from readings that rigs
// uploaded (POST /v1/agent/uploads): it cuts them into windows with
// shared/prep, the code the agent runs on the edge, and writes the
// windows in the UCI hydraulic layout (shared/dataset/uci) that the
// trainer reads, so a fleet data set trains like an imported one.
//
// # Windows
//
// The windows are the firmware config's cycles (operation.cycle_s, which
// must be set) on a 1 Hz grid: prep.SpecFromConfig(cfg, 1, cycle_s) and
// its schedule, anchored at the Unix epoch (the rig's own cycle marker is
// not known to the cloud). Each window lying entirely in the requested
// range is resampled from the readings (prep.Resampler: cell means of good
// readings, short gaps held); a window in which any active sensor has a
// missing cell is skipped (the UCI layout has no missing values) and
// counted. Line i of every file is window i; each sensor's row holds its
// cycle_s cell values (the trainer brings them onto its own grid).
//
// # Labels
//
// Uploads carry readings, not conditions. Every window gets the same
// profile row: the value given for each target in Labels (what the
// operator knows the rigs were in over the range), else the target's
// normal class: of a condition target, the class without a fault with the
// highest health; of a flag, its first class. With no labels this is
// normal-operation data (for the anomaly head and its calibration).
//
// # Files
//
// Besides the sensor files and profile.txt, fleet-windows.tsv lists each
// window's rig and start (RFC 3339), line for line.
//
// Each window is written to the files in Options.Dir as it is cut
// (shared/dataset/uci's Writer, under temporary names until Finish), so a
// build's memory is one window's readings and the files' buffers, however
// many windows it makes; MaxWindows and MaxBytes cap the files. A Builder
// is for one goroutine.
package fleetset
