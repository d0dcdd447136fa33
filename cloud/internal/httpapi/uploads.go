package httpapi

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hydrognn/hydrognn/cloud/internal/fleetset"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Limits of fleet uploads and the data sets made from them.
const (
	// DefaultUploadTTL is an upload request's lifetime when its body names
	// no expires_at.
	DefaultUploadTTL = 7 * 24 * time.Hour
	// MaxUploadRange is the longest time range of one upload request.
	MaxUploadRange = 31 * 24 * time.Hour
	// MaxFleetRigs caps the rigs of one fleet data set.
	MaxFleetRigs = 100
	// MaxUploadTTL bounds an upload request's expires_at after now.
	MaxUploadTTL = 30 * 24 * time.Hour
	// MaxUploadBytes caps an upload request's max_bytes, and is the cap
	// of a request that names none: the server stores no more of its
	// readings (store.StoreUploadPart; store.MaxUploadRequestReadings
	// caps their number too).
	MaxUploadBytes = store.MaxUploadBytes
	// UploadToSkew is how far an upload request's to may lie after now
	// (clock skew): the agent answers with what it holds when it learns
	// the request and marks its part last, so a range reaching into the
	// future would end done without the readings still to come.
	UploadToSkew = 5 * time.Minute
)

// uploadRoutes registers the operator's side of fleet uploads (the
// agent's is POST /v1/agent/uploads) and data sets made from them.
func (a *API) uploadRoutes(v1 *gin.RouterGroup) {
	v1.POST("/uploads", a.need(store.RoleOperator), a.createUploadRequest)
	v1.GET("/uploads", a.need(store.RoleViewer), a.listUploadRequests)
	v1.POST("/uploads/:id/cancel", a.need(store.RoleOperator), a.cancelUploadRequest)
	v1.POST("/datasets/from-uploads", a.need(store.RoleOperator), a.createFleetDataset)
	v1.POST("/datasets/:id/cancel", a.need(store.RoleOperator), a.cancelDatasetBuild)
}

func (a *API) createUploadRequest(c *gin.Context) {
	var req fleetapi.UploadRequestBody
	if !a.readJSON(c, &req) {
		return
	}
	now := time.Now()
	if req.ExpiresAt.IsZero() {
		req.ExpiresAt = now.Add(DefaultUploadTTL)
	}
	if req.MaxBytes == 0 {
		req.MaxBytes = MaxUploadBytes
	}
	// The request as the agent will see it, checked as the agent checks it.
	wire := cloudapi.UploadRequest{ID: "up-1", Kind: cloudapi.UploadReadings, From: req.From, To: req.To, Sensors: req.Sensors,
		MaxBytes: req.MaxBytes, ExpiresAt: req.ExpiresAt}
	if err := cloudapi.ValidateUploadRequest(&wire); err != nil {
		a.fail(c, err)
		return
	}
	switch {
	case !cloudapi.ValidID(req.RigID):
		invalidBody(c, "rig_id %q is not a rig id", req.RigID)
		return
	case req.To.Sub(req.From) > MaxUploadRange:
		invalidBody(c, "from %s to %s is longer than %s: ask in several requests", req.From.Format(time.RFC3339), req.To.Format(time.RFC3339), MaxUploadRange)
		return
	case !req.ExpiresAt.After(now):
		invalidBody(c, "expires_at %s is not in the future", req.ExpiresAt.Format(time.RFC3339))
		return
	case req.ExpiresAt.After(now.Add(MaxUploadTTL)):
		invalidField(c, "/expires_at", "expires_at %s is more than %s from now", req.ExpiresAt.Format(time.RFC3339), MaxUploadTTL)
		return
	case req.To.After(now.Add(UploadToSkew)):
		invalidField(c, "/to", "to %s is in the future: ask for readings the rig has taken (to at most now)", req.To.Format(time.RFC3339))
		return
	case req.MaxBytes > MaxUploadBytes:
		invalidField(c, "/max_bytes", "max_bytes %d is more than the server's cap of %d", req.MaxBytes, MaxUploadBytes)
		return
	}
	p := principal(c)
	u, err := a.st.CreateUploadRequest(c.Request.Context(), p.OrgID, req.RigID, req.From, req.To, req.Sensors, req.MaxBytes, req.ExpiresAt, p.TokenID)
	a.reply(c, 201, u, err)
}

func (a *API) listUploadRequests(c *gin.Context) {
	limit, ok := pageSize(c)
	if !ok {
		return
	}
	if cur := c.Query("cursor"); cur != "" && !store.ValidUploadID(cur) {
		badParam(c, "cursor %q is not one this server made", cur)
		return
	}
	state := c.Query("state")
	if state != "" && state != store.UploadOpen && state != store.UploadDone && state != store.UploadCancelled && state != store.UploadExpired {
		badParam(c, "state %q: want open, done, cancelled or expired", state)
		return
	}
	us, err := a.st.UploadRequests(c.Request.Context(), principal(c).OrgID, c.Query("rig_id"), state, c.Query("cursor"), limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, us, limit, func(u store.FleetUpload) string { return u.ID })
}

