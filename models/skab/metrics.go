package skab

// Confusion counts rows by label and decision.
type Confusion struct {
	TP, FP, TN, FN int
}

// Add counts one row.
func (c *Confusion) Add(anomaly, predicted bool) {
	switch {
	case anomaly && predicted:
		c.TP++
	case anomaly:
		c.FN++
	case predicted:
		c.FP++
	default:
		c.TN++
	}
}

// Merge adds o's counts.
func (c *Confusion) Merge(o Confusion) {
	c.TP += o.TP
	c.FP += o.FP
	c.TN += o.TN
	c.FN += o.FN
}

// Rows is the number of rows counted.
func (c Confusion) Rows() int { return c.TP + c.FP + c.TN + c.FN }

// F1 is 2TP / (2TP + FP + FN) (0 when there is nothing to find and
// nothing found).
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// FAR is the false alarm rate FP / (FP + TN) (0 without normal rows).
func (c Confusion) FAR() float64 { return ratio(c.FP, c.FP+c.TN) }

// MAR is the missed alarm rate FN / (FN + TP) (0 without anomalous rows).
func (c Confusion) MAR() float64 { return ratio(c.FN, c.FN+c.TP) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
