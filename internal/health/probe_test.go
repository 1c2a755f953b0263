package health

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		in           string
		scheme, host string
		bad          bool
	}{
		{in: "10.0.0.1:8080", scheme: "http", host: "10.0.0.1:8080"},
		{in: "app.internal:80", scheme: "http", host: "app.internal:80"},
		{in: "http://10.0.0.1:8080", scheme: "http", host: "10.0.0.1:8080"},
		{in: "https://10.0.0.1:8443", scheme: "https", host: "10.0.0.1:8443"},
		{in: "HTTPS://[::1]:8443/", scheme: "https", host: "[::1]:8443"},
		{in: "App.Internal:0080", scheme: "http", host: "app.internal:80"},
		{in: "", bad: true},
		{in: "ftp://10.0.0.1:21", bad: true},
		{in: "http://10.0.0.1:8080/app", bad: true},
		{in: "http://", bad: true},
	}
	for _, tt := range tests {
		scheme, host, err := config.SplitUpstream(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("parseUpstream(%q) = %q, %q; want an error", tt.in, scheme, host)
			}
			continue
		}
		if err != nil || scheme != tt.scheme || host != tt.host {
			t.Errorf("parseUpstream(%q) = %q, %q, %v; want %q, %q", tt.in, scheme, host, err, tt.scheme, tt.host)
		}
	}
}

func TestProbe(t *testing.T) {
	const timeout = 150 * time.Millisecond
	tests := []struct {
		name    string
		handler http.HandlerFunc
		spec    func(*probeSpec)
		want    string // "" for a pass
	}{
		{name: "200 passes", handler: status(200)},
		{name: "204 passes", handler: status(204)},
		{name: "399 passes", handler: status(399)},
		{name: "503 fails", handler: status(503), want: "status 503, want 200-399"},
		{name: "404 fails", handler: status(404), want: "status 404, want 200-399"},
		{
			name:    "redirect is a result, not followed",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) },
		},
		{
			name:    "redirect out of range fails",
			handler: func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) },
			spec:    func(s *probeSpec) { s.expect = config.StatusRange{Min: 200, Max: 200} },
			want:    "status 302, want 200",
		},
		{
			name:    "one-code range",
			handler: status(200),
			spec:    func(s *probeSpec) { s.expect = config.StatusRange{Min: 204, Max: 204} },
			want:    "status 200, want 204",
		},
		{
			name:    "wide range",
			handler: status(404),
			spec:    func(s *probeSpec) { s.expect = config.StatusRange{Min: 200, Max: 499} },
		},
		{
			name: "request shape",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.Path != "/ready" || r.Host != "app.example.com" ||
					r.UserAgent() != "switchd-health/1" || r.Header.Get("Accept-Encoding") != "" {
					w.WriteHeader(400)
				}
			},
			spec: func(s *probeSpec) {
				s.host = "app.example.com"
				s.url = strings.Replace(s.url, "/healthz", "/ready", 1)
			},
		},
		{
			name: "big body is cut at the limit",
			handler: func(w http.ResponseWriter, r *http.Request) {
				chunk := make([]byte, 32<<10)
				for range 64 { // 2 MiB, far over the limit
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			},
		},
		{
			name:    "hung",
			handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			want:    "timeout after 150ms",
		},
		{
			name: "hung mid-body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("ok"))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			},
			want: "reading body: timeout after 150ms",
		},
		{
			name: "status wins over body error",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(500)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			},
			want: "status 500, want 200-399",
		},
		{
			name: "connection closed without answer",
			handler: func(w http.ResponseWriter, r *http.Request) {
				c, _, _ := w.(http.Hijacker).Hijack()
				c.Close()
			},
			want: "connection closed by upstream",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			client, tr := newProbeClient(nil)
			defer tr.CloseIdleConnections()
			s := probeSpec{url: srv.URL + "/healthz", timeout: timeout, expect: config.DefaultHealthExpect, client: client}
			if tt.spec != nil {
				tt.spec(&s)
			}
			start := time.Now()
			err := probe(context.Background(), &s)
			if took := time.Since(start); took > timeout+time.Second {
				t.Errorf("probe took %v with timeout %v", took, timeout)
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("probe = %q, want %q", got, tt.want)
			}
		})
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

func TestProbeConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	client, tr := newProbeClient(nil)
	defer tr.CloseIdleConnections()
	err = probe(context.Background(), &probeSpec{url: "http://" + addr + "/healthz", timeout: time.Second, expect: config.DefaultHealthExpect, client: client})
	if err == nil || err.Error() != "connection refused" {
		t.Fatalf("probe = %v, want connection refused", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("%v does not wrap ECONNREFUSED", err)
	}
}

func TestProbeBadAddress(t *testing.T) {
	w := wantFor(&config.Service{Name: "app"}, config.Blue, "ftp://10.0.0.1:21", nil)
	err := probe(context.Background(), &w.spec)
	if err == nil || !strings.Contains(err.Error(), `upstream "ftp://10.0.0.1:21": scheme "ftp" is not http or https`) {
		t.Fatalf("probe = %v", err)
	}
}

