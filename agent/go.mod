module github.com/hydrognn/hydrognn/agent

go 1.26
