package config

import "github.com/hydrognn/hydrognn/shared/confyaml"

// ByteSize is a size in bytes (shared/confyaml). In YAML and the
// environment it is an integer (bytes) or a number with a unit: B, KB, MB,
// GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g.
// 512MiB, 1.5GB.
type ByteSize = confyaml.ByteSize

// Byte size units.
const (
	KiB = confyaml.KiB
	MiB = confyaml.MiB
	GiB = confyaml.GiB
	TiB = confyaml.TiB
)
