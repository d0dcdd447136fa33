package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// filterFixture is two organisations: a with sites s1, s2 and rigs r1 (s1,
// x), r2 (s1, y), r3 (s2, x), r4 (no site, x), r5 (s1, x); b with site sb
// and rig r1 (sb, x).
type filterFixture struct {
	a, b       int64
	s1, s2, sb int64
}

func newFilterFixture(t *testing.T, st *store.Store) filterFixture {
	t.Helper()
	ctx := context.Background()
	var f filterFixture
	f.a, f.b = newOrg(t, st, "fa", "A").ID, newOrg(t, st, "fb", "B").ID
	site := func(org int64, name string) int64 {
		s, err := st.CreateSite(ctx, org, name, "")
		require.NoError(t, err)
		return s.ID
	}
	f.s1, f.s2, f.sb = site(f.a, "s1"), site(f.a, "s2"), site(f.b, "sb")
	rig := func(org int64, name, typ string, site int64) {
		r := fleetapi.Rig{RigID: name, RigType: typ}
		if site != 0 {
			r.SiteID = &site
		}
		_, err := st.CreateRig(ctx, org, r)
		require.NoError(t, err)
	}
	rig(f.a, "r1", "x", f.s1)
	rig(f.a, "r2", "y", f.s1)
	rig(f.a, "r3", "x", f.s2)
	rig(f.a, "r4", "x", 0)
	rig(f.a, "r5", "x", f.s1)
	rig(f.b, "r1", "x", f.sb)
	return f
}

// rigPages lists every page of org's rigs f lets through, limit a page,
// and returns their names and the number of pages.
func rigPages(t *testing.T, st *store.Store, org int64, f store.RigFilter, limit int) ([]string, int) {
	t.Helper()
	var names []string
	after, pages := "", 0
	for {
		rs, err := st.Rigs(context.Background(), org, f, after, limit)
		require.NoError(t, err)
		pages++
		for _, r := range rs {
			names = append(names, r.RigID)
		}
		if len(rs) < limit {
			return names, pages
		}
		after = rs[len(rs)-1].RigID
	}
}

// Rigs filters by site and rig type, both together, page by page; another
// organisation's site lists nothing.
func TestRigsFilter(t *testing.T) {
	t.Parallel()
	_, st := newStore(t)
	f := newFilterFixture(t, st)
	for _, c := range []struct {
		f    store.RigFilter
		want []string
	}{
		{store.RigFilter{}, []string{"r1", "r2", "r3", "r4", "r5"}},
		{store.RigFilter{SiteID: f.s1}, []string{"r1", "r2", "r5"}},
		{store.RigFilter{SiteID: f.s2}, []string{"r3"}},
		{store.RigFilter{RigType: "x"}, []string{"r1", "r3", "r4", "r5"}},
		{store.RigFilter{RigType: "y"}, []string{"r2"}},
		{store.RigFilter{SiteID: f.s1, RigType: "x"}, []string{"r1", "r5"}},
		{store.RigFilter{SiteID: f.s2, RigType: "y"}, nil},
		{store.RigFilter{RigType: "none"}, nil},
		{store.RigFilter{SiteID: f.sb}, nil},    // b's site: nothing of a's
		{store.RigFilter{SiteID: 1 << 62}, nil}, // no such site
	} {
		for _, limit := range []int{1, 2, 100} {
			got, _ := rigPages(t, st, f.a, c.f, limit)
			assert.Equal(t, c.want, got, "%+v limit %d", c.f, limit)
		}
	}
	got, _ := rigPages(t, st, f.b, store.RigFilter{SiteID: f.sb}, 1)
	assert.Equal(t, []string{"r1"}, got)
	// A cursor of another filter is a position in the name order: the
	// rigs of this filter past it.
	rs, err := st.Rigs(context.Background(), f.a, store.RigFilter{RigType: "x"}, "r2", 10)
	require.NoError(t, err)
	var names []string
	for _, r := range rs {
		names = append(names, r.RigID)
	}
	assert.Equal(t, []string{"r3", "r4", "r5"}, names)
}

