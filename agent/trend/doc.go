// Package trend gives the edge agent's diagnoses a remaining useful life
// where the model has none: it keeps a bounded history of each
// component's health and projects its trend to the critical band with
// shared/diag's EstimateRUL. It is the one definition of that path: the
// agent annotates each diagnosis with it, and `rigctl diagnose` annotates
// a data set's cycles with it when it gives them a clock, both with the
// Options of OptionsFor(the rig's firmware config).
//
// # Basics
//
//	tr := trend.New(trend.Options{})
//	if err := tr.Restore(saved); err != nil { // a State kept from before (State)
//		... // the agent rebuilds from its diagnosis history (agent/internal/trendhist)
//	}
//	...
//	d, err := model.Diagnose(r, w, took)
//	tr.Annotate(d) // records d's component health; sets d.RUL and DaysToFailure
//	saved = tr.State() // every few minutes, and at stop
//
// Keep the State rather than reseed from a count of stored diagnoses: the
// agent's 1,024 newest are 17 minutes of one-second windows, under the
// hour an estimate needs, where the State holds the whole Window.
//
// Only diagnoses with a time are recorded (PointTime: the window's end,
// its start, or when the diagnosis was made): a data set's cycles need
// window times before the tracker can say anything.
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
// State, in its JSON form, is the agent's on-disk health-trend.json, and
// others may persist it now that the package is public: a change of its
// format must bump StateVersion (Restore refuses a State of another
// version, and the agent then rebuilds from its history).
//
// A Tracker is safe for concurrent use.
package trend
