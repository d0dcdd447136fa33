package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"

	"github.com/hydrognn/hydrognn/shared/confyaml"
)

// MaxFileSize caps the config file (1 MiB).
const MaxFileSize = confyaml.MaxFileSize

// EnvPrefix starts every environment override: RIG_CLOUD_<SECTION>_<KEY>,
// the key path in upper case with '.' replaced by '_' (for example
// database.url is RIG_CLOUD_DATABASE_URL). Keys lists them.
const EnvPrefix = "RIG_CLOUD_"

// spec is how the rig-cloud config decodes (shared/confyaml).
var spec = confyaml.Spec{
	EnvPrefix:  EnvPrefix,
	UnknownKey: "see docs/cloud.md for the keys of each section",
	UnknownEnv: "see docs/cloud.md for the list",
	// A Kubernetes Service named rig-cloud (deploy/k8s) gives every pod of
	// its namespace RIG_CLOUD_SERVICE_HOST, RIG_CLOUD_PORT, ... unless the
	// pod sets enableServiceLinks: false: they are skipped, not errors.
	ServiceLinks: true,
	NotMapping:   "the config must be a mapping of sections (server, database, auth, agents, blob, worker, releases, quotas, log)",
}

// FieldError is one problem in the config: file, line and column, key
// path, and what is wrong with the value. It is shared/confyaml's error
// type, as the agent's and the firmware config's, so all read alike:
//
//	rig-cloud.yaml:12:14: auth.rate_burst: 0 is out of range [1, 1000000]
//
// A problem in an environment override names the variable as its File.
type FieldError = confyaml.FieldError

// Errors is every problem found in one config, in file order.
type Errors []*FieldError

// ErrInvalid is matched by errors.Is on every config error of Parse, Load
// and Validate.
var ErrInvalid = errors.New("invalid rig-cloud config")

// Error lists the problems one per line.
func (es Errors) Error() string { return confyaml.Errors(es).Error() }

// Unwrap returns the individual problems.
func (es Errors) Unwrap() []error { return confyaml.Errors(es).Unwrap() }

// Is reports whether target is ErrInvalid.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// Load reads the config file at path, applies the environment's
// overrides (os.Environ), fills defaults, validates and resolves relative
// paths against the file's directory. Errors name file, line, key path and
// value; errors.Is(err, ErrInvalid) holds for all of them.
func Load(path string) (*Config, error) {
	data, err := confyaml.ReadFile(path, "rig-cloud config")
	if err != nil {
		return nil, err
	}
	return Parse(path, data, os.Environ())
}

// Parse decodes data (the file name is used in errors and to resolve
// relative paths), applies the overrides found in env ("KEY=value"
// entries as os.Environ returns them; nil for none), fills defaults and
// validates. The only files it reads are server.tls's certificate and key,
// loaded as the server will load them: a bad pair fails here, naming its
// key, rather than after the database and migrations.
func Parse(name string, data []byte, env []string) (*Config, error) {
	cfg := Defaults()
	cfg.File = name
	src, es := spec.Decode(name, data, env, &cfg)
	if es != nil {
		return nil, Errors(es)
	}
	cfg.derive(filepath.Dir(name))
	if err := cfg.Validate(); err != nil {
		var es Errors
		if errors.As(err, &es) {
			src.Place(es)
		}
		return nil, err
	}
	if es := cfg.checkTLS(); es != nil {
		src.Place(es)
		return nil, Errors(es)
	}
	return &cfg, nil
}

// derive resolves relative paths against dir (the config file's
// directory).
func (c *Config) derive(dir string) {
	if len(c.Server.TrustedProxies) == 0 {
		c.Server.TrustedProxies = nil // "[]" is the default, none
	}
	for _, p := range []*string{&c.Server.TLS.CertFile, &c.Server.TLS.KeyFile, &c.Blob.Dir, &c.Worker.WorkDir, &c.Releases.RepoDir, &c.Releases.OnlineKeysDir} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Key is one configuration key: its path, variable and Go type.
type Key = confyaml.Key

// Keys lists every configuration key in declaration order, with its
// environment variable.
func Keys() []Key { return spec.Keys(reflect.TypeFor[Config]()) }
