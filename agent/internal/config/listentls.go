package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Key paths of ListenTLS, for errors.
const (
	listenTLSCert     = "broker.listen_tls.cert_file"
	listenTLSKey      = "broker.listen_tls.key_file"
	listenTLSClientCA = "broker.listen_tls.client_ca_file"
)

// ServerConfig loads the files into the embedded broker's listener TLS
// config (broker.Options.TLS): TLS 1.2 or later, the server certificate,
// and with ClientCAFile, client certificates required and verified
// against it. It returns nil, nil when TLS is not enabled. Load has
// checked the files already; ServerConfig reads them again (at start).
// An error names the key and the file.
func (t ListenTLS) ServerConfig() (*tls.Config, error) {
	c, fe := t.load()
	if fe != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, fe)
	}
	return c, nil
}

// load is ServerConfig with its error as a FieldError at the key to fix
// (no file or position: the caller places it).
func (t ListenTLS) load() (*tls.Config, *FieldError) {
	if !t.Enabled() {
		return nil, nil
	}
	if t.KeyFile == "" {
		return nil, &FieldError{Path: listenTLSKey, Msg: "is empty but " + listenTLSCert + " is set"}
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	var pe *os.PathError
	switch {
	case err == nil:
	case errors.As(err, &pe) && pe.Path == t.KeyFile:
		return nil, &FieldError{Path: listenTLSKey, Msg: fmt.Sprintf("%q: %v", t.KeyFile, pe.Err)}
	case errors.As(err, &pe):
		return nil, &FieldError{Path: listenTLSCert, Msg: fmt.Sprintf("%q: %v", t.CertFile, pe.Err)}
	case strings.Contains(err.Error(), "certificate input"):
		return nil, &FieldError{Path: listenTLSCert, Msg: fmt.Sprintf("%q holds no PEM certificate (%v)", t.CertFile, err)}
	default:
		return nil, &FieldError{Path: listenTLSKey, Msg: fmt.Sprintf("%q is not the PEM private key of %s %q (%v)",
			t.KeyFile, listenTLSCert, t.CertFile, err)}
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, &FieldError{Path: listenTLSClientCA, Msg: fmt.Sprintf("%q: %v", t.ClientCAFile, err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &FieldError{Path: listenTLSClientCA, Msg: fmt.Sprintf("%q holds no PEM certificate", t.ClientCAFile)}
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}
