package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/testkit"
)

// mtlsUpstream is an https upstream that demands a client certificate from
// ca and whose own certificate names only "app.internal", not its address.
func mtlsUpstream(t *testing.T, ca *testkit.CA) *httptest.Server {
	t.Helper()
	certFile, keyFile := ca.ServerNamed(t, "app.internal")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	clients.AppendCertsFromPEM(pem)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clients}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestUpstreamClientCertificate: an https upstream that requires a client
// certificate fails its checks and answers 502 until a reload gives
// switchd one ([service.upstream_tls] cert_file, key_file), then answers
// 200, requests and checks alike; server_name is what lets switchd verify
// an upstream addressed by IP whose certificate names a DNS name.
func TestUpstreamClientCertificate(t *testing.T) {
	ca := testkit.NewCA(t, "upstream CA")
	up := mtlsUpstream(t, ca)
	clientCert, clientKey := ca.Client(t, "edge")
	dir := t.TempDir()
	conf := func(upstreamTLS string) string {
		return fmt.Sprintf(configHead+`[[service]]
name = "app"
  [service.blue]
  upstreams = [%q]
  [service.health]
  interval = "1s"
  timeout = "1s"
  rise = 1
  fall = 1
  [service.upstream_tls]
  ca_file = %q
%s`, dir, up.URL, ca.File, upstreamTLS)
	}
	noCert := "  server_name = \"app.internal\"\n"
	withCert := noCert + fmt.Sprintf("  cert_file = %q\n  key_file = %q\n", clientCert, clientKey)
	path := writeConfig(t, dir, conf(noCert))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	in := runConfig(t, cfg, zap.NewNop())

	// upstream returns the state of the one upstream once its last error
	// is the one wanted ("" for healthy).
	upstream := func(wantErr string) {
		t.Helper()
		var last control.Service
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			callAPI(t, "GET", in.control+"/v1/services/app", nil, &last)
			u := last.Pools["blue"].Upstreams[0]
			if wantErr == "" && u.State == "up" || wantErr != "" && u.State == "down" && strings.Contains(u.LastError, wantErr) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("want error %q; upstream %+v", wantErr, u)
			}
		}
	}
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Post(in.proxy+"/", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	reload := func(text string) {
		t.Helper()
		writeConfig(t, dir, text)
		if code := callAPI(t, "POST", in.control+"/v1/reload", nil, nil); code != 200 {
			t.Fatalf("POST /v1/reload: %d", code)
		}
	}

	// 1. No client certificate: the upstream refuses the handshake.
	upstream("certificate required")
	if code, body := get(); code != http.StatusBadGateway {
		t.Fatalf("without a client certificate: %d %q, want 502", code, body)
	}

	// 2. A reload adds one: checks pass and requests get through.
	reload(conf(withCert))
	upstream("")
	if code, body := get(); code != 200 || body != "hello edge" {
		t.Fatalf("with a client certificate: %d %q, want 200 \"hello edge\"", code, body)
	}

	// 3. Without server_name, the upstream's certificate does not name
	// the address switchd dials.
	reload(conf(strings.Replace(withCert, noCert, "", 1)))
	upstream("cannot validate certificate for 127.0.0.1")
	if code, body := get(); code != http.StatusBadGateway {
		t.Fatalf("without server_name: %d %q, want 502", code, body)
	}
}
