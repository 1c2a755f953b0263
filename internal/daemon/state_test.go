package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/state"
)

// greenAt42 is the state of a host that has been flipped 42 times and
// serves green.
const greenAt42 = `{"version":1,"services":{"app":{"active":"green","previous":"blue","generation":42,"changed_at":"2026-12-01T10:00:00Z","changed_by":"deployer","reason":"manual"}}}`

// stateOnVolume makes dir/state/state.json a symlink to a file on a
// "volume" folder and returns the link and its target.
func stateOnVolume(t *testing.T, dir string) (link, target string) {
	t.Helper()
	sd := filepath.Join(dir, "state")
	if err := os.Mkdir(sd, 0o700); err != nil {
		t.Fatal(err)
	}
	target = filepath.Join(t.TempDir(), "volume", "state.json")
	link = filepath.Join(sd, "state.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link, target
}

// TestStartRefusesDanglingStateSymlink: state.json links to a volume that is
// not mounted. switchd must not start (exit 1, naming the file) rather than
// serve blue at generation 0 and, at the first save, replace the link with
// a file of its own.
func TestStartRefusesDanglingStateSymlink(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, _, _ := procConfig(t, dir, addrOf(blue), addrOf(green))
	link, target := stateOnVolume(t, dir)

	p := startProc(t, "-config", cfgPath)
	if code := p.wait(t, 15*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, p.stderr.String())
	}
	want := fmt.Sprintf("switchd: state: read %s: it is a symlink to %s, which does not exist (is the state volume mounted?)", link, target)
	if !strings.Contains(p.stderr.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, p.stderr.String())
	}
	if got, err := os.Readlink(link); err != nil || got != target {
		t.Fatalf("the link was replaced: %q %v", got, err)
	}
}

// TestStateSymlinkWrittenThrough: with state.json a symlink into a mounted
// volume, a flip writes the volume's file and the link stays a link.
func TestStateSymlinkWrittenThrough(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
	link, target := stateOnVolume(t, dir)
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte(greenAt42), 0o600); err != nil {
		t.Fatal(err)
	}

	startServing(t, cfgPath, ctlURL)
	var svc control.Service
	callAPI(t, "GET", ctlURL+"/v1/services/app", nil, &svc)
	if svc.Active != "green" || svc.Generation != 42 {
		t.Fatalf("started on %s generation %d, want green 42 from the volume", svc.Active, svc.Generation)
	}
	waitHealthy(t, ctlURL, "blue")
	flip(t, ctlURL)

	if got, err := os.Readlink(link); err != nil || got != target {
		t.Fatalf("after a flip state.json is no longer the link to %s: %q %v", target, got, err)
	}
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	f, err := state.Decode(data)
	if err != nil || f.Services["app"].Generation != 43 || f.Services["app"].Active.String() != "blue" {
		t.Fatalf("the volume's state.json after the flip: %+v %v", f.Services["app"], err)
	}
	entries, _ := os.ReadDir(filepath.Dir(link))
	if len(entries) != 1 {
		t.Fatalf("state folder holds %d entries, want the link alone", len(entries))
	}
}

