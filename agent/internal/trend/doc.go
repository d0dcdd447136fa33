// Package trend gives the edge agent's diagnoses a remaining useful life
// where the model has none: it keeps a bounded history of each
// component's health and projects its trend to the critical band with
// shared/diag's EstimateRUL.
//
// # Basics
//
//	tr := trend.New(trend.Options{})
//	if err := tr.Restore(saved); err == nil { // a State kept from before (State)
//		_, err = tr.CatchUp(ctx, hist, 0) // the diagnoses stored since
//	} else {
//		err = tr.Seed(ctx, hist, trend.DefaultSeedLimit) // the newest diagnoses already stored
//	}
//	...
//	d, err := model.Diagnose(r, w, took)
//	tr.Annotate(d) // records d's component health; sets d.RUL and DaysToFailure
//	saved = tr.State() // every few minutes, and at stop
//
// Keep the State rather than reseed by count: the newest DefaultSeedLimit
// diagnoses are 17 minutes of one-second windows, under the hour an
// estimate needs, where the State holds the whole Window.
//
// # Caveats
//
// The estimate is a straight line through hours of health history, not a
// learned prognosis: nothing is said before diag.DefaultTrendMinSpan of
// judged windows, a sudden fault is not foreseen, and a model update that
// judges health differently bends the line until the window has moved
// past the old model's points. Memory is bounded: at most MaxComponents
// components of at most MaxPoints points each, the points of a bucket of
// Window/MaxPoints averaged into one.
//
// A Tracker is safe for concurrent use.
package trend
