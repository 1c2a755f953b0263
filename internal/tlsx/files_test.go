package tlsx

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchd/switchd/internal/config"
)

var discardLog = log.New(io.Discard, "", 0)

func TestFilesServesThePair(t *testing.T) {
	certFile, keyFile := tempFiles(t)
	pair := newPair(t, "app.example.com")
	pair.write(t, certFile, keyFile)
	m := newManager(t, filesOptions(t, certFile, keyFile))
	if m.CAFile() != "" {
		t.Errorf("CAFile %q in mode files", m.CAFile())
	}
	addr := serveHTTPS(t, m)

	body, _ := get(t, addr, "app.example.com", pair.pool())
	if body != "ok HTTP/2.0" {
		t.Errorf("body %q, want HTTP/2 through", body)
	}
	// A name the certificate does not have, and no name at all, still
	// get the pair: it is the only one there is.
	for _, sni := range []string{"other.example.com", ""} {
		got, err := handshake(addr, sni, nil, 0)
		if err != nil {
			t.Fatalf("SNI %q: %v", sni, err)
		}
		if err := sameCert(got, pair.cert); err != nil {
			t.Errorf("SNI %q: %v", sni, err)
		}
	}
}

// HAProxy-style: the chain and the key in one file, named twice.
func TestFilesOneFileForBoth(t *testing.T) {
	file := filepath.Join(t.TempDir(), "both.pem")
	pair := newPair(t, "app.example.com")
	writeOver(t, file, append(append([]byte{}, pair.certPEM...), pair.keyPEM...))
	m := newManager(t, filesOptions(t, file, file))
	if _, err := handshake(serveHTTPS(t, m), "app.example.com", pair.pool(), 0); err != nil {
		t.Fatal(err)
	}
}

func TestFilesReloadWhenTheFilesChange(t *testing.T) {
	certFile, keyFile := tempFiles(t)
	first := newPair(t, "app.example.com")
	first.write(t, certFile, keyFile)
	o := filesOptions(t, certFile, keyFile)
	logger, logs := observedLogger()
	o.Logger = logger
	m := newManager(t, o)
	addr := serveHTTPS(t, m)
	if got, err := handshake(addr, "app.example.com", first.pool(), 0); err != nil || sameCert(got, first.cert) != nil {
		t.Fatalf("first certificate: %v", err)
	}

	second := newPair(t, "app.example.com")
	second.write(t, certFile, keyFile)
	eventually(t, 5*time.Second, "the replaced certificate is served", func() error {
		got, err := handshake(addr, "app.example.com", second.pool(), 0)
		if err != nil {
			return err
		}
		return sameCert(got, second.cert)
	})

	// A broken replacement: the key of another pair. The served one stays.
	writeOver(t, keyFile, newPair(t, "app.example.com").keyPEM)
	eventually(t, 5*time.Second, "the bad pair is reported", func() error {
		if logs.FilterMessageSnippet("cannot be loaded").Len() == 0 {
			return errors.New("no error logged")
		}
		return nil
	})
	time.Sleep(2 * reloadDelay)
	got, err := handshake(addr, "app.example.com", second.pool(), 0)
	if err != nil {
		t.Fatalf("after a bad replacement: %v", err)
	}
	if err := sameCert(got, second.cert); err != nil {
		t.Errorf("after a bad replacement: %v", err)
	}

	// Fixed: the next change is taken.
	third := newPair(t, "app.example.com")
	third.write(t, certFile, keyFile)
	eventually(t, 5*time.Second, "the fixed pair is served", func() error {
		got, err := handshake(addr, "app.example.com", third.pool(), 0)
		if err != nil {
			return err
		}
		return sameCert(got, third.cert)
	})
}

// Kubernetes mounts a secret as symlinks into a folder that is swapped
// whole ("..data" → "..2026_11_26…"); the files named in the config never
// change themselves.
func TestFilesReloadThroughSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	first, second := newPair(t, "app.example.com"), newPair(t, "app.example.com")
	for i, p := range []testPair{first, second} {
		d := filepath.Join(dir, "v"+string(rune('1'+i)))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		p.write(t, filepath.Join(d, "tls.crt"), filepath.Join(d, "tls.key"))
	}
	if err := os.Symlink("v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	m := newManager(t, filesOptions(t, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")))
	addr := serveHTTPS(t, m)
	if _, err := handshake(addr, "app.example.com", first.pool(), 0); err != nil {
		t.Fatal(err)
	}

	if err := os.Symlink("v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the swapped certificate is served", func() error {
		_, err := handshake(addr, "app.example.com", second.pool(), 0)
		return err
	})
}

