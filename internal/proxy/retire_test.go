package proxy

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/testkit"
)

// TestRetireUpstreamsDrainsOnlyTheRemoved: an upstream taken out of the
// active pool keeps its open WebSocket for the drain, then it is closed;
// the WebSocket to the upstream that stays is left alone.
func TestRetireUpstreamsDrainsOnlyTheRemoved(t *testing.T) {
	gone, kept := httptest.NewServer(testkit.EchoWebSocket("gone:")), httptest.NewServer(testkit.EchoWebSocket("kept:"))
	defer gone.Close()
	defer kept.Close()
	ups := upstreams(t, []string{hostOf(gone), hostOf(kept)}, health.Up, TransportOptions{})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Round robin: two connections, one to each upstream.
	conns := map[string]*websocket.Conn{}
	for len(conns) < 2 && ctx.Err() == nil {
		c, _, err := websocket.Dial(ctx, "ws"+f.front.URL[len("http"):], nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Write(ctx, websocket.MessageText, []byte("hi"))
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if conns[string(msg)] != nil {
			c.CloseNow()
			continue
		}
		conns[string(msg)] = c
		defer c.CloseNow()
	}
	const drain = 300 * time.Millisecond
	cur := f.svc.Snapshot()
	next := *cur
	next.Pools[config.Blue.Index()] = NewPool(config.Blue, ups[1:])
	f.svc.Publish(&next)
	removed := time.Now()
	f.svc.RetireUpstreams(ups[:1], drain)

	if _, _, err := conns["gone:hi"].Read(ctx); err == nil {
		t.Fatal("read succeeded; want the removed upstream's connection closed")
	}
	if el := time.Since(removed); el < drain || ctx.Err() != nil {
		t.Fatalf("closed after %v (drain %v; context %v)", el, drain, ctx.Err())
	}
	c := conns["kept:hi"]
	if err := c.Write(ctx, websocket.MessageText, []byte("still")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "kept:still" {
		t.Fatalf("the kept upstream's connection: %q %v", msg, err)
	}
}
