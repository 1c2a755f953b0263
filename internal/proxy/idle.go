package proxy

import (
	"context"
	"net/http/httptrace"
	"sync/atomic"
)

// connTrace follows the connection each attempt of one request goes out
// on, so that a kept-alive connection the upstream had already closed (its
// keep-alive timeout fired as switchd reused the connection) can be told
// from an upstream that failed. Such a request is resent once on a new
// connection, and the dead connection is nobody's failure: not a passive
// health failure, not an error for the guard.
//
// Go's Transport resends on its own only what is safe by its rules (no byte
// written, or an idempotent method); a POST whose bytes went into the dead
// socket comes back as an error ("broken pipe", "connection reset", EOF).
type connTrace struct {
	trace httptrace.ClientTrace
	// reused: the last attempt went out on a kept-alive connection.
	// gotByte: some byte of an answer came back on it. GotFirstResponseByte
	// runs on the Transport's read loop, hence atomics.
	reused  atomic.Bool
	gotByte atomic.Bool
	// stale: the request failed on such a connection and could not be
	// resent (its body streamed through: over maxReplayBody).
	stale bool
}

// context returns ctx with c's hooks. It is set once per request, before
// ReverseProxy adds its own trace (which it composes with this one), so it
// costs no copy of the request.
func (c *connTrace) context(ctx context.Context) context.Context {
	c.trace.GotConn = c.gotConn
	c.trace.GotFirstResponseByte = c.firstByte
	return httptrace.WithClientTrace(ctx, &c.trace)
}

func (c *connTrace) gotConn(info httptrace.GotConnInfo) { c.reused.Store(info.Reused) }

func (c *connTrace) firstByte() { c.gotByte.Store(true) }

// begin resets what the previous attempt saw: a failed dial calls no hook.
func (c *connTrace) begin() {
	c.reused.Store(false)
	c.gotByte.Store(false)
}

// staleConn reports whether the attempt that returned err died on a
// kept-alive connection before any byte came back. A timeout is not that:
// the upstream took the request and did not answer in time.
func (c *connTrace) staleConn(err error) bool {
	return c.reused.Load() && !c.gotByte.Load() && !isTimeout(err)
}
