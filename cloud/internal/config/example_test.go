package config_test

import (
	"fmt"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
)

// Parse decodes, applies RIG_CLOUD_* overrides and validates; it loads
// server.tls's certificate and key, when set.
func ExampleParse() {
	file := []byte(`
server:
  listen: ":8443"
blob:
  dir: blobs
`)
	env := []string{"RIG_CLOUD_DATABASE_URL=postgres://rigcloud:secret@db:5432/rigcloud", "RIG_CLOUD_AUTH_RATE_LIMIT=10"}
	cfg, err := config.Parse("/etc/rig-cloud/rig-cloud.yaml", file, env)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Server.Listen, cfg.Blob.Dir, cfg.Database.URL, cfg.Auth.RateLimit)

	_, err = config.Parse("bad.yaml", []byte("log:\n  level: loud\n  formt: x\n"), env)
	fmt.Println(err)

	_, err = config.Parse("/nonexistent/tls.yaml", []byte("server:\n  tls:\n    cert_file: c.pem\n    key_file: k.pem\n"), env)
	fmt.Println(err)
	// Output:
	// :8443 /etc/rig-cloud/blobs <redacted> 10
	// bad.yaml:3:3: log.formt: unknown key "formt" (see docs/cloud.md for the keys of each section)
	// /nonexistent/tls.yaml:3:5: server.tls.cert_file: "/nonexistent/c.pem" cannot be read: no such file or directory
	// /nonexistent/tls.yaml:4:5: server.tls.key_file: "/nonexistent/k.pem" cannot be read: no such file or directory
}
