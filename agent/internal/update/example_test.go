package update_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

// copyBundle copies the shipped skab-testbed bundle into dir with version.
func copyBundle(dir, version string) (*bundle.Manifest, error) {
	src := filepath.Join("..", "..", "..", "models", "bundles", "skab-testbed")
	m, err := bundle.Load(src)
	if err != nil {
		return nil, err
	}
	for _, mf := range m.Models {
		b, err := os.ReadFile(filepath.Join(src, mf.File))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, mf.File), b, 0o644); err != nil {
			return nil, err
		}
	}
	m.Version = version
	return m, bundle.Write(dir, m)
}

// An agent installed with model 1.0.0 finds release 1.1.0 in the
// repository, verifies, stages and commits it.
func Example() {
	base, err := os.MkdirTemp("", "update-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)
	mk := func(name string) string {
		d := filepath.Join(base, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			log.Fatal(err)
		}
		return d
	}

	// The release side: a repository with release 1.1.0, served over HTTP.
	repo, err := tufrepo.Init(filepath.Join(base, "repo"), filepath.Join(base, "keys"), tufrepo.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := copyBundle(mk("release"), "1.1.0"); err != nil {
		log.Fatal(err)
	}
	if _, _, err := repo.AddBundle(filepath.Join(base, "release"), nil); err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(repo.Dir())))
	defer srv.Close()
	root, err := repo.Root() // installed on the rig as its trust anchor
	if err != nil {
		log.Fatal(err)
	}

	// The rig: installed with 1.0.0.
	installed, err := copyBundle(mk("installed"), "1.0.0")
	if err != nil {
		log.Fatal(err)
	}
	m, err := update.Open(update.Options{
		Dir: filepath.Join(base, "data", "update"), URL: srv.URL, TrustedRoot: root,
		InstalledDir: filepath.Join(base, "installed"),
		RigType:      installed.RigType, ConfigDigest: installed.ConfigDigest, Hardware: []string{"amd64"},
		Reporter: update.ReporterFunc(func(t update.Transition) { fmt.Println(t.From, "->", t.To) }),
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Cycle(context.Background()); err != nil {
		log.Fatal(err)
	}
	st := m.Status()
	fmt.Println("serving", st.Installed.Version, "previous", st.Previous.Version)
	// Output:
	// checking -> downloading
	// downloading -> verifying
	// verifying -> staged
	// staged -> committing
	// committing -> committed
	// serving 1.1.0 previous 1.0.0
}
