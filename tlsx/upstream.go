// Package tlsx is switchd's TLS: the listener side (certmagic for ACME and
// files, a local CA for "internal", redirects and HSTS; manager.go) and the
// client side for https:// upstreams (this file).
package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"switchd/config"
)

// UpstreamConfig returns the client TLS configuration for a service's https://
// upstreams: the system roots, or only u.CAFile's certificates when it is set.
func UpstreamConfig(u config.UpstreamTLS) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: u.InsecureSkipVerify} //nolint:gosec // operator's explicit choice
	if u.CAFile != "" {
		pem, err := os.ReadFile(u.CAFile)
		if err != nil {
			return nil, fmt.Errorf("upstream_tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upstream_tls.ca_file: %q holds no PEM certificate", u.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}
