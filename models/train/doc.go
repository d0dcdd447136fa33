// Package train trains the rig GNN (models/gnn) with GoMLX and evaluates
// it.
//
// # Data
//
// A Dataset holds a rig's windows raw on the model's time grid with class
// labels per target and a run id per window. LoadUCI reads the UCI
// hydraulic layout (shared/dataset/uci) for any firmware config whose
// targets match profile.txt's columns. Bad input is an error naming the
// file's path, line and column: a label outside a target's classes, a
// sensor row whose length is neither the grid's steps nor rate_hz ×
// cycle_s, a value outside the sensor's range widened by
// rig.DefaultRangeTolerance (the agent's ingest drops such readings), a
// config without targets. Dataset.Check tells whether a dataset's grids,
// labels and groups agree and every label is a class index of its target
// (or -1, unknown; the error names the window and target); Run refuses a Train, Val or Monitor that fails
// it (ErrData naming the option). Preprocessing is shared/prep
// and nothing else: Stats fills a spec's normalisation with
// prep.StatsAccumulator over the training split only, and Tensorize turns
// windows into model input with prep.Resampler.FromGrid, the code the edge
// agent runs.
//
// # Splits
//
// RunGroups numbers contiguous runs of identical condition labels (the UCI
// set's 155 runs in the provided copy). GroupedSplit and GroupedKFold keep
// runs together, the honest protocol; StratifiedKFold is the literature's
// random protocol, stratified on the joint label.
//
// # Training
//
// Run trains with Adam (linear warm-up, cosine decay), a multi-task loss
// (class-weighted cross-entropy per target + health regression on the
// targets' components + masked reconstruction), early stopping on a
// grouped validation split scored by mean macro-F1, checkpoints
// (best.weights, last.weights, history.json in Options.Out) and a progress
// line per epoch with an ETA. A run is deterministic for a seed on the
// pure-Go backend. The result carries the chosen weights (name, shape,
// float32 data) for the exporter, the input spec with its stats, the
// validation metrics and per-sensor anomaly thresholds.
//
// Evaluate and Predict run a trained model over a Dataset through the same
// preprocessing.
//
// # Speed (this repository's 2-core machine)
//
// One Adam step of the ZeMA model (17 sensors × 60 steps, 9 nodes, D=32,
// two GAT layers) at B=32 takes about 0.07 s on an idle machine (go test
// -bench TrainStep); docs/model.md has the measured figures and accuracies.
package train
