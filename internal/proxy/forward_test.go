package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/health"
)

// TestUpstreamRequestHeaders: what the upstream is sent besides the
// client's headers. The Te header goes only as "trailers", and only when
// the client takes them; a client without User-Agent gets none sent (not
// Go's); a query net/url cannot parse is re-encoded, so that switchd and
// the upstream read the same parameters.
func TestUpstreamRequestHeaders(t *testing.T) {
	var seen atomic.Pointer[http.Request]
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r)
	}))
	defer s.Close()
	f := newFixture(t, upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})

	get(t, f.front.Client(), f.front.URL+"/p?a=1;b=2&c=%zz&d=4", map[string]string{"Te": "trailers, deflate", "User-Agent": ""})
	r := seen.Load()
	if got := r.Header.Values("Te"); len(got) != 1 || got[0] != "trailers" {
		t.Errorf("Te %q, want [trailers]", got)
	}
	if got, ok := r.Header["User-Agent"]; ok {
		t.Errorf("User-Agent %q sent for a client that sent none", got)
	}
	if r.URL.RawQuery != "d=4" {
		t.Errorf("query %q reached the upstream, want the parsable part re-encoded: d=4", r.URL.RawQuery)
	}

	get(t, f.front.Client(), f.front.URL+"/p?x=1&y=2", map[string]string{"Te": "deflate", "User-Agent": "curl/8"})
	r = seen.Load()
	if got := r.Header.Values("Te"); len(got) != 0 {
		t.Errorf("Te %q for a client that does not take trailers, want none", got)
	}
	if ua := r.Header.Get("User-Agent"); ua != "curl/8" {
		t.Errorf("User-Agent %q, want the client's", ua)
	}
	if r.URL.RawQuery != "x=1&y=2" {
		t.Errorf("query %q, want it as the client sent it", r.URL.RawQuery)
	}
}

// TestAnswerHopByHopRemoved: the upstream's hop-by-hop headers, and those
// its Connection header names, stop at switchd.
func TestAnswerHopByHopRemoved(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "secret")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("X-Public", "ok")
	}))
	defer s.Close()
	f := newFixture(t, upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	resp, _ := get(t, f.front.Client(), f.front.URL, nil)
	for _, k := range []string{"X-Internal", "Keep-Alive", "Proxy-Authenticate"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("the upstream's hop-by-hop %s: %q reached the client", k, v)
		}
	}
	if resp.Header.Get("X-Public") != "ok" {
		t.Errorf("X-Public missing: %v", resp.Header)
	}
}

// TestTrailersReachClient: trailers the upstream announced, and those it
// did not, reach the client after the body.
func TestTrailersReachClient(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	}))
	defer s.Close()
	f := newFixture(t, upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	req, _ := http.NewRequest("GET", f.front.URL, nil)
	req.Header.Set("Te", "trailers")
	resp, err := f.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "body" || resp.Trailer.Get("X-Checksum") != "abc" || resp.Trailer.Get("X-Late") != "late" {
		t.Fatalf("body %q, trailers %v; want body and both trailers", b, resp.Trailer)
	}
}

// TestEventStreamHeadersAtOnce: an event stream's headers reach the client
// before its first event, which may come much later.
func TestEventStreamHeadersAtOnce(t *testing.T) {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer s.Close()
	defer close(release)
	f := newFixture(t, upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	done := make(chan error, 1)
	go func() {
		resp, err := f.front.Client().Get(f.front.URL)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no headers while the event stream waits for its first event")
	}
}

// TestUpgradeKeepsEarlyBytes: bytes a client sends right behind its
// upgrade request, before the 101 (read by net/http along with the
// request), reach the upstream first, in order.
func TestUpgradeKeepsEarlyBytes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		b := make([]byte, len("early+late"))
		_, err = io.ReadFull(br, b)
		got <- string(b)
		if err == nil {
			_, _ = io.WriteString(c, "bye")
		}
	}()
	f := newFixture(t, upstreams(t, []string{ln.Addr().String()}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	c, err := net.Dial("tcp", strings.TrimPrefix(f.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("answer %v, %v; want 101", resp, err)
	}
	_, _ = io.WriteString(c, "+late")
	if s := <-got; s != "early+late" {
		t.Fatalf("upstream read %q, want early+late", s)
	}
	b := make([]byte, 3)
	if _, err := io.ReadFull(br, b); err != nil || string(b) != "bye" {
		t.Fatalf("client read %q, %v; want bye", b, err)
	}
}
