package httpapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hydrognn/hydrognn/cloud/internal/releases"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// Catalog lists the releases of the deployment's TUF repository by
// target path (*releases.Service does, from the current targets
// metadata). Rollouts are made of its releases.
type Catalog interface {
	Releases(ctx context.Context) (map[string]*release.Target, error)
	// BundleFormat returns the manifest format (format_version) of the
	// bundle of release path: a rollout offers it only to agents that
	// read that format. An archive it cannot read the manifest of is an
	// error wrapping releases.ErrUnreadable: 422 for the release rolled
	// out, format 1 (with a warning) for its previous release.
	BundleFormat(ctx context.Context, path string) (int, error)
}

// ProblemRolloutRefused (422): the rollout cannot be made as asked: its
// release is not in the repository or its archive has no readable
// manifest, its previous release does not fit or, not named, is
// ambiguous (the selected agents serve several older releases), the
// release is older than what selected agents serve (without
// allow_downgrade), the selection names another rig type or picks no
// agent.
const ProblemRolloutRefused = "urn:hydrognn:problem:rollout-refused"

func init() { localTitles[ProblemRolloutRefused] = "Rollout refused" }

// rolloutRoutes registers /v1/rollouts (read: viewer; create, edit and
// act: operator) and the rig labels selections use.
func (a *API) rolloutRoutes(v1 *gin.RouterGroup) {
	v1.POST("/rollouts", a.need(store.RoleOperator), a.createRollout)
	v1.GET("/rollouts", a.need(store.RoleViewer), a.listRollouts)
	v1.GET("/rollouts/:id", a.need(store.RoleViewer), a.getRollout)
	v1.PATCH("/rollouts/:id", a.need(store.RoleOperator), a.editRollout)
	for _, act := range []string{store.ActionPause, store.ActionResume, store.ActionAbort, store.ActionRollback} {
		v1.POST("/rollouts/:id/"+act, a.need(store.RoleOperator), a.rolloutAction(act))
	}
	v1.PUT("/rigs/:rig/labels", a.need(store.RoleOperator), a.setRigLabels)
}

func (a *API) catalog() Catalog {
	if a.opt.Catalog != nil {
		return a.opt.Catalog
	}
	if c, ok := a.opt.Releases.(Catalog); ok {
		return c
	}
	return nil
}

func refused(c *gin.Context, format string, args ...any) {
	abort(c, problem(ProblemRolloutRefused, 422, format, args...))
}

