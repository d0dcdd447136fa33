package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// Blobs is what the API needs of the blob store (cloud/internal/blob).
type Blobs interface {
	Put(ctx context.Context, key string, r io.Reader) (blob.Info, error)
	Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error)
	Delete(ctx context.Context, key string) error
}

// MediaGzip is the type of data set archives and bundles (tar.gz).
const MediaGzip = "application/gzip"

// trainingRoutes registers data sets, training jobs and the registry.
func (a *API) trainingRoutes(v1 *gin.RouterGroup) {
	v1.POST("/datasets", a.need(store.RoleOperator), a.createDataset)
	v1.GET("/datasets", a.need(store.RoleViewer), a.listDatasets)
	v1.GET("/datasets/:id", a.need(store.RoleViewer), a.getDataset)
	v1.DELETE("/datasets/:id", a.need(store.RoleOperator), a.deleteDataset)
	v1.PUT("/datasets/:id/archive", a.need(store.RoleOperator), a.putDatasetArchive)
	v1.POST("/training/jobs", a.need(store.RoleOperator), a.createJob)
	v1.GET("/training/jobs", a.need(store.RoleViewer), a.listJobs)
	v1.GET("/training/jobs/:id", a.need(store.RoleViewer), a.getJob)
	v1.POST("/training/jobs/:id/cancel", a.need(store.RoleOperator), a.cancelJob)
	v1.GET("/training/jobs/:id/logs", a.need(store.RoleViewer), a.jobLogs)
	v1.GET("/models", a.need(store.RoleViewer), a.listModels)
	v1.GET("/models/:rig_type/versions/:version", a.need(store.RoleViewer), a.getModel)
	v1.GET("/models/:rig_type/versions/:version/bundle", a.need(store.RoleViewer), a.getModelBundle)
	v1.GET("/models/:rig_type/compare", a.need(store.RoleViewer), a.compareModels)
	a.uploadRoutes(v1) // fleet uploads: training data from the rigs
}

var datasetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (a *API) createDataset(c *gin.Context) {
	var req fleetapi.DatasetRequest
	if !a.readJSON(c, &req) {
		return
	}
	switch {
	case !datasetName.MatchString(req.Name):
		invalidBody(c, "name %q is not 1-128 of [A-Za-z0-9_.-] starting with a letter or digit", req.Name)
		return
	case req.Kind != "uci" && req.Kind != "sim":
		invalidBody(c, "kind %q: want uci or sim (the UCI hydraulic layout, real or simulated)", req.Kind)
		return
	case len(req.Description) > cloudapi.MaxTextLen:
		invalidBody(c, "description is longer than %d bytes", cloudapi.MaxTextLen)
		return
	}
	cfg, err := rig.Parse("rig_config", []byte(req.RigConfig))
	if err != nil {
		invalidBody(c, "rig_config: %v", err)
		return
	}
	p := principal(c)
	d, err := a.st.CreateDataset(c.Request.Context(), p.OrgID, store.Dataset{Dataset: fleetapi.Dataset{Name: req.Name, Kind: req.Kind, Source: store.SourceImport,
		Description: req.Description, RigType: cfg.RigType, ConfigDigest: cfg.Digest()}, RigConfig: req.RigConfig}, p.TokenID)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(201, d)
}

func (a *API) listDatasets(c *gin.Context) {
	limit, after, ok := idPage(c)
	if !ok {
		return
	}
	ds, err := a.st.Datasets(c.Request.Context(), principal(c).OrgID, after, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, ds, limit, func(d store.Dataset) string { return strconv.FormatInt(d.ID, 10) })
}

func (a *API) getDataset(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	d, err := a.st.Dataset(c.Request.Context(), principal(c).OrgID, id)
	a.reply(c, 200, d, err)
}

// deleteDataset deletes a pending data set (registered, its archive not
// stored: an import given up): 204, its name free again. 409 when it is
// not pending, 404 when it is not the caller's organisation's.
func (a *API) deleteDataset(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	p := principal(c)
	if err := a.st.DeletePendingDataset(c.Request.Context(), p.OrgID, id); err != nil {
		a.fail(c, err)
		return
	}
	a.log.Info("pending data set deleted", "dataset", id, "token", p.TokenID)
	c.Status(204)
}

