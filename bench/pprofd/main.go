// Command pprofd is switchd (daemon.Main, the same code as cmd/switchd) with
// net/http/pprof on an extra loopback listener, for profiling the real
// daemon under wrk load (bench/profile.sh). It is a bench tool, not shipped.
//
//	pprofd -pprof 127.0.0.1:19181 [-memprofilerate 4096] -- -config perf.toml
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/switchd/switchd/internal/daemon"
)

func main() {
	fs := flag.NewFlagSet("pprofd", flag.ExitOnError)
	addr := fs.String("pprof", "127.0.0.1:19181", "pprof listen address (loopback)")
	rate := fs.Int("memprofilerate", 0, "runtime.MemProfileRate; 0 keeps Go's default (512 KiB)")
	_ = fs.Parse(os.Args[1:])
	if *rate > 0 {
		runtime.MemProfileRate = *rate
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pprofd:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := daemon.Main(ctx, fs.Args(), os.Stdout, os.Stderr)
	stop()
	_ = srv.Close()
	os.Exit(code)
}
