// Package report writes a training run's report: a Markdown file with the
// run summary, a metrics table and a confusion matrix per target (for the
// validation set and, when given, a test set), the per-epoch record, and
// the loss and validation-accuracy curves as PNG (drawn with gonum/plot).
//
// rigctl train and rigctl bench uci write one beside the bundle; the
// input is the trainer's own record (train.Result), so the report shows
// exactly what selected the shipped weights.
//
// WriteContext stops at a cancel (checked before each file and before the
// files are put in place) and writes each file to a temporary file renamed
// into place once all are rendered: a stopped or failed report leaves no
// partial file under a report's name.
package report