func (a *API) noBlobs(c *gin.Context) bool {
	if a.opt.Blobs == nil {
		abort(c, problem(cloudapi.ProblemUnavailable, 503, "this server has no blob store (blob.dir)"))
		return true
	}
	return false
}

// putDatasetArchive stores the body (a tar.gz of the data set folder,
// checked while it streams) as a pending data set's archive. The body is
// bounded by blob.max_object_bytes and blob.upload_timeout instead of
// server.max_body_bytes and the request timeout.
func (a *API) putDatasetArchive(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	if mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type")); mt != MediaGzip && mt != "application/x-gzip" && mt != "application/octet-stream" {
		abort(c, problem(cloudapi.ProblemUnsupportedMedia, 415, "Content-Type %q: send the archive as %s (a tar.gz of the data set folder)",
			c.GetHeader("Content-Type"), MediaGzip))
		return
	}
	if a.noBlobs(c) {
		return
	}
	p := principal(c)
	d, err := a.st.Dataset(c.Request.Context(), p.OrgID, id)
	if err != nil {
		a.fail(c, err)
		return
	}
	switch d.State {
	case store.DatasetPending:
	case store.DatasetBuilding, store.DatasetFailed:
		a.fail(c, fmt.Errorf("data set %d is %s from fleet uploads: it takes no archive: %w", id, d.State, store.ErrState))
		return
	default:
		a.fail(c, fmt.Errorf("data set %d has its archive already: %w", id, store.ErrState))
		return
	}
	// The server's write deadline was set when the headers were read:
	// an upload longer than write_timeout would lose its answer (the
	// archive stored, the connection closed). Both deadlines move; the
	// answer gets a minute after the upload's end, as publishRelease.
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(time.Now().Add(a.opt.UploadTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(a.opt.UploadTimeout + time.Minute))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), a.opt.UploadTimeout)
	defer cancel()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := fmt.Sprintf("orgs/%d/datasets/%d/%s.tar.gz", p.OrgID, id, hex.EncodeToString(rnd[:]))

	// The archive is checked as it streams into the store.
	pr, pw := io.Pipe()
	checked := make(chan error, 1)
	go func() {
		err := tarball.Check(pr, tarball.Limits{})
		_, _ = io.Copy(io.Discard, pr) // let the store read the rest
		checked <- err
	}()
	info, err := a.opt.Blobs.Put(ctx, key, io.TeeReader(c.Request.Body, pw))
	pw.CloseWithError(err)
	cerr := <-checked
	if err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		_ = a.opt.Blobs.Delete(ctx, key)
		var mbe *http.MaxBytesError
		switch {
		case errors.Is(err, blob.ErrTooLarge) || errors.As(err, &mbe):
			abort(c, problem(cloudapi.ProblemTooLarge, 413, "the archive is larger than blob.max_object_bytes"))
		case errors.Is(err, tarball.ErrInvalid):
			invalidBody(c, "%v", err)
		default:
			a.fail(c, err)
		}
		return
	}
	// The row is written on a fresh context: the upload's may be nearly
	// spent by a long archive. Only a definite refusal (the data set is
	// gone or has its archive) deletes the blob: after any other error
	// the UPDATE may have committed, naming it, and a blob no row names
	// is blobgc's.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), archiveWriteTimeout)
	defer wcancel()
	d, err = a.st.SetDatasetArchive(wctx, p.OrgID, id, key, info.Size, info.SHA256)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrState) {
			_ = a.opt.Blobs.Delete(wctx, key)
		} else {
			a.log.Warn("data set archive stored, its row's write failed: the blob is kept (blobgc removes it if no row names it)",
				"dataset", id, "key", key, "err", err)
		}
		a.fail(c, err)
		return
	}
	c.JSON(200, d)
}

// archiveWriteTimeout bounds the write that records a data set's stored
// archive (a var for tests).
var archiveWriteTimeout = time.Minute

// JobRequest is the body of POST /v1/training/jobs.
type JobRequest struct {
	DatasetID int64 `json:"dataset_id"`
	// Config are the training settings (jobs.Config; omitted: defaults).
	Config *jobs.Config `json:"config,omitempty"`
	// MaxAttempts is how often the job is tried (1..10; omitted:
	// worker.max_attempts of the server's config).
	MaxAttempts int `json:"max_attempts,omitempty"`
}

