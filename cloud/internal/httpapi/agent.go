package httpapi

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// enroll exchanges an enrollment token for an agent credential
// (cloudapi.EnrollRequest -> cloudapi.EnrollResponse). Each enrollment is
// a new identity of the agent id (store.Enroll): a re-enrolled agent's
// old credential stops working and its new sequence numbers never
// collide with the stored ones.
func (a *API) enroll(c *gin.Context) {
	tok := c.GetString(keyEnrollToken)
	body, ok := a.readBody(c)
	if !ok {
		return
	}
	req, err := cloudapi.DecodeEnroll(body)
	if err != nil {
		a.fail(c, err)
		return
	}
	out, err := a.st.EnrollWith(c.Request.Context(), tok, req.AgentID, req.RigID, 2*a.opt.CheckinInterval)
	switch {
	case err == nil:
		a.known.remove(tok) // used
		a.log.Info("agent enrolled", "agent_id", out.AgentID, "rig_id", out.RigID, "generation", out.Generation)
		c.JSON(200, out)
	case errorsIs(err, store.ErrBadCredential):
		// Used or expired since enrollToken checked it: counted, forgotten.
		a.known.remove(tok)
		a.failLim.spend(failKeysOf(c.ClientIP()))
		a.fail(c, err)
	case errorsIs(err, store.ErrRigMismatch):
		a.failLim.spend(failKeysOf(c.ClientIP()))
		forbidden(c, "%v", err)
	case errorsIs(err, store.ErrAgentElsewhere):
		// Refused for an agent id another rig's: counted like a failed
		// authentication (and on the token, store.MaxEnrollRefusals), so
		// that probing agent ids is slow; the message names no other rig.
		// A refusal over the token's own rig's live agent is not counted.
		a.failLim.spend(failKeysOf(c.ClientIP()))
		a.fail(c, err)
	default:
		a.fail(c, err)
	}
}

// keyEnrollToken holds the enrollment token enrollToken checked.
const keyEnrollToken = "enroll_token"

// enrollToken refuses (401) an enrollment whose token is not a usable
// enrollment token, before its body is read or reserves any of the body
// budget. Bad tokens (unknown, spent, expired, none) count as failed
// authentications of the client's address like bad bearer credentials
// (checkCredential); a token made by this API (createEnrollment) is known
// until it is used.
func (a *API) enrollToken(c *gin.Context) {
	closeUnlessAdmitted(c)
	tok := bearerCredential(c)
	if !a.checkCredential(c, tok, func() error { return a.st.CheckEnrollment(c.Request.Context(), tok) }) {
		return
	}
	c.Set(keyEnrollToken, tok)
	admitted(c)
	c.Next()
}

// ownAgent refuses (403) a body naming another agent than the credential's.
func ownAgent(c *gin.Context, p *store.Principal, agentID string) bool {
	if agentID != p.Agent.Name {
		forbidden(c, "this credential is agent %q's, the body is for agent %q", p.Agent.Name, agentID)
		return false
	}
	return true
}

func (a *API) limits() cloudapi.Limits {
	return cloudapi.Limits{MaxBatchItems: a.opt.MaxBatchItems, MaxBodyBytes: a.opt.MaxBodyBytes, MaxUploadReadings: cloudapi.DefaultMaxUploadReadings}.WithDefaults()
}

func (a *API) checkin(c *gin.Context) {
	p := principal(c)
	body, ok := a.readBody(c)
	if !ok {
		return
	}
	req, err := cloudapi.DecodeCheckin(body)
	if err != nil {
		a.fail(c, err)
		return
	}
	if !ownAgent(c, p, req.AgentID) {
		return
	}
	if req.RigID != p.Agent.RigName {
		forbidden(c, "agent %q is enrolled for rig %q, not %q", p.Agent.Name, p.Agent.RigName, req.RigID)
		return
	}
	rec, err := a.st.Checkin(c.Request.Context(), p.Agent.ID, req, req.Time)
	if err != nil {
		a.fail(c, err)
		return
	}
	if rec.FirmwareMismatch {
		a.firmwareMismatches.Inc()
	}
	ups, err := a.st.OpenUploadRequests(c.Request.Context(), p.Agent.RigID)
	if err != nil {
		a.fail(c, err)
		return
	}
	// The highest seq stored for this identity: an agent whose numbering
	// restarted (history and sequence mark lost) continues above it.
	highest, err := a.st.HighestSeq(c.Request.Context(), p.Agent.ID)
	if err != nil {
		a.fail(c, err)
		return
	}
	// The offer of the agent's rollout, if any; the check-in's update
	// state moves the agent's state in it.
	offer, err := a.st.RolloutCheckin(c.Request.Context(), p.OrgID, p.Agent.Name, p.Agent.RigID, req)
	if err != nil {
		a.fail(c, err)
		return
	}
	c.JSON(200, cloudapi.CheckinResponse{
		ServerTime:     rec.At,
		NextCheckinS:   int(a.opt.CheckinInterval / time.Second),
		Limits:         a.limits(),
		UploadRequests: ups,
		Generation:     p.Agent.Generation,
		HighestSeq:     highest,
		Offer:          offer,
	})
}

func (a *API) diagnoses(c *gin.Context) {
	p := principal(c)
	body, ok := a.readBody(c)
	if !ok {
		return
	}
	batch, err := cloudapi.DecodeDiagnosisBatch(body, a.limits())
	if err != nil {
		a.fail(c, err)
		return
	}
	if !ownAgent(c, p, batch.AgentID) {
		return
	}
	results, err := a.st.IngestDiagnoses(c.Request.Context(), p, batch.Items)
	if err != nil {
		a.fail(c, err)
		return
	}
	resp := cloudapi.BatchResponse{Results: results}
	resp.Count()
	a.items.WithLabelValues(string(cloudapi.ItemAccepted)).Add(float64(resp.Accepted))
	a.items.WithLabelValues(string(cloudapi.ItemDuplicate)).Add(float64(resp.Duplicates))
	a.items.WithLabelValues(string(cloudapi.ItemConflict)).Add(float64(resp.Conflicts))
	a.items.WithLabelValues(string(cloudapi.ItemRejected)).Add(float64(resp.Rejected))
	c.JSON(200, resp)
}

// uploads stores one part of the agent's answer to an upload request of
// its rig (store.StoreUploadPart): accepted, duplicate for a replayed
// part, or conflict for a part stored before with other content; 404 for a request this rig does not have and 410 for one that
// expired, was cancelled or is complete, both of which end the request on
// the agent.
func (a *API) uploads(c *gin.Context) {
	p := principal(c)
	body, ok := a.readBody(c)
	if !ok {
		return
	}
	u, err := cloudapi.DecodeUpload(body, a.limits())
	if err != nil {
		a.fail(c, err)
		return
	}
	if !ownAgent(c, p, u.AgentID) {
		return
	}
	res, err := a.st.StoreUploadPart(c.Request.Context(), p.Agent, u)
	switch {
	case errorsIs(err, store.ErrNotFound):
		abort(c, problem(cloudapi.ProblemNotFound, 404, "upload request %q is unknown for rig %q", u.RequestID, p.Agent.RigName))
	case errorsIs(err, store.ErrGone):
		abort(c, problem(cloudapi.ProblemGone, 410, "%v", err))
	case err != nil:
		a.fail(c, err)
	default:
		c.JSON(200, res)
	}
}
