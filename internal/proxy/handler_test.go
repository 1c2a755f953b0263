package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
)

func TestRoundRobinSkipsUnhealthyAndPanics(t *testing.T) {
	a, b, c := backend(t, "a"), backend(t, "b"), backend(t, "c")
	ups := upstreams(t, []string{hostOf(a), hostOf(b), hostOf(c)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	cl := f.front.Client()

	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		resp, _ := get(t, cl, f.front.URL, nil)
		seen[resp.Header.Get("X-Backend")]++
	}
	if seen["a"] != 10 || seen["b"] != 10 || seen["c"] != 10 {
		t.Fatalf("round robin uneven: %v", seen)
	}

	ups[1].Health().Fail(io.EOF) // b down
	seen = map[string]int{}
	for i := 0; i < 20; i++ {
		resp, _ := get(t, cl, f.front.URL, nil)
		seen[resp.Header.Get("X-Backend")]++
	}
	if seen["b"] != 0 || seen["a"] == 0 || seen["c"] == 0 {
		t.Fatalf("unhealthy upstream got traffic or healthy ones starved: %v", seen)
	}

	ups[0].Health().Fail(io.EOF)
	ups[2].Health().Fail(io.EOF) // all down: panic mode uses all of them
	if !f.svc.Snapshot().Pool(config.Blue).Panic() {
		t.Fatal("pool not in panic with every upstream down")
	}
	seen = map[string]int{}
	for i := 0; i < 30; i++ {
		resp, _ := get(t, cl, f.front.URL, nil)
		seen[resp.Header.Get("X-Backend")]++
	}
	if seen["a"] == 0 || seen["b"] == 0 || seen["c"] == 0 {
		t.Fatalf("panic mode did not use every upstream: %v", seen)
	}
}

func TestHostRouting(t *testing.T) {
	mk := func(name string) *Service {
		s := backend(t, name)
		ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
		return NewService(name, &Snapshot{Active: config.Blue, Pools: [2]*Pool{NewPool(config.Blue, ups), NewPool(config.Green, nil)}}, nil)
	}
	app, wild, deeper, def := mk("app"), mk("wild"), mk("deeper"), mk("default")
	r := NewRouter([]Route{
		{Hosts: []string{"app.example.com"}, Service: app},
		{Hosts: []string{"*.example.com"}, Service: wild},
		{Hosts: []string{"*.eu.example.com"}, Service: deeper},
	})
	for host, want := range map[string]*Service{
		"app.example.com": app, "APP.Example.com.": app, "app.example.com:8443": app,
		"x.example.com": wild, "a.b.example.com": wild, "x.eu.example.com": deeper,
		"example.com": nil, "other.org": nil, "[::1]:80": nil,
	} {
		if got := r.Lookup(host); got != want {
			t.Errorf("Lookup(%q) = %v, want %v", host, got, want)
		}
	}
	r.Set([]Route{{Hosts: []string{"app.example.com"}, Service: app}, {Service: def}})
	if got := r.Lookup("other.org"); got != def {
		t.Errorf("default service not chosen: %v", got)
	}

	// No service and no default: 421.
	h := NewHandler(NewRouter([]Route{{Hosts: []string{"app.example.com"}, Service: app}}), HandlerOptions{})
	front := httptest.NewServer(h)
	defer front.Close()
	resp, _ := get(t, front.Client(), front.URL, map[string]string{"Host": "nope.org"})
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("status %d, want 421", resp.StatusCode)
	}
	resp, body := get(t, front.Client(), front.URL, map[string]string{"Host": "app.example.com"})
	if resp.StatusCode != 200 || body != "app:" || resp.Header.Get("X-Seen-Host") != "app.example.com" {
		t.Fatalf("got %d %q host %q", resp.StatusCode, body, resp.Header.Get("X-Seen-Host"))
	}
	for _, s := range []*Service{app, wild, deeper, def} {
		s.Close()
	}
}

