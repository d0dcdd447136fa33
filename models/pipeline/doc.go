// Package pipeline trains a model on a data set folder and writes its
// bundle: load (models/train or models/skab), train, export (models/export)
// with the provenance filled in. It is the one implementation behind
// `rigctl train`, `rigctl bench uci` and rig-cloud's training worker, so a
// bundle trained in the cloud is made exactly as one trained by hand.
//
// Data kinds: "uci" and "sim" are the UCI hydraulic layout (real, or
// written by rigsim dataset) and train every head on the labelled cycles;
// "skab" is a SKAB folder, trained on its normal data only, giving an
// anomaly-only bundle.
//
// Train blocks until the bundle is written or ctx ends; progress lines go
// to Options.Log, and train.Options.OnEpoch receives structured progress.
package pipeline
