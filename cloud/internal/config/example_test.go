package config_test

import (
	"fmt"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
)

// Parse decodes, applies RIG_CLOUD_* overrides and validates.
func ExampleParse() {
	file := []byte(`
server:
  listen: ":8443"
  tls:
    cert_file: tls/cert.pem
    key_file: tls/key.pem
`)
	env := []string{"RIG_CLOUD_DATABASE_URL=postgres://rigcloud:secret@db:5432/rigcloud", "RIG_CLOUD_AUTH_RATE_LIMIT=10"}
	cfg, err := config.Parse("/etc/rig-cloud/rig-cloud.yaml", file, env)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Server.Listen, cfg.Server.TLS.CertFile, cfg.Database.URL, cfg.Auth.RateLimit)

	_, err = config.Parse("bad.yaml", []byte("log:\n  level: loud\n  formt: x\n"), env)
	fmt.Println(err)
	// Output:
	// :8443 /etc/rig-cloud/tls/cert.pem <redacted> 10
	// bad.yaml:3:3: log.formt: unknown key "formt" (see docs/cloud.md for the keys of each section)
}