// TestStateOnMissing: a missing state.json is a loud first start by
// default (a warn line naming the file, a startup event, missing_at_start
// in /v1/status) and stops start-up with on_missing = "refuse".
func TestStateOnMissing(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	t.Run("refuse", func(t *testing.T) {
		dir := t.TempDir()
		cfgPath, _, _ := procConfig(t, dir, addrOf(blue), addrOf(green))
		data, _ := os.ReadFile(cfgPath)
		text := strings.Replace(string(data), "[state]\n", "[state]\non_missing = \"refuse\"\n", 1)
		writeConfig(t, dir, text)
		p := startProc(t, "-config", cfgPath)
		if code := p.wait(t, 15*time.Second); code != 1 {
			t.Fatalf("exit %d, want 1; output:\n%s", code, p.stderr.String())
		}
		want := "switchd: state: " + filepath.Join(dir, "state", "state.json") + " does not exist; refusing to start every service on its initial colour"
		if !strings.Contains(p.stderr.String(), want) || !strings.Contains(p.stderr.String(), `on_missing is "refuse"`) {
			t.Fatalf("output lacks %q:\n%s", want, p.stderr.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
			t.Error("refusing created the state folder")
		}
	})
	t.Run("start", func(t *testing.T) {
		got := make(chan control.Event, 16)
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var e control.Event
			b, _ := io.ReadAll(r.Body)
			if json.Unmarshal(b, &e) == nil {
				got <- e
			}
		}))
		defer hook.Close()
		dir := t.TempDir()
		cfgPath, _, ctlURL := procConfig(t, dir, addrOf(blue), addrOf(green))
		data, _ := os.ReadFile(cfgPath)
		writeConfig(t, dir, string(data)+fmt.Sprintf("\n[[notify]]\nurl = %q\nevents = [\"startup\"]\n", hook.URL))
		p := startServing(t, cfgPath, ctlURL)
		path := filepath.Join(dir, "state", "state.json")
		select {
		case e := <-got:
			if e.Type != "startup" || !strings.Contains(e.Detail, path) {
				t.Fatalf("webhook got %+v", e)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no startup event")
		}
		var line struct {
			Level, Msg, Path string
		}
		for _, l := range strings.Split(p.stderr.String(), "\n") {
			if json.Unmarshal([]byte(l), &line) == nil && strings.HasPrefix(line.Msg, "state file missing") {
				break
			}
		}
		if line.Level != "warn" || line.Path != path {
			t.Fatalf("no warn line naming %s:\n%s", path, p.stderr.String())
		}
		// On the event stream too, for a client that replays it.
		if e := replayed(t, ctlURL, "startup"); !strings.Contains(e.Detail, path) {
			t.Fatalf("event stream's startup event %+v", e)
		}
		var st control.Status
		callAPI(t, "GET", ctlURL+"/v1/status", nil, &st)
		if !st.State.MissingAtStart || st.State.Path != path || !st.State.Persisted {
			t.Fatalf("/v1/status state %+v", st.State)
		}
	})
}

// TestStartRefusesHugeGeneration: a generation above 2^53 (which JSON
// clients cannot echo exactly, and whose successor may wrap to 0) stops
// start-up with the reason.
func TestStartRefusesHugeGeneration(t *testing.T) {
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	dir := t.TempDir()
	cfgPath, _, _ := procConfig(t, dir, addrOf(blue), addrOf(green))
	sd := filepath.Join(dir, "state")
	if err := os.Mkdir(sd, 0o700); err != nil {
		t.Fatal(err)
	}
	huge := strings.Replace(greenAt42, `"generation":42`, `"generation":9007199254740993`, 1)
	if err := os.WriteFile(filepath.Join(sd, "state.json"), []byte(huge), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "-config", cfgPath)
	if code := p.wait(t, 15*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, p.stderr.String())
	}
	want := `service "app": generation 9007199254740993 is above 2^53 (9007199254740992), the largest that JSON clients read exactly`
	if !strings.Contains(p.stderr.String(), want) {
		t.Fatalf("output lacks %q:\n%s", want, p.stderr.String())
	}
}

// replayed reads the event stream from its start (Last-Event-ID 1: every id
// is bigger) until an event of type typ.
func replayed(t *testing.T, ctl, typ string) control.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ctl+"/v1/events", nil)
	req.Header.Set("Last-Event-ID", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan control.Event, 1024)
	done := make(chan struct{})
	go func() { defer close(done); readEvents(resp.Body, ch) }()
	defer func() { cancel(); resp.Body.Close(); <-done }()
	for {
		select {
		case e := <-ch:
			if e.Type == typ {
				return e
			}
		case <-ctx.Done():
			t.Fatalf("no %s event in the replayed stream", typ)
		}
	}
}
