package train

// Calibration is what Result.AnomalyThreshold was calibrated on: the
// windows and the rule. The exporter (models/export) runs another form
// of the model (the int8 file) over the same windows with the same rule,
// so that each model file gets thresholds calibrated on its own outputs.
type Calibration struct {
	// Windows are the training windows, prepared with Result.Spec.
	Windows *Tensors
	// Quantile is the per-sensor quantile of the anomaly error taken as
	// the threshold (Options.AnomalyQuantile).
	Quantile float64
}

// Thresholds applies the rule to anomaly errors [N, S] (flat, row-major)
// of the calibration windows: per sensor, the Quantile of its errors.
func (c *Calibration) Thresholds(anomaly []float32, S int) []float64 {
	return quantiles(anomaly, S, c.Quantile)
}
