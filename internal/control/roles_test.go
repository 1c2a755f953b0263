package control

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/testkit"
)

// TestRoleMatrix: role × credential × endpoint. Tokens over plain HTTP;
// client certificates over real TLS with client_ca (their name's line in
// the tokens file gives the role, else ClientCertRole); a bearer token
// sent with a certificate decides. It logs the matrix as a table.
func TestRoleMatrix(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	secrets := map[string]string{}
	for _, nr := range []struct {
		name string
		role Role
	}{{"viewer", RoleRead}, {"deployer", RoleOperate}, {"root", RoleAdmin}} {
		s, err := AddToken(file, nr.name, nr.role)
		if err != nil {
			t.Fatal(err)
		}
		secrets[nr.name] = s
	}
	toks, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	ca := testkit.NewCA(t, "test control CA")
	serverCert, serverKey := ca.Server(t)
	tlsCfg, err := TLSConfig(serverCert, serverKey, ca.File)
	if err != nil {
		t.Fatal(err)
	}
	lvl := zap.NewAtomicLevel()
	opts := func(tokens *Tokens, serve func(http.Handler) *httptest.Server) fixtureOptions {
		return fixtureOptions{tokens: tokens, level: &lvl, reload: func(context.Context) error { return nil }, serve: serve,
			edit: func(o *Options) {
				o.ClientCertRole = RoleRead
				o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]int{}) })
			}}
	}
	plain := newFixture(t, opts(toks, nil))
	open := newFixture(t, opts(nil, nil))
	mtls := newFixture(t, opts(toks, func(h http.Handler) *httptest.Server {
		s := httptest.NewUnstartedServer(h)
		s.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake refused below
		s.TLS = tlsCfg
		s.StartTLS()
		return s
	}))
	for _, f := range []*fixture{plain, open, mtls} {
		f.api.limiter = newFailLimiter(failEvery, 1000, maxSources) // this test is about roles
	}
	roots := x509.NewCertPool()
	caPEM, _ := os.ReadFile(ca.File)
	roots.AppendCertsFromPEM(caPEM)
	certClient := func(cn string) *http.Client {
		c, k := ca.Client(t, cn)
		pair, err := tls.LoadX509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}

	type cred struct {
		name  string
		f     *fixture
		hc    *http.Client
		token string
		role  Role // what it may do
	}
	creds := []cred{
		{"none (no tokens_file)", open, nil, "", RoleAdmin},
		{"none", plain, nil, "", RoleNone},
		{"bad token", plain, nil, "swd_guess", RoleNone},
		{"read token", plain, nil, secrets["viewer"], RoleRead},
		{"operate token", plain, nil, secrets["deployer"], RoleOperate},
		{"admin token", plain, nil, secrets["root"], RoleAdmin},
		{"cert CN=deployer (tokens line operate)", mtls, certClient("deployer"), "", RoleOperate},
		{"cert CN=stranger (client_cert_role read)", mtls, certClient("stranger"), "", RoleRead},
		{"cert CN=stranger + admin token", mtls, certClient("stranger"), secrets["root"], RoleAdmin},
		{"cert CN=root + bad token", mtls, certClient("root"), "swd_guess", RoleNone},
	}
	endpoints := []struct {
		method, path, body string
		need               Role
	}{
		{"GET", "/healthz", "", RoleNone},
		{"GET", "/metrics", "", RoleNone},
		{"GET", "/v1/services", "", RoleRead},
		{"GET", "/v1/services/app", "", RoleRead},
		{"GET", "/v1/services/app/wait?until=healthy:blue&timeout=1s", "", RoleRead},
		{"GET", "/v1/log/level", "", RoleRead},
		{"POST", "/v1/services/app/flip", "", RoleOperate},
		{"POST", "/v1/services/app/activate", `{"color":"blue"}`, RoleOperate},
		{"POST", "/v1/services/app/rollback", "", RoleOperate},
		{"POST", "/v1/reload", "", RoleAdmin},
		{"PUT", "/v1/log/level", `{"level":"info"}`, RoleAdmin},
	}
	var table strings.Builder
	table.WriteString("| credential |")
	for _, ep := range endpoints {
		fmt.Fprintf(&table, " %s %s (%s) |", ep.method, strings.SplitN(ep.path, "?", 2)[0], ep.need)
	}
	table.WriteString("\n|---|" + strings.Repeat("---|", len(endpoints)) + "\n")
	for _, c := range creds {
		fmt.Fprintf(&table, "| %s |", c.name)
		for _, ep := range endpoints {
			hc := c.hc
			if hc == nil {
				hc = c.f.srv.Client()
			}
			code := call(t, hc, ep.method, c.f.srv.URL+ep.path, ep.body, c.token)
			allowed := c.role >= ep.need
			refused := code == 401 || code == 403
			if allowed == refused || code == 429 || code >= 500 {
				t.Errorf("%s: %s %s: %d, allowed %v", c.name, ep.method, ep.path, code, allowed)
			}
			mark := "✓"
			if refused {
				mark = "✗"
			}
			fmt.Fprintf(&table, " %s %d |", mark, code)
		}
		table.WriteString("\n")
	}
	t.Logf("role matrix (✓ allowed, ✗ refused):\n%s", table.String())

	// Over the TLS listener with client_ca, no certificate: no connection.
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	if resp, err := noCert.Get(mtls.srv.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("no client certificate: %s, want a failed handshake", resp.Status)
	}
	noCert.CloseIdleConnections()
}

func call(t *testing.T, hc *http.Client, method, url, body, token string) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	if method != "GET" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