func (a *API) createRollout(c *gin.Context) {
	p := principal(c)
	var req rolloutapi.CreateRequest
	if !a.readJSON(c, &req) {
		return
	}
	req = req.WithDefaults()
	if err := req.Validate(); err != nil {
		a.fail(c, err)
		return
	}
	if req.AllowDowngrade && p.Role.Rank() < store.RoleAdmin.Rank() {
		forbidden(c, "allow_downgrade needs role admin; this token is %s", p.Role)
		return
	}
	cat := a.catalog()
	if cat == nil {
		abort(c, problem(cloudapi.ProblemUnavailable, 503, "this server serves no release repository (releases.repo_dir): there is nothing to roll out"))
		return
	}
	rels, err := cat.Releases(c.Request.Context())
	if err != nil {
		a.fail(c, err)
		return
	}
	rel, ok := rels[req.Release]
	if !ok {
		refused(c, "release %q is not in the repository: publish it first (rigctl release publish), and name it by the path it printed", req.Release)
		return
	}
	if rt := req.Selection.RigType; rt != "" && rt != rel.RigType {
		refused(c, "selection rig_type %q is not the release's rig type %q", rt, rel.RigType)
		return
	}
	n := store.NewRollout{Request: req, Release: rolloutapi.Release{Target: req.Release, Version: rel.Version, ManifestDigest: rel.ManifestDigest, ConfigDigest: rel.ConfigDigest}, RigType: rel.RigType, CreatedBy: p.TokenID}
	n.Release.BundleFormat, err = cat.BundleFormat(c.Request.Context(), req.Release)
	switch {
	case errorsIs(err, releases.ErrUnreadable):
		refused(c, "release %q cannot be rolled out: %v; publish it again from a valid bundle", req.Release, err)
		return
	case err != nil:
		a.fail(c, fmt.Errorf("bundle format of release %s: %w", req.Release, err))
		return
	}
	served, err := a.st.ServedModels(c.Request.Context(), p.OrgID, rel.RigType, req.Selection)
	if err != nil {
		a.fail(c, err)
		return
	}
	if newer, agents := newerServed(served, rel.Version); len(newer) > 0 && !req.AllowDowngrade {
		refused(c, "release %q (version %s) is older than what %d selected agents serve (%s): the rollout would downgrade them; "+
			"to go back, roll back the rollout that brought that release, or narrow the selection; an admin may set allow_downgrade (rigctl rollout create --allow-downgrade)",
			req.Release, rel.Version, agents, strings.Join(newer, ", "))
		return
	}
	var warning string
	if req.Previous != "" {
		prev, ok := rels[req.Previous]
		switch {
		case !ok:
			refused(c, "previous release %q is not in the repository", req.Previous)
			return
		case prev.RigType != rel.RigType:
			refused(c, "previous release %q is for rig type %q, the release for %q", req.Previous, prev.RigType, rel.RigType)
			return
		case !sameConfig(prev, rel):
			refused(c, "previous release %q is for firmware config %s, the release %q for %s: a rollback would be offered to none of the agents "+
				"that installed the release (they run its config); name a previous release made for %s, or none to have one picked",
				req.Previous, prev.ConfigDigest, req.Release, rel.ConfigDigest, rel.ConfigDigest)
			return
		}
		if cmp, ok := release.CompareVersions(prev.Version, rel.Version); ok && cmp >= 0 {
			refused(c, "previous release %q (version %s) is not older than the release (version %s)", req.Previous, prev.Version, rel.Version)
			return
		}
		n.Previous = &rolloutapi.Release{Target: req.Previous, Version: prev.Version, ManifestDigest: prev.ManifestDigest, ConfigDigest: prev.ConfigDigest}
	} else {
		var why string
		n.Previous, warning, why, err = a.defaultPrevious(c.Request.Context(), p.OrgID, rels, req.Release, rel, served)
		switch {
		case err != nil:
			a.fail(c, err)
			return
		case why != "":
			refused(c, "%s", why)
			return
		}
	}
	if n.Previous != nil {
		n.Previous.BundleFormat, err = cat.BundleFormat(c.Request.Context(), n.Previous.Target)
		switch {
		case errorsIs(err, releases.ErrUnreadable):
			// Only the rollback's offer uses it: an old release that
			// cannot be read does not stop rolling out a new one. It is
			// taken for format 1, which every agent reads.
			a.log.Warn("rollout: previous release's bundle format unreadable, taken as format 1",
				"release", req.Release, "previous", n.Previous.Target, "err", err)
			n.Previous.BundleFormat = 1
		case err != nil:
			a.fail(c, fmt.Errorf("bundle format of previous release %s: %w", n.Previous.Target, err))
			return
		}
	}
	ro, err := a.st.CreateRollout(c.Request.Context(), p.OrgID, n)
	if errorsIs(err, store.ErrNoAgents) {
		refused(c, "%v", err)
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	a.log.Info("rollout created", "rollout", ro.ID, "org", p.OrgID, "release", ro.Release.Target, "agents", ro.Agents, "cohorts", len(ro.Cohorts))
	if warning != "" {
		a.log.Warn("rollout: default previous release is a fallback no selected agent serves", "rollout", ro.ID, "org", p.OrgID,
			"previous", n.Previous.Target)
		ro.Warnings = append(ro.Warnings, warning)
	}
	c.JSON(201, ro)
}

func (a *API) listRollouts(c *gin.Context) {
	p := principal(c)
	limit, before, ok := idPage(c)
	if !ok {
		return
	}
	ros, err := a.st.Rollouts(c.Request.Context(), p.OrgID, before, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	out := rolloutapi.List{Items: ros}
	if out.Items == nil {
		out.Items = []rolloutapi.Rollout{}
	}
	if len(ros) == limit {
		out.NextCursor = strconv.FormatInt(ros[len(ros)-1].ID, 10)
	}
	c.JSON(200, out)
}

func (a *API) getRollout(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	ro, err := a.st.Rollout(c.Request.Context(), principal(c).OrgID, id, true)
	a.reply(c, 200, ro, err)
}

func (a *API) rolloutAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		p := principal(c)
		ro, err := a.st.RolloutAction(c.Request.Context(), p.OrgID, id, action, "")
		if err != nil {
			a.fail(c, err)
			return
		}
		a.log.Info("rollout "+action, "rollout", id, "org", p.OrgID, "state", ro.State)
		c.JSON(200, ro)
	}
}

// editRollout changes a paused or halted rollout's thresholds or soak
// (rolloutapi.EditRequest; 409 in another state).
func (a *API) editRollout(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	var req rolloutapi.EditRequest
	if !a.readJSON(c, &req) {
		return
	}
	if err := req.Validate(); err != nil {
		a.fail(c, err)
		return
	}
	p := principal(c)
	ro, err := a.st.EditRollout(c.Request.Context(), p.OrgID, id, req)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.log.Info("rollout edited", "rollout", id, "org", p.OrgID, "state", ro.State, "reason", ro.Reason)
	c.JSON(200, ro)
}

func (a *API) setRigLabels(c *gin.Context) {
	var req rolloutapi.LabelsRequest
	if !a.readJSON(c, &req) {
		return
	}
	if msg := rolloutapi.ValidateLabels(req.Labels); msg != "" {
		invalidBody(c, "labels: %s", msg)
		return
	}
	out, err := a.st.SetRigLabels(c.Request.Context(), principal(c).OrgID, c.Param("rig"), req.Labels)
	a.reply(c, 200, out, err)
}
