package proxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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
	s := heldUpstream(t, "text/event-stream; charset=utf-8", "")
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

// TestNoContentTypeInvented: an answer without Content-Type reaches the
// client without one; net/http does not sniff one on the upstream's behalf.
func TestNoContentTypeInvented(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = io.WriteString(w, "<html><script>alert(1)</script>")
	}))
	defer up.Close()
	f := newFixture(t, upstreams(t, []string{hostOf(up)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	resp, _ := get(t, f.front.Client(), f.front.URL, nil)
	if ct, ok := resp.Header["Content-Type"]; ok {
		t.Errorf("the client got Content-Type %q, which the upstream did not send", ct)
	}
}

// TestUpgradeWithBodyIsPlain: an upgrade request with a body goes to the
// upstream as a plain request, and an upstream that switches protocols
// anyway (unasked) gets the client a 502, not a tunnel that would read the
// client's connection while the body is still being read from it; so does
// a bare 101 to a plain request.
func TestUpgradeWithBodyIsPlain(t *testing.T) {
	var upgrade atomic.Value
	up := switchingUpstream(t, "Connection: Upgrade\r\nUpgrade: websocket\r\n", func(r *http.Request) {
		upgrade.Store(r.Header.Get("Upgrade") + "|" + r.Header.Get("Connection"))
	})
	f := newFixture(t, upstreams(t, []string{hostOf(up)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	for _, body := range []string{"Content-Length: 5\r\n\r\nhello", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"} {
		c := dialFront(t, f)
		_, _ = io.WriteString(c, "POST /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+body)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("an unasked 101 to an upgrade request with a body: client got %d, want 502", resp.StatusCode)
		}
		if got, _ := upgrade.Load().(string); got != "|" {
			t.Errorf("upstream saw Upgrade|Connection %q for a request with a body, want neither", got)
		}
		c.Close()
		f.obs.next(t)
	}
	// A bare 101 (no Upgrade either way) to a plain GET.
	bare := switchingUpstream(t, "", func(*http.Request) {})
	f = newFixture(t, upstreams(t, []string{hostOf(bare)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	if resp, _ := get(t, f.front.Client(), f.front.URL, nil); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a bare 101 to a plain GET: client got %d, want 502", resp.StatusCode)
	}
}

// switchingUpstream answers every request 101 with the given header
// lines, after seen, and then reads the connection until it closes.
func switchingUpstream(t *testing.T, header string, seen func(*http.Request)) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen(r)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n" + header + "\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(io.Discard, conn)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestInformationalWithExpectContinue: the client that sent Expect:
// 100-continue gets net/http's 100 Continue once (the upstream's is not
// passed on as a second); a 103 passes when the body was read before the
// request went out (up to 64 KiB), and is dropped while a larger body
// streams, when net/http may be writing its 100 at the same moment (-race
// finds that).
func TestInformationalWithExpectContinue(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		_, _ = io.Copy(io.Discard, r.Body) // net/http's 100 Continue goes out here
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	f := newFixture(t, upstreams(t, []string{hostOf(up)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	for _, tc := range []struct {
		size  int
		codes string
	}{{1 << 10, "100 103 200"}, {100 << 10, "100 200"}} {
		for range 5 {
			c := dialFront(t, f)
			_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: "+strconv.Itoa(tc.size)+"\r\n\r\n")
			go func() { _, _ = io.WriteString(c, strings.Repeat("b", tc.size)) }()
			br := bufio.NewReader(c)
			var codes []string
			for {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes = append(codes, strconv.Itoa(resp.StatusCode))
				if resp.StatusCode >= 200 {
					break
				}
			}
			if got := strings.Join(codes, " "); got != tc.codes {
				t.Errorf("%d-byte body with Expect: answers %s, want %s", tc.size, got, tc.codes)
			}
			c.Close()
			f.obs.next(t)
		}
	}
}

// TestDrainEndsHalfClosedTunnel: the upstream ended a WebSocket and the
// client, told by a half-close, stays silent: a drain of the colour still
// ends the tunnel, the client's side too.
func TestDrainEndsHalfClosedTunnel(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nbye")
		_ = brw.Flush()
		conn.Close()
	}))
	defer up.Close()
	f := newFixture(t, upstreams(t, []string{hostOf(up)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	c := dialFront(t, f)
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("answer %v, %v; want 101", resp, err)
	}
	if rest, err := io.ReadAll(br); string(rest) != "bye" || err != nil {
		t.Fatalf("client read %q, %v; want bye, then the half-close", rest, err)
	}
	f.svc.upgrades[0].closeBefore(time.Now().Add(time.Hour))
	select {
	case <-f.obs.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("after the drain the tunnel still holds the client's connection and the handler")
	}
	if _, err := c.Write([]byte("x")); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Error("the client's connection is still open after the drain")
		}
	}
}
