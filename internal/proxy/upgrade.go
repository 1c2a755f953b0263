package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// connSet tracks the upgraded connections of one colour so that a flip can
// close them after the drain timeout. switchProtocols copies both ways
// between the client and the upstream; closing the upstream side ends both
// copies.
type connSet struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

type trackedConn struct {
	io.ReadWriteCloser
	set     *connSet
	up      *Upstream // where it goes, so that removing one upstream can drain its own
	started time.Time

	mu     sync.Mutex
	client io.Closer // the client's side of the tunnel (join)
	closed bool
}

// Close closes the upstream's side and the client's joined to it; the
// first Close also takes c out of its set.
func (c *trackedConn) Close() error {
	c.mu.Lock()
	first := !c.closed
	c.closed = true
	client := c.client
	c.mu.Unlock()
	if first {
		c.set.remove(c)
		if client != nil {
			_ = client.Close()
		}
	}
	return c.ReadWriteCloser.Close()
}

// join ties the client's side of the tunnel to c: closing c closes both.
func (c *trackedConn) join(client io.Closer) {
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.client = client
	}
	c.mu.Unlock()
	if closed {
		_ = client.Close()
	}
}

func (s *connSet) add(rwc io.ReadWriteCloser, up *Upstream) *trackedConn {
	c := &trackedConn{ReadWriteCloser: rwc, set: s, up: up, started: time.Now()}
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*trackedConn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c
}

func (s *connSet) remove(c *trackedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// closeBefore closes the connections opened before cutoff.
func (s *connSet) closeBefore(cutoff time.Time) {
	s.closeIf(cutoff, func(*Upstream) bool { return true })
}

// closeIf closes the connections opened before cutoff to an upstream for
// which which reports true.
func (s *connSet) closeIf(cutoff time.Time, which func(*Upstream) bool) {
	s.mu.Lock()
	var victims []*trackedConn
	for c := range s.conns {
		if c.started.Before(cutoff) && which(c.up) {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		_ = c.Close()
	}
}

// switchProtocols joins the client and the upstream once the upstream has
// answered 101 to a WebSocket request: the answer goes to the client over
// its hijacked connection, then bytes are copied both ways until one side
// ends. The upstream connection closes when the request's context ends
// and when this returns; a drain closes it through its connSet, and the
// client's with it (a client told of the upstream's end by a half-close
// may never close its side). An upstream that switches protocols when
// none was asked for gets a 502.
func (h *Handler) switchProtocols(w http.ResponseWriter, r, out *http.Request, res *http.Response, rs *reqState) {
	back, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		_ = res.Body.Close()
		h.errorHandler(w, r, rs, errors.New("internal error: 101 switching protocols response with non-writable body"))
		return
	}
	defer back.Close()
	reqUp, resUp := upgradeType(out.Header), upgradeType(res.Header)
	if !isPrint(resUp) {
		h.errorHandler(w, r, rs, errInvalidUpgrade("backend", resUp))
		return
	}
	if reqUp == "" || !strings.EqualFold(reqUp, resUp) {
		h.errorHandler(w, r, rs, fmt.Errorf("backend tried to switch protocol %q when %q was requested", resUp, reqUp))
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		h.errorHandler(w, r, rs, fmt.Errorf("hijack failed on protocol switch: %w", err))
		return
	}
	defer conn.Close()
	if tc, ok := back.(*trackedConn); ok {
		tc.join(conn)
	}
	stop := context.AfterFunc(r.Context(), func() { _ = back.Close() })
	defer stop()

	copyHeader(w.Header(), res.Header)
	res.Header = w.Header()
	res.Body = nil // res.Write writes the head only
	if err := res.Write(brw); err != nil {
		h.log.Debug("protocol switch: writing the answer", zap.Error(err))
		return
	}
	if err := brw.Flush(); err != nil {
		h.log.Debug("protocol switch: writing the answer", zap.Error(err))
		return
	}
	errc := make(chan error, 2)
	go tunnel(errc, back, conn)
	go tunnel(errc, conn, back)
	// Until one direction fails or cannot half-close, or both end.
	if err := <-errc; err == nil {
		<-errc
	}
}

// tunnel copies one direction of a switched connection. At the end of src
// it half-closes dst where it can, so that the other side sees it and the
// other direction goes on; where it cannot, the switched connection ends.
func tunnel(errc chan<- error, dst io.Writer, src io.Reader) {
	if _, err := io.Copy(dst, src); err != nil {
		errc <- err
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		errc <- cw.CloseWrite()
		return
	}
	errc <- errTunnelDone // no half-close: end both directions
}

var errTunnelDone = errors.New("switched connection: one side ended")
