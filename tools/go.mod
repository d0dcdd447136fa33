module github.com/hydrognn/hydrognn/tools

go 1.26
