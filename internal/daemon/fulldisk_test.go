package daemon

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/state"
)

// smallDisk mounts a 64 KiB tmpfs on dir, so that the test can fill it for
// real: root writes through permission bits and read-only binds, not
// through a full file system. It skips unless the test may mount (root, and
// a kernel or container that allows it). The unmount is a cleanup
// registered before anything runs on the disk, so it runs after they stop.
func smallDisk(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fill writes a file until the disk is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, 1<<20), 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
	}
	return p
}

// post sends n POSTs (not resent on failure) and counts the answers that
// came from want.
func post(t *testing.T, url, want string, n int) (ok int) {
	t.Helper()
	for range n {
		resp, err := http.Post(url, "text/plain", bytes.NewReader([]byte("x")))
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && string(b) == want {
			ok++
		}
	}
	return ok
}

// TestFailoverWithFullStateDisk: the state disk is full and then every
// upstream of the active colour dies. An operator's flip is refused (500
// persist_failed, as before), but the failover moves traffic to the healthy
// colour in memory, loudly (persisted false in the service and /v1/status,
// switchd_state_persist_failures_total, a state_persist event), and once
// space is freed state.json is written within seconds and persisted is
// true again. Before, the failover was refused too: every request got a
// 502 while blue was healthy, until space was freed.
func TestFailoverWithFullStateDisk(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	sd := filepath.Join(dir, "state")
	smallDisk(t, sd)
	cfgPath, proxyURL, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	startServing(t, cfgPath, ctlURL)
	waitHealthy(t, ctlURL, "green")
	flip(t, ctlURL) // green, generation 1, saved
	waitHealthy(t, ctlURL, "blue")
	events := subscribe(t, ctlURL)

	filler := fill(t, sd)
	var eb control.ErrorBody
	if code := callAPI(t, "POST", ctlURL+"/v1/services/app/flip", nil, &eb); code != 500 || eb.Error.Code != control.CodePersist {
		t.Fatalf("operator's flip on a full disk: %d %+v, want 500 %s", code, eb, control.CodePersist)
	}

	green.Close() // every green upstream gone
	if e := events.next(t, "failover", 15*time.Second); e.To != "blue" || e.Generation != 2 {
		t.Fatalf("failover event %+v", e)
	}
	if e := events.next(t, "state_persist", 5*time.Second); e.OK == nil || *e.OK || e.Service != "app" {
		t.Fatalf("state_persist event %+v, want ok=false for app", e)
	}
	if ok := post(t, proxyURL+"/", "blue", 50); ok != 50 {
		t.Fatalf("after the failover %d of 50 POSTs reached blue", ok)
	}
	var svc control.Service
	callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &svc)
	if svc.Active != "blue" || svc.Persisted == nil || *svc.Persisted {
		t.Fatalf("service after failover: active %s, persisted %v", svc.Active, svc.Persisted)
	}
	var st control.Status
	callAPI(t, "GET", ctlURL+"/v1/status", nil, &st)
	if st.State.Persisted {
		t.Fatal("/v1/status says persisted with the disk full")
	}
	if code, out, _ := switchctl(t, ctlURL, "status"); code != 0 || !strings.Contains(out, "app: NOT PERSISTED") {
		t.Fatalf("switchctl status (exit %d) does not say app is not persisted:\n%s", code, out)
	}
	// Retries count too, once a second.
	eventually(t, "retries counted", 10*time.Second, func() bool {
		n, _ := strconv.Atoi(metric(t, ctlURL, "switchd_state_persist_failures_total"))
		return n >= 3
	})
	if data, _ := os.ReadFile(filepath.Join(sd, "state.json")); !bytes.Contains(data, []byte(`"generation": 1,`)) {
		t.Fatalf("state.json on the full disk:\n%s", data)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if e := events.next(t, "state_persist", 10*time.Second); e.OK == nil || !*e.OK {
		t.Fatalf("state_persist event after freeing space %+v, want ok=true", e)
	}
	callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &svc)
	if svc.Persisted == nil || !*svc.Persisted {
		t.Fatalf("persisted %v after freeing space", svc.Persisted)
	}
	if _, out, _ := switchctl(t, ctlURL, "status"); strings.Contains(out, "NOT PERSISTED") {
		t.Fatalf("switchctl status after freeing space:\n%s", out)
	}
	_, f, err := state.Open(sd)
	if err != nil {
		t.Fatal(err)
	}
	if rec := f.Services["app"]; rec.Active.String() != "blue" || rec.Generation != 2 || rec.Reason != "failover" {
		t.Fatalf("state.json after freeing space: %+v", rec)
	}
}
