package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
)

// TestTLSInternal runs switchd with its own CA: https answers for the
// service's host over HTTP/2 with HSTS, plain HTTP redirects to https, and
// a flip moves https traffic like any other.
func TestTLSInternal(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	addrs, roots := startInternalTLS(t, addrOf(blue), addrOf(green))
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "app.test"},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addrs.HTTPS.String())
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func() *http.Response {
		resp, err := client.Get("https://app.test/")
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get()
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "blue" || resp.ProtoMajor != 2 || resp.Header.Get("Strict-Transport-Security") != "max-age=600" {
		t.Fatalf("https: %q over %s, HSTS %q", b, resp.Proto, resp.Header.Get("Strict-Transport-Security"))
	}

	// The status and the expiry metric name the certificate just served.
	ctl := "http://" + addrs.Control.String()
	leaf := resp.TLS.PeerCertificates[0]
	var st control.Status
	if code := callAPI(t, "GET", ctl+"/v1/status", nil, &st); code != 200 || len(st.TLS) != 1 {
		t.Fatalf("GET /v1/status: %d, tls %+v", code, st.TLS)
	}
	if c := st.TLS[0]; c.Host != "app.test" || c.Source != "internal" || c.Issuer != leaf.Issuer.CommonName ||
		c.NotAfter == nil || !c.NotAfter.Equal(leaf.NotAfter) {
		t.Fatalf("status tls %+v, want app.test internal %q %s", c, leaf.Issuer.CommonName, leaf.NotAfter)
	}
	if v := metric(t, ctl, `switchd_tls_cert_expiry_timestamp_seconds{host="app.test"}`); v == "" || mustFloat(t, v) != float64(leaf.NotAfter.Unix()) {
		t.Fatalf("expiry metric %q, want %d", v, leaf.NotAfter.Unix())
	}

	waitHealthy(t, ctl, "green")
	flip(t, ctl)
	resp = get() // the same HTTP/2 connection: the very next request moves
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "green" {
		t.Fatalf("https after the flip: %q", b)
	}

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+addrs.Proxy.String()+"/x?y=1", nil)
	req.Host = "app.test"
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := net.SplitHostPort(addrs.HTTPS.String())
	if want := "https://app.test:" + port + "/x?y=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("plain HTTP: %d Location %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// An unknown name gets no certificate.
	c, err := tls.Dial("tcp", addrs.HTTPS.String(), &tls.Config{RootCAs: roots, ServerName: "evil.test"})
	if err == nil {
		c.Close()
		t.Fatal("handshake for a name no service has succeeded")
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// startInternalTLS runs switchd in-process with TLS mode internal (HSTS
// max-age=600) for app.test, blue and green as given, until the test ends.
// It returns the bound addresses and a pool trusting switchd's local CA.
func startInternalTLS(t *testing.T, blue, green string) (Addrs, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf(baseConfig, dir, blue, green)
	text = strings.Replace(text, "[server]\n", "[server]\nhttps_listen = \"127.0.0.1:0\"\n", 1)
	text = withAppHost(text, "app.test") + "\n[tls]\nmode = \"internal\"\nhsts = \"max-age=600\"\n"
	cfg, err := config.Parse([]byte(text), "tls.toml")
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := net.Listen("tcp", "127.0.0.1:0")
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	cl, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan Addrs, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Logger: zap.NewNop(), Version: "test",
			ProxyListener: pl, HTTPSListener: hl, ControlListener: cl, Ready: func(a Addrs) { ready <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var addrs Addrs
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("did not start")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "tls", "internal", "ca.crt"))
	if err != nil {
		t.Fatalf("internal CA certificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return addrs, roots
}
