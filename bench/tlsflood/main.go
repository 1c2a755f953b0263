// Command tlsflood runs -c parallel loops of full TLS handshakes against one
// address for -d and reports handshakes per second and, given the server's
// PIDs, the server's CPU per handshake (utime+stime of the PIDs and their
// children, from /proc). No session cache: every handshake is a full one.
// bench/tls.sh uses it; loopback only; it is a bench tool and nothing ships it.
//
//	tlsflood -addr 127.0.0.1:18443 -c 4 -d 6s -groups x25519 -pids 1234
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18443", "the TLS server")
	conc := flag.Int("c", 4, "parallel handshake loops")
	dur := flag.Duration("d", 6*time.Second, "how long")
	groups := flag.String("groups", "x25519", `key exchange groups offered: "x25519" (what openssl 3.0 sends), "mlkem" (X25519MLKEM768 only) or "go" (Go's default: X25519MLKEM768 and X25519 key shares)`)
	version := flag.String("tls", "1.3", `highest version offered: "1.3" or "1.2"`)
	alpn := flag.String("alpn", "h2,http/1.1", "ALPN protocols offered")
	pids := flag.String("pids", "", "comma-separated server PIDs whose CPU (with their children's) to count")
	flag.Parse()

	cfg := &tls.Config{
		InsecureSkipVerify: true, // a self-signed bench certificate; verifying costs only the client
		ClientSessionCache: nil,  // no resumption: every handshake is a full one
		NextProtos:         strings.Split(*alpn, ","),
		MaxVersion:         tls.VersionTLS13,
	}
	switch *groups {
	case "x25519":
		cfg.CurvePreferences = []tls.CurveID{tls.X25519}
	case "mlkem":
		cfg.CurvePreferences = []tls.CurveID{tls.X25519MLKEM768}
	case "go":
	default:
		fail(fmt.Errorf("bad -groups %q", *groups))
	}
	switch *version {
	case "1.3":
	case "1.2":
		cfg.MaxVersion = tls.VersionTLS12
	default:
		fail(fmt.Errorf("bad -tls %q", *version))
	}
	procs, err := parsePIDs(*pids)
	if err != nil {
		fail(err)
	}

	first, err := handshake(*addr, cfg) // also: the server is up, and what it negotiates
	if err != nil {
		fail(err)
	}
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	c0 := cpuTicks(procs)
	start := time.Now()
	stop := start.Add(*dur)
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := handshake(*addr, cfg); err != nil {
					failed.Add(1)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	c1 := cpuTicks(procs)
	n := done.Load()
	fmt.Printf("%d handshakes in %.1fs = %.0f/s, %d failed, c=%d, %s %s alpn=%s",
		n, took.Seconds(), float64(n)/took.Seconds(), failed.Load(), *conc,
		tls.VersionName(first.Version), first.CurveID, first.NegotiatedProtocol)
	if len(procs) > 0 && n > 0 {
		// Linux counts CPU in ticks of 10 ms (USER_HZ 100).
		fmt.Printf(", server CPU %.0f us/handshake", float64(c1-c0)*10000/float64(n))
	}
	fmt.Println()
}

// handshake dials addr, completes a handshake and closes the connection.
func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	c := tls.Client(raw, cfg)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	err = c.Handshake()
	st := c.ConnectionState()
	_ = c.Close()
	return st, err
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad -pids %q", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// cpuTicks is utime+stime of the processes and their children (nginx's
// workers), in clock ticks.
func cpuTicks(pids []int) int64 {
	var t int64
	for _, p := range pids {
		t += procTicks(p)
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p, p))
		for _, k := range strings.Fields(string(kids)) {
			if kp, err := strconv.Atoi(k); err == nil {
				t += procTicks(kp)
			}
		}
	}
	return t
}

func procTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "tlsflood:", err)
	os.Exit(1)
}
