package proxy

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchd/switchd/internal/health"
	"github.com/switchd/switchd/internal/testkit"
)

// TestStaleConnectionIsResent: every reused connection of this upstream is
// dead; each POST that meets one is resent on a new connection, and
// nothing fails or marks the upstream down. When the new connection fails
// too, that is the upstream's failure, and no other upstream gets the
// request: it did go out once.
func TestStaleConnectionIsResent(t *testing.T) {
	up := testkit.NewRawUpstream(t, testkit.RawOptions{Name: "up", DeadAfter: 100 * time.Millisecond})
	other := testkit.NewRawUpstream(t, testkit.RawOptions{Name: "other"})
	ups := upstreams(t, []string{up.Addr}, health.Up, TransportOptions{IdleTimeout: time.Hour})
	// Down: never picked first, only as the other upstream of a retry.
	ups = append(ups, upstreams(t, []string{other.Addr}, health.Down, TransportOptions{})...)
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	for i := 0; i < 5; i++ {
		if i > 0 {
			time.Sleep(200 * time.Millisecond) // the pooled connection dies
		}
		code, body, err := testkit.PostOnce(f.front.Client(), f.front.URL, "payload")
		if err != nil || code != 200 || body != "up:7" {
			t.Fatalf("POST %d: %d %q %v, want 200 up:7", i, code, body, err)
		}
		if o := f.obs.next(t); o.Class != Class2xx {
			t.Fatalf("POST %d: outcome %+v", i, o)
		}
		if st := ups[0].Health().State(); st != health.Up {
			t.Fatalf("POST %d: a dead kept-alive connection marked the upstream %s", i, st)
		}
	}
	if up.Dead() == 0 {
		t.Fatal("no request met a dead connection: the test tested nothing")
	}

	// Every other POST above dialled and left its connection pooled (a
	// resend's connection is not kept): after five, one is pooled.
	up.Refuse()
	time.Sleep(200 * time.Millisecond)
	if code, _, err := testkit.PostOnce(f.front.Client(), f.front.URL, "payload"); err != nil || code != 502 {
		t.Fatalf("POST to a dead connection of a gone upstream: %d %v, want 502", code, err)
	}
	if o := f.obs.next(t); o.Class != ClassError {
		t.Fatalf("outcome %+v, want error", o)
	}
	if st := ups[0].Health().State(); st != health.Down {
		t.Fatalf("an upstream that refuses a new connection is %s, want down", st)
	}
	if other.Answered() != 0 {
		t.Fatalf("a request that went out once was sent to another upstream")
	}
}

// TestStaleConnectionLargeBody: a body too large to keep cannot be resent,
// so the client gets 502 (an error), but the upstream is not marked down:
// the connection was dead, not the upstream.
func TestStaleConnectionLargeBody(t *testing.T) {
	up := testkit.NewRawUpstream(t, testkit.RawOptions{Name: "up", DeadAfter: 100 * time.Millisecond})
	ups := upstreams(t, []string{up.Addr}, health.Up, TransportOptions{IdleTimeout: time.Hour})
	core, logs := observer.New(zap.WarnLevel)
	f := newFixture(t, ups, nil, nil, HandlerOptions{Logger: zap.New(core)})
	if code, _, err := testkit.PostOnce(f.front.Client(), f.front.URL, "warm"); err != nil || code != 200 {
		t.Fatalf("first POST: %d %v", code, err)
	}
	f.obs.next(t)
	time.Sleep(200 * time.Millisecond)
	code, _, err := testkit.PostOnce(f.front.Client(), f.front.URL, strings.Repeat("x", maxReplayBody+1))
	if err != nil || code != 502 {
		t.Fatalf("large POST on a dead connection: %d %v, want 502", code, err)
	}
	if o := f.obs.next(t); o.Class != ClassError {
		t.Fatalf("outcome %+v, want error", o)
	}
	if st := ups[0].Health().State(); st != health.Up {
		t.Fatalf("a dead kept-alive connection marked the upstream %s", st)
	}
	if up.Dead() != 1 {
		t.Fatalf("%d requests met a dead connection, want 1", up.Dead())
	}
	warn := logs.FilterMessage("upstream error").All()
	if len(warn) != 1 || warn[0].ContextMap()["stale_connection"] != true {
		t.Fatalf("warn lines %v, want one with stale_connection", warn)
	}
}

// TestIdleTimeoutClosesFirst: with the idle timeout below the upstream's,
// switchd drops its idle connections first and never sends a request
// into one the upstream has closed.
func TestIdleTimeoutClosesFirst(t *testing.T) {
	up := testkit.NewRawUpstream(t, testkit.RawOptions{Name: "up", DeadAfter: 400 * time.Millisecond})
	ups := upstreams(t, []string{up.Addr}, health.Up, TransportOptions{IdleTimeout: 50 * time.Millisecond})
	f := newFixture(t, ups, nil, nil, HandlerOptions{})
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(500 * time.Millisecond)
		}
		if code, _, err := testkit.PostOnce(f.front.Client(), f.front.URL, "payload"); err != nil || code != 200 {
			t.Fatalf("POST %d: %d %v", i, code, err)
		}
	}
	if up.Dead() != 0 || up.Conns() != 3 {
		t.Fatalf("%d requests met a dead connection over %d connections; want 0 over 3 (one per idle gap)", up.Dead(), up.Conns())
	}
}
