package daemon

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"time"
)

// DemoUpstream is a built-in upstream for `switchd -demo`: a small page that
// names its colour, and /healthz.
type DemoUpstream struct {
	Addr string
	srv  *http.Server
	ln   net.Listener
}

// StartDemoUpstream serves the demo page of color on 127.0.0.1 (a free port).
func StartDemoUpstream(color string) (*DemoUpstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo upstream %s: %w", color, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !acceptsHTML(r) {
			_, _ = fmt.Fprintf(w, "%s\n", color)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprintf(w, demoPage, html.EscapeString(color), html.EscapeString(color), html.EscapeString(color))
	})
	d := &DemoUpstream{Addr: ln.Addr().String(), ln: ln,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = d.srv.Serve(ln) }()
	return d, nil
}

// acceptsHTML is a rough check: browsers ask for text/html, curl asks for */*.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if len(v) >= 9 && (v[:9] == "text/html") {
			return true
		}
	}
	return false
}

// Close stops the upstream.
func (d *DemoUpstream) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = d.srv.Shutdown(ctx)
}

const demoPage = `<!doctype html><title>%s</title>
<body style="font:2em sans-serif;background:%s;color:white;text-align:center;padding-top:20vh">
<p>this is <b>%s</b></p><p style="font-size:.5em">switchctl flip — and reload</p></body>
`
