package proxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/switchd/switchd/internal/health"
)

// TestClientMistakesAreNot502: a Content-Length trailer and CONNECT got 502
// "upstream unreachable" (an error against the colour, enough for the guard
// to revert a deploy) although no upstream was asked. They are the client's:
// 4xx, and the upstream sees nothing.
func TestClientMistakesAreNot502(t *testing.T) {
	for _, tc := range []struct {
		name, send string
		want       int
	}{
		{"content-length trailer", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n", 400},
		{"connect", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newCountingBackend(t)
			ups := upstreams(t, []string{hostOf(b.Server)}, health.Up, TransportOptions{})
			f := newFixture(t, ups, nil, nil, HandlerOptions{})
			c := dialFront(t, f)
			_, _ = io.WriteString(c, tc.send)
			resp, body := readAnswer(t, bufio.NewReader(c))
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, tc.want)
			}
			if o := f.obs.next(t); o.Class != Class4xx || o.Class.IsError() {
				t.Fatalf("outcome %+v, want class 4xx", o)
			}
			if b.hits.Load() != 0 {
				t.Fatalf("upstream saw %d requests", b.hits.Load())
			}
		})
	}
}

// TestOnlyWebSocketUpgrades: an Upgrade other than websocket reaches the
// upstream as a plain request (Upgrade stripped), so no upstream can switch
// the connection to a protocol whose bytes would then pass unparsed; the
// websocket token, in any case, still upgrades.
func TestOnlyWebSocketUpgrades(t *testing.T) {
	var sawUpgrade atomic.Value
	// The upstream agrees to any protocol and then echoes raw bytes.
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawUpgrade.Store(r.Header.Get("Upgrade"))
		if r.Header.Get("Upgrade") == "" {
			_, _ = io.WriteString(w, "plain")
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", r.Header.Get("Upgrade"))
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = brw.Flush()
		_, _ = io.Copy(conn, brw)
	}))
	defer s.Close()
	ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})

	for _, tc := range []struct {
		upgrade string
		want    int
	}{
		{"h2c", 200}, {"foo/1", 200}, {"websocket, foo", 200},
		{"websocket", 101}, {"WebSocket", 101},
	} {
		t.Run(tc.upgrade, func(t *testing.T) {
			sawUpgrade.Store("")
			c := dialFront(t, f)
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "+tc.upgrade+"\r\n\r\n")
			r := bufio.NewReader(c)
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 101 {
				_, _ = io.WriteString(c, "raw")
				buf := make([]byte, 3)
				if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "raw" {
					t.Fatalf("echo after 101: %q %v", buf, err)
				}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := sawUpgrade.Load().(string); got != "" || string(b) != "plain" {
				t.Fatalf("upstream saw Upgrade %q, answered %q; want it stripped", got, b)
			}
		})
	}
}

// TestClientAddressHeaders: X-Real-IP, X-Client-IP, True-Client-IP and
// X-Forwarded-Port from an untrusted client never reach the upstream
// (X-Real-IP becomes the peer's address); a trusted proxy's are kept.
func TestClientAddressHeaders(t *testing.T) {
	var seen atomic.Value
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Clone())
	}))
	defer s.Close()
	ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
	forged := map[string]string{"X-Real-IP": "6.6.6.6", "X-Client-IP": "6.6.6.6", "True-Client-IP": "6.6.6.6", "X-Forwarded-Port": "443"}

	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	get(t, f.front.Client(), f.front.URL, forged)
	h := seen.Load().(http.Header)
	if v := h.Get("X-Real-Ip"); v != "127.0.0.1" {
		t.Errorf("untrusted X-Real-IP reached the upstream as %q, want the peer 127.0.0.1", v)
	}
	for _, k := range []string{"X-Client-Ip", "True-Client-Ip", "X-Forwarded-Port"} {
		if v := h.Get(k); v != "" {
			t.Errorf("untrusted %s = %q reached the upstream", k, v)
		}
	}

	trusted := newFixture(t, ups, nil, nil, HandlerOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	get(t, trusted.front.Client(), trusted.front.URL, forged)
	h = seen.Load().(http.Header)
	for _, k := range []string{"X-Real-Ip", "X-Client-Ip", "True-Client-Ip"} {
		if v := h.Get(k); v != "6.6.6.6" {
			t.Errorf("trusted %s = %q, want kept", k, v)
		}
	}
	if v := h.Get("X-Forwarded-Port"); v != "443" {
		t.Errorf("trusted X-Forwarded-Port = %q, want kept", v)
	}
}
