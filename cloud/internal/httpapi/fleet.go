package httpapi

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func invalidBody(c *gin.Context, format string, args ...any) {
	abort(c, problem(cloudapi.ProblemInvalidBody, 400, format, args...))
}

func nameOK(c *gin.Context, field, v string) bool {
	if v == "" || len(v) > cloudapi.MaxNameLen {
		invalidBody(c, "%s is required, 1-%d bytes", field, cloudapi.MaxNameLen)
		return false
	}
	return printableOK(c, field, v)
}

// printableOK refuses free text holding a control character (a tab, a
// line break, C0 or C1): names and locations are one line, printed in
// rigctl's tables and in log lines, which such characters would break.
func printableOK(c *gin.Context, field, v string) bool {
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		nul := ""
		if r == 0 {
			nul = ", a NUL byte,"
		}
		invalidBody(c, "%s holds a control character (U+%04X%s at byte %d): it must be one line of printable text", field, r, nul, i)
		return false
	}
	return true
}

func (a *API) createOrg(c *gin.Context) {
	var req fleetapi.OrgRequest
	if !a.readJSON(c, &req) {
		return
	}
	if !slugPattern.MatchString(req.Slug) {
		invalidBody(c, "slug %q is not 1-63 of [a-z0-9-] starting with a letter or digit", req.Slug)
		return
	}
	if !nameOK(c, "name", req.Name) {
		return
	}
	o, err := a.st.CreateOrg(c.Request.Context(), req.Slug, req.Name)
	a.reply(c, 201, o, err)
}

func (a *API) listOrgs(c *gin.Context) {
	p := principal(c)
	limit, after, ok := idPage(c)
	if !ok {
		return
	}
	var orgs []store.Org
	var err error
	if p.Role == store.RoleSystem {
		orgs, err = a.st.Orgs(c.Request.Context(), after, limit)
	} else if after < p.OrgID {
		var o *store.Org
		if o, err = a.st.Org(c.Request.Context(), p.OrgID); err == nil {
			orgs = []store.Org{*o}
		}
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, orgs, limit, func(o store.Org) string { return strconv.FormatInt(o.ID, 10) })
}

// orgParam reads :org and checks the caller may see it: a system token
// any, others their own (404 otherwise).
func (a *API) orgParam(c *gin.Context) (int64, bool) {
	id, ok := idParam(c, "org")
	if !ok {
		return 0, false
	}
	if p := principal(c); p.Role != store.RoleSystem && p.OrgID != id {
		a.fail(c, store.ErrNotFound)
		return 0, false
	}
	return id, true
}

func (a *API) getOrg(c *gin.Context) {
	id, ok := a.orgParam(c)
	if !ok {
		return
	}
	o, err := a.st.Org(c.Request.Context(), id)
	a.reply(c, 200, o, err)
}

func (a *API) createToken(c *gin.Context) {
	org, ok := a.orgParam(c)
	if !ok {
		return
	}
	if p := principal(c); p.Role != store.RoleSystem && p.Role != store.RoleAdmin {
		forbidden(c, "creating tokens needs role admin; this token is %s", p.Role)
		return
	}
	var req fleetapi.TokenRequest
	if !a.readJSON(c, &req) {
		return
	}
	if !nameOK(c, "name", req.Name) {
		return
	}
	if !store.ValidRole(store.Role(req.Role)) {
		invalidBody(c, "role %q is not viewer, operator or admin", req.Role)
		return
	}
	var exp time.Time
	if req.ExpiresAt != nil {
		if !req.ExpiresAt.After(time.Now()) {
			invalidBody(c, "expires_at %s is not in the future", req.ExpiresAt.Format(time.RFC3339))
			return
		}
		exp = *req.ExpiresAt
	}
	// A token made by an organisation's token does not outlive it: the
	// expiry defaults to the maker's, and a later one is refused (a
	// short-lived admin token would otherwise leave a permanent one
	// behind). A system token's tokens have no such bound.
	p := principal(c)
	if p.Role != store.RoleSystem && !p.Expires.IsZero() {
		switch {
		case exp.IsZero():
			exp = p.Expires
		case exp.After(p.Expires):
			invalidBody(c, "expires_at %s is after %s, when this token expires: a token may not outlive the token that makes it",
				exp.UTC().Format(time.RFC3339), p.Expires.UTC().Format(time.RFC3339))
			return
		}
	}
	// The organisation must exist (a system token may name any id).
	if _, err := a.st.Org(c.Request.Context(), org); err != nil {
		a.fail(c, err)
		return
	}
	t, secret, err := a.st.CreateTokenBy(c.Request.Context(), org, req.Name, store.Role(req.Role), exp, p.TokenID)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(201, fleetapi.TokenResponse{Token: t, Secret: secret})
}

