package agenttest

import (
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
