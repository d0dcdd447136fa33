module github.com/hydrognn/hydrognn/tests

go 1.26
