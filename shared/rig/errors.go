package rig

import (
	"errors"

	"github.com/hydrognn/hydrognn/shared/confyaml"
)

// FieldError is one problem in a firmware config: where it is (file, line,
// column, key path) and what is wrong with the value found there. It is
// shared/confyaml's error type, which the services' configs use too.
type FieldError = confyaml.FieldError

// Errors is every problem found in one config, in file order. Parse, Load
// and Validate return it (as error) when a config is invalid; use
// errors.As to get at the individual problems.
type Errors []*FieldError

// Error lists the problems one per line.
func (es Errors) Error() string { return confyaml.Errors(es).Error() }

// Unwrap returns the individual problems.
func (es Errors) Unwrap() []error { return confyaml.Errors(es).Unwrap() }

// ErrInvalid is matched by errors.Is on every validation error.
var ErrInvalid = errors.New("invalid firmware config")

// Is reports whether target is ErrInvalid.
func (es Errors) Is(target error) bool { return target == ErrInvalid }
