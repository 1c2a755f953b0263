package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// clientBody wraps a request body that streams to the upstream (one over
// maxReplayBody) for two reasons. A read error from it is the client's
// (bad chunking, a body cut short, too slow), yet the Transport reports it
// like any other, and forward hands it to errorHandler, which would
// answer 502 and count it against the colour: clientBody keeps the error
// so that errorHandler can tell. And every read gets the body read timeout
// as its deadline, so a client trickling a large body cannot hold an
// upstream for ever (the buffered body has one deadline for the whole).
type clientBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration // 0: no deadline

	// mu is held during a read: errorHandler waits on it, when the request
	// was cancelled, for the read that the cancellation interrupted (a
	// failed read of the client connection cancels the request's context
	// before the read returns).
	mu  sync.Mutex
	err atomic.Pointer[error]
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timeout > 0 {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		// Done: the connection's next reads (net/http's background read
		// while the upstream answers) must not inherit the deadline.
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		b.err.Store(&err)
	}
	return n, err
}

func (b *clientBody) Close() error { return b.body.Close() }

// failure returns the client's read error, nil if there was none. With
// wait it first lets a read in progress finish.
func (b *clientBody) failure(wait bool) error {
	if wait {
		b.mu.Lock()
		defer b.mu.Unlock()
	}
	if p := b.err.Load(); p != nil {
		return *p
	}
	return nil
}

// clientFailed answers a request whose body could not be read: 408 when the
// client was too slow, 400 when it sent a malformed body or stopped before
// its end (a half-closed upload), both class 4xx; nothing when the client
// is gone. Never a colour's error: the upstream did nothing wrong.
func (h *Handler) clientFailed(w http.ResponseWriter, r *http.Request, rs *reqState, err error) {
	status, msg := http.StatusBadRequest, "400 bad request: unreadable body"
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The deadline first: a failed read also cancels the request's
		// context, yet this client is still there to be told.
		status, msg = http.StatusRequestTimeout, "408 request timeout: the body did not arrive in time"
	case errors.Is(err, io.ErrUnexpectedEOF):
		msg = "400 bad request: the body ended before its length"
	case isNetError(err) || r.Context().Err() != nil:
		rs.status, rs.class = 0, ClassCanceled // the client went away
		return
	}
	closeConn(w, r)
	rs.reply(w, status, Class4xx, msg)
}

func isNetError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, net.ErrClosed)
}

// closeConn closes an HTTP/1 connection whose request body was not read to
// the end once the answer is out. "Connection: close" alone is not enough:
// net/http then still reads the rest of the body, with no deadline, before
// it closes, and a client trickling it holds the connection for as long as
// it likes. An expired read deadline ends that read at once. Not on
// HTTP/2: there it would end the whole shared connection (GOAWAY), and a
// stream ends by itself.
func closeConn(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 1 {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}
