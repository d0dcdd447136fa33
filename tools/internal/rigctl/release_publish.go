package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// published is the answer of POST /v1/releases.
type published struct {
	Path     string           `json:"path"`
	Length   int64            `json:"length"`
	SHA256   string           `json:"sha256"`
	Release  *release.Target  `json:"release"`
	Versions map[string]int64 `json:"versions"`
}

// runPublish runs release publish (sub "publish") and release resign.
func runPublish(ctx context.Context, env Env, sub string, args []string) int {
	name := "release " + sub
	fs := newFlags(env, name, releaseUsage)
	rootPath := fs.String("root", "", "the trusted root metadata `ROOT` (the ceremony's 1.root.json or later; required)")
	keys := fs.String("keys", "", "the `KEYS` folder holding the targets key (required)")
	var dir, hw *string
	if sub == "publish" {
		dir = fs.String("bundle", "", "the model bundle `DIR` (required)")
		hw = fs.String("hardware", "", "comma-separated hardware the release supports (default: amd64,arm64)")
	}
	exp := fs.Duration("targets-expiry", tufrepo.DefaultExpiry.Targets, "how long the signed targets stay valid")
	ctxName := fs.String("context", "", "login context holding a release token (default: the current one)")
	asJSON := fs.Bool("json", false, "print the server's JSON (and no progress lines on stderr)")
	idle := idleTimeoutFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch {
	case sub == "publish" && (*rootPath == "" || *keys == "" || *dir == "" || fs.NArg() > 0):
		errorf(env, "release publish: --root ROOT, --keys KEYS and --bundle DIR are required (no other arguments)")
		return ExitUsage
	case sub == "resign" && (*rootPath == "" || *keys == "" || fs.NArg() > 0):
		errorf(env, "release resign: --root ROOT and --keys KEYS are required (no other arguments)")
		return ExitUsage
	case *exp <= 0:
		errorf(env, "%s: --targets-expiry %v must be positive", name, *exp)
		return ExitUsage
	case *idle < 0:
		errorf(env, "%s: --idle-timeout %v must not be negative", name, *idle)
		return ExitUsage
	}
	root, err := os.ReadFile(*rootPath)
	if err != nil {
		errorf(env, "%s: %v", name, err)
		return ExitFailure
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "%s: %v", name, err)
		return ExitFailure
	}
	// The current metadata, verified from the trusted root: signing over
	// unverified targets could sign what a compromised server slipped in.
	cache, err := os.MkdirTemp("", "rigctl-tuf-")
	if err != nil {
		errorf(env, "%s: %v", name, err)
		return ExitFailure
	}
	defer os.RemoveAll(cache)
	u, err := repoClient(c, root, cache)
	if err == nil {
		err = u.Refresh()
	}
	if err != nil {
		errorf(env, "%s: verify the repository at %s/tuf: %v", name, c.Server, err)
		return ExitFailure
	}
	tm := u.GetTrustedMetadataSet()
	opt := tufrepo.Options{Expiry: tufrepo.Expiry{Targets: *exp}, StrictKeyModes: true}
	var s *tufrepo.Signed
	var arch *os.File
	if sub == "resign" {
		b, err := tufrepo.ResignTargets(tm.Root, tm.Targets[metadata.TARGETS], *keys, opt)
		if err != nil {
			errorf(env, "%s: %v", name, err)
			return ExitFailure
		}
		s = &tufrepo.Signed{Targets: b}
	} else {
		var hardware []string
		if *hw != "" {
			hardware = strings.Split(*hw, ",")
		}
		if arch, err = os.CreateTemp("", "rigctl-release-*.tar.gz"); err != nil {
			errorf(env, "%s: %v", name, err)
			return ExitFailure
		}
		defer os.Remove(arch.Name())
		defer arch.Close()
		if s, err = tufrepo.SignRelease(tm.Root, tm.Targets[metadata.TARGETS], *keys, *dir, hardware, arch, opt); err != nil {
			errorf(env, "%s: %v", name, err)
			return ExitFailure
		}
		if _, err := arch.Seek(0, io.SeekStart); err != nil {
			errorf(env, "%s: %v", name, err)
			return ExitFailure
		}
	}
	// The archive streams: no client timeout (the server bounds the
	// upload by blob.upload_timeout); --idle-timeout gives up a stalled
	// one. Its size is about the archive's and the targets'.
	up := *c
	up.HTTP = &http.Client{}
	total := int64(len(s.Targets))
	if arch != nil {
		st, err := arch.Stat()
		if err != nil {
			errorf(env, "%s: %v", name, err)
			return ExitFailure
		}
		total += st.Size()
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		var err error
		if arch != nil {
			err = writeParts(mw, s.Targets, arch)
		} else {
			err = writeParts(mw, s.Targets, nil)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	var raw json.RawMessage
	var progress io.Writer
	if !*asJSON {
		progress = env.Stderr
	}
	err = watchUpload(ctx, progress, name, total, *idle, pr, func(ctx context.Context, body io.Reader) error {
		return up.Upload(ctx, "POST", "/v1/releases", mw.FormDataContentType(), body, &raw)
	})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return failed(env, name, err)
	}
	if *asJSON {
		return printJSON(env, raw)
	}
	var out published
	if err := decodeAnswer("POST /v1/releases", raw, &out); err != nil {
		errorf(env, "%s: %v", name, err)
		return ExitFailure
	}
	if sub == "publish" && out.Path == "" {
		errorf(env, "%s: the answer to POST /v1/releases names no published path: %s", name, raw)
		return ExitFailure
	}
	v := out.Versions
	if sub == "resign" {
		fmt.Fprintf(env.Stdout, "targets re-signed: valid until %s (root %d, targets %d, snapshot %d, timestamp %d)\n",
			time.Now().Add(*exp).UTC().Format(time.RFC3339), v["root"], v["targets"], v["snapshot"], v["timestamp"])
		return ExitOK
	}
	fmt.Fprintf(env.Stdout, "published %s: %d bytes, sha256 %s, rig type %s, hardware %s (root %d, targets %d, snapshot %d, timestamp %d)\n",
		out.Path, out.Length, out.SHA256, s.Release.RigType, strings.Join(s.Release.Hardware, ","),
		v["root"], v["targets"], v["snapshot"], v["timestamp"])
	return ExitOK
}

