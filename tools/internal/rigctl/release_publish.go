package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
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

func runPublish(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "release publish", releaseUsage)
	rootPath := fs.String("root", "", "the trusted root metadata `ROOT` (the ceremony's 1.root.json or later; required)")
	keys := fs.String("keys", "", "the `KEYS` folder holding the targets key (required)")
	dir := fs.String("bundle", "", "the model bundle `DIR` (required)")
	hw := fs.String("hardware", "", "comma-separated hardware the release supports (default: amd64,arm64)")
	exp := fs.Duration("targets-expiry", tufrepo.DefaultExpiry.Targets, "how long the signed targets stay valid")
	ctxName := fs.String("context", "", "login context holding a release token (default: the current one)")
	asJSON := fs.Bool("json", false, "print the server's JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *rootPath == "" || *keys == "" || *dir == "" || fs.NArg() > 0 {
		errorf(env, "release publish: --root ROOT, --keys KEYS and --bundle DIR are required (no other arguments)")
		return ExitUsage
	}
	if *exp <= 0 {
		errorf(env, "release publish: --targets-expiry %v must be positive", *exp)
		return ExitUsage
	}
	var hardware []string
	if *hw != "" {
		hardware = strings.Split(*hw, ",")
	}
	root, err := os.ReadFile(*rootPath)
	if err != nil {
		errorf(env, "release publish: %v", err)
		return ExitFailure
	}
	c, err := fleetClient(*ctxName)
	if err != nil {
		errorf(env, "release publish: %v", err)
		return ExitFailure
	}
	// The current metadata, verified from the trusted root: signing over
	// unverified targets could sign what a compromised server slipped in.
	cache, err := os.MkdirTemp("", "rigctl-tuf-")
	if err != nil {
		errorf(env, "release publish: %v", err)
		return ExitFailure
	}
	defer os.RemoveAll(cache)
	u, err := repoClient(c, root, cache)
	if err == nil {
		err = u.Refresh()
	}
	if err != nil {
		errorf(env, "release publish: verify the repository at %s/tuf: %v", c.Server, err)
		return ExitFailure
	}
	tm := u.GetTrustedMetadataSet()
	arch, err := os.CreateTemp("", "rigctl-release-*.tar.gz")
	if err != nil {
		errorf(env, "release publish: %v", err)
		return ExitFailure
	}
	defer os.Remove(arch.Name())
	defer arch.Close()
	s, err := tufrepo.SignRelease(tm.Root, tm.Targets[metadata.TARGETS], *keys, *dir, hardware, arch, tufrepo.Options{Expiry: tufrepo.Expiry{Targets: *exp}})
	if err != nil {
		errorf(env, "release publish: %v", err)
		return ExitFailure
	}
	if _, err := arch.Seek(0, io.SeekStart); err != nil {
		errorf(env, "release publish: %v", err)
		return ExitFailure
	}
	// The archive streams: no client timeout (the server bounds the
	// upload by blob.upload_timeout).
	up := *c
	up.HTTP = &http.Client{}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := writeParts(mw, s.Targets, arch)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	var raw json.RawMessage
	err = up.Upload(ctx, "POST", "/v1/releases", mw.FormDataContentType(), pr, &raw)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return failed(env, "release publish: "+s.File.Path, err)
	}
	if *asJSON {
		printJSON(env.Stdout, raw)
		return ExitOK
	}
	var out published
	_ = json.Unmarshal(raw, &out)
	v := out.Versions
	fmt.Fprintf(env.Stdout, "published %s: %d bytes, sha256 %s, rig type %s, hardware %s (root %d, targets %d, snapshot %d, timestamp %d)\n",
		out.Path, out.Length, out.SHA256, s.Release.RigType, strings.Join(s.Release.Hardware, ","),
		v["root"], v["targets"], v["snapshot"], v["timestamp"])
	return ExitOK
}

func writeParts(mw *multipart.Writer, targets []byte, archive io.Reader) error {
	w, err := mw.CreateFormFile("targets", "targets.json")
	if err != nil {
		return err
	}
	if _, err := w.Write(targets); err != nil {
		return err
	}
	if w, err = mw.CreateFormFile("archive", "release.tar.gz"); err != nil {
		return err
	}
	_, err = io.Copy(w, archive)
	return err
}

// bearerTransport sends the client's credential with every request.
type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(cloudapi.HeaderAuthorization, "Bearer "+b.token)
	return b.next.RoundTrip(r)
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
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(&http.Client{Transport: bearerTransport{c.Token, http.DefaultTransport}, Timeout: time.Minute})
	cfg.Fetcher = f
	return updater.New(cfg)
}
