package control

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCrossSiteMutationsRefused: what a web page can make a browser send
// without a preflight — a text/plain POST, or any request with Origin or a
// cross-site Sec-Fetch-Site — is refused for flip, rollback, a forced
// activate and reload, and nothing changes. With no tokens (the default on
// loopback) all of these used to answer 200.
func TestCrossSiteMutationsRefused(t *testing.T) {
	var reloads atomic.Int32
	f := newFixture(t, fixtureOptions{reload: func(context.Context) error { reloads.Add(1); return nil }})
	if code, body := f.do(t, "POST", "/v1/services/app/flip", ""); code != 200 { // so that rollback has a previous colour
		t.Fatalf("setup flip: %d %s", code, body)
	}
	before := f.record(t)
	browser := map[string][]string{
		"text/plain form":        {"Content-Type", "text/plain"},
		"form-urlencoded":        {"Content-Type", "application/x-www-form-urlencoded"},
		"no Content-Type":        {"Content-Type", ""},
		"json with Origin":       {"Origin", "https://evil.example"},
		"json with Origin null":  {"Origin", "null"},
		"Sec-Fetch-Site cross":   {"Sec-Fetch-Site", "cross-site"},
		"Sec-Fetch-Site sibling": {"Sec-Fetch-Site", "same-site"},
		"text/plain with Origin": {"Content-Type", "text/plain", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"},
	}
	for _, ep := range []struct{ path, body string }{
		{"/v1/services/app/flip", `{"force":true}`},
		{"/v1/services/app/rollback", ""},
		{"/v1/services/app/activate", `{"color":"blue","force":true}`},
		{"/v1/reload", ""},
	} {
		for name, hdr := range browser {
			code, body := f.do(t, "POST", ep.path, ep.body, hdr...)
			want, wantCode := 403, CodeForbiddenOrigin
			if hdr[0] == "Content-Type" && len(hdr) == 2 {
				want, wantCode = 415, CodeUnsupportedMediaType
			}
			t.Run(strings.TrimPrefix(ep.path, "/v1/")+"/"+name, func(t *testing.T) {
				wantError(t, code, body, want, wantCode, "")
			})
		}
	}
	if after := f.record(t); !reflect.DeepEqual(after, before) {
		t.Fatalf("state changed by refused requests: %+v -> %+v", before, after)
	}
	if n := reloads.Load(); n != 0 {
		t.Fatalf("%d reloads through refused requests", n)
	}
	// switchctl's own requests pass: JSON, Sec-Fetch-Site none (a typed URL).
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON"} {
		if code, body := f.do(t, "POST", "/v1/reload", "", "Content-Type", ct, "Sec-Fetch-Site", "none"); code != 200 {
			t.Errorf("reload with %q: %d %s", ct, code, body)
		}
	}
}

// TestForeignHostRefused: a Host that is not ours (DNS rebinding) is
// refused for reads and writes, /metrics and /healthz included; loopback
// names, loopback IPs and Options.Hosts are accepted with any port.
func TestForeignHostRefused(t *testing.T) {
	f := newFixture(t, fixtureOptions{edit: func(o *Options) {
		o.Hosts = []string{"switchd.internal"}
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]int{}) })
	}})
	before := f.record(t)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/services"}, {"GET", "/v1/services/app"}, {"GET", "/healthz"}, {"GET", "/metrics"},
		{"POST", "/v1/services/app/flip"}, {"POST", "/v1/services/app/activate"},
	} {
		for _, host := range []string{"evil.example", "evil.example:" + port(f), "127.0.0.1.evil.example", "localhost.evil.example"} {
			code, body := f.do(t, tc.method, tc.path, `{"color":"green"}`, "Host", host)
			wantError(t, code, body, 403, CodeForbiddenOrigin, "")
		}
	}
	if after := f.record(t); !reflect.DeepEqual(after, before) {
		t.Fatalf("state changed: %+v -> %+v", before, after)
	}
	for _, host := range []string{"localhost", "localhost:" + port(f), "LOCALHOST.:1", "127.0.0.1", "127.9.9.9:80", "[::1]:9180", "switchd.internal:9180"} {
		if code, body := f.do(t, "GET", "/v1/services", "", "Host", host); code != 200 {
			t.Errorf("Host %q: %d %s", host, code, body)
		}
	}
}

func port(f *fixture) string {
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(f.srv.URL, "http://"))
	return p
}

// TestHostAllowed: the address a connection arrived at is accepted as
// Host (a scrape by IP), any Host on a unix socket (no browser reaches
// one), nothing else.
func TestHostAllowed(t *testing.T) {
	s := New(Options{Hosts: []string{"edge1.example.com"}})
	public := &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 9180}
	unix := &net.UnixAddr{Name: "/run/switchd/control.sock", Net: "unix"}
	for _, tc := range []struct {
		local net.Addr
		host  string
		want  bool
	}{
		{public, "10.0.0.5:9180", true},
		{public, "10.0.0.5", true},
		{public, "[::ffff:10.0.0.5]:9180", true},
		{public, "10.0.0.6:9180", false},
		{public, "edge1.example.com:9180", true},
		{public, "Edge1.Example.com.", true},
		{public, "evil.example", false},
		{public, "", false},
		{public, "localhost:9180", true},
		{nil, "10.0.0.5", false},
		{unix, "evil.example", true},
		{unix, "", true},
	} {
		r := httptest.NewRequest("GET", "/healthz", nil)
		r.Host = tc.host
		if tc.local != nil {
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, tc.local))
		}
		if got := s.hostAllowed(r); got != tc.want {
			t.Errorf("Host %q on %v: %v, want %v", tc.host, tc.local, got, tc.want)
		}
	}
}
