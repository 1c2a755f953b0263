package tlsx

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchd/switchd/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// certmagic keeps one rate limiter per CA and account in a package
		// map for the life of the process and never stops it (see
		// "TODO: stop rate limiter" in its acmeclient.go); Close cannot.
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop"),
		// certmagic refreshes a storage lock file every 5s from a goroutine
		// that exits at its next wake-up after the lock file is gone; it
		// cannot be woken sooner. The ACME tests check that Close leaves no
		// lock file behind, so these end on their own.
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
		// pebble's VA, the test CA, starts a task loop on a channel it
		// never closes and has no Stop.
		goleak.IgnoreTopFunction("github.com/letsencrypt/pebble/v2/va.VAImpl.processTasks"),
	)
}

// testPair is a self-signed certificate and its key, as PEM and parsed.
type testPair struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
}

// newPair makes a self-signed ECDSA certificate for names (DNS names or IPs).
func newPair(t testing.TB, names ...string) testPair {
	t.Helper()
	return newPairValid(t, time.Hour, names...)
}

// newPairValid is newPair valid for life from now.
func newPairValid(t testing.TB, life time.Duration, names ...string) testPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(life),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so that a client can trust it as its own root
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testPair{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		cert:    cert,
	}
}

// write puts the pair at certFile and keyFile the way tools replace files:
// a temporary file renamed over the old one.
func (p testPair) write(t testing.TB, certFile, keyFile string) {
	t.Helper()
	writeOver(t, keyFile, p.keyPEM)
	writeOver(t, certFile, p.certPEM)
}

func writeOver(t testing.TB, name string, data []byte) {
	t.Helper()
	tmp := name + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

func (p testPair) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.cert)
	return pool
}

func poolFromFile(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s holds no certificate", file)
	}
	return pool
}

// newManager starts a Manager and closes it at the end of the test.
func newManager(t *testing.T, o Options) *Manager {
	t.Helper()
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	if o.TLS.MinVersion == "" {
		o.TLS.MinVersion = "1.2"
	}
	m, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// serveHTTPS serves "ok" over m's TLS configuration on a loopback port, the
// way the daemon does, and returns the address.
func serveHTTPS(t *testing.T, m *Manager) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveHTTPSOn(t, m, ln)
}

// serveHTTPSOn is serveHTTPS on a listener bound before m was made, as the
// daemon binds it.
func serveHTTPSOn(t *testing.T, m *Manager, ln net.Listener) string {
	t.Helper()
	srv := &http.Server{
		Handler: m.WrapHTTPS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok "+r.Proto)
		})),
		TLSConfig:         m.TLSConfig(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          discardLog,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// handshake dials addr with TLS for serverName, trusting roots, and
// returns the certificate the server presented. maxVersion 0: any.
func handshake(addr, serverName string, roots *x509.CertPool, maxVersion uint16) (*x509.Certificate, error) {
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{
			ServerName: serverName,
			RootCAs:    roots,
			MaxVersion: maxVersion,
			NextProtos: []string{"h2", "http/1.1"},
			// With no roots: take whatever comes, to look at it.
			InsecureSkipVerify: roots == nil,
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0], nil
}

// get fetches https://serverName/ from addr, trusting roots.
func get(t *testing.T, addr, serverName string, roots *x509.CertPool) (string, http.Header) {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{ServerName: serverName, RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + serverName + "/")
	if err != nil {
		t.Fatalf("GET https://%s/ at %s: %v", serverName, addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body), resp.Header
}

// eventually retries f every 20ms until it returns nil or d has passed.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func observedLogger() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return zap.New(core), logs
}

func filesOptions(t testing.TB, certFile, keyFile string) Options {
	return Options{
		TLS:      config.TLS{Mode: "files", CertFile: certFile, KeyFile: keyFile, MinVersion: "1.2", RedirectHTTP: true},
		StateDir: t.TempDir(),
	}
}

func sameCert(a, b *x509.Certificate) error {
	if !a.Equal(b) {
		return fmt.Errorf("got certificate %q serial %v, want %q serial %v", a.Subject.CommonName, a.SerialNumber, b.Subject.CommonName, b.SerialNumber)
	}
	return nil
}

func tempFiles(t testing.TB) (certFile, keyFile string) {
	dir := t.TempDir()
	return filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}
