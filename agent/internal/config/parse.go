package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/shared/confyaml"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// MaxFileSize caps the config file (1 MiB).
const MaxFileSize = confyaml.MaxFileSize

// EnvPrefix starts every environment override: RIG_AGENT_<SECTION>_<KEY>,
// the key path in upper case with '.' replaced by '_' (for example
// broker.tls.ca_file is RIG_AGENT_BROKER_TLS_CA_FILE). Keys lists them.
const EnvPrefix = "RIG_AGENT_"

// EnvEnrollmentToken holds the one-time enrollment token of rig-agent
// enroll when neither --token nor --token-file gives it (docs/agent.md,
// "Enrolling the agent"). It starts with EnvPrefix but is no config key:
// Parse and Load skip it, so an installer's shell that still has it set
// can run the agent.
const EnvEnrollmentToken = "RIG_AGENT_ENROLLMENT_TOKEN"

// spec is how the rig-agent config decodes (shared/confyaml).
var spec = confyaml.Spec{
	EnvPrefix:  EnvPrefix,
	UnknownKey: "see docs/agent.md for the keys of each section",
	UnknownEnv: "see docs/agent.md for the list",
	NotMapping: "the config must be a mapping of sections (agent, rig, model, broker, ...)",
	OtherEnv:   []string{EnvEnrollmentToken},
}

// FieldError is one problem in the config: file, line and column, key
// path, and what is wrong with the value. It is shared/confyaml's error
// type, as the firmware config's (shared/rig), so all read alike:
//
//	rig-agent.yaml:12:14: broker.qos: 0 is not 1 or 2 (...)
//
// A problem in an environment override names the variable as its File.
type FieldError = confyaml.FieldError

// Errors is every problem found in one config, in file order.
type Errors []*FieldError

// ErrInvalid is matched by errors.Is on every config error of Parse, Load
// and Validate.
var ErrInvalid = errors.New("invalid rig-agent config")

// Error lists the problems one per line.
func (es Errors) Error() string { return confyaml.Errors(es).Error() }

// Unwrap returns the individual problems.
func (es Errors) Unwrap() []error { return confyaml.Errors(es).Unwrap() }

// Is reports whether target is ErrInvalid.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// hostname is os.Hostname, replaced in tests.
var hostname = os.Hostname

// Load reads the config file at path, applies the environment's
// overrides (os.Environ), fills defaults, validates, resolves relative
// paths against the file's directory, then loads and validates the rig's
// firmware config (Config.Firmware) and checks that every file and
// directory the config names exists. Errors name file, line, key path and
// value; errors.Is(err, ErrInvalid) holds for all of them, and
// errors.Is(err, rig.ErrInvalid) too when the firmware config is bad.
func Load(path string) (*Config, error) { return load(path, true) }

// LoadForEnroll is Load for rig-agent enroll, which writes
// cloud.credential_file: that file need not exist yet (every other file
// and directory the config names must, as for Load).
func LoadForEnroll(path string) (*Config, error) { return load(path, false) }

// load is Load, and LoadForEnroll when credential is false (see
// loadFiles).
func load(path string, credential bool) (*Config, error) {
	data, err := confyaml.ReadFile(path, "rig-agent config")
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(path, data, os.Environ())
	if err != nil {
		return nil, err
	}
	if err := cfg.loadFiles(credential); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes data (the file name is used in errors and to resolve
// relative paths), applies the overrides found in env ("KEY=value"
// entries as os.Environ returns them; nil for none), fills defaults and
// validates. It reads no file: Load does that on top.
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
	if cfg.Windowing.CycleAnchor == EpochAnchor {
		// As a time, so that a reader parsing RFC 3339 gets the epoch
		// (and not the zero time that means "no anchor").
		cfg.Windowing.CycleAnchor = EpochAnchorTime
	}
	return &cfg, nil
}

// derive fills the defaults that depend on other fields and resolves
// relative paths against dir (the config file's directory).
func (c *Config) derive(dir string) {
	if c.Agent.ID == "" {
		if h, err := hostname(); err == nil {
			c.Agent.ID = sanitizeID(h)
		}
	}
	if c.Broker.ClientID == "" && idPattern.MatchString(c.Agent.ID) {
		c.Broker.ClientID = "rig-agent-" + c.Agent.ID
	}
	if c.Broker.Limits.MaxSessions == 0 {
		c.Broker.Limits.MaxSessions = 4 * c.Broker.Limits.MaxClients
	}
	if c.Agent.PluginMaxWait == 0 {
		// Below keep_alive whatever it is (at least 1s), so that a config
		// without the key loads as it did before the key existed.
		c.Agent.PluginMaxWait = ingest.DefaultMaxPluginWait
		if k := c.Broker.KeepAlive / 2; k >= time.Second/2 && k < c.Agent.PluginMaxWait {
			c.Agent.PluginMaxWait = k
		}
	}
	if c.Broker.Embedded {
		c.Broker.URL = "tcp://" + c.Broker.Listen
		if c.Broker.ListenTLS.Enabled() {
			c.Broker.URL = "ssl://" + c.Broker.Listen
		}
	}
	if c.Diagnoses.Topic == "" && idPattern.MatchString(c.Agent.ID) {
		c.Diagnoses.Topic = "hydrognn/agents/" + c.Agent.ID + "/diagnoses"
	}
	for _, p := range []*string{&c.Agent.DataDir, &c.Agent.PluginDir, &c.Diagnoses.Path, &c.Rig.FirmwareConfig, &c.Model.BundleDir, &c.Model.OnnxRuntimeLib, &c.Model.TensorRTCacheDir,
		&c.Broker.PasswordFile, &c.Broker.TLS.CAFile, &c.Broker.TLS.CertFile, &c.Broker.TLS.KeyFile,
		&c.Broker.ListenTLS.CertFile, &c.Broker.ListenTLS.KeyFile, &c.Broker.ListenTLS.ClientCAFile,
		&c.Buffer.Path, &c.Cloud.CredentialFile, &c.Update.RootFile, &c.Update.Dir, &c.API.TokenFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		} else if *p != "" {
			*p = filepath.Clean(*p)
		}
	}
	if c.Buffer.Path == "" && c.Agent.DataDir != "" {
		c.Buffer.Path = filepath.Join(c.Agent.DataDir, "buffer.db")
	}
	if c.Diagnoses.Path == "" && c.Agent.DataDir != "" {
		c.Diagnoses.Path = filepath.Join(c.Agent.DataDir, "diagnoses.db")
	}
	if c.Model.TensorRTCacheDir == "" && c.Agent.DataDir != "" {
		c.Model.TensorRTCacheDir = filepath.Join(c.Agent.DataDir, "tensorrt")
	}
	if c.Update.Dir == "" && c.Agent.DataDir != "" {
		c.Update.Dir = filepath.Join(c.Agent.DataDir, "update")
	}
}

