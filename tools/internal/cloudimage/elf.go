package cloudimage

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// ErrNotStatic is returned (wrapped) by CheckBinary for an ELF file that
// needs a program interpreter or shared libraries.
var ErrNotStatic = errors.New("not a static executable")

// ErrWrongPlatform is returned (wrapped) by CheckBinary for a file that is
// not an ELF executable of the named platform.
var ErrWrongPlatform = errors.New("not an executable of the platform")

// arch is what the image and the ELF header say about one architecture.
type arch struct {
	machine elf.Machine
	class   elf.Class
	order   string // "little" or "big"
}

// arches are the linux architectures an image can be built for: those Go
// builds with CGO_ENABLED=0 and registries commonly carry.
var arches = map[string]arch{
	"amd64":   {elf.EM_X86_64, elf.ELFCLASS64, "little"},
	"arm64":   {elf.EM_AARCH64, elf.ELFCLASS64, "little"},
	"ppc64le": {elf.EM_PPC64, elf.ELFCLASS64, "little"},
	"riscv64": {elf.EM_RISCV, elf.ELFCLASS64, "little"},
	"s390x":   {elf.EM_S390, elf.ELFCLASS64, "big"},
}

// Arches returns the architectures Build accepts, sorted.
func Arches() []string {
	return slices.Sorted(maps.Keys(arches))
}

// archOf names the Go architecture of an ELF machine, class and byte
// order ("little" or "big"), or, for none of arches, the machine itself
// (big-endian EM_PPC64 is PPC64, not ppc64le).
func archOf(m elf.Machine, c elf.Class, order string) string {
	for name, a := range arches {
		if a.machine == m && a.class == c && a.order == order {
			return name
		}
	}
	return strings.TrimPrefix(m.String(), "EM_")
}

// CheckBinary checks that r (named name in errors) is a static linux ELF
// executable for the Go architecture goarch: the ELF machine, class and byte
// order match, and it has neither a program interpreter (PT_INTERP) nor a
// dynamic section (PT_DYNAMIC, .dynamic), so that it runs in an image with
// no C library. A Go program built with CGO_ENABLED=0 passes.
func CheckBinary(r io.ReaderAt, name, goarch string) error {
	want, ok := arches[goarch]
	if !ok {
		return fmt.Errorf("%s: architecture %q: %w (one of %s)", name, goarch, ErrWrongPlatform, strings.Join(Arches(), ", "))
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return fmt.Errorf("%s: not an ELF executable (%v): %w linux/%s; build rig-cloud with CGO_ENABLED=0 GOOS=linux GOARCH=%s",
			name, err, ErrWrongPlatform, goarch, goarch)
	}
	defer f.Close()
	order := "little"
	if f.Data == elf.ELFDATA2MSB {
		order = "big"
	}
	if f.Machine != want.machine || f.Class != want.class || order != want.order {
		return fmt.Errorf("%s: an ELF file for %s (%s, %s-endian), %w linux/%s: build it with GOARCH=%s",
			name, archOf(f.Machine, f.Class, order), f.Class, order, ErrWrongPlatform, goarch, goarch)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s: ELF type %s, %w linux/%s", name, f.Type, ErrWrongPlatform, goarch)
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("%s: ELF OS ABI %s, %w linux/%s", name, f.OSABI, ErrWrongPlatform, goarch)
	}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			interp, _ := io.ReadAll(io.LimitReader(p.Open(), 256))
			return fmt.Errorf("%s: needs the program interpreter %s: %w; build rig-cloud with CGO_ENABLED=0",
				name, strings.TrimRight(string(interp), "\x00"), ErrNotStatic)
		case elf.PT_DYNAMIC:
			return fmt.Errorf("%s: has a dynamic section (PT_DYNAMIC): %w; build rig-cloud with CGO_ENABLED=0 and without -buildmode=pie",
				name, ErrNotStatic)
		}
	}
	if s := f.Section(".dynamic"); s != nil {
		return fmt.Errorf("%s: has a .dynamic section: %w; build rig-cloud with CGO_ENABLED=0", name, ErrNotStatic)
	}
	if f.Type != elf.ET_EXEC {
		return fmt.Errorf("%s: ELF type %s without a dynamic section, %w linux/%s", name, f.Type, ErrWrongPlatform, goarch)
	}
	return nil
}
