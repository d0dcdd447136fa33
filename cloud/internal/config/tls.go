package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"

	"github.com/hydrognn/hydrognn/shared/confyaml"
)

// checkTLS loads server.tls's certificate and key, when set, as the
// server will (tls.LoadX509KeyPair), so that a missing, unreadable or
// mismatched pair stops the start with an error naming the key, before
// the database and its migrations are touched. It returns the problems
// found, or nil. Messages quote the paths, never the files' content.
func (c *Config) checkTLS() []*FieldError {
	t := c.Server.TLS
	if t.CertFile == "" || t.KeyFile == "" {
		return nil // none, or half set: Validate said so
	}
	v := &confyaml.Validator{Spec: &spec}
	certPEM, err := os.ReadFile(t.CertFile)
	if err != nil {
		v.Add("server.tls.cert_file", "%q cannot be read: %v", t.CertFile, fileErr(err))
	} else if err := parseLeaf(certPEM); err != nil {
		v.Add("server.tls.cert_file", "%q is not a PEM certificate: %v", t.CertFile, err)
	}
	keyPEM, err := os.ReadFile(t.KeyFile)
	if err != nil {
		v.Add("server.tls.key_file", "%q cannot be read: %v", t.KeyFile, fileErr(err))
	}
	if len(v.Problems) > 0 {
		return v.Problems
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		v.Add("server.tls.key_file", "%q is not the PEM private key of cert_file %q: %v", t.KeyFile, t.CertFile, err)
	}
	return v.Problems
}

// parseLeaf parses the first certificate of a PEM file.
func parseLeaf(data []byte) error {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return errors.New("no CERTIFICATE block")
		}
		if b.Type == "CERTIFICATE" {
			_, err := x509.ParseCertificate(b.Bytes)
			return err
		}
	}
}

// fileErr drops the path that *fs.PathError repeats.
func fileErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