func TestPreview(t *testing.T) {
	blue, green := backend(t, "blue"), backend(t, "green")
	bu := upstreams(t, []string{hostOf(blue)}, health.Up, TransportOptions{})
	gu := upstreams(t, []string{hostOf(green)}, health.Up, TransportOptions{})
	cases := []struct {
		name, secret, header, want string
		send                       bool
	}{
		{"right secret", "s3cret", "s3cret", "green", true},
		{"wrong secret", "s3cret", "guess", "blue", true},
		{"no header", "s3cret", "", "blue", false},
		{"preview off", "", "anything", "blue", true},
		{"preview off, empty header", "", "", "blue", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, bu, gu, func(s *Snapshot) { s.PreviewSecret = tc.secret }, HandlerOptions{})
			hdr := map[string]string{}
			if tc.send {
				hdr["X-Switchd-Preview"] = tc.header
			}
			resp, _ := get(t, f.front.Client(), f.front.URL, hdr)
			if got := resp.Header.Get("X-Backend"); got != tc.want {
				t.Fatalf("went to %q, want %q", got, tc.want)
			}
			if seen := resp.Header.Get("X-Seen-Preview"); seen != "" {
				t.Fatalf("preview header reached the upstream: %q", seen)
			}
			if o := f.obs.next(t); o.Preview != (tc.want == "green") {
				t.Fatalf("outcome preview = %v", o.Preview)
			}
		})
	}
}

func TestRetryOnConnectRefused(t *testing.T) {
	live := backend(t, "live")
	ups := upstreams(t, []string{deadAddr(t), hostOf(live)}, health.Unknown, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	for i := 0; i < 4; i++ { // the round robin starts on each upstream at least once
		resp, err := f.front.Client().Post(f.front.URL, "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "live:payload" {
			t.Fatalf("POST %d: %d %q, want 200 live:payload", i, resp.StatusCode, body)
		}
	}
	if st := ups[0].Health().State(); st != health.Down {
		t.Fatalf("refused upstream is %s, want down (passive)", st)
	}
}

func TestNoRetryForLargeBody(t *testing.T) {
	live := backend(t, "live")
	ups := upstreams(t, []string{deadAddr(t), hostOf(live)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	big := strings.Repeat("x", maxReplayBody+1)
	codes := map[int]int{}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("POST", f.front.URL, strings.NewReader(big))
		req.ContentLength = -1 // chunked: the size is only found by reading
		resp, err := f.front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes[resp.StatusCode]++
		if resp.StatusCode == 200 && len(body) != len("live:")+len(big) {
			t.Fatalf("large body mangled: %d bytes", len(body))
		}
	}
	if codes[502] != 1 || codes[200] != 1 {
		t.Fatalf("want one 502 (not retried) and one 200, got %v", codes)
	}
}

func TestBadGatewayAndTimeout(t *testing.T) {
	t.Run("unreachable 502", func(t *testing.T) {
		ups := upstreams(t, []string{deadAddr(t)}, health.Up, TransportOptions{})
		f := newFixture(t, ups, nil, nil, HandlerOptions{})
		resp, _ := get(t, f.front.Client(), f.front.URL, nil)
		if resp.StatusCode != 502 {
			t.Fatalf("status %d, want 502", resp.StatusCode)
		}
		if o := f.obs.next(t); o.Class != ClassError || !o.Class.IsError() || o.Status != 502 {
			t.Fatalf("outcome %+v", o)
		}
	})
	t.Run("slow 504", func(t *testing.T) {
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer slow.Close()
		defer close(release)
		ups := upstreams(t, []string{hostOf(slow)}, health.Up, TransportOptions{ResponseHeaderTimeout: 100 * time.Millisecond})
		f := newFixture(t, ups, nil, nil, HandlerOptions{})
		resp, _ := get(t, f.front.Client(), f.front.URL, nil)
		if resp.StatusCode != 504 {
			t.Fatalf("status %d, want 504", resp.StatusCode)
		}
		if o := f.obs.next(t); o.Class != ClassError {
			t.Fatalf("outcome %+v", o)
		}
	})
	t.Run("stalled mid-line 504", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
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
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Le")
			_, _ = io.Copy(io.Discard, br)
		}()
		ups := upstreams(t, []string{ln.Addr().String()}, health.Up, TransportOptions{ResponseHeaderTimeout: 100 * time.Millisecond})
		f := newFixture(t, ups, nil, nil, HandlerOptions{})
		resp, _ := get(t, f.front.Client(), f.front.URL, nil)
		if resp.StatusCode != 504 {
			t.Fatalf("an upstream stalled in its headers: status %d, want 504", resp.StatusCode)
		}
		if o := f.obs.next(t); o.Class != ClassError {
			t.Fatalf("outcome %+v", o)
		}
	})
	t.Run("upstream 500 is the upstream's", func(t *testing.T) {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
		defer s.Close()
		ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
		f := newFixture(t, ups, nil, nil, HandlerOptions{})
		resp, _ := get(t, f.front.Client(), f.front.URL, nil)
		if o := f.obs.next(t); resp.StatusCode != 500 || o.Class != Class5xx || !o.Class.IsError() {
			t.Fatalf("status %d outcome %+v", resp.StatusCode, o)
		}
	})
	t.Run("404 is not an error", func(t *testing.T) {
		s := httptest.NewServer(http.NotFoundHandler())
		defer s.Close()
		ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
		f := newFixture(t, ups, nil, nil, HandlerOptions{})
		get(t, f.front.Client(), f.front.URL, nil)
		if o := f.obs.next(t); o.Class != Class4xx || o.Class.IsError() {
			t.Fatalf("outcome %+v", o)
		}
	})
}

