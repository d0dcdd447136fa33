package rigctl

import (
	"context"
	"fmt"
	"strings"

	"github.com/hydrognn/hydrognn/shared/schema"
)

func init() {
	register("schema", "print the JSON Schema of a contract ("+strings.Join(schema.Names(), ", ")+")", runSchema)
}

func runSchema(_ context.Context, env Env, args []string) int {
	fs := newFlags(env, "schema", "schema [NAME]\n\nWith no NAME, prints a JSON object holding every schema, keyed by name.")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch fs.NArg() {
	case 0:
		var b strings.Builder
		b.WriteString("{\n")
		for i, n := range schema.Names() {
			s, err := schema.For(n)
			if err != nil {
				errorf(env, "%v", err)
				return ExitFailure
			}
			fmt.Fprintf(&b, "%q: %s", n, s)
			if i < len(schema.Names())-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString("}\n")
		fmt.Fprint(env.Stdout, b.String())
	case 1:
		s, err := schema.For(fs.Arg(0))
		if err != nil {
			errorf(env, "%v", err)
			return ExitUsage
		}
		fmt.Fprintf(env.Stdout, "%s\n", s)
	default:
		fs.Usage()
		return ExitUsage
	}
	return ExitOK
}
