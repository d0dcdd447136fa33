package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// Problem types of the fleet API beyond cloudapi's.
const (
	// ProblemInvalidParameter (400): a query or path parameter is
	// malformed or out of range (time range, page size, cursor).
	ProblemInvalidParameter = "urn:hydrognn:problem:invalid-parameter"
	// ProblemExists (409): the name is taken.
	ProblemExists = "urn:hydrognn:problem:exists"
	// ProblemMethodNotAllowed (405): the route has no such method.
	ProblemMethodNotAllowed = "urn:hydrognn:problem:method-not-allowed"
	// ProblemStateConflict (409): the object's state does not allow this.
	ProblemStateConflict = "urn:hydrognn:problem:state-conflict"
	// ProblemQuotaExceeded (409): the organisation holds as many of these
	// as its quota allows (store.QuotaError: the detail names the config
	// key, the limit and how to make room).
	ProblemQuotaExceeded = "urn:hydrognn:problem:quota-exceeded"
)

var localTitles = map[string]string{
	ProblemInvalidParameter: "Invalid parameter",
	ProblemExists:           "Already exists",
	ProblemMethodNotAllowed: "Method not allowed",
	ProblemStateConflict:    "Not allowed in this state",
	ProblemQuotaExceeded:    "Quota exceeded",
}

func problem(typ string, status int, format string, args ...any) *cloudapi.Problem {
	p := cloudapi.NewProblem(typ, status, format, args...)
	if p.Title == "" {
		p.Title = localTitles[typ]
	}
	return p
}

// abort sends p with the request id as its instance and stops the chain.
func abort(c *gin.Context, p *cloudapi.Problem) {
	if p.Instance == "" {
		p.Instance = c.GetString(keyRequestID)
	}
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	c.Abort()
	p.Write(c.Writer)
}

// reply ends a handler with what it got: v with status code, or, when
// err is not nil, the problem fail makes of err.
func (a *API) reply(c *gin.Context, code int, v any, err error) {
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(code, v)
}

// fail answers err as a problem: a *cloudapi.Problem as it is, store
// sentinels with their status, a passed deadline as 503, anything else
// as 500 (logged, with no detail for the client).
func (a *API) fail(c *gin.Context, err error) {
	var p *cloudapi.Problem
	var qe *store.QuotaError
	switch {
	case errors.As(err, &p):
		abort(c, p)
	case errors.Is(err, store.ErrNotFound):
		abort(c, problem(cloudapi.ProblemNotFound, 404, "%s", notFoundDetail(c)))
	case errors.Is(err, store.ErrExists):
		abort(c, problem(ProblemExists, 409, "%v", err))
	case errors.Is(err, store.ErrBadCredential):
		unauthorized(c, "the credential is unknown, revoked, used or expired")
	case errors.As(err, &qe):
		a.quotaRefusals.WithLabelValues(qe.Quota).Inc()
		a.log.Info("request refused by an organisation quota", "request_id", c.GetString(keyRequestID), "route", c.FullPath(),
			"org", principal(c).OrgID, "quota", qe.Quota, "limit", qe.Limit, "count", qe.Count)
		abort(c, problem(ProblemQuotaExceeded, 409, "%v", err))
	case errors.Is(err, store.ErrAlertState) || errors.Is(err, store.ErrState):
		abort(c, problem(ProblemStateConflict, 409, "%v", err))
	case isCharacterRefused(err):
		abort(c, problem(cloudapi.ProblemInvalidBody, 400, "a text value holds a NUL byte or a character the database cannot store"))
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(c.Request.Context().Err(), context.DeadlineExceeded):
		c.Header(cloudapi.HeaderRetryAfter, "1")
		abort(c, problem(cloudapi.ProblemUnavailable, 503, "the request took longer than %s", a.opt.RequestTimeout))
	default:
		a.log.Error("request failed", "request_id", c.GetString(keyRequestID), "route", c.FullPath(), "err", err)
		abort(c, problem(cloudapi.ProblemInternal, 500, "internal error (request %s)", c.GetString(keyRequestID)))
	}
}

func notFoundDetail(c *gin.Context) string {
	return fmt.Sprintf("%s %s: no such object in your organisation", c.Request.Method, c.Request.URL.Path)
}

func unauthorized(c *gin.Context, detail string) {
	c.Header("WWW-Authenticate", `Bearer realm="rig-cloud"`)
	abort(c, problem(cloudapi.ProblemUnauthorized, 401, "%s", detail))
}

func forbidden(c *gin.Context, format string, args ...any) {
	abort(c, problem(cloudapi.ProblemForbidden, 403, format, args...))
}

// isCharacterRefused reports whether PostgreSQL refused a character of a
// value (SQLSTATE 22021 character_not_in_repertoire: a NUL byte or
// invalid UTF-8 in text; 22P05 untranslatable_character: \u0000 in jsonb):
// the client's input, not the server's fault.
func isCharacterRefused(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05")
}
