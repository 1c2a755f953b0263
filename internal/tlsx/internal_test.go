package tlsx

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchd/switchd/internal/config"
)

func internalOptions(stateDir string, hosts ...string) Options {
	return Options{
		TLS:      config.TLS{Mode: "internal", MinVersion: "1.2", RedirectHTTP: true},
		Hosts:    hosts,
		StateDir: stateDir,
	}
}

func TestInternal(t *testing.T) {
	state := t.TempDir()
	m := newManager(t, internalOptions(state, "App.Test.", "*.apps.test", "127.0.0.1"))
	caFile := m.CAFile()
	if caFile != filepath.Join(state, "tls", "internal", "ca.crt") {
		t.Errorf("CAFile %q", caFile)
	}
	fi, err := os.Stat(filepath.Join(state, "tls", "internal", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v, want 0600", fi.Mode().Perm())
	}
	roots := poolFromFile(t, caFile)
	addr := serveHTTPS(t, m)

	if body, _ := get(t, addr, "app.test", roots); body != "ok HTTP/2.0" {
		t.Errorf("body %q", body)
	}
	for _, name := range []string{"a.apps.test", "b.apps.test", "deep.a.apps.test"} {
		if _, err := handshake(addr, name, roots, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Names one label under the pattern share its wildcard certificate.
	a, _ := handshake(addr, "a.apps.test", roots, 0)
	b, _ := handshake(addr, "b.apps.test", roots, 0)
	if a == nil || b == nil || !a.Equal(b) || a.DNSNames[0] != "*.apps.test" {
		t.Errorf("a.apps.test and b.apps.test: want one *.apps.test certificate")
	}
	// No SNI: a client that dialled the configured IP.
	if _, err := handshake(addr, "", roots, 0); err != nil {
		t.Errorf("no SNI on 127.0.0.1: %v", err)
	}
	for _, name := range []string{"other.test", "apps.test", "app.test.evil"} {
		if _, err := handshake(addr, name, nil, 0); err == nil {
			t.Errorf("%s: a handshake for an unconfigured name succeeded", name)
		}
	}

	// A reload adds a host.
	if err := m.Update(context.Background(), internalOptions(state, "app.test", "new.test")); err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(addr, "new.test", roots, 0); err != nil {
		t.Errorf("new.test after Update: %v", err)
	}
	if _, err := handshake(addr, "a.apps.test", nil, 0); err == nil {
		t.Error("a.apps.test still served after its host was removed")
	}
}

func TestInternalCASurvivesRestart(t *testing.T) {
	state := t.TempDir()
	m1, err := New(context.Background(), internalOptions(state, "app.test"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(m1.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	m1.Close()

	m2 := newManager(t, internalOptions(state, "app.test"))
	second, err := os.ReadFile(m2.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("a second New made another CA")
	}
	// A client that trusted the first run's CA trusts the second's leaves.
	addr := serveHTTPS(t, m2)
	if _, err := handshake(addr, "app.test", poolFromFile(t, m1.CAFile()), 0); err != nil {
		t.Error(err)
	}
}

func TestInternalCAWithoutKeyIsRefused(t *testing.T) {
	state := t.TempDir()
	m, err := New(context.Background(), internalOptions(state, "app.test"))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := os.Remove(filepath.Join(state, "tls", "internal", "ca.key")); err != nil {
		t.Fatal(err)
	}
	m, err = New(context.Background(), internalOptions(state, "app.test"))
	if err == nil {
		m.Close()
		t.Fatal("New made a new key for a CA certificate clients may trust")
	}
	if !strings.Contains(err.Error(), "without its key") {
		t.Errorf("error %q", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		want string
	}{
		{"acme wildcard", Options{TLS: config.TLS{Mode: "acme", MinVersion: "1.2"}, Hosts: []string{"*.example.com"}, StateDir: t.TempDir()},
			`host "*.example.com" needs a DNS challenge`},
		{"no state dir", Options{TLS: config.TLS{Mode: "internal", MinVersion: "1.2"}, Hosts: []string{"app.test"}},
			"state folder is required"},
		{"bad mode", Options{TLS: config.TLS{Mode: "on"}}, `bad mode "on"`},
		{"bad min version", Options{TLS: config.TLS{Mode: "internal", MinVersion: "1.1"}, StateDir: t.TempDir()}, `bad min_version "1.1"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(context.Background(), tt.o)
			if err == nil {
				m.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}

func TestHosts(t *testing.T) {
	got := Hosts([]config.Service{
		{Hosts: []string{"app.example.com", "*.example.com"}},
		{},
		{Hosts: []string{"API.example.com.", "app.example.com"}},
	})
	want := []string{"app.example.com", "*.example.com", "api.example.com"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Hosts = %q, want %q", got, want)
	}
}
