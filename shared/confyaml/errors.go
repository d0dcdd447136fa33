package confyaml

import (
	"fmt"
	"slices"
	"strings"
)

// FieldError is one problem in a config: where it is (file, line, column,
// key path) and what is wrong with the value found there.
type FieldError struct {
	// File is the file name given to Parse or Load ("" for a config built
	// in code), or "environment VAR" for a value set by a variable.
	File string
	// Line and Column locate the key or value (1-based; 0 when unknown).
	Line, Column int
	// Path is the key path, e.g. "sensors[3].unit" ("" for the document).
	Path string
	// Msg says what is wrong, quoting the bad value.
	Msg string
}

// Error formats the problem as "file:line:col: path: msg".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one config. Each config package
// declares its own list type, whose Is matches its own sentinel, with
// Error and Unwrap calling these.
type Errors []*FieldError

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// SortByPosition orders es by line and column, keeping the order of
// problems at the same place (those without a line come first).
func SortByPosition(es []*FieldError) {
	slices.SortStableFunc(es, func(a, b *FieldError) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}