func TestClientGoneIsNotAnError(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	ups := upstreams(t, []string{hostOf(slow)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.front.URL, nil)
	go func() { <-started; cancel() }()
	if _, err := f.front.Client().Do(req); err == nil {
		t.Fatal("request should have been cancelled")
	}
	o := f.obs.next(t)
	if o.Class != ClassCanceled || o.Class.IsError() {
		t.Fatalf("outcome %+v, want canceled", o)
	}
	if st := ups[0].Health().State(); st != health.Up {
		t.Fatalf("a client going away marked the upstream %s", st)
	}
}

func TestForwardedHeaders(t *testing.T) {
	s := backend(t, "b")
	ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
	forged := map[string]string{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil", "X-Forwarded-Proto": "https", "Host": "app.test"}

	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	resp, _ := get(t, f.front.Client(), f.front.URL, forged)
	if xff := resp.Header.Get("X-Seen-XFF"); xff != "127.0.0.1" {
		t.Errorf("untrusted X-Forwarded-For = %q, want 127.0.0.1", xff)
	}
	if v := resp.Header.Get("X-Seen-XFH"); v != "app.test" {
		t.Errorf("untrusted X-Forwarded-Host = %q", v)
	}
	if v := resp.Header.Get("X-Seen-XFP"); v != "http" {
		t.Errorf("untrusted X-Forwarded-Proto = %q", v)
	}

	trusted := newFixture(t, ups, nil, nil, HandlerOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	resp, _ = get(t, trusted.front.Client(), trusted.front.URL, forged)
	if xff := resp.Header.Get("X-Seen-XFF"); xff != "6.6.6.6, 127.0.0.1" {
		t.Errorf("trusted X-Forwarded-For = %q, want extended", xff)
	}
	if v := resp.Header.Get("X-Seen-XFH"); v != "evil" {
		t.Errorf("trusted X-Forwarded-Host = %q, want kept", v)
	}
	if v := resp.Header.Get("X-Seen-XFP"); v != "https" {
		t.Errorf("trusted X-Forwarded-Proto = %q, want kept", v)
	}
}

func TestHopByHopRemoved(t *testing.T) {
	var seen atomic.Value
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Clone())
	}))
	defer s.Close()
	ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	get(t, f.front.Client(), f.front.URL, map[string]string{"Connection": "X-Secret", "X-Secret": "1", "Proxy-Authorization": "x", "Keep-Alive": "5"})
	h := seen.Load().(http.Header)
	for _, k := range []string{"X-Secret", "Proxy-Authorization", "Keep-Alive"} {
		if h.Get(k) != "" {
			t.Errorf("hop-by-hop header %s reached the upstream", k)
		}
	}
}

// heldUpstream answers with contentType and first, flushed, then holds the
// answer open until the test ends or the request does.
func heldUpstream(t *testing.T, contentType, first string) *httptest.Server {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, first)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) })
	return s
}