func TestWantForDefaults(t *testing.T) {
	tests := []struct {
		name  string
		svc   config.Service
		addr  string
		wantU string
		wantH string
	}{
		{"zero health", config.Service{Name: "app"}, "10.0.0.1:80", "http://10.0.0.1:80/healthz", ""},
		{"first host", config.Service{Name: "app", Hosts: []string{"app.example.com", "b.example.com"}}, "https://10.0.0.1:443", "https://10.0.0.1:443/healthz", "app.example.com"},
		{"wildcard host is no host", config.Service{Name: "app", Hosts: []string{"*.example.com"}}, "10.0.0.1:80", "http://10.0.0.1:80/healthz", ""},
		{"explicit host wins", config.Service{Name: "app", Hosts: []string{"a"}, Health: config.Health{Host: "check.local", Path: "ready"}}, "10.0.0.1:80", "http://10.0.0.1:80/ready", "check.local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wantFor(&tt.svc, config.Blue, tt.addr, nil)
			if w.rise != 2 || w.fall != 2 || w.spec.interval != time.Second || w.spec.timeout != 500*time.Millisecond ||
				w.spec.expect != config.DefaultHealthExpect || w.spec.url != tt.wantU || w.spec.host != tt.wantH {
				t.Fatalf("want %+v spec %+v", w, w.spec)
			}
		})
	}
}

func TestJittered(t *testing.T) {
	tests := []struct {
		d    time.Duration
		u    float64
		want time.Duration
	}{
		{time.Second, 0, 900 * time.Millisecond},
		{time.Second, 0.25, 950 * time.Millisecond},
		{time.Second, 0.5, time.Second},
		{time.Second, 0.75, 1050 * time.Millisecond},
		{10 * time.Second, 0, 9 * time.Second},
		{100 * time.Millisecond, 0.5, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := jittered(tt.d, tt.u); got != tt.want {
			t.Errorf("jittered(%v, %v) = %v, want %v", tt.d, tt.u, got, tt.want)
		}
	}
	if got := jittered(time.Second, 0.9999999); got >= 1100*time.Millisecond || got < 1099*time.Millisecond {
		t.Errorf("jittered(1s, ~1) = %v, want just under 1.1s", got)
	}
}

// TestJitterSpread checks the real source: every draw within ±10%, spread
// over the whole band, centred, and different round to round.
func TestJitterSpread(t *testing.T) {
	const n = 20000
	lo, hi, sum := time.Hour, time.Duration(0), 0.0
	seen := map[time.Duration]bool{}
	for range n {
		d := jitter(time.Second)
		if d < 900*time.Millisecond || d >= 1100*time.Millisecond {
			t.Fatalf("jitter(1s) = %v, outside ±10%%", d)
		}
		lo, hi = min(lo, d), max(hi, d)
		sum += d.Seconds()
		seen[d] = true
	}
	if lo > 905*time.Millisecond || hi < 1095*time.Millisecond {
		t.Errorf("jitter(1s) spans only %v..%v", lo, hi)
	}
	if mean := sum / n; mean < 0.995 || mean > 1.005 {
		t.Errorf("mean jitter(1s) = %.4fs, want 1s", mean)
	}
	if len(seen) < n/2 {
		t.Errorf("only %d distinct waits in %d draws", len(seen), n)
	}
}

func TestMonitorHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(status(200))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted client's handshake errors are expected
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := srv.URL // https://127.0.0.1:port

	h := fast()
	h.Timeout = config.Duration(3 * time.Second) // RSA handshakes are slow under -race
	trusted := service("app", h, []string{addr}, nil)
	trusted.UpstreamTLS.CAFile = ca
	untrusted := service("other", h, []string{addr}, nil)

	m := newMonitor(t, Options{})
	mustSync(t, m, trusted, untrusted)
	waitState(t, m.Target("app", addr), Up, 5*time.Second)
	bad := m.Target("other", addr)
	waitState(t, bad, Down, 5*time.Second)
	if e := bad.Status().LastError; !strings.Contains(e, "certificate") || strings.Contains(e, "Get ") {
		t.Fatalf("untrusted error %q, want a short certificate error", e)
	}

	// A CA file that vanished is refused, and nothing changes.
	missing := service("app", h, []string{addr, "https://127.0.0.1:1"}, nil)
	missing.UpstreamTLS.CAFile = filepath.Join(t.TempDir(), "nope.pem")
	err := m.Sync([]config.Service{missing})
	if err == nil || !strings.Contains(err.Error(), `service "app"`) || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("Sync = %v, want a ca_file error naming the service", err)
	}
	if m.Target("app", "https://127.0.0.1:1") != nil || m.Target("other", addr) != bad || m.Target("app", addr).State() != Up {
		t.Fatal("a failed Sync changed the probed set")
	}
}
