package rolloutapi

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

func TestValidate(t *testing.T) {
	ok := CreateRequest{Release: "zema-testrig/zema-testrig-1.1.0.tar.gz"}.WithDefaults()
	require.NoError(t, ok.Validate())
	assert.Equal(t, DefaultCohorts, ok.Cohorts)
	assert.Equal(t, DefaultSoakS, ok.SoakS)

	bad := []struct {
		name string
		edit func(r *CreateRequest)
		want string
	}{
		{"release", func(r *CreateRequest) { r.Release = "../etc" }, "/release"},
		{"previous", func(r *CreateRequest) { r.Previous = r.Release }, "/previous"},
		{"site", func(r *CreateRequest) { r.Selection.Sites = []string{""} }, "/selection/sites/0"},
		{"rig", func(r *CreateRequest) { r.Selection.Rigs = []string{"bad rig"} }, "/selection/rigs/0"},
		{"label", func(r *CreateRequest) { r.Selection.Labels = map[string]string{"a b": "c"} }, "/selection/labels"},
		{"both", func(r *CreateRequest) { r.Cohorts = []CohortSpec{{Agents: 1, Percent: 10}, {Percent: 100}} }, "/cohorts/0"},
		{"shrinks", func(r *CreateRequest) { r.Cohorts = []CohortSpec{{Percent: 50}, {Percent: 20}, {Percent: 100}} }, "/cohorts/1/percent"},
		{"count after percent", func(r *CreateRequest) { r.Cohorts = []CohortSpec{{Percent: 50}, {Agents: 3}, {Percent: 100}} }, "/cohorts/1/agents"},
		{"not 100", func(r *CreateRequest) { r.Cohorts = []CohortSpec{{Agents: 1}, {Percent: 50}} }, "the last cohort must be percent 100"},
		{"nan", func(r *CreateRequest) { r.Cohorts = []CohortSpec{{Percent: math.NaN()}} }, "/cohorts/0/percent"},
		{"soak", func(r *CreateRequest) { r.SoakS = -1 }, "/soak_s"},
		{"cohort soak", func(r *CreateRequest) { r.Cohorts = []CohortSpec{{Percent: 100, SoakS: MaxSoakS + 1}} }, "/cohorts/0/soak_s"},
		{"success", func(r *CreateRequest) { r.SuccessThreshold = 1.5 }, "/success_threshold"},
		{"failure", func(r *CreateRequest) { r.FailureThreshold = -0.1 }, "/failure_threshold"},
		{"too many", func(r *CreateRequest) { r.Cohorts = make([]CohortSpec, MaxCohorts+1) }, "/cohorts"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			r := ok
			r.Cohorts = append([]CohortSpec(nil), ok.Cohorts...)
			c.edit(&r)
			err := r.Validate()
			var p *cloudapi.Problem
			require.True(t, errors.As(err, &p), "%v", err)
			assert.Equal(t, 400, p.Status)
			var all []string
			for _, e := range p.Errors {
				all = append(all, e.Pointer+": "+e.Detail)
			}
			assert.Contains(t, strings.Join(all, "\n"), c.want)
		})
	}
}

func TestValidateEdit(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, ok := range []EditRequest{{SuccessThreshold: f(1)}, {FailureThreshold: f(0.5)}, {SoakS: f(0)},
		{SuccessThreshold: f(0.5), FailureThreshold: f(1), SoakS: f(MaxSoakS)}} {
		assert.NoError(t, ok.Validate(), "%+v", ok)
	}
	for _, c := range []struct {
		name string
		req  EditRequest
		want []string
	}{
		{"nothing", EditRequest{}, []string{": nothing to change"}},
		{"success 0", EditRequest{SuccessThreshold: f(0)}, []string{"/success_threshold: 0 is not in (0, 1]"}},
		{"failure", EditRequest{FailureThreshold: f(1.5)}, []string{"/failure_threshold: 1.5 is not in (0, 1]"}},
		{"soak", EditRequest{SoakS: f(-1)}, []string{"/soak_s: -1 is not in [0, 2.592e+06]"}},
		{"every field", EditRequest{SuccessThreshold: f(2), FailureThreshold: f(-1), SoakS: f(MaxSoakS + 1)},
			[]string{"/success_threshold", "/failure_threshold", "/soak_s"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.req.Validate()
			var p *cloudapi.Problem
			require.True(t, errors.As(err, &p), "%v", err)
			assert.Equal(t, 400, p.Status)
			assert.Contains(t, p.Detail, "rollout edit has")
			var all []string
			for _, e := range p.Errors {
				all = append(all, e.Pointer+": "+e.Detail)
			}
			require.Len(t, all, len(c.want))
			for i, w := range c.want {
				assert.Contains(t, all[i], w)
			}
		})
	}
}
