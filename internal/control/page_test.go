package control

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// getPage fetches GET / with the headers hdr (name, value, …).
func getPage(t *testing.T, f *fixture, method string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header
}

var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
var inlineStyle = regexp.MustCompile(`(?s)<style>(.*?)</style>`)

// TestStatusPage: GET / is an HTML page of every service (active colour,
// generation, pools, events) under a policy that allows exactly its own
// inline script and style, and it shows a flip on the next load.
func TestStatusPage(t *testing.T) {
	broker := NewBroker()
	t.Cleanup(broker.Close)
	f := newFixture(t, fixtureOptions{edit: func(o *Options) { o.Events = broker }})
	broker.Publish(Event{Type: "health", Service: "app", Color: "green", Upstream: greenAddrs[0], State: "down", Detail: "connection <refused>"})

	code, body, h := getPage(t, f, "GET")
	if code != 200 || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q\n%s", code, h.Get("Content-Type"), body)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows inline code wholesale", csp)
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", h)
	}
	// The page's own script and style, byte for byte, are what the policy's
	// hashes allow: a template change that altered them would leave a page
	// whose script the browser refuses to run.
	for _, tc := range []struct {
		re        *regexp.Regexp
		directive string
	}{{inlineScript, "script-src"}, {inlineStyle, "style-src"}} {
		m := tc.re.FindAllStringSubmatch(body, -1)
		if len(m) != 1 {
			t.Fatalf("%d inline %s elements", len(m), tc.directive)
		}
		if want := tc.directive + " '" + cspHash(m[0][1]) + "'"; !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for _, want := range []string{`data-service="app" data-active="blue" data-generation="0"`, blueAddrs[0], greenAddrs[1],
		"down: connection &lt;refused&gt;", `class="pool blue is-active"`, `class="pool green"`, `data-role="source"`, "from config"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	if code, b := f.do(t, "POST", "/v1/services/app/flip", `{"reason":"test"}`); code != 200 {
		t.Fatalf("flip: %d %s", code, b)
	}
	_, body, _ = getPage(t, f, "GET")
	if !strings.Contains(body, `data-active="green" data-generation="1"`) {
		t.Errorf("after the flip the page does not show green at generation 1:\n%s", body)
	}
	if code, b, _ := getPage(t, f, "POST", "Content-Type", "application/json"); code != 405 {
		t.Errorf("POST /: %d %s", code, b)
	}
	code, b := f.do(t, "GET", "/v1/nothing", "")
	wantError(t, code, b, 404, CodeNotFound, "no endpoint /v1/nothing")
	// What a browser sends when the page is opened (address bar) and when
	// its script refetches it; a page elsewhere is refused.
	for _, tc := range []struct {
		site string
		want int
	}{{"none", 200}, {"same-origin", 200}, {"cross-site", 403}} {
		if code, _, _ := getPage(t, f, "GET", "Sec-Fetch-Site", tc.site, "Sec-Fetch-Mode", "navigate"); code != tc.want {
			t.Errorf("Sec-Fetch-Site %s: %d, want %d", tc.site, code, tc.want)
		}
	}
}

// TestStatusPageBasicAuth: with tokens, a browser gets a Basic challenge
// for the page and may send the token as the password; such credentials
// read, never change.
func TestStatusPageBasicAuth(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	deployer, err := AddToken(file, "deployer", RoleOperate)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, fixtureOptions{tokens: toks, reload: func(context.Context) error { return nil }})
	code, _, h := getPage(t, f, "GET")
	if code != 401 || !strings.Contains(strings.Join(h.Values("WWW-Authenticate"), "\n"), `Basic realm="switchd"`) {
		t.Fatalf("GET / without a token: %d, WWW-Authenticate %q", code, h.Values("WWW-Authenticate"))
	}
	basic := func(user, pw string) []string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pw)
		return []string{"Authorization", req.Header.Get("Authorization")}
	}
	if code, body, _ := getPage(t, f, "GET", basic("anyone", deployer)...); code != 200 || !strings.Contains(body, `data-active="blue"`) {
		t.Fatalf("GET / with the token as Basic password: %d", code)
	}
	if code, _, _ := getPage(t, f, "GET", basic("deployer", "swd_wrong")...); code != 401 {
		t.Fatalf("wrong Basic password: %d", code)
	}
	code, body := f.do(t, "POST", "/v1/services/app/flip", "", basic("x", deployer)...)
	wantError(t, code, body, 403, CodeForbidden, `token "deployer" has role read; this needs operate`)
	if code, body := f.do(t, "POST", "/v1/services/app/flip", "", "Authorization", "Bearer "+deployer); code != 200 {
		t.Fatalf("the same token as Bearer: %d %s", code, body)
	}
}

// TestBrokerRecent: newest first, also once the ring has wrapped.
func TestBrokerRecent(t *testing.T) {
	b := NewBroker()
	defer b.Close()
	if got := b.Recent(5); len(got) != 0 {
		t.Fatalf("empty broker: %v", got)
	}
	var last []uint64
	for i := 0; i < ringSize+3; i++ {
		last = append(last, b.Publish(Event{Type: "health"}).ID)
	}
	got := b.Recent(4)
	if len(got) != 4 {
		t.Fatalf("%d events", len(got))
	}
	for i, e := range got {
		if want := last[len(last)-1-i]; e.ID != want {
			t.Errorf("Recent[%d] = %d, want %d", i, e.ID, want)
		}
	}
	if n := len(b.Recent(ringSize * 2)); n != ringSize {
		t.Errorf("Recent(2×ring): %d events, want %d", n, ringSize)
	}
}
