module github.com/hydrognn/hydrognn/cloud

go 1.26
