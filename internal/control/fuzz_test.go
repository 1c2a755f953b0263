package control

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/switchboard"
)

// FuzzChangeRequest posts arbitrary bodies to /v1/services/app/flip: the
// API never panics, never answers 5xx (persist_failed aside), answers 200
// only to a body that is valid, refuses an invalid one with 400, and a 200
// is exactly one flip with the body's reason.
func FuzzChangeRequest(f *testing.F) {
	for _, s := range []string{
		``, ` `, "\n\t\r ", `{}`, `null`, `{"reason":"deploy 4f2a"}`,
		`{"expect":"blue"}`, `{"expect":"green"}`, `{"expect":""}`, `{"expect":null}`,
		`{"expect_generation":0}`, `{"expect_generation":18446744073709551615}`,
		`{"expect_generation":18446744073709551616}`, `{"expect_generation":-1}`, `{"expect_generation":1e2}`,
		`{"force":true,"reason":"x"}`, `{"force":1}`, `{"FORCE":true}`, `{"force":1,"force":true}`,
		`{"color":"green"}`, `{"color":""}`, `{"color":null}`,
		`{`, `}`, `{}}`, `{}]`, `{} {}`, `{}x`, `[]`, `"x"`, `1`, `true`,
		"\u00a0", "\u0085", "{}\u00a0", "\xef\xbb\xbf{}",
		`{"reason":"\ud800"}`, "{\"reason\":\"\xff\"}", `{"reason":"` + strings.Repeat("é", 512) + `"}`,
		`{"reason":"a","reason":1}`, `{"unknown":1}`, `{"":null}`, `{"expect":"blue",}`,
	} {
		f.Add([]byte(s))
	}

	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	tg.Up("app", greenAddrs...)
	store, file, err := state.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	sc := service("app", blueAddrs, greenAddrs)
	sc.Drain.Timeout = config.Duration(time.Hour) // Close stops the timers
	board, err := switchboard.New(&config.Config{Services: []config.Service{sc}},
		switchboard.Options{Store: store, State: file, Targets: tg})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(board.Close)
	h := New(Options{Board: board}).Handler()

	f.Fuzz(func(t *testing.T, body []byte) {
		before, _ := board.View("app")
		req := httptest.NewRequest("POST", "http://127.0.0.1:9180/v1/services/app/flip", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		after, _ := board.View("app")

		var eb ErrorBody
		if rec.Code != 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%d with a body that is no error: %q", rec.Code, rec.Body)
			}
			if !reflect.DeepEqual(after.Record, before.Record) {
				t.Fatalf("%d %s, but the state changed: %+v -> %+v", rec.Code, eb.Error.Code, before.Record, after.Record)
			}
		}
		valid, reason := validChange(body)
		switch {
		case rec.Code >= 500:
			if eb.Error.Code != CodePersist {
				t.Fatalf("body %q: %d %s: %s", body, rec.Code, eb.Error.Code, eb.Error.Message)
			}
		case rec.Code == 200:
			if !valid {
				t.Fatalf("body %q is not a valid request, but got 200", body)
			}
			if after.Record.Generation != before.Record.Generation+1 || after.Record.Active != before.Record.Active.Other() {
				t.Fatalf("200, but %+v -> %+v is not one flip", before.Record, after.Record)
			}
			if after.Record.Detail != reason {
				t.Fatalf("detail %q, want the body's reason %q", after.Record.Detail, reason)
			}
		case rec.Code == 400:
			if valid {
				t.Fatalf("body %q is valid, but got 400: %s", body, eb.Error.Message)
			}
			if eb.Error.Code != CodeBadRequest {
				t.Fatalf("400 with code %q", eb.Error.Code)
			}
		case rec.Code == 409:
			// expect or expect_generation did not match; both pools are up.
			if !valid || eb.Error.Code != CodeConflict {
				t.Fatalf("body %q: 409 %s: %s", body, eb.Error.Code, eb.Error.Message)
			}
		default:
			t.Fatalf("body %q: unexpected %d %s", body, rec.Code, rec.Body)
		}
	})
}

// validChange is an independent statement of what a flip accepts: nothing
// but JSON whitespace, or one JSON object (or null) and whitespace, whose
// keys are ChangeRequest's (encoding/json matches them case-insensitively)
// with values of the right type, expect a colour or "", no colour, a reason
// of at most 1024 bytes; 64 KiB at most. It returns the reason.
func validChange(body []byte) (bool, string) {
	if len(body) > maxBody {
		return false, ""
	}
	trimmed := bytes.Trim(body, " \t\r\n")
	if len(trimmed) == 0 {
		return true, ""
	}
	if !json.Valid(body) {
		return false, ""
	}
	if string(trimmed) == "null" {
		return true, ""
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false, ""
	}
	reason := ""
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, ""
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return false, ""
		}
		known := false
		for _, k := range []string{"expect", "expect_generation", "force", "reason", "color"} {
			known = known || strings.EqualFold(key, k)
		}
		if !known {
			return false, ""
		}
		// null leaves a known field as it is.
		if string(raw) == "null" {
			continue
		}
		var ok bool
		switch {
		case strings.EqualFold(key, "expect"):
			var s string
			ok = json.Unmarshal(raw, &s) == nil && (s == "" || s == "blue" || s == "green")
		case strings.EqualFold(key, "expect_generation"):
			var n uint64
			ok = json.Unmarshal(raw, &n) == nil
		case strings.EqualFold(key, "force"):
			var b bool
			ok = json.Unmarshal(raw, &b) == nil
		case strings.EqualFold(key, "reason"):
			ok = json.Unmarshal(raw, &reason) == nil
		case strings.EqualFold(key, "color"):
			var s string
			ok = json.Unmarshal(raw, &s) == nil && s == ""
		}
		if !ok {
			return false, ""
		}
	}
	return len(reason) <= 1024, reason
}

