package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// TestWebhooks: a flip reaches a webhook as JSON, while a second webhook
// that never answers slows neither the flips nor the requests.
func TestWebhooks(t *testing.T) {
	got := make(chan control.Event, 64)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e control.Event
		b, _ := io.ReadAll(r.Body)
		if json.Unmarshal(b, &e) == nil && r.Header.Get("X-Switchd-Event") == e.Type {
			got <- e
		}
	}))
	defer hook.Close()
	dead, err := net.Listen("tcp", "127.0.0.1:0") // accepts into the backlog, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()

	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)) + fmt.Sprintf(`
[[notify]]
url = %q
events = ["flip"]
[[notify]]
url = "http://%s/hook"
`, hook.URL+"/hook", dead.Addr())
	in := startRun(t, text)
	waitHealthy(t, in.control, "green")

	var rtt []time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		if code := callAPI(t, "POST", in.control+"/v1/services/app/flip", nil, nil); code != 200 {
			t.Fatalf("flip %d: %d", i, code)
		}
		rtt = append(rtt, time.Since(start))
		resp, err := http.Get(in.proxy + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	sort.Slice(rtt, func(i, j int) bool { return rtt[i] < rtt[j] })
	// The dead webhook's attempts time out after 5s each: a flip waiting
	// for it would take that long.
	if rtt[len(rtt)-1] > 2*time.Second {
		t.Fatalf("slowest flip took %v with a dead webhook configured", rtt[len(rtt)-1])
	}
	seen := 0
	timeout := time.After(5 * time.Second)
	for seen < 20 {
		select {
		case e := <-got:
			if e.Type != "flip" || e.Service != "app" || e.Generation == 0 {
				t.Fatalf("webhook got %+v", e)
			}
			seen++
		case <-timeout:
			t.Fatalf("webhook got %d of 20 flips", seen)
		}
	}
}
