package agenttest

import (
	"encoding/json"
	"net/http"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// Authorized is a fake cloud's check of the agent's credential, as
// rig-cloud makes it: it reports whether r carries
// "Authorization: Bearer "+cred, and otherwise answers r with rig-cloud's
// 401 (a problem of type cloudapi.ProblemUnauthorized and its
// WWW-Authenticate header). The handler returns when it is false.
func Authorized(w http.ResponseWriter, r *http.Request, cred string) bool {
	if r.Header.Get(cloudapi.HeaderAuthorization) == "Bearer "+cred {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="rig-cloud"`)
	cloudapi.NewProblem(cloudapi.ProblemUnauthorized, http.StatusUnauthorized, "the credential is unknown, revoked, used or expired").Write(w)
	return false
}

// Cloud is the request handling every fake cloud of the agent's tests
// shares: it checks the credential (Authorized), reads the body and
// decodes check-ins and diagnosis batches with shared/cloudapi's
// functions, answering their problems as rig-cloud does, and writes the
// answers of Checkin and Batch as JSON (a batch answer's counts filled
// in). Other paths are answered 404. A fake cloud builds one per request,
// from its own state:
//
//	func (c *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
//		agenttest.Cloud{Token: c.token, Checkin: c.checkin, Batch: c.batch}.ServeHTTP(w, r)
//	}
type Cloud struct {
	// Token is the credential the agent must send.
	Token string
	// Refused, when set, is called for each request refused for its
	// credential.
	Refused func()
	// Before, when set, sees each authorized request first, before its
	// body is read: it reports whether it answered it (a path of its own,
	// a cloud down on purpose).
	Before func(w http.ResponseWriter, r *http.Request) bool
	// Checkin answers a valid check-in.
	Checkin func(req *cloudapi.CheckinRequest) cloudapi.CheckinResponse
	// Batch answers a valid diagnosis batch (decoded under the default
	// limits); an error is answered 500.
	Batch func(b *cloudapi.DecodedBatch) (cloudapi.BatchResponse, error)
}

// ServeHTTP answers one request of the agent.
func (c Cloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !Authorized(w, r, c.Token) {
		if c.Refused != nil {
			c.Refused()
		}
		return
	}
	if c.Before != nil && c.Before(w, r) {
		return
	}
	body, err := cloudapi.ReadBody(r, 0)
	if err != nil {
		err.(*cloudapi.Problem).Write(w)
		return
	}
	var resp any
	switch r.URL.Path {
	case cloudapi.PathCheckin:
		req, err := cloudapi.DecodeCheckin(body)
		if err != nil {
			err.(*cloudapi.Problem).Write(w)
			return
		}
		resp = c.Checkin(req)
	case cloudapi.PathDiagnoses:
		b, err := cloudapi.DecodeDiagnosisBatch(body, cloudapi.Limits{})
		if err != nil {
			err.(*cloudapi.Problem).Write(w)
			return
		}
		br, err := c.Batch(b)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		br.Count()
		resp = br
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}
