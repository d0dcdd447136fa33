package config_test

import (
	"fmt"

	"github.com/hydrognn/hydrognn/agent/internal/config"
)

// Parse decodes and validates without reading files (Load also loads the
// firmware config and checks that the named files exist).
func ExampleParse() {
	file := []byte(`
agent:
  id: rig-7
rig:
  firmware_config: zema-testrig.yaml
model:
  bundle_dir: /var/lib/rig-agent/bundles/zema-testrig
`)
	env := []string{"RIG_AGENT_BUFFER_MAX_BYTES=2GiB", "RIG_AGENT_BROKER_URL=mqtts://broker.plant:8883"}
	cfg, err := config.Parse("/etc/hydrognn/rig-agent.yaml", file, env)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Rig.FirmwareConfig)
	fmt.Println(cfg.Broker.URL, cfg.Broker.ClientID, cfg.Broker.QoS)
	fmt.Println(cfg.Buffer.Path, cfg.Buffer.MaxBytes)

	_, err = config.Parse("bad.yaml", []byte("broker:\n  qos: 0\n  urll: x\n"), nil)
	fmt.Println(err)
	// Output:
	// /etc/hydrognn/zema-testrig.yaml
	// mqtts://broker.plant:8883 rig-agent-rig-7 1
	// /var/lib/rig-agent/buffer.db 2GiB
	// bad.yaml:3:3: broker.urll: unknown key "urll" (see docs/agent.md for the keys of each section)
}