func TestFilesMinVersion(t *testing.T) {
	certFile, keyFile := tempFiles(t)
	pair := newPair(t, "app.example.com")
	pair.write(t, certFile, keyFile)
	o := filesOptions(t, certFile, keyFile)
	o.TLS.MinVersion = "1.3"
	m := newManager(t, o)
	addr := serveHTTPS(t, m)

	if _, err := handshake(addr, "app.example.com", pair.pool(), tls.VersionTLS12); err == nil {
		t.Error("a TLS 1.2 client got through with min_version 1.3")
	}
	if _, err := handshake(addr, "app.example.com", pair.pool(), 0); err != nil {
		t.Errorf("TLS 1.3 client: %v", err)
	}

	// A reload may lower it again.
	o.TLS.MinVersion = "1.2"
	if err := m.Update(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(addr, "app.example.com", pair.pool(), tls.VersionTLS12); err != nil {
		t.Errorf("TLS 1.2 client after min_version 1.2: %v", err)
	}
}

func TestFilesBadPair(t *testing.T) {
	dir := t.TempDir()
	a, b := newPair(t, "a.example.com"), newPair(t, "b.example.com")
	aCert, aKey := filepath.Join(dir, "a.crt"), filepath.Join(dir, "a.key")
	a.write(t, aCert, aKey)
	bKey := filepath.Join(dir, "b.key")
	writeOver(t, bKey, b.keyPEM)
	missing := filepath.Join(dir, "missing.crt")

	for _, tt := range []struct {
		name, cert, key string
		want            []string
	}{
		{"missing cert", missing, aKey, []string{"tls.cert_file", missing, "no such file"}},
		{"missing key", aCert, filepath.Join(dir, "missing.key"), []string{"tls.key_file", "missing.key", "no such file"}},
		{"mismatch", aCert, bKey, []string{"tls.key_file " + `"` + bKey + `"`, "does not match the certificate in tls.cert_file", aCert}},
		{"switched", aKey, aCert, []string{"tls.cert_file " + `"` + aKey + `"`}},
		{"folder", dir, aKey, []string{"tls.cert_file", "not a regular file"}},
		{"unset", "", aKey, []string{"needs cert_file and key_file"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(context.Background(), filesOptions(t, tt.cert, tt.key))
			if err == nil {
				m.Close()
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestFilesUpdate(t *testing.T) {
	certFile, keyFile := tempFiles(t)
	first := newPair(t, "app.example.com")
	first.write(t, certFile, keyFile)
	o := filesOptions(t, certFile, keyFile)
	m := newManager(t, o)
	addr := serveHTTPS(t, m)

	// New paths: served at once, and watched from now on.
	newCert, newKey := tempFiles(t)
	second := newPair(t, "app.example.com")
	second.write(t, newCert, newKey)
	moved := o
	moved.TLS.CertFile, moved.TLS.KeyFile = newCert, newKey
	if err := m.Update(context.Background(), moved); err != nil {
		t.Fatal(err)
	}
	if got, err := handshake(addr, "app.example.com", second.pool(), 0); err != nil || sameCert(got, second.cert) != nil {
		t.Fatalf("after Update: %v", err)
	}
	third := newPair(t, "app.example.com")
	third.write(t, newCert, newKey)
	eventually(t, 5*time.Second, "a change at the new paths is served", func() error {
		_, err := handshake(addr, "app.example.com", third.pool(), 0)
		return err
	})

	// A bad pair fails the reload and changes nothing.
	bad := moved
	bad.TLS.KeyFile = keyFile // first's key, third's certificate
	bad.TLS.HSTS = "max-age=60"
	if err := m.Update(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("Update with a mismatched pair: %v", err)
	}
	if _, err := handshake(addr, "app.example.com", third.pool(), 0); err != nil {
		t.Errorf("after a failed Update: %v", err)
	}
	if _, h := get(t, addr, "app.example.com", third.pool()); h.Get("Strict-Transport-Security") != "" {
		t.Error("a failed Update changed hsts")
	}

	// Another mode needs a restart.
	other := moved
	other.TLS.Mode = "internal"
	if err := m.Update(context.Background(), other); !errors.Is(err, ErrNeedsRestart) {
		t.Errorf("Update to mode internal: %v, want ErrNeedsRestart", err)
	}
	other = moved
	other.StateDir = t.TempDir()
	if err := m.Update(context.Background(), other); !errors.Is(err, ErrNeedsRestart) {
		t.Errorf("Update of state.dir: %v, want ErrNeedsRestart", err)
	}

	// Reloadable keeps the running mode, folder and files, and passes the rest.
	other = moved
	other.TLS.Mode, other.TLS.CertFile, other.TLS.KeyFile = "acme", "", ""
	other.StateDir = t.TempDir()
	other.TLS.HSTS = "max-age=60"
	r, keys := m.Reloadable(other)
	if strings.Join(keys, " ") != "tls.mode state.dir" {
		t.Errorf("Reloadable keys %q", keys)
	}
	if err := m.Update(context.Background(), r); err != nil {
		t.Fatalf("Update(Reloadable(…)): %v", err)
	}
	if _, h := get(t, addr, "app.example.com", third.pool()); h.Get("Strict-Transport-Security") != "max-age=60" {
		t.Error("hsts not taken through Reloadable")
	}

	m.Close()
	if err := m.Update(context.Background(), moved); err == nil {
		t.Error("Update after Close succeeded")
	}
}

func TestOffMode(t *testing.T) {
	m := newManager(t, Options{TLS: config.TLS{Mode: "off", RedirectHTTP: true, MinVersion: "1.2"}})
	if m.TLSConfig() != nil || m.CAFile() != "" {
		t.Error("mode off has a TLS config or a CA")
	}
	m.Close()
	m.Close() // twice is fine
}
