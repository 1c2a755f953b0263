package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/testkit"
)

// TestFlipUnderLoad flips between blue and green 100 times while 16
// kept-alive clients send requests: no request fails, and every answer comes
// from a colour that was active at some point during the request.
func TestFlipUnderLoad(t *testing.T) {
	blue, green := backend(t, "blue"), backend(t, "green")
	bu := upstreams(t, []string{hostOf(blue)}, health.Up, TransportOptions{})
	gu := upstreams(t, []string{hostOf(green)}, health.Up, TransportOptions{})
	f := newFixture(t, bu, gu, nil, HandlerOptions{})

	// history[g] is the colour active at generation g.
	var mu sync.Mutex
	history := []config.Color{config.NoColor, config.Blue}
	gen := func() int { return int(f.svc.Snapshot().Generation) }

	load := testkit.StartClients(16, f.front.URL, gen, func(g0 int, resp *http.Response, body []byte) error {
		g1 := gen()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		got := resp.Header.Get("X-Backend")
		mu.Lock()
		defer mu.Unlock()
		for g := g0; g <= g1 && g < len(history); g++ {
			if history[g].String() == got {
				return nil
			}
		}
		return fmt.Errorf("answer from %s, but generations %d..%d were never %s (body %q)", got, g0, g1, got, body)
	})
	for i := 0; i < 100; i++ {
		time.Sleep(2 * time.Millisecond)
		cur := f.svc.Snapshot()
		next := cur.Active.Other()
		mu.Lock()
		history = append(history, next)
		mu.Unlock()
		f.svc.Publish(cur.With(next, cur.Generation+1))
		f.svc.Retire(cur.Active, time.Minute)
	}
	ok, bad, errs := load.Stop()
	if bad != 0 || ok < 200 {
		t.Fatalf("%d failures in %d requests: %v", bad, ok+bad, errs)
	}
	t.Logf("%d requests across 100 flips, 0 failures", ok)
}

// TestNextRequestOnKeptAliveConnection: a flip changes the very next request
// on the same client connection.
func TestNextRequestOnKeptAliveConnection(t *testing.T) {
	blue, green := backend(t, "blue"), backend(t, "green")
	f := newFixture(t, upstreams(t, []string{hostOf(blue)}, health.Up, TransportOptions{}),
		upstreams(t, []string{hostOf(green)}, health.Up, TransportOptions{}), nil, HandlerOptions{})
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	resp, _ := get(t, cl, f.front.URL, nil)
	if resp.Header.Get("X-Backend") != "blue" {
		t.Fatal("not blue first")
	}
	cur := f.svc.Snapshot()
	f.svc.Publish(cur.With(config.Green, 2))
	resp, _ = get(t, cl, f.front.URL, nil)
	if resp.Header.Get("X-Backend") != "green" {
		t.Fatalf("next request went to %s", resp.Header.Get("X-Backend"))
	}
}

