package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"

	"github.com/switchd/switchd/internal/control"
)

// browser starts headless Chromium for t and returns a tab's context and
// the console messages seen so far; it skips t when Chromium is not
// installed (CI installs it: .ci/run).
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no chromium on PATH: the status page is not tested in a browser (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	var mu sync.Mutex
	var msgs []string
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, m.String())
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { <-done }) // runs first: the tab's cancel ends the loop
	t.Cleanup(cancelTab)
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), msgs...)
	}
}

// screenshot saves the page as PNG into t.TempDir(), or into
// $SWITCHD_SCREENSHOT_DIR when set (a folder that is not committed), and
// returns the file.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("SWITCHD_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", file, len(png))
	return file
}

// TestStatusPageInBrowser loads GET / of a running switchd in headless
// Chromium: the page shows the active colour, its script runs under the
// page's own Content-Security-Policy, its event stream passes the control
// API's browser rules, and a flip through the API shows on the page
// without a reload.
func TestStatusPageInBrowser(t *testing.T) {
	ctx, console := browser(t)
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	in := startRun(t, fmt.Sprintf(baseConfig, t.TempDir(), addrOf(blue), addrOf(green)))
	waitHealthy(t, in.control, "blue")
	waitHealthy(t, in.control, "green")
	// A request through the proxy, so that the guard's window has one.
	if code := callAPI(t, "GET", in.proxy+"/", nil, nil); code != 200 {
		t.Fatalf("proxy: %d", code)
	}
	watchFlip(t, ctx, console, in.control, func() { flip(t, in.control) })
}

// TestStatusPageInBrowserWithToken: with a tokens file the browser is
// asked for Basic credentials once (the read token as password) and
// replays them for the page's own requests: its refetches and its event
// stream need no second answer.
func TestStatusPageInBrowserWithToken(t *testing.T) {
	ctx, console := browser(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	viewer, err := control.AddToken(tokens, "viewer", control.RoleRead)
	if err != nil {
		t.Fatal(err)
	}
	operator, err := control.AddToken(tokens, "operator", control.RoleOperate)
	if err != nil {
		t.Fatal(err)
	}
	blue, green := colourBackend(t, "blue"), colourBackend(t, "green")
	cfg := fmt.Sprintf(baseConfig, dir, addrOf(blue), addrOf(green))
	cfg = strings.Replace(cfg, "[control]\n", fmt.Sprintf("[control]\ntokens_file = %q\n", tokens), 1)
	in := startRun(t, cfg)

	// Answer the first challenge with the token, refuse any later one.
	var challenges atomic.Int32
	answer := func(id fetch.RequestID) {
		r := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
		if challenges.Add(1) == 1 {
			r = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: "browser", Password: viewer}
		}
		_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: id, AuthChallengeResponse: r})
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	if err := chromedp.Listen(ctx, func(ev any) {
		// Commands may not be sent from here: each answer goes on its own.
		switch ev := ev.(type) {
		case *fetch.EventRequestPaused:
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}()
		case *fetch.EventAuthRequired:
			wg.Add(1)
			go func() { defer wg.Done(); answer(ev.RequestID) }()
		}
	}); err != nil {
		t.Fatal(err)
	}
	handle := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &handle}); err != nil {
		t.Fatal(err)
	}
	watchFlip(t, ctx, console, in.control, func() {
		req, _ := http.NewRequest("POST", in.control+"/v1/services/app/flip", nil)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+operator)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("flip: %d", resp.StatusCode)
		}
	})
	if n := challenges.Load(); n != 1 {
		t.Errorf("the browser was challenged %d times, want once", n)
	}
}

// watchFlip opens the status page of the control API at ctl, checks that
// it shows blue and a live event stream, runs doFlip, and checks that the
// page shows green, generation 1 and the flip event without a reload.
func watchFlip(t *testing.T, ctx context.Context, console func() []string, ctl string, doFlip func()) {
	t.Helper()
	const active = `document.querySelector('section[data-service="app"]').dataset.active`
	const live = `document.getElementById("live").dataset.state`
	// Bounded: a page without the section would otherwise wait for ever
	// (the browser already runs, so the timeout ends only this wait).
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(lctx, chromedp.Navigate(ctl+"/"), chromedp.WaitVisible(`section[data-service="app"]`)); err != nil {
		t.Fatalf("loading the page: %v (console: %q)", err, console())
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](active))
	if err != nil {
		t.Fatal(err)
	}
	if got != "blue" {
		t.Fatalf("page shows %q active, want blue", got)
	}
	// The event stream is open: the edge rules let the page's own
	// EventSource through.
	if _, err := chromedp.Run(ctx, chromedp.Poll[string](live+` === "live" && "ok"`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](live))
		t.Fatalf("event stream never opened: indicator %q: %v (console: %q)", state, err, console())
	}
	// A mark on this document: a reload would lose it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.switchdMark = 42`)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, t.Name()+"-blue.png")

	doFlip()
	if _, err := chromedp.Run(ctx, chromedp.Poll[string](active+` === "green" && "ok"`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the page never showed green after the flip: %v (console: %q)", err, console())
	}
	mark, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.switchdMark || 0`))
	if err != nil || mark != 42 {
		t.Fatalf("the page was reloaded to show the flip (mark %d, %v)", mark, err)
	}
	gen, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('section[data-service="app"]').dataset.generation`))
	if err != nil || gen != "1" {
		t.Errorf("generation shown %q (%v), want 1", gen, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[string](`document.querySelector(".events tr.ev-flip") && "ok"`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Errorf("the flip is not in the page's events: %v", err)
	}
	screenshot(t, ctx, t.Name()+"-green.png")
	for _, m := range console() {
		// A refused script, style or connection, or any script error.
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Refused") || strings.Contains(strings.ToLower(m), "error") {
			t.Errorf("browser console: %s", m)
		}
	}
}
