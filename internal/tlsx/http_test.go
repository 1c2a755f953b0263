package tlsx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchd/switchd/internal/config"
)

// nextHandler answers 299 "next", so tests can tell it from a redirect.
var nextHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(299)
	w.Write([]byte("next"))
})

func TestHTTPHandlerRedirects(t *testing.T) {
	for _, tt := range []struct {
		name, httpsListen, method, target, host string
		wantCode                                int
		wantLocation                            string
	}{
		{"default port", ":443", "GET", "/a/b?x=1&y=%20z", "app.example.com",
			308, "https://app.example.com/a/b?x=1&y=%20z"},
		{"other port", "0.0.0.0:8443", "GET", "/a?q", "app.example.com",
			308, "https://app.example.com:8443/a?q"},
		{"client port dropped", ":443", "HEAD", "/", "app.example.com:8080",
			308, "https://app.example.com/"},
		{"post keeps its method", ":443", "POST", "/form", "app.example.com",
			308, "https://app.example.com/form"},
		{"escaped path kept", ":443", "GET", "/a%2Fb/%E2%82%AC", "app.example.com",
			308, "https://app.example.com/a%2Fb/%E2%82%AC"},
		{"ipv6", "[::]:8443", "GET", "/", "[::1]:8080",
			308, "https://[::1]:8443/"},
		{"ipv6 default port", "[::]:443", "GET", "/", "[::1]",
			308, "https://[::1]/"},
		{"no https_listen", "", "GET", "/", "app.example.com",
			308, "https://app.example.com/"},
		{"acme challenge path", ":443", "GET", "/.well-known/acme-challenge/abc", "app.example.com",
			299, ""},
		{"no host", ":443", "GET", "/", "",
			400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := newManager(t, Options{
				TLS:         config.TLS{Mode: "internal", RedirectHTTP: true},
				Hosts:       []string{"app.example.com"},
				StateDir:    dir,
				HTTPSListen: tt.httpsListen,
			})
			req := httptest.NewRequest(tt.method, "http://placeholder"+tt.target, strings.NewReader("body"))
			req.Host = tt.host
			rec := httptest.NewRecorder()
			m.HTTPHandler(nextHandler).ServeHTTP(rec, req)
			if rec.Code != tt.wantCode {
				t.Errorf("status %d, want %d", rec.Code, tt.wantCode)
			}
			if got := rec.Header().Get("Location"); got != tt.wantLocation {
				t.Errorf("Location %q, want %q", got, tt.wantLocation)
			}
		})
	}
}

func TestHTTPHandlerPassesThrough(t *testing.T) {
	for _, tt := range []struct {
		name string
		tls  config.TLS
	}{
		{"redirect_http off", config.TLS{Mode: "internal", RedirectHTTP: false}},
		{"tls off", config.TLS{Mode: "off", RedirectHTTP: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, Options{TLS: tt.tls, Hosts: []string{"app.example.com"}})
			rec := httptest.NewRecorder()
			m.HTTPHandler(nextHandler).ServeHTTP(rec, httptest.NewRequest("GET", "http://app.example.com/x", nil))
			if rec.Code != 299 || rec.Body.String() != "next" {
				t.Errorf("got %d %q, want next", rec.Code, rec.Body)
			}
		})
	}
}

func TestHTTPHandlerFollowsUpdate(t *testing.T) {
	o := Options{TLS: config.TLS{Mode: "internal", RedirectHTTP: true}, Hosts: []string{"app.example.com"}, HTTPSListen: ":443"}
	m := newManager(t, o)
	h := m.HTTPHandler(nextHandler)
	o.StateDir = m.stateDir
	o.TLS.MinVersion = "1.2"
	o.TLS.RedirectHTTP = false
	if err := m.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://app.example.com/x", nil))
	if rec.Code != 299 {
		t.Errorf("status %d after redirect_http = false", rec.Code)
	}
}

func TestWrapHTTPS(t *testing.T) {
	o := Options{TLS: config.TLS{Mode: "internal", HSTS: "max-age=31536000; includeSubDomains"}, Hosts: []string{"app.example.com"}}
	m := newManager(t, o)
	h := m.WrapHTTPS(nextHandler)
	hsts := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "https://app.example.com/", nil))
		if rec.Code != 299 {
			t.Errorf("status %d, want next's", rec.Code)
		}
		return rec.Header().Get("Strict-Transport-Security")
	}
	if got := hsts(); got != "max-age=31536000; includeSubDomains" {
		t.Errorf("Strict-Transport-Security %q", got)
	}

	o.StateDir = m.stateDir
	o.TLS.MinVersion = "1.2"
	o.TLS.HSTS = ""
	if err := m.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if got := hsts(); got != "" {
		t.Errorf("Strict-Transport-Security %q after hsts = \"\"", got)
	}
}
