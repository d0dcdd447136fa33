module github.com/hydrognn/hydrognn/agent

go 1.26

require (
	github.com/hydrognn/hydrognn/models v0.0.0-00010101000000-000000000000
	github.com/hydrognn/hydrognn/shared v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
	github.com/yalue/onnxruntime_go v1.27.0
)

require (
	github.com/goccy/go-yaml v1.19.2 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

// go mod tidy ignores go.work: see docs/development.md. models is a
// test-only dependency (agent/infer's tests build stand-in ONNX graphs
// with models/onnx); no non-test package of the agent imports it.
replace (
	github.com/hydrognn/hydrognn/models => ../models
	github.com/hydrognn/hydrognn/shared => ../shared
)
