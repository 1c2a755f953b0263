package daemon

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
)

// TestOneFailedRequestDoesNotFailOver: a single 504 takes the upstream out
// of rotation (passive) but does not make it "known down": no failover
// moves the service; only failed probes do that.
func TestOneFailedRequestDoesNotFailOver(t *testing.T) {
	blue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(500 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "blue")
	}))
	defer blue.Close()
	green := colourBackend(t, "green")
	text := fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green))
	text = strings.Replace(text, "[server]\n", "[server]\nupstream_response_timeout = \"150ms\"\n", 1)
	in := startRun(t, text)
	waitHealthy(t, in.control, "green")
	waitHealthy(t, in.control, "blue")
	resp, err := http.Get(in.proxy + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 504 {
		t.Fatalf("slow request: %d, want 504", resp.StatusCode)
	}
	time.Sleep(500 * time.Millisecond) // several guard ticks
	var svc control.Service
	callAPI(t, "GET", in.control+"/v1/services/app", nil, &svc)
	if svc.Active != "blue" || svc.Generation != 0 {
		t.Fatalf("one timed-out request moved the service: %s gen %d reason %s", svc.Active, svc.Generation, svc.Reason)
	}
}
