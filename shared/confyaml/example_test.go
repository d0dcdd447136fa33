package confyaml_test

import (
	"fmt"
	"time"

	"github.com/hydrognn/hydrognn/shared/confyaml"
)

// A service config: defaults, then the file and the environment, then
// validation, whose problems are placed where each value came from.
func ExampleSpec_Decode() {
	type Config struct {
		Server struct {
			Listen  string            `yaml:"listen"`
			MaxBody confyaml.ByteSize `yaml:"max_body"`
			Timeout time.Duration     `yaml:"timeout"`
		} `yaml:"server"`
	}
	spec := confyaml.Spec{EnvPrefix: "DEMO_", UnknownKey: "see docs/demo.md", UnknownEnv: "see docs/demo.md", NotMapping: "want a mapping"}

	var cfg Config
	cfg.Server.Listen, cfg.Server.Timeout = ":8080", 30*time.Second
	data := []byte("server:\n  listen: nowhere\n  max_body: 64MiB\n")
	src, problems := spec.Decode("demo.yaml", data, []string{"DEMO_SERVER_TIMEOUT=2h"}, &cfg)
	if problems != nil {
		fmt.Println(confyaml.Errors(problems))
		return
	}
	v := confyaml.Validator{Spec: &spec}
	v.HostPort("server.listen", cfg.Server.Listen)
	v.SizeIn("server.max_body", cfg.Server.MaxBody, confyaml.MiB, 16*confyaml.MiB)
	v.DurationIn("server.timeout", cfg.Server.Timeout, time.Second, time.Hour)
	src.Place(v.Problems)
	fmt.Println(confyaml.Errors(v.Problems))

	_, problems = spec.Decode("demo.yaml", []byte("server:\n  listn: x\n"), nil, &cfg)
	fmt.Println(confyaml.Errors(problems))
	// Output:
	// environment DEMO_SERVER_TIMEOUT: server.timeout: 2h0m0s is out of range [1s, 1h0m0s]
	// demo.yaml:2:3: server.listen: "nowhere" is not host:port (address nowhere: missing port in address)
	// demo.yaml:3:3: server.max_body: 64MiB is out of range [1MiB, 16MiB]
	// demo.yaml:2:3: server.listn: unknown key "listn" (see docs/demo.md)
}
