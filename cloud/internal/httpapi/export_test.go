package httpapi

// RegisteredRoutes returns "METHOD PATH" of every route registered in a's
// Gin engine.
func RegisteredRoutes(a *API) []string {
	var out []string
	for _, r := range a.engine.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// UnknownLookups is unknownLookups: the lookups of unknown credentials
// one address runs at once.
const UnknownLookups = unknownLookups