// listOrgTokens lists an organisation's tokens (its admin, or a system
// token).
func (a *API) listOrgTokens(c *gin.Context) {
	org, ok := a.orgParam(c)
	if !ok {
		return
	}
	if p := principal(c); p.Role != store.RoleSystem && p.Role != store.RoleAdmin {
		forbidden(c, "listing tokens needs role admin; this token is %s", p.Role)
		return
	}
	a.tokenPage(c, org)
}

// listTokens lists the caller's organisation's tokens (an admin), or a
// system token's the deployment's (system and release tokens: OrgID 0).
func (a *API) listTokens(c *gin.Context) { a.tokenPage(c, principal(c).OrgID) }

func (a *API) tokenPage(c *gin.Context, org int64) {
	limit, after, ok := idPage(c)
	if !ok {
		return
	}
	toks, err := a.st.Tokens(c.Request.Context(), org, after, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, toks, limit, func(t store.Token) string { return strconv.FormatInt(t.ID, 10) })
}

// revokeToken revokes a token of the caller's organisation (an admin) or
// any token (a system token: of any organisation, or a system or release
// token, itself included) and, with ?cascade=true, every token it made,
// recursively.
func (a *API) revokeToken(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	o := store.RevokeOptions{AnyOrg: principal(c).Role == store.RoleSystem}
	switch v := c.Query("cascade"); v {
	case "", "false":
	case "true":
		o.Cascade = true
	default:
		badParam(c, "cascade %q is not true or false", v)
		return
	}
	if _, err := a.st.RevokeTokenWith(c.Request.Context(), principal(c).OrgID, id, o); err != nil {
		a.fail(c, err)
		return
	}
	c.Status(204)
}

func (a *API) createSite(c *gin.Context) {
	var req fleetapi.SiteRequest
	if !a.readJSON(c, &req) || !nameOK(c, "name", req.Name) {
		return
	}
	if len(req.Location) > cloudapi.MaxTextLen {
		invalidBody(c, "location is longer than %d bytes", cloudapi.MaxTextLen)
		return
	}
	if !printableOK(c, "location", req.Location) {
		return
	}
	s, err := a.st.CreateSite(c.Request.Context(), principal(c).OrgID, req.Name, req.Location)
	a.reply(c, 201, s, err)
}

func (a *API) listSites(c *gin.Context) {
	limit, after, ok := idPage(c)
	if !ok {
		return
	}
	sites, err := a.st.Sites(c.Request.Context(), principal(c).OrgID, after, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, sites, limit, func(s store.Site) string { return strconv.FormatInt(s.ID, 10) })
}

func (a *API) createRig(c *gin.Context) {
	var req fleetapi.RigRequest
	if !a.readJSON(c, &req) {
		return
	}
	if !cloudapi.ValidID(req.RigID) {
		invalidBody(c, "rig_id %q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", req.RigID)
		return
	}
	if !nameOK(c, "rig_type", req.RigType) {
		return
	}
	if !firmwareDigestOK(c, req.FirmwareDigest) {
		return
	}
	if !a.rigTypeKnown(c, req.RigType) { // rigtypes.go
		return
	}
	r, err := a.st.CreateRig(c.Request.Context(), principal(c).OrgID, fleetapi.Rig{RigID: req.RigID, RigType: req.RigType, FirmwareDigest: req.FirmwareDigest, SiteID: req.SiteID})
	if errors.Is(err, store.ErrNotFound) {
		invalidBody(c, "site_id %d is not a site of your organisation", *req.SiteID)
		return
	}
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(201, r)
}

// firmwareDigestOK refuses a registered firmware digest that is not ""
// (none) nor a digest as shared/rig's Config.Digest writes it
// (cloudapi.ValidDigest), naming /firmware_digest: a value of another
// form ("v1.2", uppercase hex) matches no agent's report, so the rig
// would be flagged firmware_mismatch for good.
func firmwareDigestOK(c *gin.Context, d string) bool {
	if d != "" && !cloudapi.ValidDigest(d) {
		invalidField(c, "/"+cloudapi.FieldFirmwareDigest, "firmware_digest %q is not sha256:<64 lowercase hex>, the firmware config's digest "+
			"(rigctl rig-types validate prints it; GET /v1/rig-types/{name}/versions lists those of the registered ones), nor \"\" for none",
			cloudapi.ClipText(d, 80))
		return false
	}
	return true
}

