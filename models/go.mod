module github.com/hydrognn/hydrognn/models

go 1.26
