package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hydrognn/hydrognn/cloud/internal/releases"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

// Releases is the TUF repository the API serves and publishes to
// (*releases.Service).
type Releases interface {
	Metadata(name string) (releases.File, bool)
	Target(path string) (releases.File, bool)
	Publish(ctx context.Context, targets []byte, archive io.Reader) (*releases.Published, error)
}

// Problem types of the release routes.
const (
	// ProblemReleaseRefused (422): the targets metadata or the archive is
	// not a valid next release (unsigned by the targets key, wrong
	// version, a released target changed, length or hash mismatch).
	ProblemReleaseRefused = "urn:hydrognn:problem:release-refused"
)

func init() { localTitles[ProblemReleaseRefused] = "Release refused" }

// Cache-Control of the repository's files.
const (
	cacheImmutable = "private, max-age=31536000, immutable"
	cacheTimestamp = "no-cache"
)

// Multipart parts of POST /v1/releases, in this order.
const (
	PartTargets = "targets"
	PartArchive = "archive"
)

// releaseRoutes registers the TUF repository (any agent credential or
// organisation token, and release tokens: the metadata is signed, not
// secret) and the publication of releases (release tokens only).
func (a *API) releaseRoutes(e *gin.Engine, v1 *gin.RouterGroup) {
	tuf := e.Group("/tuf", a.authenticate, a.rateLimit, a.repoReader)
	tuf.GET("/:file", a.tufMetadata)
	tuf.GET("/targets/*path", a.tufTarget)
	v1.POST("/releases", a.releaseOnly, a.publishRelease)
}

func (a *API) repoReader(c *gin.Context) {
	if principal(c).Role == store.RoleSystem {
		forbidden(c, "a system token manages organisations only; fetch the repository with an agent credential, an organisation's token or a release token")
		return
	}
	c.Next()
}

func (a *API) releaseOnly(c *gin.Context) {
	if p := principal(c); p.Agent != nil || p.Role != store.RoleRelease {
		forbidden(c, "%s %s needs a release token (rig-cloud token create --release)", c.Request.Method, c.FullPath())
		return
	}
	c.Next()
}

func (a *API) noReleases(c *gin.Context) bool {
	if a.opt.Releases == nil {
		abort(c, problem(cloudapi.ProblemUnavailable, 503, "this server serves no release repository (releases.repo_dir)"))
		return true
	}
	return false
}

func (a *API) tufMetadata(c *gin.Context) {
	if a.noReleases(c) {
		return
	}
	f, ok := a.opt.Releases.Metadata(c.Param("file"))
	if !ok {
		abort(c, problem(cloudapi.ProblemNotFound, 404, "%s is not repository metadata: clients fetch N.root.json, timestamp.json, N.snapshot.json and N.targets.json", c.Param("file")))
		return
	}
	a.serveRepoFile(c, f, "application/json")
}

func (a *API) tufTarget(c *gin.Context) {
	if a.noReleases(c) {
		return
	}
	p := strings.TrimPrefix(c.Param("path"), "/")
	f, ok := a.opt.Releases.Target(p)
	if !ok {
		abort(c, problem(cloudapi.ProblemNotFound, 404, "%q is not a target path (<rig_type>/<sha256>.<bundle>-<version>.tar.gz)", p))
		return
	}
	// A download may take longer than the request timeouts.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(a.opt.UploadTimeout))
	a.serveRepoFile(c, f, MediaGzip)
}

// serveRepoFile answers the file with http.ServeContent: Content-Length,
// ranges (206, 416), conditional requests (ETag for targets,
// Last-Modified) and the Cache-Control of its kind.
func (a *API) serveRepoFile(c *gin.Context, f releases.File, ctype string) {
	fh, err := os.Open(f.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			abort(c, problem(cloudapi.ProblemNotFound, 404, "%s: no such file in the repository", c.Request.URL.Path))
			return
		}
		a.fail(c, err)
		return
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		a.fail(c, err)
		return
	}
	if !st.Mode().IsRegular() {
		abort(c, problem(cloudapi.ProblemNotFound, 404, "%s: no such file in the repository", c.Request.URL.Path))
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", ctype)
	if f.Immutable {
		h.Set("Cache-Control", cacheImmutable)
	} else {
		h.Set("Cache-Control", cacheTimestamp)
	}
	if f.ETag != "" {
		h.Set("ETag", `"`+f.ETag+`"`)
	}
	http.ServeContent(c.Writer, c.Request, "", st.ModTime(), fh)
}

// publishRelease reads a multipart/form-data body: part "targets" (the
// next targets metadata, signed offline; at most tufrepo.MaxTargetsBytes)
// then part "archive" (the new target's tar.gz, at most
// releases.max_archive_bytes; none for targets that were only re-signed),
// and publishes them.
func (a *API) publishRelease(c *gin.Context) {
	if a.noReleases(c) {
		return
	}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "multipart/form-data" {
		abort(c, problem(cloudapi.ProblemUnsupportedMedia, 415, "Content-Type %q: send multipart/form-data with the parts %q (the signed targets metadata) and %q (the release's tar.gz), in this order",
			c.GetHeader("Content-Type"), PartTargets, PartArchive))
		return
	}
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(time.Now().Add(a.opt.UploadTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(a.opt.UploadTimeout + time.Minute))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), a.opt.UploadTimeout)
	defer cancel()
	mr, err := c.Request.MultipartReader()
	if err != nil {
		invalidBody(c, "%v", err)
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != PartTargets {
		invalidBody(c, "the first part must be %q, the signed targets metadata (%v)", PartTargets, partName(part, err))
		return
	}
	targets, err := io.ReadAll(io.LimitReader(part, tufrepo.MaxTargetsBytes+1))
	if err != nil {
		invalidBody(c, "read part %q: %v", PartTargets, err)
		return
	}
	if len(targets) > tufrepo.MaxTargetsBytes {
		abort(c, problem(cloudapi.ProblemTooLarge, 413, "the targets metadata is larger than %d bytes", tufrepo.MaxTargetsBytes))
		return
	}
	var archive io.Reader
	part, err = mr.NextPart()
	switch {
	case err == io.EOF: // re-signed targets: no archive
	case err != nil || part.FormName() != PartArchive:
		invalidBody(c, "the second part must be %q, the release's tar.gz (%v)", PartArchive, partName(part, err))
		return
	default:
		archive = part
	}
	out, err := a.opt.Releases.Publish(ctx, targets, archive)
	switch {
	case err == nil:
		c.JSON(201, out)
	case errors.Is(err, releases.ErrTooLarge):
		abort(c, problem(cloudapi.ProblemTooLarge, 413, "%v", err))
	case errors.Is(err, tufrepo.ErrRefused):
		abort(c, problem(ProblemReleaseRefused, 422, "%v", err))
	default:
		a.fail(c, err)
	}
}

func partName(p interface{ FormName() string }, err error) string {
	switch {
	case err == io.EOF:
		return "there is none"
	case err != nil:
		return err.Error()
	}
	return fmt.Sprintf("got %q", p.FormName())
}
