// Package prep is the one preprocessing that turns sensor readings into
// model input. The edge agent and the trainer both call it, so a model
// never sees data prepared differently in the field than in training.
//
// # The pieces
//
//   - Spec is a model's input spec (embedded in the model-bundle manifest):
//     the ordered sensors with their normalisation stats, the time grid
//     (GridHz, Steps), the window alignment and the hold limit.
//     SpecFromConfig derives one from a firmware config; Validate checks
//     it; Digest hashes it.
//   - StatsAccumulator computes the normalisation stats (Welford) and
//     Apply writes them into a Spec, flooring tiny stds.
//   - Resampler (or the one-shot Resample) turns readings into a Window on
//     the grid; FromGrid does the same for data already on the grid (a UCI
//     1 Hz file row), GridFromSamples brings a row at a sensor's native
//     rate onto the grid first.
//   - Windows gives the Schedule of window starts (cycle or sliding).
//
// # Rules (Rules = "prep/v1")
//
// Grid: cell k of a window starting at S covers [S+k/GridHz,
// S+(k+1)/GridHz), boundaries rounded to the nanosecond (Spec.CellStart);
// a sample on a boundary belongs to the later cell. Readings before S or at
// or after the window's end are ignored (windows are self-contained: no
// reading outside a window affects it). Times compare on the wall clock.
//
// Mean: a cell takes the mean (float64, in the order readings were added)
// of the sensor's usable samples in it. This matches the UCI 1 Hz copy,
// whose PS, EPS and FS values are exact means of each one-second block of
// the 100 Hz and 10 Hz originals. A cell whose mean is not finite (the sum
// of huge values overflowed) is missing, as a NaN or ±Inf cell of FromGrid
// is; so is a cell whose finite value normalises beyond the float32 range
// (possible for a sensor without a measuring range): no cell is ever ±Inf
// in Values with Mask 1.
//
// Usable: only readings with quality reading.Good and a finite value are
// used. Uncertain, Bad (and unknown quality codes), NaN and ±Inf readings
// are ignored as if absent, and counted in Window.Counts, as are readings
// of sensors not in the spec and readings outside the window.
//
// Hold: an empty cell takes the value of the sensor's last observed cell
// in the window if that is at most MaxHoldSteps cells earlier (the
// sensor's own MaxHoldSteps when set); otherwise it is missing. Held cells
// count as present. A sensor slower than the grid therefore fills the
// cells between its samples; cells before its first sample in the window
// are missing.
//
// Normalisation: a present cell's value is float32((x-Mean)/Std) in
// Window.Values; a missing cell is 0 there (the normalised mean) and 0 in
// Window.Mask, which is 1 elsewhere. Window.Raw keeps the un-normalised
// values (NaN where missing), Window.Coverage the fraction of present cells
// per sensor, and Window.Missing and Window.Stale the sensors with no or
// some missing cells, so a diagnosis can flag them instead of trusting
// zero-filled input.
//
// Stats: StatsAccumulator takes the present cells of windows (Raw where
// Mask is 1); Std is the population std, floored at SensorSpec.StdFloor
// (0.1 % of the measuring range, or of max(|mean|, 1) when the range is
// unknown). Validate refuses a Std below SensorSpec.MinStd, a thousandth
// of that floor: a spec composing two normalisations may go below the
// floor, but a tiny std would put ±Inf into the float32 Values.
//
// Parity: Resample of readings placed at the cell starts (one good reading
// per observed cell) gives exactly the Window that FromGrid gives for the
// grid of those values (NaN elsewhere), in any order; and Resample of a
// native-rate row placed at i/RateHz (added in time order) gives exactly
// FromGrid of GridFromSamples of that row. Bit for bit: both paths end in
// the same code. Summing in another order can change a cell mean in its
// last bits only.
//
// # Ownership and concurrency
//
// Spec and Schedule are plain data. A Resampler is for one goroutine; the
// Window it returns is overwritten by its next call (Clone to keep one).
// After its first window a Resampler allocates nothing.
package prep
