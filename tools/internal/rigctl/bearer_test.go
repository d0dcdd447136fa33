package rigctl

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// The release token goes to rig-cloud only: a /tuf/ redirect to another
// host (a CDN) is followed without it; a redirect within the server
// keeps it.
func TestTUFClientTokenStaysOnServer(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	record := func(who string, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got[who+" "+r.URL.Path] = r.Header.Get("Authorization")
	}
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("cdn", r)
		_, _ = w.Write([]byte("{}"))
	}))
	defer cdn.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("server", r)
		switch r.URL.Path {
		case "/tuf/1.root.json":
			http.Redirect(w, r, cdn.URL+"/tuf/1.root.json", http.StatusFound)
		case "/tuf/timestamp.json":
			http.Redirect(w, r, "/tuf/moved/timestamp.json", http.StatusFound)
		default:
			_, _ = w.Write([]byte("{}"))
		}
	}))
	defer srv.Close()

	hc, err := tufHTTPClient(cloudclient.New(srv.URL, "rgt_release"))
	require.NoError(t, err)
	for _, p := range []string{"/tuf/1.root.json", "/tuf/timestamp.json"} {
		res, err := hc.Get(srv.URL + p)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
	assert.Equal(t, map[string]string{
		"server /tuf/1.root.json":          "Bearer rgt_release",
		"cdn /tuf/1.root.json":             "",
		"server /tuf/timestamp.json":       "Bearer rgt_release",
		"server /tuf/moved/timestamp.json": "Bearer rgt_release",
	}, got)
}

func TestSameOrigin(t *testing.T) {
	u := func(s string) *url.URL { v, err := url.Parse(s); require.NoError(t, err); return v }
	assert.True(t, sameOrigin(u("https://a.example/tuf/x"), u("https://A.example:443")))
	assert.True(t, sameOrigin(u("http://a.example:80/x"), u("http://a.example")))
	assert.False(t, sameOrigin(u("http://a.example/x"), u("https://a.example")))
	assert.False(t, sameOrigin(u("https://a.example:8443/x"), u("https://a.example")))
	assert.False(t, sameOrigin(u("https://cdn.a.example/x"), u("https://a.example")))
}
