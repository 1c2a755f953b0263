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

	https, ctlAddr, p := startH2(t, addrOf(big))

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
	fr, conn, err := dialH2(addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	stream, answered := uint32(1), 0
	sizes := []uint32{0, 4096, 64, 65536, 1}
	for b := 0; time.Now().Before(until); b++ {
		for i := range perBurst {
			block := getBlock(enc, &hb, fmt.Sprintf("/?b=%d&i=%d", b, i))
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
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
		out, err := exec.Command("go", "build", "-race", "-o", raceBin.path, "github.com/switchd/switchd/cmd/switchd").CombinedOutput()
		if err != nil {
			raceBin.err = fmt.Errorf("building switchd -race: %v\n%s", err, out)
		}
	})
	if raceBin.err != nil {
		t.Fatal(raceBin.err)
	}
	return raceBin.path
}

// startH2 runs the race-built binary with TLS (internal CA) for app.test,
// blue = blue, and returns its https and control addresses.
func startH2(t *testing.T, blue string) (https, ctl string, p *proc) {
	t.Helper()
	green := colourBackend(t, "green")
	dir := t.TempDir()
	https, ctl = freePort(t), freePort(t)
	text := fmt.Sprintf(baseConfig, dir, blue, addrOf(green))
	text = strings.Replace(text, "[server]\n", fmt.Sprintf("[server]\nhttps_listen = %q\n", https), 1)
	text = strings.Replace(text, "[control]\nlisten = \"127.0.0.1:0\"", fmt.Sprintf("[control]\nlisten = %q", ctl), 1)
	text = withAppHost(text, "app.test") + "\n[tls]\nmode = \"internal\"\n"
	// Built with -race: the race detector sees unsynchronised state on
	// the first overlap, where the runtime's own checks need luck.
	p = startProcWith(t, raceBinary(t), "-config", writeConfig(t, dir, text))
	waitUp(t, "http://"+ctl+"/healthz", p)
	return https, ctl, p
}

// dialH2 opens a raw HTTP/2 connection (TLS, ALPN h2, preface, SETTINGS)
// to app.test at addr. The caller closes conn.
func dialH2(addr string) (*http2.Framer, net.Conn, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	conn := tls.Client(raw, &tls.Config{ServerName: "app.test", NextProtos: []string{"h2"}, InsecureSkipVerify: true})
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return nil, nil, err
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		conn.Close()
		return nil, nil, fmt.Errorf("ALPN %q, want h2", p)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	fr := http2.NewFramer(conn, conn)
	dec := hpack.NewDecoder(4096, nil)
	dec.SetAllowedMaxDynamicTableSize(1 << 16) // the largest size these clients announce
	fr.ReadMetaHeaders = dec
	if err := fr.WriteSettings(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return fr, conn, nil
}

// getBlock is an HPACK block for GET https://app.test/path.
func getBlock(enc *hpack.Encoder, buf *bytes.Buffer, path string) []byte {
	buf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "app.test"}, {":path", path}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return buf.Bytes()
}

// slowUpstream answers after 200 ms (or, with hold set, once hold is
// closed) and records the most requests it held at once.
type slowUpstream struct {
	*httptest.Server
	now, max atomic.Int64
	total    atomic.Int64
	hold     chan struct{}
}

func newSlowUpstream(t *testing.T) *slowUpstream {
	u := &slowUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		u.total.Add(1)
		n := u.now.Add(1)
		defer u.now.Add(-1)
		for m := u.max.Load(); n > m && !u.max.CompareAndSwap(m, n); m = u.max.Load() {
		}
		wait := time.After(200 * time.Millisecond)
		if u.hold != nil {
			wait = nil
		}
		select {
		case <-wait:
		case <-u.hold:
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte("slow"))
	}))
	t.Cleanup(u.Close)
	return u
}

// TestHTTP2RapidResetIsBounded is CVE-2023-44487 against the real binary:
// one connection opens 5,000 streams and cancels each at once. What reaches
// the upstream stays bounded by the stream limit, switchd stays up, and
// another client is served meanwhile.
func TestHTTP2RapidResetIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("attack run")
	}
	up := newSlowUpstream(t)
	https, ctl, p := startH2(t, addrOf(up.Server))
	fr, conn, err := dialH2(https)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() { // drain what the server sends; GOAWAY ends the attack
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	sent := 0
	for i := range 5000 {
		id := uint32(2*i + 1)
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: getBlock(enc, &hb, "/r"), EndStream: true, EndHeaders: true}) != nil ||
			fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			break // the server hung up on the attacker: fine
		}
		sent++
	}
	// Meanwhile a well-behaved client is served.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "app.test", InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	req, _ := http.NewRequest("GET", "https://"+https+"/ok", nil)
	req.Host = "app.test"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("a normal client during the attack: %v", err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	if resp.StatusCode != 200 {
		t.Fatalf("a normal client during the attack: %d", resp.StatusCode)
	}
	select {
	case <-p.done:
		t.Fatalf("switchd died: %s", tail(p.stderr.String(), 3000))
	default:
	}
	if out := p.stderr.String(); strings.Contains(out, "DATA RACE") {
		t.Fatalf("data race under the attack:\n%s", tail(out, 3000))
	}
	// Go's server runs at most MaxConcurrentStreams (250) handlers per
	// connection; each cancelled stream cancels its upstream request.
	if m := up.max.Load(); m > 260 {
		t.Fatalf("upstream held %d requests at once from one connection", m)
	}
	t.Logf("%d streams opened and reset; upstream saw %d requests, at most %d at once", sent, up.total.Load(), up.max.Load())
	waitUp(t, "http://"+ctl+"/healthz", p)
}

// TestHTTP2StreamLimit: switchd announces a stream limit and refuses the
// streams above it instead of queueing them.
func TestHTTP2StreamLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("attack run")
	}
	up := newSlowUpstream(t)
	// The streams within the limit stay open until the refusals are in: on
	// a loaded machine writing 270 HEADERS frames can take longer than any
	// fixed delay, and a stream that ended makes room for the next.
	up.hold = make(chan struct{})
	release := sync.OnceFunc(func() { close(up.hold) })
	defer release()
	time.AfterFunc(10*time.Second, release)
	https, _, _ := startH2(t, addrOf(up.Server))
	fr, conn, err := dialH2(https)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	limit := uint32(0)
	for limit == 0 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			v, ok := sf.Value(http2.SettingMaxConcurrentStreams)
			if !ok || v == 0 || v > 1000 {
				t.Fatalf("MAX_CONCURRENT_STREAMS %d (set: %v), want 1-1000", v, ok)
			}
			limit = v
			_ = fr.WriteSettingsAck()
		}
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	const extra = 20
	for i := range int(limit) + extra {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: getBlock(enc, &hb, "/s"), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	refused, answered := 0, 0
	for refused+answered < int(limit)+extra {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d refused, %d answered: %v", refused, answered, err)
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if refused++; refused == extra {
				release()
			}
		case *http2.MetaHeadersFrame:
			answered++
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v after %d refused, %d answered", f.ErrCode, refused, answered)
		}
	}
	if refused < extra || answered > int(limit) {
		t.Fatalf("limit %d, %d streams: %d refused, %d answered", limit, int(limit)+extra, refused, answered)
	}
	t.Logf("limit %d: %d over it refused, %d answered", limit, refused, answered)
}
