package tlsx

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/switchd/switchd/internal/config"
)

// pebble is Let's Encrypt's test ACME server, run in-process the way its
// cmd/pebble assembles it.
type pebble struct {
	dirURL string         // the ACME directory
	caRoot string         // PEM file of the certificate the directory is served with
	roots  *x509.CertPool // pebble's root, which signs what it issues
}

// startPebble serves pebble over TLS on loopback. Its VA really does
// HTTP-01: it resolves names through the DNS server at dnsAddr and fetches
// http://<name>:<httpPort>/.well-known/acme-challenge/<token>.
func startPebble(t *testing.T, httpPort int, dnsAddr string) *pebble {
	t.Helper()
	return startPebbleTLS(t, httpPort, 0, dnsAddr)
}

// startPebbleTLS is startPebble whose VA does TLS-ALPN-01 too, handshaking
// with <name>:<tlsPort>.
func startPebbleTLS(t *testing.T, httpPort, tlsPort int, dnsAddr string) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // no random 0-5s wait before validating
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no deliberately refused nonces (5% by default)
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() && os.Getenv("PEBBLE_LOG") != "" {
		logger = log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "the default profile"},
	})
	validator := va.New(logger, httpPort, tlsPort, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	srv := httptest.NewUnstartedServer(front.Handler())
	srv.Config.ErrorLog = discardLog
	srv.StartTLS() // httptest's certificate, valid for 127.0.0.1
	t.Cleanup(srv.Close)

	caRoot := filepath.Join(t.TempDir(), "pebble-wfe.pem")
	if err := os.WriteFile(caRoot, pemCert(srv.Certificate()), 0o644); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(authority.GetRootCert(0).PEM()) {
		t.Fatal("pebble root: no certificate")
	}
	return &pebble{dirURL: srv.URL + wfe.DirectoryPath, caRoot: caRoot, roots: roots}
}

// startDNS answers A queries for names with 127.0.0.1, over TCP (pebble's
// VA asks over TCP), and everything else with no records.
func startDNS(t *testing.T, names ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			for _, n := range names {
				if q.Qtype == dns.TypeA && strings.EqualFold(q.Name, dns.Fqdn(n)) {
					m.Answer = append(m.Answer, &dns.A{
						Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
						A:   net.IPv4(127, 0, 0, 1),
					})
				}
			}
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{Listener: ln, Handler: mux}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.ActivateAndServe()
	}()
	<-started
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
	})
	return ln.Addr().String()
}

// TestACME gets a certificate from pebble over a real HTTP-01 challenge:
// pebble's VA fetches the token from our plain-HTTP listener, through
// HTTPHandler with redirect_http on, and the https listener then serves
// what pebble issued.
func TestACME(t *testing.T) {
	// The plain listener exists first, as in the daemon: certmagic's
	// solver then finds the port taken and leaves the answer to us.
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpPort := httpLn.Addr().(*net.TCPAddr).Port
	p := startPebble(t, httpPort, startDNS(t, "app.test", "other.test"))

	m := newManager(t, Options{
		TLS: config.TLS{
			Mode: "acme", CA: p.dirURL, CARoot: p.caRoot, Challenges: []string{"http-01"},
			MinVersion: "1.2", RedirectHTTP: true, HSTS: "max-age=300",
		},
		Hosts:       []string{"app.test"},
		HTTPListen:  httpLn.Addr().String(),
		HTTPSListen: "127.0.0.1:8443",
	})

	var challenges, toNext atomic.Int32
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		toNext.Add(1)
		http.NotFound(w, r)
	})
	count := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, acmeChallengePath) {
				challenges.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	}
	httpSrv := &http.Server{Handler: count(m.HTTPHandler(next)), ReadHeaderTimeout: 5 * time.Second, ErrorLog: discardLog}
	served := make(chan struct{})
	go func() {
		defer close(served)
		httpSrv.Serve(httpLn)
	}()
	t.Cleanup(func() {
		httpSrv.Close()
		<-served
	})
	addr := serveHTTPS(t, m)

	eventually(t, 30*time.Second, "a certificate from pebble", func() error {
		_, err := handshake(addr, "app.test", p.roots, 0)
		return err
	})
	// What Certificates reports is what the handshake got.
	leaf, err := handshake(addr, "app.test", p.roots, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("app.test acme %q %s; ", leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339))
	if got := certLine(m.Certificates()); got != want || !strings.Contains(got, "Pebble") {
		t.Errorf("Certificates\n got: %s\nwant: %s (issued by pebble)", got, want)
	}
	if challenges.Load() == 0 || toNext.Load() != 0 {
		t.Errorf("challenge requests: %d, passed on to next: %d; want them answered by HTTPHandler", challenges.Load(), toNext.Load())
	}
	body, h := get(t, addr, "app.test", p.roots)
	if body != "ok HTTP/2.0" || h.Get("Strict-Transport-Security") != "max-age=300" {
		t.Errorf("body %q, hsts %q", body, h.Get("Strict-Transport-Security"))
	}

	// A name that is not configured gets no certificate, even though
	// pebble would happily issue one.
	if _, err := handshake(addr, "other.test", nil, 0); err == nil {
		t.Error("handshake for an unconfigured name succeeded")
	}

	// Plain HTTP is redirected to the https port.
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DisableKeepAlives: true},
	}
	resp, err := client.Get("http://" + httpLn.Addr().String() + "/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://127.0.0.1:8443/x?y=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	checkLocksReleased(t, m)
}

