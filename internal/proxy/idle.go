package proxy

import "github.com/switchd/switchd/internal/proxy/h1"

// connTrace follows the connection each attempt of one request goes out
// on, so that a kept-alive connection the upstream had already closed (its
// keep-alive timeout fired as switchd reused the connection) can be told
// from an upstream that failed. Such a request is resent once on a new
// connection, and the dead connection is nobody's failure: not a passive
// health failure, not an error for the guard.
//
// The upstream client checks an idle connection before it reuses it
// (proxy/h1), so this is the rarer race of a close arriving while the
// request is sent: it comes back as an error ("broken pipe", "connection
// reset", EOF) on a reused connection before any byte of an answer.
type connTrace struct {
	// attempt is what the last attempt's connection saw, filled in by
	// h1.Transport.Send on the request's goroutine.
	attempt h1.Attempt
	// stale: the request failed on such a connection and could not be
	// resent (its body streamed through: over maxReplayBody).
	stale bool
}

// begin resets what the previous attempt saw (a failed dial sets
// nothing); the attempt's 1xx answers go to inf.
func (c *connTrace) begin(inf h1.Informational) { c.attempt = h1.Attempt{Informational: inf} }

// staleConn reports whether the attempt that returned err died on a
// kept-alive connection before any byte came back. A timeout is not that:
// the upstream took the request and did not answer in time.
func (c *connTrace) staleConn(err error) bool {
	return c.attempt.Reused && !c.attempt.GotFirstByte && !isTimeout(err)
}
