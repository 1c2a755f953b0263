package proxy

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/switchd/switchd/internal/health"
)

// maxReplayBody is the largest request body kept so that a request that was
// never sent can be sent to another upstream.
const maxReplayBody = 64 << 10

// bufferBody reads a body of up to maxReplayBody into memory so that it can
// be sent twice; a larger body streams through and is not retried.
func (rs *reqState) bufferBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	if r.ContentLength > maxReplayBody {
		rs.replay = false
		return nil
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxReplayBody+1))
	if err != nil {
		return err
	}
	if len(buf) > maxReplayBody {
		rs.replay = false
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
		return nil
	}
	rs.body = buf
	r.Body = io.NopCloser(bytes.NewReader(buf))
	// With GetBody the Transport itself resends a request whose kept-alive
	// connection turned out closed before anything was written, POSTs too.
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// roundTrip sends the request to the upstream chosen for it. When a
// kept-alive connection turned out dead it resends once, on a new
// connection to the same upstream (idle.go); when the connection could not
// be made at all, once to another upstream of the same colour: nothing
// reached the first one, so any method is safe.
func (rs *reqState) roundTrip(req *http.Request) (*http.Response, error) {
	u := rs.upstream
	resp, err := rs.send(u, req, false)
	if err == nil {
		return resp, nil
	}
	if req.Context().Err() != nil {
		return nil, err // the client went away: not the upstream's fault
	}
	if rs.conn.staleConn(err) {
		// The upstream closed that connection, not the request: no
		// passive failure either way. A body that streamed through
		// cannot be sent again; the client gets 502 (errorHandler).
		if !rs.replay {
			rs.conn.stale = true
			return nil, err
		}
		resp, err = rs.send(u, rs.again(req, u), true)
		if err == nil || req.Context().Err() != nil {
			return resp, err
		}
		// A new connection failed too: that is the upstream's. The
		// request did go out once, so no other upstream gets it.
		if isUpstreamFault(err) {
			u.health.Fail(err)
		}
		return nil, err
	}
	if isUpstreamFault(err) {
		u.health.Fail(err)
	}
	if !rs.replay || !health.DialFailed(err) {
		return nil, err
	}
	alt := rs.pool.pick(u)
	if alt == nil {
		return nil, err
	}
	rs.upstream = alt
	resp, err2 := rs.send(alt, rs.again(req, alt), false)
	if err2 != nil && isUpstreamFault(err2) {
		alt.health.Fail(err2)
	}
	return resp, err2
}

// send makes one attempt to u (on a new connection when fresh), counted
// in u's requests in flight.
func (rs *reqState) send(u *Upstream, req *http.Request, fresh bool) (*http.Response, error) {
	rs.conn.begin(rs)
	u.inflight.Add(1)
	defer u.inflight.Add(-1)
	return u.transport.Send(req, fresh, &rs.conn.attempt)
}

// again returns req addressed to u, with the kept body from its start.
func (rs *reqState) again(req *http.Request, u *Upstream) *http.Request {
	again := req.Clone(req.Context())
	again.URL.Scheme, again.URL.Host = u.scheme, u.host
	if rs.body != nil {
		again.Body = io.NopCloser(bytes.NewReader(rs.body))
	}
	return again
}

// isUpstreamFault reports whether err says the upstream is broken (refused,
// reset, timed out) rather than that the request was cancelled.
func isUpstreamFault(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var op *net.OpError
	return errors.As(err, &op) || isTimeout(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// secretEqual compares in constant time, so the secret cannot be guessed
// byte by byte from response times.
func secretEqual(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
