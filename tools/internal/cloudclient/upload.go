package cloudclient

import (
	"context"
	"io"
	"net/http"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// Upload sends body (streamed, of media type ctype, e.g. a data set's
// tar.gz as application/gzip) with method to path and decodes the answer
// as Do does. The client's HTTP timeout applies to the whole upload: use
// a client without one (or a long one) for large bodies.
func (c *Client) Upload(ctx context.Context, method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set(cloudapi.HeaderAuthorization, "Bearer "+c.Token)
	}
	return c.send(req, method, path, out)
}