// sanitizeID turns a host name into a valid agent id.
func sanitizeID(h string) string {
	b := []byte(h)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	s := strings.TrimLeft(string(b), "_.-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// loadFiles loads the firmware config and checks the named files exist
// (cloud.credential_file only with credential).
func (c *Config) loadFiles(credential bool) error {
	var es Errors
	at := func(path, format string, args ...any) {
		fe := &FieldError{File: c.File, Path: path, Msg: fmt.Sprintf(format, args...)}
		es = append(es, fe)
	}
	fw, fwErr := rig.Load(c.Rig.FirmwareConfig)
	if fwErr != nil {
		at("rig.firmware_config", "firmware config %q cannot be used:", c.Rig.FirmwareConfig)
	}
	type want struct {
		path, file string
		dir        bool
	}
	for _, w := range []want{
		{"model.bundle_dir", c.Model.BundleDir, true},
		{"agent.plugin_dir", c.Agent.PluginDir, true},
		{"model.onnxruntime_lib", c.Model.OnnxRuntimeLib, false},
		{"broker.password_file", c.Broker.PasswordFile, false},
		{"broker.tls.ca_file", c.Broker.TLS.CAFile, false},
		{"broker.tls.cert_file", c.Broker.TLS.CertFile, false},
		{"broker.tls.key_file", c.Broker.TLS.KeyFile, false},
		{listenTLSCert, c.Broker.ListenTLS.CertFile, false},
		{listenTLSKey, c.Broker.ListenTLS.KeyFile, false},
		{listenTLSClientCA, c.Broker.ListenTLS.ClientCAFile, false},
		{"cloud.credential_file", c.Cloud.CredentialFile, false},
		{"update.root_file", c.Update.RootFile, false},
		{"api.token_file", c.API.TokenFile, false},
	} {
		if w.file == "" || (!credential && w.path == "cloud.credential_file") {
			continue
		}
		fi, err := os.Stat(w.file)
		switch {
		case err != nil:
			at(w.path, "%q: %v", w.file, errors.Unwrap(err))
		case w.dir && !fi.IsDir():
			at(w.path, "%q is not a directory", w.file)
		case !w.dir && fi.IsDir():
			at(w.path, "%q is a directory, want a file", w.file)
		}
	}
	if len(es) == 0 {
		// The files exist: check that they can be read and hold what
		// they should, as the start would.
		if c.Broker.Embedded {
			if _, fe := c.Broker.ListenTLS.load(); fe != nil {
				at(fe.Path, "%s", fe.Msg)
			}
		} else if t := c.Broker.TLS; t.CAFile != "" || t.CertFile != "" {
			if _, err := ingest.TLSConfig(ingest.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}); err != nil {
				at("broker.tls", "%v", err)
			}
		}
		if c.Broker.PasswordFile != "" {
			if _, err := os.ReadFile(c.Broker.PasswordFile); err != nil {
				at("broker.password_file", "%q cannot be read: %v", c.Broker.PasswordFile, errors.Unwrap(err))
			}
		}
		if c.API.TokenFile != "" {
			if _, err := c.API.TokenValue(); err != nil {
				at("api.token_file", "%s", strings.TrimPrefix(err.Error(), "api.token_file: "))
			}
		}
	}
	if len(es) > 0 {
		data, _ := os.ReadFile(c.File)
		doc, _ := confyaml.Parse(data) // nil on error: no positions
		doc.Locate(es)
		if fwErr != nil {
			return fmt.Errorf("%w\n%w", es, fwErr)
		}
		return es
	}
	c.Firmware = fw
	return nil
}

// Key is one configuration key: its path, variable and Go type.
type Key = confyaml.Key

// Keys lists every configuration key in declaration order, with its
// environment variable.
func Keys() []Key { return spec.Keys(reflect.TypeFor[Config]()) }
