package daemon

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServerLimits: headers over max_header_bytes get 431; a client that
// never finishes its headers is cut off after read_header_timeout; an idle
// kept-alive connection is closed after idle_timeout.
func TestServerLimits(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green))
	text = strings.Replace(text, "[server]\n", "[server]\nmax_header_bytes = 4096\nread_header_timeout = \"300ms\"\nidle_timeout = \"300ms\"\n", 1)
	in := startRun(t, text)
	host := strings.TrimPrefix(in.proxy, "http://")

	req, _ := http.NewRequest("GET", in.proxy+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 8192))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("big headers: %d, want 431", resp.StatusCode)
	}

	for _, tc := range []struct{ name, send string }{
		{"slow headers", "GET / HTTP/1.1\r\nHost: x\r\n"},        // never ends the headers
		{"idle keep-alive", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"}, // one request, then silence
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			if _, err := c.Write([]byte(tc.send)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			r := bufio.NewReader(c)
			if strings.HasSuffix(tc.send, "\r\n\r\n") {
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			for {
				if _, err := r.ReadByte(); err != nil {
					break // closed by the server (or our 5s deadline)
				}
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Fatalf("connection held for %v; the server did not enforce its timeout", el)
			}
		})
	}
}
