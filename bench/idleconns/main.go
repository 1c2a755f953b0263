// Command idleconns opens N keep-alive connections to a proxy, sends one
// request on each and reads its answer, then holds them all open and idle
// until it is stopped (SIGINT/SIGTERM) or -hold passes. bench/idle.sh uses it
// to measure what an idle keep-alive connection costs the proxy. Loopback
// only; it is a bench tool and nothing ships it.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "the proxy")
	n := flag.Int("n", 10000, "connections")
	hold := flag.Duration("hold", time.Minute, "how long to hold them at most")
	caFile := flag.String("tls-ca", "", "speak TLS (HTTP/1.1), trusting this PEM certificate for the name localhost")
	flag.Parse()
	dial := func() (net.Conn, error) { return net.Dial("tcp", *addr) }
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "idleconns: %v\n", err)
			os.Exit(1)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fmt.Fprintf(os.Stderr, "idleconns: no certificate in %s\n", *caFile)
			os.Exit(1)
		}
		cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"http/1.1"}}
		dial = func() (net.Conn, error) { return tls.Dial("tcp", *addr, cfg) }
	}

	conns := make([]net.Conn, 0, *n)
	for i := range *n {
		c, err := dial()
		if err != nil {
			fmt.Fprintf(os.Stderr, "idleconns: connection %d: %v\n", i, err)
			os.Exit(1)
		}
		if err := oneRequest(c); err != nil {
			fmt.Fprintf(os.Stderr, "idleconns: request on connection %d: %v\n", i, err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Printf("ready %d\n", len(conns))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-stop:
	case <-time.After(*hold):
	}
	for _, c := range conns {
		_ = c.Close()
	}
}

// oneRequest sends a GET on c and reads the whole answer, leaving c idle
// and kept alive.
func oneRequest(c net.Conn) error {
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		return fmt.Errorf("the proxy closes the connection")
	}
	return err
}
