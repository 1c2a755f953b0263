package daemon

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/testkit"
)

// withControl adds lines to the [control] table of a config.
func withControl(text string, lines ...string) string {
	return strings.Replace(text, "[control]\n", "[control]\n"+strings.Join(lines, "\n")+"\n", 1)
}

// TestControlOverTLS: with tls_cert and tls_key the control API speaks
// TLS only, and switchctl reaches it with --cacert; with client_ca a
// connection without a client certificate gets nowhere, one with a
// certificate flips as its
// Common Name, with the role client_cert_role gives.
func TestControlOverTLS(t *testing.T) {
	ca := testkit.NewCA(t, "control CA")
	cert, key := ca.Server(t)
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	base := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green))

	t.Run("server certificate", func(t *testing.T) {
		in := startRun(t, withControl(base, fmt.Sprintf("tls_cert = %q\ntls_key = %q", cert, key)))
		addr := "https://" + strings.TrimPrefix(in.control, "http://")
		if code, out, errs := switchctl(t, addr, "--cacert", ca.File, "status"); code != 0 || !strings.Contains(out, "app") {
			t.Fatalf("status over TLS: %d %q %q", code, out, errs)
		}
		if code, _, errs := switchctl(t, addr, "status"); code != 1 || !strings.Contains(errs, "certificate") {
			t.Fatalf("without --cacert: %d %q, want 1 and a certificate error", code, errs)
		}
		if resp, err := http.Get(in.control + "/healthz"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Fatalf("plain HTTP answered 200 on the TLS listener: %s", body)
			}
		}
	})

	t.Run("client certificates", func(t *testing.T) {
		in := startRun(t, withControl(base, fmt.Sprintf("tls_cert = %q\ntls_key = %q\nclient_ca = %q\nclient_cert_role = \"operate\"", cert, key, ca.File)))
		addr := "https://" + strings.TrimPrefix(in.control, "http://")
		waitHealthyTLS(t, addr, ca)
		ccert, ckey := ca.Client(t, "deployer")
		code, out, errs := switchctl(t, addr, "--cacert", ca.File, "--cert", ccert, "--key", ckey, "flip", "--reason", "mtls")
		if code != 0 || !strings.Contains(out, "green") {
			t.Fatalf("flip with a client certificate: %d %q %q", code, out, errs)
		}
		code, out, errs = switchctl(t, addr, "--cacert", ca.File, "--cert", ccert, "--key", ckey, "--json", "status", "app")
		if code != 0 || !strings.Contains(out, `"changed_by": "deployer"`) {
			t.Fatalf("changed_by is not the certificate's name: %d %q %q", code, out, errs)
		}
		// TLS 1.3 reports the refused certificate after the handshake: the
		// client sees the alert, or a reset if the server's close comes
		// first, so the message varies; the outcome does not.
		code, _, errs = switchctl(t, addr, "--cacert", ca.File, "status")
		if code != 1 || !strings.Contains(errs, "cannot reach switchd") {
			t.Fatalf("without a client certificate: %d %q, want 1", code, errs)
		}
		code, _, errs = switchctl(t, addr, "--cacert", ca.File, "--cert", ccert, "--key", ckey, "reload")
		if code != 3 || !strings.Contains(errs, `certificate "deployer" has role operate`) {
			t.Fatalf("reload needs admin: %d %q", code, errs)
		}
	})
}

// waitHealthyTLS is waitHealthy for green through switchctl over TLS.
func waitHealthyTLS(t *testing.T, addr string, ca *testkit.CA) {
	t.Helper()
	c, k := ca.Client(t, "waiter")
	if code, _, errs := switchctl(t, addr, "--cacert", ca.File, "--cert", c, "--key", k, "wait", "app", "healthy", "green", "--timeout", "10s"); code != 0 {
		t.Fatalf("green never healthy: %d %q", code, errs)
	}
}

// TestControlEdgeAgainstDaemon: the running daemon refuses a cross-site
// text/plain flip and a foreign Host, limits bad tokens per source (429
// with Retry-After) and counts them in
// switchd_control_auth_failures_total, which /metrics serves untouched.
func TestControlEdgeAgainstDaemon(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	secret, err := control.AddToken(tokens, "deployer", control.RoleOperate)
	if err != nil {
		t.Fatal(err)
	}
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	in := startRun(t, withControl(fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)), fmt.Sprintf("tokens_file = %q", tokens)))

	send := func(method, path, host, ctype, token string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, in.control+path, nil)
		if host != "" {
			req.Host = host
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if code, _ := send("POST", "/v1/services/app/flip", "", "text/plain", secret); code != 415 {
		t.Errorf("text/plain flip: %d, want 415", code)
	}
	if code, _ := send("GET", "/v1/services", "evil.example", "", secret); code != 403 {
		t.Errorf("Host evil.example: %d, want 403", code)
	}
	if code, _ := send("GET", "/v1/services/app", "", "", ""); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	for i := range 9 { // with the missing token above, the burst of 10 failures
		if code, _ := send("GET", "/v1/services", "", "", "swd_guess"); code != 401 {
			t.Fatalf("bad token %d: %d", i+1, code)
		}
	}
	code, h := send("GET", "/v1/services", "", "", secret)
	if code != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d Retry-After %q, want 429 with it", code, h.Get("Retry-After"))
	}
	resp, err := http.Get(in.control + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for reason, n := range map[string]int{"invalid": 9, "rate_limited": 1, "missing": 1} {
		re := regexp.MustCompile(fmt.Sprintf(`(?m)^switchd_control_auth_failures_total\{reason="%s"\} %d$`, reason, n))
		if !re.Match(body) {
			t.Errorf("metrics lack auth failures %s = %d:\n%s", reason, n, grep(string(body), "auth_failures"))
		}
	}
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
