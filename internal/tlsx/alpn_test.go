package tlsx

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
)

// TestACMETLSALPN gets a certificate from pebble over TLS-ALPN-01 alone,
// as on a host whose port 80 is closed: pebble's VA handshakes with our
// https listener offering acme-tls/1, and the same listener then serves
// the issued certificate over h2. Pebble's HTTP-01 port leads to a server
// that counts what reaches it: nothing may.
func TestACMETLSALPN(t *testing.T) {
	httpsLn, err := net.Listen("tcp", "127.0.0.1:0") // before New, as the daemon binds it
	if err != nil {
		t.Fatal(err)
	}
	var httpHits atomic.Int32
	trap := &http.Server{ReadHeaderTimeout: 5 * time.Second, ErrorLog: discardLog,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { httpHits.Add(1); http.NotFound(w, r) })}
	trapLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		trap.Serve(trapLn)
	}()
	t.Cleanup(func() {
		trap.Close()
		<-served
	})
	p := startPebbleTLS(t, trapLn.Addr().(*net.TCPAddr).Port, httpsLn.Addr().(*net.TCPAddr).Port, startDNS(t, "app.test"))

	logger, logs := observedLogger()
	m := newManager(t, Options{
		TLS: config.TLS{Mode: "acme", CA: p.dirURL, CARoot: p.caRoot, MinVersion: "1.2",
			Challenges: []string{config.ChallengeTLSALPN01}},
		Hosts:       []string{"app.test"},
		HTTPSListen: httpsLn.Addr().String(),
		Logger:      logger,
	})
	addr := serveHTTPSOn(t, m, httpsLn)

	eventually(t, 30*time.Second, "a certificate from pebble", func() error {
		_, err := handshake(addr, "app.test", p.roots, 0)
		return err
	})
	alpn := logs.FilterMessage("served key authentication certificate").FilterField(zap.String("challenge", "tls-alpn-01")).Len()
	if alpn == 0 || httpHits.Load() != 0 {
		t.Errorf("TLS-ALPN-01 handshakes answered: %d, requests on the HTTP-01 port: %d; want some and none", alpn, httpHits.Load())
	}
	if body, _ := get(t, addr, "app.test", p.roots); body != "ok HTTP/2.0" {
		t.Errorf("body %q, want h2 after the challenge", body)
	}
	checkLocksReleased(t, m)
}