// TestACMEUpdate adds a host on reload and checks that a change of CA is
// refused as needing a restart.
func TestACMEUpdate(t *testing.T) {
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := startPebble(t, httpLn.Addr().(*net.TCPAddr).Port, startDNS(t, "app.test", "new.test"))
	o := Options{
		TLS:        config.TLS{Mode: "acme", CA: p.dirURL, CARoot: p.caRoot, Challenges: []string{"http-01"}, MinVersion: "1.2"},
		Hosts:      []string{"app.test"},
		HTTPListen: httpLn.Addr().String(),
	}
	m := newManager(t, o)
	o.StateDir = m.stateDir
	httpSrv := &http.Server{Handler: m.HTTPHandler(http.NotFoundHandler()), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		httpSrv.Serve(httpLn)
	}()
	t.Cleanup(func() {
		httpSrv.Close()
		<-served
	})
	addr := serveHTTPS(t, m)

	if _, err := handshake(addr, "new.test", nil, 0); err == nil {
		t.Fatal("new.test served before it was configured")
	}
	o.Hosts = []string{"app.test", "new.test"}
	if err := m.Update(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a certificate for the added host", func() error {
		_, err := handshake(addr, "new.test", p.roots, 0)
		return err
	})

	other := o
	other.TLS.CA = "https://acme.example.com/directory"
	other.TLS.Email = "ops@example.com"
	other.TLS.Challenges = []string{"tls-alpn-01"}
	if err := m.Update(t.Context(), other); !errors.Is(err, ErrNeedsRestart) {
		t.Errorf("Update of tls.ca: %v, want ErrNeedsRestart", err)
	}
	r, keys := m.Reloadable(other)
	if strings.Join(keys, " ") != "tls.ca tls.email tls.challenges" {
		t.Errorf("Reloadable keys %q", keys)
	}
	if err := m.Update(t.Context(), r); err != nil {
		t.Errorf("Update(Reloadable(…)): %v", err)
	}
	other = o
	other.Hosts = []string{"*.test"}
	if err := m.Update(t.Context(), other); err == nil || !strings.Contains(err.Error(), "DNS challenge") {
		t.Errorf("Update with a wildcard: %v", err)
	}
	checkLocksReleased(t, m)
}

// checkLocksReleased closes m and checks that certmagic released its
// storage locks, which ends the goroutines that keep them fresh.
func checkLocksReleased(t *testing.T, m *Manager) {
	t.Helper()
	m.Close()
	locks := filepath.Join(m.stateDir, "tls", "locks")
	eventually(t, 5*time.Second, "storage locks released", func() error {
		entries, err := os.ReadDir(locks)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if len(entries) > 0 {
			return fmt.Errorf("%d lock files left in %s", len(entries), locks)
		}
		return nil
	})
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
