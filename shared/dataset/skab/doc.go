// Package skab reads the CSV files of SKAB, the Skoltech Anomaly Benchmark
// (Katser & Kozitsin 2020; GPL-3.0 data, read as test data, never copied
// into the project).
//
// # Layout
//
// One file per experiment; fields separated by ';'; lines end in "\n" or
// "\r\n". The header names the columns: "datetime" first, then the sensor
// columns (the 8 of Columns in every SKAB file), then optionally the label
// columns "anomaly" and "changepoint" (0 or 1, written "0.0"/"1.0"):
//
//	datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;Volume Flow RateRMS;anomaly;changepoint
//	2020-03-09 10:14:33;0.0265878;0.0401113;1.3302;0.054711;79.3366;26.0199;233.062;32.0;0.0;0.0
//
// datetime is "YYYY-MM-DD HH:MM:SS" (fractions and a 'T' are accepted),
// without a time zone: the wall-clock time is kept and marked UTC. Sensor
// values are decimal numbers; NaN, infinities, hex and empty fields are
// errors. Any other header works the same way: sensor columns are all
// columns other than datetime and the labels, in file order.
//
// # Reading
//
//	paths, err := skab.Files(dir) // every *.csv below dir, sorted
//	f, err := skab.Read(paths[0])
//	p := f.Column("Pressure")
//	for r, t := range f.Times { _ = f.Values[r][p]; _ = f.Anomaly[r] }
//
// Errors name the file, line and column (with its name). ReadContext and
// ParseContext check their context every CtxRows lines: a cancel ends the
// read of a large file with ctx's error naming the file and line. The published
// protocol (the first 400 rows of each file are anomaly-free and may be
// used for fitting; F1, FAR, MAR over every other row of every file) is
// in the project's docs/benchmarks.md; this package only reads.
package skab
