package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
)

// An integer path parameter (an id: idParam) that is not a positive
// integer is 400, so the operations with one list 400, as those with
// query parameters or a body do.
func TestOpenAPIIntegerPathParamsList400(t *testing.T) {
	doc := loadOpenAPI(t)
	n := 0
	for _, op := range httpapi.Operations() {
		integer := false
		for _, p := range op.Params {
			integer = integer || (p.In == "path" && p.Type == "integer")
		}
		if !integer {
			continue
		}
		item := doc.Paths.Find(httpapi.OpenAPIPath(op.Path))
		require.NotNil(t, item, op.Path)
		o := item.GetOperation(op.Method)
		require.NotNil(t, o, "%s %s", op.Method, op.Path)
		assert.NotNil(t, o.Responses.Status(400), "%s (%s %s) does not list 400", op.ID, op.Method, op.Path)
		n++
	}
	// ackAlert, resolveAlert, getOrg, createToken, revokeToken, the
	// rollouts', jobs' and data sets' ids at least.
	assert.GreaterOrEqual(t, n, 6)
}
