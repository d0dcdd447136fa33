//go:build cgo && !noxla

package gnn

import "github.com/gomlx/gomlx/backends/xla"

func init() { xlaConstructor = xla.New }