func (a *API) createJob(c *gin.Context) {
	var req JobRequest
	if !a.readJSON(c, &req) {
		return
	}
	cfg := jobs.Config{}
	if req.Config != nil {
		cfg = *req.Config
	}
	if err := cfg.Validate(); err != nil {
		invalidBody(c, "%v", err)
		return
	}
	if req.MaxAttempts == 0 {
		req.MaxAttempts = a.opt.MaxAttempts
	}
	if req.DatasetID < 1 || req.MaxAttempts < 1 || req.MaxAttempts > 10 {
		invalidBody(c, "dataset_id %d must be a data set's id and max_attempts %d in 1..10", req.DatasetID, req.MaxAttempts)
		return
	}
	raw, _ := json.Marshal(cfg)
	p := principal(c)
	j, err := a.st.CreateJob(c.Request.Context(), p.OrgID, req.DatasetID, raw, req.MaxAttempts, p.TokenID)
	a.reply(c, 201, j, err)
}

func (a *API) listJobs(c *gin.Context) {
	limit, before, ok := idPage(c)
	if !ok {
		return
	}
	state := c.Query("state")
	if state != "" && !contains(store.JobStates, state) {
		badParam(c, "state %q is not one of %v", state, store.JobStates)
		return
	}
	js, err := a.st.Jobs(c.Request.Context(), principal(c).OrgID, before, state, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, js, limit, func(j store.Job) string { return strconv.FormatInt(j.ID, 10) })
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (a *API) getJob(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	j, err := a.st.Job(c.Request.Context(), principal(c).OrgID, id)
	a.reply(c, 200, j, err)
}

func (a *API) cancelJob(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	j, err := a.st.CancelJob(c.Request.Context(), principal(c).OrgID, id)
	a.reply(c, 200, j, err)
}

func (a *API) jobLogs(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	limit, after, ok := idPage(c)
	if !ok {
		return
	}
	lines, err := a.st.JobLogs(c.Request.Context(), principal(c).OrgID, id, after, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, lines, limit, func(l store.LogLine) string { return strconv.FormatInt(l.Seq, 10) })
}

func (a *API) listModels(c *gin.Context) {
	limit, before, ok := idPage(c)
	if !ok {
		return
	}
	ms, err := a.st.Models(c.Request.Context(), principal(c).OrgID, c.Query("rig_type"), before, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, ms, limit, func(m store.ModelVersion) string { return strconv.FormatInt(m.ID, 10) })
}

func versionParam(c *gin.Context, name, v string) (int, bool) {
	n, err := strconv.ParseInt(v, 10, 32) // the column is an integer
	if err != nil || n < 1 {
		badParam(c, "%s %q is not an integer in 1..%d", name, v, math.MaxInt32)
		return 0, false
	}
	return int(n), true
}

func (a *API) model(c *gin.Context) (*store.ModelVersion, bool) {
	v, ok := versionParam(c, "version", c.Param("version"))
	if !ok {
		return nil, false
	}
	m, err := a.st.Model(c.Request.Context(), principal(c).OrgID, c.Param("rig_type"), v)
	if err != nil {
		a.fail(c, err)
		return nil, false
	}
	return m, true
}

func (a *API) getModel(c *gin.Context) {
	if m, ok := a.model(c); ok {
		c.JSON(200, m)
	}
}

// getModelBundle streams the version's bundle folder as a tar.gz.
func (a *API) getModelBundle(c *gin.Context) {
	m, ok := a.model(c)
	if !ok || a.noBlobs(c) {
		return
	}
	rc, info, err := a.opt.Blobs.Get(c.Request.Context(), m.ArtifactKey)
	if err != nil {
		a.fail(c, fmt.Errorf("bundle of %s version %d: %w", m.RigType, m.Version, err))
		return
	}
	defer rc.Close()
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(a.opt.UploadTimeout))
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%d.tar.gz"`, m.RigType, m.Version))
	c.Header("X-Content-SHA256", m.Artifact.Digest)
	c.DataFromReader(200, info.Size, MediaGzip, rc, nil)
}

func (a *API) compareModels(c *gin.Context) {
	va, ok := versionParam(c, "a", c.Query("a"))
	if !ok {
		return
	}
	vb, ok := versionParam(c, "b", c.Query("b"))
	if !ok {
		return
	}
	cmp, err := a.st.Compare(c.Request.Context(), principal(c).OrgID, c.Param("rig_type"), va, vb)
	a.reply(c, 200, cmp, err)
}