// TestStreamsEventsAtOnce: an upstream's server-sent events and chunked
// answers reach the client as they are written, not when the answer ends.
func TestStreamsEventsAtOnce(t *testing.T) {
	for _, ct := range []string{"text/event-stream", "application/octet-stream"} {
		t.Run(ct, func(t *testing.T) {
			s := heldUpstream(t, ct, "data: first\n\n")
			ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
			f := newFixture(t, ups, nil, nil, HandlerOptions{})
			resp, err := f.front.Client().Get(f.front.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			buf := make([]byte, len("data: first\n\n"))
			done := make(chan error, 1)
			go func() { _, err := io.ReadFull(resp.Body, buf); done <- err }()
			select {
			case err := <-done:
				if err != nil || string(buf) != "data: first\n\n" {
					t.Fatalf("read %q: %v", buf, err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the first event did not arrive while the upstream kept the answer open")
			}
		})
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000": "127.0.0.1", "[::1]:80": "::1", "[::ffff:10.0.0.1]:1": "::ffff:10.0.0.1", "@": "@", "": "",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMalformedBodyIs400: a body that cannot be read (bad chunking) is the
// client's error: 400, not an empty 200, and no upstream is bothered.
func TestMalformedBodyIs400(t *testing.T) {
	var hits atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer s.Close()
	ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	c, err := net.Dial("tcp", strings.TrimPrefix(f.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || hits.Load() != 0 {
		t.Fatalf("status %d, upstream hits %d", resp.StatusCode, hits.Load())
	}
	if o := f.obs.next(t); o.Class != Class4xx || o.Class.IsError() {
		t.Fatalf("outcome %+v", o)
	}
}

// TestLatencyIsTimeToHeaders: an answer that streams for a while after its
// headers does not read as a slow upstream.
func TestLatencyIsTimeToHeaders(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "late body")
	}))
	defer s.Close()
	ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	get(t, f.front.Client(), f.front.URL, nil)
	if o := f.obs.next(t); o.Duration >= 250*time.Millisecond || o.End.IsZero() {
		t.Fatalf("latency %v includes the body", o.Duration)
	}
}

func TestLogLimit(t *testing.T) {
	l := logLimit{perSecond: 3}
	now := time.Unix(1000, 0)
	var allowed int
	for i := 0; i < 10; i++ {
		if ok, _ := l.allow(now); ok {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("allowed %d lines in one second, want 3", allowed)
	}
	ok, held := l.allow(now.Add(time.Second))
	if !ok || held != 7 {
		t.Fatalf("next second: allowed %v, held back %d, want 7", ok, held)
	}
}

// TestTricklingBodyTimesOut: a client that sends its (small) body too
// slowly gets 408 instead of holding the request open for ever.
func TestTricklingBodyTimesOut(t *testing.T) {
	var hits atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer s.Close()
	ups := upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{BodyTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", strings.TrimPrefix(f.front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a little")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || hits.Load() != 0 {
		t.Fatalf("status %d, upstream hits %d; want 408 and none", resp.StatusCode, hits.Load())
	}
}

// TestUnknownUpstreamWaitsForItsFirstCheck: a new upstream (Unknown, as a
// reload adds it) gets no traffic while another is healthy; a pool where
// none is known yet (all new) gets traffic on all of them.
func TestUnknownUpstreamWaitsForItsFirstCheck(t *testing.T) {
	old, fresh := backend(t, "old"), backend(t, "new")
	up := upstreams(t, []string{hostOf(old)}, health.Up, TransportOptions{})
	unknown := upstreams(t, []string{hostOf(fresh)}, health.Unknown, TransportOptions{})
	f := newFixture(t, append(up, unknown...), nil, nil, HandlerOptions{})
	for i := 0; i < 10; i++ {
		if resp, _ := get(t, f.front.Client(), f.front.URL, nil); resp.Header.Get("X-Backend") != "old" {
			t.Fatalf("request %d went to the unchecked upstream", i)
		}
	}
	allNew := newFixture(t, upstreams(t, []string{hostOf(old), hostOf(fresh)}, health.Unknown, TransportOptions{}), nil, nil, HandlerOptions{})
	seen := map[string]int{}
	for i := 0; i < 10; i++ {
		resp, _ := get(t, allNew.front.Client(), allNew.front.URL, nil)
		seen[resp.Header.Get("X-Backend")]++
	}
	if seen["old"] == 0 || seen["new"] == 0 {
		t.Fatalf("a pool with nothing checked yet did not use all upstreams: %v", seen)
	}
}

// TestInformationalReachClient: a 103 Early Hints from the upstream reaches
// the client before the final answer, with its headers (ReverseProxy's
// Got1xxResponse, called by the upstream client).
func TestInformationalReachClient(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "final")
	}))
	t.Cleanup(up.Close)
	f := newFixture(t, upstreams(t, []string{hostOf(up)}, health.Up, TransportOptions{}), nil, nil, HandlerOptions{})
	var hints []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, fmt.Sprint(code, " ", h.Get("Link")))
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", f.front.URL, nil)
	resp, err := f.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "final" || len(hints) != 1 || hints[0] != "103 </style.css>; rel=preload" {
		t.Fatalf("final %d %q, informational %q; want 200 final after 103 with its Link", resp.StatusCode, b, hints)
	}
}
