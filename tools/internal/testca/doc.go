// Package testca writes a throwaway CA certificate bundle for the tests
// of the tools that take one (rigctl release image --ca-certs, and
// cloudimage's Options.Certs):
//
//	certs := testca.Bundle(t, "cloudimage test CA") // a PEM file in t.TempDir()
//
// It is for tests only.
package testca