// writeParts writes the targets part and, when archive is not nil, the
// archive part.
func writeParts(mw *multipart.Writer, targets []byte, archive io.Reader) error {
	w, err := mw.CreateFormFile("targets", "targets.json")
	if err != nil {
		return err
	}
	if _, err := w.Write(targets); err != nil || archive == nil {
		return err
	}
	if w, err = mw.CreateFormFile("archive", "release.tar.gz"); err != nil {
		return err
	}
	_, err = io.Copy(w, archive)
	return err
}

// bearerTransport sends the client's credential with the requests to
// server (its scheme, host and port) only: a redirect elsewhere (a CDN
// in front of /tuf/) is followed without it.
type bearerTransport struct {
	token  string
	server *url.URL
	next   http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !sameOrigin(r.URL, b.server) {
		return b.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set(cloudapi.HeaderAuthorization, "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// sameOrigin reports whether a and b have the same scheme, host and
// port (a missing port being the scheme's default).
func sameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		switch strings.ToLower(u.Scheme) {
		case "http":
			return "80"
		case "https":
			return "443"
		}
		return ""
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// tufHTTPClient is the HTTP client of repoClient: c's token on the
// requests to c's server only.
func tufHTTPClient(c *cloudclient.Client) (*http.Client, error) {
	server, err := url.Parse(c.Server)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: bearerTransport{c.Token, server, http.DefaultTransport}, Timeout: time.Minute}, nil
}

// repoClient is go-tuf's updater on the server's /tuf/, trusting root,
// with the throwaway metadata folder cache (the release manager keeps no
// state between releases).
func repoClient(c *cloudclient.Client, root []byte, cache string) (*updater.Updater, error) {
	cfg, err := config.New(c.Server+"/tuf", root)
	if err != nil {
		return nil, err
	}
	cfg.LocalMetadataDir = cache
	cfg.DisableLocalCache = true
	cfg.RemoteTargetsURL = c.Server + "/tuf/targets"
	hc, err := tufHTTPClient(c)
	if err != nil {
		return nil, err
	}
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(hc)
	cfg.Fetcher = f
	return updater.New(cfg)
}