func (a *API) cancelUploadRequest(c *gin.Context) {
	u, err := a.st.CancelUploadRequest(c.Request.Context(), principal(c).OrgID, c.Param("id"))
	a.reply(c, 200, u, err)
}

func (a *API) createFleetDataset(c *gin.Context) {
	var req fleetapi.FleetDatasetRequest
	if !a.readJSON(c, &req) {
		return
	}
	switch {
	case !datasetName.MatchString(req.Name):
		invalidBody(c, "name %q is not 1-128 of [A-Za-z0-9_.-] starting with a letter or digit", req.Name)
		return
	case len(req.Description) > cloudapi.MaxTextLen:
		invalidBody(c, "description is longer than %d bytes", cloudapi.MaxTextLen)
		return
	case len(req.RigIDs) == 0 || len(req.RigIDs) > MaxFleetRigs:
		invalidBody(c, "rig_ids has %d rigs: want 1 to %d", len(req.RigIDs), MaxFleetRigs)
		return
	case req.From.Before(cloudapi.MinTime) || !req.To.Before(cloudapi.MaxTime) || !req.From.Before(req.To):
		invalidBody(c, "from %s to %s is not a time range in [2000, 2200)", req.From.Format(time.RFC3339Nano), req.To.Format(time.RFC3339Nano))
		return
	}
	for i, id := range req.RigIDs {
		if !cloudapi.ValidID(id) || slices.Contains(req.RigIDs[:i], id) {
			invalidBody(c, "rig_ids/%d: %q is not a rig id or is named twice", i, id)
			return
		}
	}
	cfg, err := rig.Parse("rig_config", []byte(req.RigConfig))
	if err != nil {
		invalidBody(c, "rig_config: %v", err)
		return
	}
	b, err := fleetset.New(cfg, fleetset.Options{Labels: req.Labels})
	if err != nil {
		invalidBody(c, "%v", err)
		return
	}
	if a.noBlobs(c) {
		return
	}
	p := principal(c)
	ctx := c.Request.Context()
	for _, id := range req.RigIDs {
		r, err := a.st.Rig(ctx, p.OrgID, id)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				abort(c, problem(cloudapi.ProblemNotFound, 404, "rig %q: no such rig in your organisation", id))
				return
			}
			a.fail(c, err)
			return
		}
		if r.RigType != cfg.RigType {
			invalidBody(c, "rig %q is of rig type %q, rig_config is %q", id, r.RigType, cfg.RigType)
			return
		}
	}
	desc := req.Description
	if desc == "" {
		desc = fmt.Sprintf("fleet uploads of %s, %s to %s, labels %s", strings.Join(req.RigIDs, ", "),
			req.From.UTC().Format(time.RFC3339), req.To.UTC().Format(time.RFC3339), describeLabels(b.Labels()))
	}
	// The assembly is a worker's (a build job, cloud/internal/jobs): the
	// request only records it.
	build := fleetapi.DatasetBuild{RigIDs: req.RigIDs, From: req.From, To: req.To, Labels: b.Labels(), Phase: fleetapi.BuildQueued,
		UpdatedAt: time.Now().UTC()}
	d, err := a.st.CreateBuildingDataset(ctx, p.OrgID, store.Dataset{Dataset: fleetapi.Dataset{Name: req.Name, Kind: "uci", Source: store.SourceFleet,
		Description: desc, RigType: cfg.RigType, ConfigDigest: cfg.Digest()}, RigConfig: req.RigConfig}, build, a.opt.MaxAttempts, p.TokenID)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.log.Info("fleet data set queued", "dataset", d.ID, "rigs", len(req.RigIDs))
	c.Header("Location", fmt.Sprintf("/v1/datasets/%d", d.ID))
	c.JSON(202, d)
}

// cancelDatasetBuild cancels a building data set's build: a queued build
// fails the data set at once, a running one at its worker's next
// heartbeat (the data set stays building until then, its error saying
// the cancel was asked). 409 when the data set is not building.
func (a *API) cancelDatasetBuild(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	p := principal(c)
	d, final, err := a.st.CancelBuild(c.Request.Context(), p.OrgID, id, p.TokenID)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.log.Info("fleet data set build cancelled", "dataset", d.ID, "token", p.TokenID, "at_once", final)
	c.JSON(200, d)
}

// invalidField answers 400 invalid-body naming the field at pointer (an
// RFC 6901 JSON pointer into the body) in its errors.
func invalidField(c *gin.Context, pointer, format string, args ...any) {
	p := problem(cloudapi.ProblemInvalidBody, 400, format, args...)
	p.Errors = []cloudapi.FieldProblem{{Pointer: pointer, Detail: p.Detail}}
	abort(c, p)
}

func describeLabels(l map[string]float64) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%g", k, l[k])
	}
	return strings.Join(parts, " ")
}
