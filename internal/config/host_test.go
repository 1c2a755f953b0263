package config

import "testing"

func TestRequestHost(t *testing.T) {
	for in, want := range map[string]string{
		"app.example.com":        "app.example.com",
		"App.Example.COM.":       "app.example.com",
		"app.example.com:8443":   "app.example.com",
		"App.Example.com.:80":    "app.example.com",
		"10.0.0.5:9180":          "10.0.0.5",
		"[::1]:9180":             "::1",
		"[::1]":                  "::1",
		"[::FFFF:10.0.0.5]:9180": "::ffff:10.0.0.5",
		"":                       "",
	} {
		if got := RequestHost(in); got != want {
			t.Errorf("RequestHost(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = RequestHost("app.example.com:8443") }); n != 0 {
		t.Errorf("RequestHost of a lower-case name allocates %v times, want 0", n)
	}
}
