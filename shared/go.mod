module github.com/hydrognn/hydrognn/shared

go 1.26

require github.com/goccy/go-yaml v1.19.2

require google.golang.org/protobuf v1.36.12