// editRig changes a rig's registration: its firmware_digest, after a
// firmware change or to correct it, so that its firmware_mismatch flag
// clears.
func (a *API) editRig(c *gin.Context) {
	var req fleetapi.RigEdit
	if !a.readJSON(c, &req) {
		return
	}
	if req.FirmwareDigest == nil {
		invalidField(c, "/"+cloudapi.FieldFirmwareDigest, "firmware_digest is required: the digest of the rig's firmware config, or \"\" for none")
		return
	}
	if !firmwareDigestOK(c, *req.FirmwareDigest) {
		return
	}
	p := principal(c)
	r, old, err := a.st.SetRigFirmwareDigest(c.Request.Context(), p.OrgID, c.Param("rig"), *req.FirmwareDigest)
	if err != nil {
		a.fail(c, err)
		return
	}
	a.log.Info("rig edited", "rig", r.RigID, "org", p.OrgID, "token", p.TokenID, "firmware_digest", r.FirmwareDigest, "old_firmware_digest", old)
	c.JSON(200, r)
}

// listRigs lists the organisation's rigs by name, of one site (?site=)
// and of one rig type (?rig_type=) when given. The cursor is the last
// name: used with other filters it lists theirs past that name.
func (a *API) listRigs(c *gin.Context) {
	limit, ok := pageSize(c)
	if !ok {
		return
	}
	var f store.RigFilter
	if s, ok := c.GetQuery("site"); ok {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			badParam(c, "site %q is not a site id (a positive integer)", cloudapi.ClipText(s, 80))
			return
		}
		f.SiteID = n
	}
	if s, ok := c.GetQuery("rig_type"); ok {
		if s == "" || len(s) > cloudapi.MaxNameLen {
			badParam(c, "rig_type %q is not a rig type name (1 to %d bytes)", cloudapi.ClipText(s, 80), cloudapi.MaxNameLen)
			return
		}
		f.RigType = s
	}
	rigs, err := a.st.Rigs(c.Request.Context(), principal(c).OrgID, f, c.Query("cursor"), limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, rigs, limit, func(r store.Rig) string { return r.RigID })
}

func (a *API) getRig(c *gin.Context) {
	r, err := a.st.Rig(c.Request.Context(), principal(c).OrgID, c.Param("rig"))
	a.reply(c, 200, r, err)
}

func (a *API) rigStatus(c *gin.Context) {
	st, err := a.st.RigStatus(c.Request.Context(), principal(c).OrgID, c.Param("rig"), 2*a.opt.CheckinInterval)
	a.reply(c, 200, st, err)
}

// DefaultHistory is the time range of /v1/rigs/{rig}/diagnoses without
// from: the last 24 hours before to.
const DefaultHistory = 24 * time.Hour

func timeParam(c *gin.Context, name string, def time.Time) (time.Time, bool) {
	s := c.Query(name)
	if s == "" {
		return def, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && strings.Contains(s, " ") {
		// A '+' of the offset sent unencoded, which form decoding made a
		// space (curl "...?from=2025-03-01T00:00:00+02:00"): no RFC 3339
		// time holds a space, so it can only have been a '+'.
		t, err = time.Parse(time.RFC3339Nano, strings.ReplaceAll(s, " ", "+"))
	}
	if err != nil {
		badParam(c, "%s %q is not an RFC 3339 time (e.g. 2025-03-01T00:00:00Z)", name, s)
		return time.Time{}, false
	}
	if t.Before(cloudapi.MinTime) || !t.Before(cloudapi.MaxTime) {
		badParam(c, "%s %s is not between %d and %d", name, s, cloudapi.MinTime.Year(), cloudapi.MaxTime.Year())
		return time.Time{}, false
	}
	return ceilMicro(t), true
}

// ceilMicro rounds t up to PostgreSQL's microsecond, so that a bound with
// nanoseconds keeps its meaning in [from, to) (truncated, from = t0+1ns
// would take in t0, and to = t0+999ns leave it out).
func ceilMicro(t time.Time) time.Time {
	if u := t.Truncate(time.Microsecond); !u.Equal(t) {
		return u.Add(time.Microsecond)
	}
	return t
}

func (a *API) rigDiagnoses(c *gin.Context) {
	to, ok := timeParam(c, "to", time.Now().UTC())
	if !ok {
		return
	}
	from, ok := timeParam(c, "from", to.Add(-DefaultHistory))
	if !ok {
		return
	}
	if !from.Before(to) {
		badParam(c, "from %s is not before to %s", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
		return
	}
	limit, ok := pageSize(c)
	if !ok {
		return
	}
	var after *store.Cursor
	if s := c.Query("cursor"); s != "" {
		cur, err := store.ParseCursor(s)
		if err != nil {
			badParam(c, "cursor %q is not one this server made", s)
			return
		}
		after = &cur
	}
	dp, err := a.st.Diagnoses(c.Request.Context(), principal(c).OrgID, c.Param("rig"), from, to, after, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Data(200, "application/json; charset=utf-8", dp.AppendJSON(make([]byte, 0, 64+1024*len(dp.Diagnoses))))
}

// MaxHealthBuckets and MaxHealthDays bound a component health history's
// time range, and so the diagnoses one request aggregates: at most 1000
// hourly buckets (about 41 days) or 100 daily ones.
const (
	MaxHealthBuckets = 1000
	MaxHealthDays    = 100
)

// componentName is a component id as firmware configs name them.
var componentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// componentHealth answers a component's health history: per hour or day
// of [from, to) in time zone tz (default UTC), the windows, average and
// minimum health and the worst status of the rig's stored diagnoses.
func (a *API) componentHealth(c *gin.Context) {
	bucket := c.DefaultQuery("bucket", store.BucketHour)
	size := store.BucketDuration(bucket)
	if size == 0 {
		badParam(c, "bucket %q is not %s or %s", bucket, store.BucketHour, store.BucketDay)
		return
	}
	loc, ok := zoneParam(c, "tz")
	if !ok {
		return
	}
	comp := c.Param("component")
	if !componentName.MatchString(comp) {
		badParam(c, "component %q is not a component id (letters, digits, _.:-; at most 128)", comp)
		return
	}
	to, ok := timeParam(c, "to", time.Now().UTC())
	if !ok {
		return
	}
	// Default range: 24 hourly or 30 daily buckets.
	def := 24 * time.Hour
	if bucket == store.BucketDay {
		def = 30 * 24 * time.Hour
	}
	from, ok := timeParam(c, "from", to.Add(-def))
	if !ok {
		return
	}
	if !from.Before(to) {
		badParam(c, "from %s is not before to %s", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
		return
	}
	if limit, n := map[string]int{store.BucketHour: MaxHealthBuckets, store.BucketDay: MaxHealthDays}[bucket], healthBucketsIn(from, to, bucket, loc); n > limit {
		hint := "use bucket=1d or a shorter range"
		if bucket == store.BucketDay {
			hint = "ask for a shorter range, in several requests if need be"
		}
		badParam(c, "from %s to %s spans more than %d buckets of %s (it touches %d %s %s): %s",
			from.Format(time.RFC3339), to.Format(time.RFC3339), limit, bucket, n, loc, map[string]string{store.BucketHour: "hours", store.BucketDay: "days"}[bucket], hint)
		return
	}
	h, err := a.st.ComponentHealthHistoryIn(c.Request.Context(), principal(c).OrgID, c.Param("rig"), comp, bucket, from, to, loc)
	if errors.Is(err, store.ErrUnknownZone) {
		badParam(c, "tz %q is not a time zone the database knows: %v", loc, err)
		return
	}
	a.reply(c, 200, h, err)
}

// createEnrollment makes a one-time enrollment token for a rig; the
// optional body (fleetapi.EnrollmentRequest) may let it replace a live
// agent. The token expires after auth.enrollment_ttl, or with the
// operator's token when that ends first.
func (a *API) createEnrollment(c *gin.Context) {
	p := principal(c)
	var req fleetapi.EnrollmentRequest
	if c.Request.ContentLength != 0 && !a.readJSON(c, &req) {
		return
	}
	if req.Replace != "" && !cloudapi.ValidID(req.Replace) {
		invalidBody(c, "replace %q is not an agent id (1-64 of [A-Za-z0-9_.-] starting with a letter or digit)", req.Replace)
		return
	}
	e, err := a.st.CreateEnrollmentWith(c.Request.Context(), p.OrgID, c.Param("rig"), p.TokenID, a.opt.EnrollmentTTL, p.Expires, req.Replace)
	if err == nil {
		// Known to this replica: it enrolls even while its address's
		// failed authentications are spent (checkCredential).
		a.known.add(e.Token)
	}
	a.reply(c, 201, e, err)
}

func (a *API) listAgents(c *gin.Context) {
	limit, ok := pageSize(c)
	if !ok {
		return
	}
	agents, err := a.st.Agents(c.Request.Context(), principal(c).OrgID, c.Query("rig_id"), c.Query("cursor"), limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, agents, limit, func(ag store.Agent) string { return ag.AgentID })
}

func (a *API) revokeAgent(c *gin.Context) {
	if err := a.st.RevokeAgent(c.Request.Context(), principal(c).OrgID, c.Param("agent")); err != nil {
		a.fail(c, err)
		return
	}
	c.Status(204)
}

// The orders of GET /v1/alerts?order=: by id, oldest first (the default,
// as before the parameter) or newest first; either pages with the last
// id as the cursor.
const (
	AlertsOldest = "oldest"
	AlertsNewest = "newest"
)

// AlertSeverities are the severities GET /v1/alerts?severity= takes: a
// diagnosis's (diag.Severity), which its alerts keep.
var AlertSeverities = []string{string(diag.SeverityInfo), string(diag.SeverityLow), string(diag.SeverityMedium),
	string(diag.SeverityHigh), string(diag.SeverityCritical)}

// listAlerts lists the organisation's alerts by id, narrowed by ?state=,
// ?rig= (a rig id) and ?severity= when given. The cursor is the last id:
// used with other filters it lists theirs past that id.
func (a *API) listAlerts(c *gin.Context) {
	limit, after, ok := idPage(c)
	if !ok {
		return
	}
	f := store.AlertFilter{State: c.Query("state")}
	switch f.State {
	case "", store.AlertOpen, store.AlertAcknowledged, store.AlertResolved:
	default:
		badParam(c, "state %q is not open, acknowledged or resolved", f.State)
		return
	}
	if s, ok := c.GetQuery("rig"); ok {
		if !cloudapi.ValidID(s) {
			badParam(c, "rig %q is not a rig id (a letter or digit, then up to 63 of letters, digits, '_', '.', '-')", cloudapi.ClipText(s, 80))
			return
		}
		f.Rig = s
	}
	if s, ok := c.GetQuery("severity"); ok {
		if !slices.Contains(AlertSeverities, s) {
			badParam(c, "severity %q is not one of %s", cloudapi.ClipText(s, 80), strings.Join(AlertSeverities, ", "))
			return
		}
		f.Severity = s
	}
	newest := false
	switch order := c.Query("order"); order {
	case "", AlertsOldest:
	case AlertsNewest:
		newest = true
	default:
		badParam(c, "order %q is not %s or %s", order, AlertsOldest, AlertsNewest)
		return
	}
	alerts, err := a.st.FilteredAlerts(c.Request.Context(), principal(c).OrgID, f, newest, after, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, alerts, limit, func(al store.Alert) string { return strconv.FormatInt(al.ID, 10) })
}

func (a *API) alertState(to string) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := idParam(c, "id")
		if !ok {
			return
		}
		p := principal(c)
		al, err := a.st.SetAlertState(c.Request.Context(), p.OrgID, id, to, p.TokenID)
		a.reply(c, 200, al, err)
	}
}

// listEnrollments lists a rig's enrollment tokens (never their secrets).
func (a *API) listEnrollments(c *gin.Context) {
	limit, after, ok := idPage(c)
	if !ok {
		return
	}
	es, err := a.st.Enrollments(c.Request.Context(), principal(c).OrgID, c.Param("rig"), after, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, es, limit, func(e store.EnrollmentToken) string { return strconv.FormatInt(e.ID, 10) })
}

// revokeEnrollments revokes every usable enrollment token of a rig (200
// with how many).
func (a *API) revokeEnrollments(c *gin.Context) {
	n, err := a.st.RevokeEnrollments(c.Request.Context(), principal(c).OrgID, c.Param("rig"), 0)
	a.reply(c, 200, fleetapi.EnrollmentsRevoked{Revoked: n}, err)
}

// revokeEnrollment revokes one enrollment token of a rig (204; a used or
// expired one stays as it is).
func (a *API) revokeEnrollment(c *gin.Context) {
	id, ok := idParam(c, "id")
	if !ok {
		return
	}
	if _, err := a.st.RevokeEnrollments(c.Request.Context(), principal(c).OrgID, c.Param("rig"), id); err != nil {
		a.fail(c, err)
		return
	}
	c.Status(204)
}
