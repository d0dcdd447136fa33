// Package trendhist fills the edge agent's health trend (agent/trend)
// from its diagnosis history (agent/internal/history): Seed, when the
// agent has no saved trend State, and CatchUp, for the diagnoses stored
// after the State it restored.
//
//	tr := trend.New(trend.Options{RigID: id, RigType: rigType})
//	if err := tr.Restore(saved); err == nil {
//		_, err = trendhist.CatchUp(ctx, tr, hist, 0) // the diagnoses stored since
//	} else {
//		err = trendhist.Seed(ctx, tr, hist, trendhist.DefaultSeedLimit) // the newest already stored
//	}
package trendhist
