package tlsx

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
)

// certLine prints what Certificates says, for comparisons.
func certLine(cs []Certificate) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s %s %q %s; ", c.Host, c.Source, c.Issuer, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// TestCertificatesFiles: every configured host has the loaded pair, and a
// replaced pair shows as soon as it is served; without hosts, "*".
func TestCertificatesFiles(t *testing.T) {
	certFile, keyFile := tempFiles(t)
	first := newPairValid(t, time.Hour, "app.example.com")
	first.write(t, certFile, keyFile)
	o := filesOptions(t, certFile, keyFile)
	o.Hosts = []string{"app.example.com", "*.example.com"}
	m := newManager(t, o)
	at := func(p testPair) string { return p.cert.NotAfter.UTC().Format(time.RFC3339) }
	want := fmt.Sprintf(`app.example.com files "app.example.com" %s; *.example.com files "app.example.com" %s; `, at(first), at(first))
	if got := certLine(m.Certificates()); got != want {
		t.Fatalf("Certificates\n got: %s\nwant: %s", got, want)
	}

	second := newPairValid(t, 48*time.Hour, "app.example.com")
	second.write(t, certFile, keyFile)
	eventually(t, 5*time.Second, "the replaced pair's expiry", func() error {
		if got := m.Certificates()[0].NotAfter; !got.Equal(second.cert.NotAfter) {
			return fmt.Errorf("not after %s, want %s", got, second.cert.NotAfter)
		}
		return nil
	})

	o.Hosts = nil
	if err := m.Update(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if got, want := certLine(m.Certificates()), fmt.Sprintf(`* files "app.example.com" %s; `, at(second)); got != want {
		t.Fatalf("without hosts\n got: %s\nwant: %s", got, want)
	}
}

// TestCertificatesInternal: each configured host has the leaf its
// handshake gets, issued by the local CA.
func TestCertificatesInternal(t *testing.T) {
	m := newManager(t, internalOptions(t.TempDir(), "app.test", "*.apps.test"))
	addr := serveHTTPS(t, m)
	roots := poolFromFile(t, m.CAFile())
	served := map[string]string{}
	for host, name := range map[string]string{"app.test": "app.test", "*.apps.test": "a.apps.test"} {
		c, err := handshake(addr, name, roots, 0)
		if err != nil {
			t.Fatal(err)
		}
		served[host] = fmt.Sprintf("%s internal %q %s", host, c.Issuer.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	got := certLine(m.Certificates())
	if want := served["app.test"] + "; " + served["*.apps.test"] + "; "; got != want {
		t.Fatalf("Certificates\n got: %s\nwant: %s", got, want)
	}
	if !strings.Contains(got, `"switchd internal CA`) {
		t.Errorf("issuer: %s", got)
	}
}

// TestCertificatesOff: nothing to show.
func TestCertificatesOff(t *testing.T) {
	m := newManager(t, Options{TLS: config.TLS{Mode: "off", MinVersion: "1.2"}})
	if cs := m.Certificates(); cs != nil {
		t.Fatalf("mode off: %v", cs)
	}
}
