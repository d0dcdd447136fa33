// Package skab runs the project's temporal GNN (models/gnn) as an
// anomaly detector on SKAB, the Skoltech Anomaly Benchmark, and
// implements the benchmark's leaderboard protocol. docs/skab.md has the
// approach, the measured results and how to reproduce them.
//
// # Data
//
// Load and LoadDir read SKAB CSV files (shared/dataset/skab) onto a rig
// config's active sensors, each reading the column named by
// rig.Sensor.ColumnName (firmware-configs/skab-testbed.yaml). One row is
// one step of the 1 Hz grid, as in the published baselines (the files'
// rows are 1-2 s apart). A value outside a sensor's range widened by
// rig.DefaultRangeTolerance is an error naming file, line and column.
// LoadDir takes files named anomaly-free*.csv or under an anomaly-free
// folder as normal data (IsAnomalyFree); any other file without an
// anomaly column is an error naming it.
//
// # Calibration and windows
//
// The protocol lets the first CalibRows (400) rows of every file be used
// for fitting and calibration. Calibrate fits a prep.Spec's Mean and Std
// on them with prep.StatsAccumulator; Normalize prepares rows through
// prep.FromGrid: shared/prep is the only preprocessing. The model's input
// is that calibrated series, normalised once more by the trainer's
// statistics (train.Run); Compose folds the two into the single spec a
// bundle ships, so one prep pass over raw readings gives the model's
// input. Row r is scored from the window of rows r-T+1..r (T =
// Options.Steps, 30 by default); rows before the first full window take
// its values (they lie in the calibration rows for T <= 400).
//
// # Training
//
// Train fits the GNN's self-supervised reconstruction head (train.Run
// with unlabelled windows, reconstruction loss only) on normal data:
// the anomaly-free run cut into CalibRows-row blocks and the first
// CalibRows rows of every experiment file, each block calibrated on
// itself, so every training window is calibration-like. Labels are never
// read.
//
// # Detection
//
// A Detector combines two per-sensor terms into one score per row: the
// GNN's reconstruction error (smoothed over Smooth rows) and the level
// of the window (|mean of the calibrated values|, a T² on window means
// with a diagonal covariance), each divided by a scale fitted on normal
// data by a split-half rule (FitDetector) and by its threshold; each
// file's own calibration rows widen its scales. A row is anomalous when
// its score exceeds 1.
//
// # Protocol
//
// Protocol computes the leaderboard's counts (rows CalibRows.. of every
// file, all files together: F1, FAR = FP/(FP+TN), MAR = FN/(FN+TP));
// Bench runs the whole protocol over a folder (`rigctl bench skab`).
// Sweep evaluates many detector settings on one trained model.
package skab