// TestInflightFinishesOnOldColour: a request that started on blue ends on
// blue even though green became active meanwhile, and the in-flight count
// of blue goes back to zero.
func TestInflightFinishesOnOldColour(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	blue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "blue")
	}))
	defer blue.Close()
	green := backend(t, "green")
	f := newFixture(t, upstreams(t, []string{hostOf(blue)}, health.Up, TransportOptions{}),
		upstreams(t, []string{hostOf(green)}, health.Up, TransportOptions{}), nil, HandlerOptions{})
	done := make(chan string)
	go func() {
		resp, err := f.front.Client().Get(f.front.URL)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-entered
	if n := f.svc.Inflight(config.Blue); n != 1 {
		t.Fatalf("blue in flight = %d, want 1", n)
	}
	cur := f.svc.Snapshot()
	f.svc.Publish(cur.With(config.Green, 2))
	f.svc.Retire(config.Blue, time.Minute)
	close(release)
	if got := <-done; got != "blue" {
		t.Fatalf("in-flight request ended with %q", got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for f.svc.Inflight(config.Blue) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := f.svc.Inflight(config.Blue); n != 0 {
		t.Fatalf("blue in flight = %d after the request ended", n)
	}
}

// TestWebSocketDrain: an upgraded connection to the old colour stays open
// through a flip until the drain timeout, then is closed.
func TestWebSocketDrain(t *testing.T) {
	wsBackend := func(name string) *httptest.Server {
		s := httptest.NewServer(testkit.EchoWebSocket(name + ":"))
		t.Cleanup(s.Close)
		return s
	}
	blue, green := wsBackend("blue"), wsBackend("green")
	f := newFixture(t, upstreams(t, []string{hostOf(blue)}, health.Up, TransportOptions{}),
		upstreams(t, []string{hostOf(green)}, health.Up, TransportOptions{}), nil, HandlerOptions{})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+f.front.URL[len("http"):], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	echo := func() (string, error) {
		if err := conn.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
			return "", err
		}
		_, msg, err := conn.Read(ctx)
		return string(msg), err
	}
	if got, err := echo(); err != nil || got != "blue:hi" {
		t.Fatalf("echo before flip: %q %v", got, err)
	}
	if n := f.svc.Upgraded(config.Blue); n != 1 {
		t.Fatalf("upgraded to blue = %d, want 1", n)
	}
	const drain = 400 * time.Millisecond
	cur := f.svc.Snapshot()
	flipped := time.Now()
	f.svc.Publish(cur.With(config.Green, 2))
	f.svc.Retire(config.Blue, drain)

	if got, err := echo(); err != nil || got != "blue:hi" {
		t.Fatalf("upgraded connection broke at the flip: %q %v", got, err)
	}
	_, _, err = conn.Read(ctx) // blocks until the drain closes it
	if err == nil {
		t.Fatal("read succeeded; want the connection closed")
	}
	if el := time.Since(flipped); el < drain {
		t.Fatalf("closed after %v, before the drain timeout %v", el, drain)
	}
	if ctx.Err() != nil {
		t.Fatal("connection was never closed")
	}
	deadline := time.Now().Add(2 * time.Second)
	for (f.svc.Upgraded(config.Blue) != 0 || f.svc.Inflight(config.Blue) != 0) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.svc.Upgraded(config.Blue) != 0 || f.svc.Inflight(config.Blue) != 0 {
		t.Fatalf("blue still has %d upgraded, %d in flight", f.svc.Upgraded(config.Blue), f.svc.Inflight(config.Blue))
	}
	// A new connection goes to green.
	c2, _, err := websocket.Dial(ctx, "ws"+f.front.URL[len("http"):], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseNow()
	_ = c2.Write(ctx, websocket.MessageText, []byte("x"))
	if _, msg, err := c2.Read(ctx); err != nil || string(msg) != "green:x" {
		t.Fatalf("new websocket: %q %v", msg, err)
	}
}

// TestWebSocketSurvivesFlipBack: when the old colour is active again before
// the drain timeout, its connections stay.
func TestWebSocketSurvivesFlipBack(t *testing.T) {
	f, _ := webSocketToBlue(t)
	cur := f.svc.Snapshot()
	f.svc.Publish(cur.With(config.Green, 2))
	f.svc.Retire(config.Blue, 100*time.Millisecond)
	f.svc.Publish(cur.With(config.Blue, 3))
	time.Sleep(300 * time.Millisecond)
	if n := f.svc.Upgraded(config.Blue); n != 1 {
		t.Fatalf("upgraded connections to blue = %d after flipping back, want 1", n)
	}
}

// TestFlipClosesIdleConnectionsToOldColour: after Retire, the kept-alive
// connections to the old colour's upstreams are closed, not left to linger.
func TestFlipClosesIdleConnectionsToOldColour(t *testing.T) {
	var closed atomic.Int64
	blue := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "blue")
	}))
	blue.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	blue.Start()
	defer blue.Close()
	green := backend(t, "green")
	f := newFixture(t, upstreams(t, []string{hostOf(blue)}, health.Up, TransportOptions{}),
		upstreams(t, []string{hostOf(green)}, health.Up, TransportOptions{}), nil, HandlerOptions{})
	for i := 0; i < 3; i++ {
		get(t, f.front.Client(), f.front.URL, nil)
	}
	if closed.Load() != 0 {
		t.Fatalf("%d blue connections closed before the flip", closed.Load())
	}
	cur := f.svc.Snapshot()
	f.svc.Publish(cur.With(config.Green, 2))
	f.svc.Retire(config.Blue, time.Minute)
	deadline := time.Now().Add(2 * time.Second)
	for closed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if closed.Load() == 0 {
		t.Fatal("the idle connection to blue is still open after the flip")
	}
}

// TestWebSocketDrainCountsFromTheLastFlip: blue → green → blue → green
// within the drain timeout: blue's connections get the full drain from the
// last flip away from blue, not from the first.
func TestWebSocketDrainCountsFromTheLastFlip(t *testing.T) {
	f, _ := webSocketToBlue(t)
	// Margins of 500 ms either side, so that a loaded machine's late
	// wake-ups cannot make the first timer look like the last.
	const drain, gap = 2 * time.Second, 500 * time.Millisecond
	cur := f.svc.Snapshot()
	f.svc.Publish(cur.With(config.Green, 2))
	f.svc.Retire(config.Blue, drain)
	time.Sleep(gap)
	f.svc.Publish(cur.With(config.Blue, 3))
	f.svc.Retire(config.Green, drain)
	time.Sleep(gap)
	f.svc.Publish(cur.With(config.Green, 4))
	f.svc.Retire(config.Blue, drain) // the last flip away from blue
	last := time.Now()
	// The first timer (drain after the first flip) fired at about
	// last+drain-2*gap; the last one fires at last+drain.
	time.Sleep(time.Until(last.Add(drain - gap)))
	if n := f.svc.Upgraded(config.Blue); n != 1 {
		t.Fatalf("blue's WebSocket closed %v after the last flip (drain %v)", time.Since(last).Round(time.Millisecond), drain)
	}
	deadline := time.Now().Add(2 * time.Second)
	for f.svc.Upgraded(config.Blue) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.svc.Upgraded(config.Blue); n != 0 {
		t.Fatal("blue's WebSocket never closed")
	}
}

// webSocketToBlue is a fixture whose blue is a WebSocket echo server and
// green a plain backend, with one WebSocket open to blue through the
// proxy; everything ends with the test.
func webSocketToBlue(t *testing.T) (*fixture, *websocket.Conn) {
	t.Helper()
	s := httptest.NewServer(testkit.EchoWebSocket(""))
	t.Cleanup(s.Close)
	green := backend(t, "green")
	f := newFixture(t, upstreams(t, []string{hostOf(s)}, health.Up, TransportOptions{}),
		upstreams(t, []string{hostOf(green)}, health.Up, TransportOptions{}), nil, HandlerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws"+f.front.URL[len("http"):], nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return f, conn
}
