package tlsx

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchd/switchd/internal/config"
)

// TestUpstreamConfigClientCert: the client certificate and server_name
// reach the tls.Config, and the key changes when the pair is rewritten in
// place, which is what makes a reload rebuild transports and probes.
func TestUpstreamConfigClientCert(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "edge.pem"), filepath.Join(dir, "edge-key.pem")
	newPair(t, "edge").write(t, certFile, keyFile)
	u := config.UpstreamTLS{CertFile: certFile, KeyFile: keyFile, ServerName: "app.internal"}
	c, key, err := UpstreamConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificates) != 1 || c.Certificates[0].Leaf.Subject.CommonName != "edge" || c.ServerName != "app.internal" {
		t.Fatalf("config: %d certificates, server name %q", len(c.Certificates), c.ServerName)
	}
	if _, again, _ := UpstreamConfig(u); again != key {
		t.Fatal("same settings and files, different key")
	}

	// The same file names, another pair in them.
	newPair(t, "edge2").write(t, certFile, keyFile)
	c, rotated, err := UpstreamConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	if rotated == key || c.Certificates[0].Leaf.Subject.CommonName != "edge2" {
		t.Fatalf("rotated pair: key changed %v, certificate %q", rotated != key, c.Certificates[0].Leaf.Subject.CommonName)
	}
	u.ServerName = ""
	if _, other, _ := UpstreamConfig(u); other == rotated {
		t.Fatal("server_name is not part of the key")
	}

	u.KeyFile = certFile // a certificate, not a key
	if _, _, err := UpstreamConfig(u); err == nil || !strings.Contains(err.Error(), "upstream_tls.cert_file") {
		t.Fatalf("bad pair: %v", err)
	}
}