// insertAlert stores an alert of org's rig with severity sev on a
// component of its own (one open alert per rig, component and fault).
func insertAlert(t *testing.T, pool *pgxpool.Pool, org int64, rig, sev, state string, n int) {
	t.Helper()
	tm := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	_, err := pool.Exec(context.Background(), `INSERT INTO alerts (org_id, rig_id, component, fault, severity, state, opened_at, last_seen_at, agent_id, seq)
		SELECT $1, id, $3, 'leakage', $4, $5, $6, $6, 1, $7 FROM rigs WHERE org_id = $1 AND name = $2`,
		org, rig, fmt.Sprintf("c%d", n), sev, state, tm, n)
	require.NoError(t, err)
}

// FilteredAlerts filters by rig and severity (with state), both orders,
// page by page; a rig of another organisation or none lists nothing.
func TestAlertsFilter(t *testing.T) {
	t.Parallel()
	pool, st := newStore(t)
	f := newFilterFixture(t, st)
	type al struct{ rig, sev, state string }
	as := []al{{"r1", "high", "open"}, {"r2", "low", "open"}, {"r1", "low", "resolved"}, {"r1", "high", "open"},
		{"r3", "critical", "open"}, {"r1", "high", "acknowledged"}, {"r2", "high", "open"}}
	for i, a := range as {
		insertAlert(t, pool, f.a, a.rig, a.sev, a.state, i)
	}
	insertAlert(t, pool, f.b, "r1", "high", "open", 100)
	all, err := st.Alerts(context.Background(), f.a, "", 0, 100)
	require.NoError(t, err)
	require.Len(t, all, len(as))
	ids := func(keep func(al) bool) []int64 {
		var out []int64
		for i, a := range as {
			if keep(a) {
				out = append(out, all[i].ID)
			}
		}
		return out
	}
	for _, c := range []struct {
		f    store.AlertFilter
		want []int64
	}{
		{store.AlertFilter{Rig: "r1"}, ids(func(a al) bool { return a.rig == "r1" })},
		{store.AlertFilter{Severity: "high"}, ids(func(a al) bool { return a.sev == "high" })},
		{store.AlertFilter{Rig: "r1", Severity: "high"}, ids(func(a al) bool { return a.rig == "r1" && a.sev == "high" })},
		{store.AlertFilter{Rig: "r1", Severity: "high", State: "open"}, ids(func(a al) bool { return a.rig == "r1" && a.sev == "high" && a.state == "open" })},
		{store.AlertFilter{Rig: "r2", State: "open"}, ids(func(a al) bool { return a.rig == "r2" })},
		{store.AlertFilter{Severity: "info"}, nil},
		{store.AlertFilter{Rig: "r4"}, nil},   // a's rig without alerts
		{store.AlertFilter{Rig: "nope"}, nil}, // no such rig
	} {
		for _, limit := range []int{1, 2, 100} {
			for _, newest := range []bool{false, true} {
				var got []int64
				var from int64
				for {
					page, err := st.FilteredAlerts(context.Background(), f.a, c.f, newest, from, limit)
					require.NoError(t, err)
					for _, a := range page {
						got = append(got, a.ID)
					}
					if len(page) < limit {
						break
					}
					from = page[len(page)-1].ID
				}
				want := c.want
				if newest {
					want = nil
					for i := len(c.want) - 1; i >= 0; i-- {
						want = append(want, c.want[i])
					}
				}
				assert.Equal(t, want, got, "%+v limit %d newest %v", c.f, limit, newest)
			}
		}
	}
	// b's rig r1 is b's: a's filter never lists it, b's lists only it.
	bs, err := st.FilteredAlerts(context.Background(), f.b, store.AlertFilter{Rig: "r1"}, false, 0, 100)
	require.NoError(t, err)
	require.Len(t, bs, 1)
	assert.Equal(t, "c100", bs[0].Component)
}
