package tlsx

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/switchd/switchd/internal/config"
)

// UpstreamConfig returns the client TLS configuration for a service's https://
// upstreams: the system roots, or only u.CAFile's certificates when it is set.
func UpstreamConfig(u config.UpstreamTLS) (*tls.Config, error) {
	c, _, err := UpstreamConfigKey(u)
	return c, err
}

// UpstreamConfigKey is UpstreamConfig plus a key that changes when the
// settings or the CA file's contents do, computed from the very bytes the
// configuration was built from.
func UpstreamConfigKey(u config.UpstreamTLS) (*tls.Config, string, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: u.InsecureSkipVerify} //nolint:gosec // operator's explicit choice
	key := fmt.Sprintf("%t|%s", u.InsecureSkipVerify, u.CAFile)
	if u.CAFile != "" {
		pem, err := os.ReadFile(u.CAFile)
		if err != nil {
			return nil, "", fmt.Errorf("upstream_tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("upstream_tls.ca_file: %q holds no PEM certificate", u.CAFile)
		}
		c.RootCAs = pool
		sum := sha256.Sum256(pem)
		key += "|" + hex.EncodeToString(sum[:8])
	}
	return c, key, nil
}