// TestChangeRequestOracle pins validChange on a few bodies, so that the fuzz
// test's oracle is itself tested.
func TestChangeRequestOracle(t *testing.T) {
	for body, want := range map[string]bool{
		``: true, "\n": true, `{}`: true, `null`: true, `{"reason":"x","force":true}`: true,
		`{"expect":"blue"}`: true, `{"Force":true}`: true,
		`{}}`: false, `{} x`: false, "\u00a0": false, `[]`: false, `{"color":"green"}`: false,
		`{"expect":"red"}`: false, `{"x":1}`: false, `{"x":null}`: false, `{"force":null}`: true, `{"force":1,"force":true}`: false,
		`{"reason":"` + strings.Repeat("x", 1025) + `"}`: false,
	} {
		if got, _ := validChange([]byte(body)); got != want {
			t.Errorf("validChange(%q) = %v, want %v", body, got, want)
		}
	}
}

// TestPersistFailedIs500 checks the one 5xx the API gives on purpose.
func TestPersistFailedIs500(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	// Put a plain file where the state folder was: Save cannot create its
	// temp file, even as root (chmod would not stop root).
	moved := f.dir + ".moved"
	if err := os.Rename(f.dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := os.Remove(f.dir); err != nil {
			t.Error(err)
		}
		if err := os.Rename(moved, f.dir); err != nil {
			t.Error(err)
		}
	}()
	status, body := f.do(t, "POST", "/v1/services/app/flip", "")
	e := wantError(t, status, body, http.StatusInternalServerError, CodePersist, "")
	if !strings.HasSuffix(e.Message, "nothing changed") {
		t.Errorf("message %q", e.Message)
	}
	if a := f.record(t).Active; a != config.Blue {
		t.Errorf("active %v after a failed save", a)
	}
}

// FuzzEdgeHeaders sends flips with arbitrary Host, Origin, Sec-Fetch-Site
// and Content-Type: the API never panics; a request with Origin, a
// cross-site Sec-Fetch-Site or a Host that is no loopback name is refused
// 403 forbidden_origin; a flip happens only with a 200, and a 200 only
// for a JSON Content-Type.
func FuzzEdgeHeaders(f *testing.F) {
	f.Add("127.0.0.1:9180", "", "", "application/json", false)
	f.Add("localhost", "", "none", "application/json; charset=utf-8", false)
	f.Add("evil.example", "", "", "application/json", false)
	f.Add("127.0.0.1", "https://evil.example", "cross-site", "text/plain", true)
	f.Add("[::1]:1", "", "same-site", "application/json", false)
	f.Add("LOCALHOST.", "", "", "Application/Json ;q=1", false)
	f.Add("127.0.0.1", "", "", "application/jsonx", false)
	f.Add("127.0.0.1", "", "", "", false)
	f.Add("127.0.0.1", "null", "", "application/json", true)

	tg := newFakeTargets()
	tg.Up("app", blueAddrs...)
	tg.Up("app", greenAddrs...)
	store, file, err := state.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	sc := service("app", blueAddrs, greenAddrs)
	sc.Drain.Timeout = config.Duration(time.Hour)
	board, err := switchboard.New(&config.Config{Services: []config.Service{sc}},
		switchboard.Options{Store: store, State: file, Targets: tg})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(board.Close)
	h := New(Options{Board: board}).Handler()

	f.Fuzz(func(t *testing.T, host, origin, site, ctype string, withOrigin bool) {
		before, _ := board.View("app")
		req := httptest.NewRequest("POST", "http://127.0.0.1/v1/services/app/flip", nil)
		req.Host = host
		if withOrigin {
			req.Header["Origin"] = []string{origin}
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		after, _ := board.View("app")

		var eb ErrorBody
		if rec.Code != 200 {
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" {
				t.Fatalf("%d with a body that is no error: %q", rec.Code, rec.Body)
			}
			if !reflect.DeepEqual(after.Record, before.Record) {
				t.Fatalf("%d %s, but the state changed", rec.Code, eb.Error.Code)
			}
		}
		name := strings.TrimSuffix(strings.ToLower(host), ".")
		if h, _, err := net.SplitHostPort(name); err == nil {
			name = h
		}
		loopback := name == "localhost" || name == "127.0.0.1" || name == "::1" || strings.HasPrefix(name, "127.")
		crossSite := withOrigin || site != "" && site != "none" && site != "same-origin"
		if crossSite || !loopback && !strings.Contains(name, ":") && !strings.HasPrefix(name, "[") {
			if rec.Code == 200 {
				t.Fatalf("Host %q Origin %v %q Sec-Fetch-Site %q: 200", host, withOrigin, origin, site)
			}
		}
		if crossSite && (rec.Code != 403 || eb.Error.Code != CodeForbiddenOrigin) {
			t.Fatalf("cross-site request: %d %s, want 403 forbidden_origin", rec.Code, eb.Error.Code)
		}
		if rec.Code == 200 {
			mt, _, _ := strings.Cut(strings.ToLower(ctype), ";")
			if strings.TrimSpace(mt) != "application/json" {
				t.Fatalf("Content-Type %q: 200", ctype)
			}
		}
	})
}
