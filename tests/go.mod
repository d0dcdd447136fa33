module github.com/hydrognn/hydrognn/tests

go 1.26

require (
	github.com/stretchr/testify v1.12.1
	github.com/yalue/onnxruntime_go v1.27.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect
