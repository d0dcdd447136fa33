package testca

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The bundle is one PEM certificate: a self-signed CA with the name
// asked for, valid from 1970 to 2038, in a file only its test uses.
func TestBundle(t *testing.T) {
	p := Bundle(t, "testca test CA")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	block, rest := pem.Decode(b)
	require.NotNil(t, block, "%s", b)
	assert.Empty(t, rest, "one certificate")
	assert.Equal(t, "CERTIFICATE", block.Type)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.Equal(t, "testca test CA", c.Subject.CommonName)
	assert.True(t, c.IsCA)
	require.NoError(t, c.CheckSignatureFrom(c), "self-signed")
	assert.True(t, c.NotBefore.Equal(time.Unix(0, 0)), "%s", c.NotBefore)
	assert.True(t, c.NotAfter.Equal(time.Unix(1<<31, 0)), "%s", c.NotAfter)
	assert.NotEqual(t, p, Bundle(t, "testca test CA"), "a new file each call")
}
