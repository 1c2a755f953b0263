// Package h1 is switchd's HTTP/1.1 client to its upstreams: an
// http.RoundTripper for one upstream address that runs each request on the
// caller's goroutine.
//
// Go's http.Transport gives every upstream connection two goroutines of its
// own (a read loop and a write loop, each with a 4 KiB buffer) and hands
// every request to them and back over channels: two goroutine hand-offs
// per request, and at 1000 busy connections 2000 goroutines and 28 MiB of
// stacks that do nothing switchd needs. Here a request without a body is
// written and its answer read by the goroutine that serves the client; a
// request with a body has its body written by one goroutine while the
// answer is read, because an upstream may answer (or stream its answer)
// before it has read the whole body. An idle kept-alive connection holds no
// buffer and no goroutine: the read and write buffers come from pools for
// the length of one exchange.
//
// Without a background reader nothing notices an upstream closing an idle
// connection, so a connection taken from the pool is first checked with a
// non-blocking peek at its socket (alive_linux.go): closed or holding bytes
// nobody asked for, it is dropped and the next one is tried. What the peek
// cannot see (a close racing the request) reaches the caller as an error on
// a reused connection before any byte came back (Send's Attempt says
// which), and the proxy resends on a new connection (Send with fresh).
// httptrace hooks are not called: Send's Attempt says what the caller needs
// to know of the connection, and passes the 1xx answers on.
//
// Responses are parsed by net/http's own http.ReadResponse and requests
// written by http.Request.Write, so the framing rules (chunked encoding,
// Content-Length, trailers, HEAD, 1xx, 204 and 304) are the standard
// library's, unchanged.
package h1
