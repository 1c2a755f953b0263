package tlsx

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// reloadDelay is how long the folders of the certificate files must stay
// quiet before they are read again: tools write the chain and the key one
// after the other, often as several events each.
var reloadDelay = 250 * time.Millisecond

// maxPEMFile bounds a certificate or key file.
const maxPEMFile = 4 << 20

// filePair is the state of mode "files": which pair is cached in certmagic
// and the watcher of the folders that hold it.
type filePair struct {
	certFile, keyFile string
	certPEM, keyPEM   []byte
	hash              atomic.Pointer[string]           // certmagic's hash of the cached pair
	leaf              atomic.Pointer[x509.Certificate] // the served pair's leaf, for Certificates
	served            atomic.Pointer[servedPair]       // certmagic's last answer, reused by handshakes

	watch *fileWatch
}

// servedFor is how long handshakes reuse the pair certmagic last gave out
// instead of asking it again. certmagic's lookup costs a few µs and about
// 20 allocations per handshake; its answer changes with a reload, which
// ends the reuse at once (a new hash), and with a new OCSP staple, which
// certmagic fetches hourly and handshakes then staple within servedFor.
const servedFor = time.Minute

// servedPair is a certificate certmagic gave out for the pair of hash.
type servedPair struct {
	cert  *tls.Certificate
	hash  *string // filePair.hash when it was asked for; a reload stores a new pointer
	until time.Time
}

// filesCertificate is GetCertificate in mode "files": the pair, whatever the
// client asked for (the operator chose it for this listener).
func (m *Manager) filesCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	f := m.files
	// Loaded before asking certmagic: its selector reads the same hash or a
	// newer one, so an answer is never older than the hash it is kept under.
	hash := f.hash.Load()
	if s := f.served.Load(); s != nil && s.hash == hash && time.Now().Before(s.until) {
		return s.cert, nil
	}
	c, err := m.magic.GetCertificate(hello)
	if err != nil {
		return nil, err
	}
	f.served.Store(&servedPair{cert: c, hash: hash, until: time.Now().Add(servedFor)})
	return c, nil
}

type fileWatch struct {
	w    *fsnotify.Watcher
	done chan struct{}
	once sync.Once
}

// startFiles caches the pair in certmagic and starts watching its files.
func (m *Manager) startFiles(ctx context.Context, o Options) error {
	m.newMagic(o)
	// Whatever the client asked for, it gets the pair: the cache holds
	// nothing else, and certmagic consults the selector also when no
	// certificate matches the name.
	m.magic.CertSelection = pairSelector{m}
	m.files = &filePair{}
	_, err := m.reloadFiles(ctx, o.TLS.CertFile, o.TLS.KeyFile, true)
	return err
}

// reloadFiles reads the pair at certFile and keyFile and, when it differs
// from the one served, caches it in its place. A bad pair changes nothing.
// rewatch makes the watcher follow the folders of new paths; the watcher
// it replaces is returned, for the caller to stop once it has released
// m.mu (its loop may be waiting for m.mu). The caller holds m.mu, or is New.
func (m *Manager) reloadFiles(ctx context.Context, certFile, keyFile string, rewatch bool) (stale *fileWatch, err error) {
	f := m.files
	certPEM, keyPEM, leaf, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	moved := certFile != f.certFile || keyFile != f.keyFile
	if !moved && bytes.Equal(certPEM, f.certPEM) && bytes.Equal(keyPEM, f.keyPEM) {
		return nil, nil
	}
	var w *fileWatch
	if moved && rewatch {
		if w, err = m.watchFiles(certFile, keyFile); err != nil {
			return nil, err
		}
	}
	hash, err := m.magic.CacheUnmanagedCertificatePEMBytes(ctx, certPEM, keyPEM, nil)
	if err != nil {
		if w != nil {
			w.stop() // never handed out: its loop cannot be waiting for m.mu
		}
		return nil, fmt.Errorf("tls.cert_file %q: %w", certFile, err)
	}
	var old string
	if p := f.hash.Swap(&hash); p != nil {
		old = *p
	}
	if old != "" && old != hash {
		m.cache.Remove([]string{old})
	}
	if w != nil {
		stale, f.watch = f.watch, w
	}
	f.certFile, f.keyFile, f.certPEM, f.keyPEM = certFile, keyFile, certPEM, keyPEM
	f.leaf.Store(leaf)
	m.log.Info("certificate loaded", zap.String("cert_file", certFile), zap.Strings("names", certNames(leaf)),
		zap.Time("not_after", leaf.NotAfter))
	if time.Now().After(leaf.NotAfter) {
		m.log.Warn("certificate has expired", zap.String("cert_file", certFile), zap.Time("not_after", leaf.NotAfter))
	}
	return stale, nil
}

// watchFiles watches the folders of the pair, not the files: editors and
// tools replace files by renaming over them, and Kubernetes swaps a
// symlinked folder, which a watch on the file itself would miss.
func (m *Manager) watchFiles(certFile, keyFile string) (*fileWatch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("tls: watch certificate files: %w", err)
	}
	var dirs []string
	for _, f := range []string{certFile, keyFile} {
		if d := filepath.Dir(f); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			w.Close()
			return nil, fmt.Errorf("tls: watch %q: %w", d, err)
		}
	}
	fw := &fileWatch{w: w, done: make(chan struct{})}
	go m.watchLoop(fw)
	return fw, nil
}

func (m *Manager) watchLoop(fw *fileWatch) {
	defer close(fw.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case _, ok := <-fw.w.Events:
			if !ok {
				return
			}
			// Any change in the folders: the files may be symlinks into
			// a swapped folder. Reading an unchanged pair costs little.
			timer.Reset(reloadDelay)
		case err, ok := <-fw.w.Errors:
			if !ok {
				return
			}
			m.log.Warn("watching certificate files", zap.Error(err))
		case <-timer.C:
			m.reloadFromDisk(fw)
		}
	}
}

// reloadFromDisk is a reload after a change on disk. A bad pair, which may
// be one half-written, keeps the served one: the next change tries again.
func (m *Manager) reloadFromDisk(fw *fileWatch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.files
	if m.closed || f.watch != fw {
		return // closed, or replaced by Update meanwhile
	}
	if _, err := m.reloadFiles(m.ctx, f.certFile, f.keyFile, false); err != nil {
		m.log.Error("certificate files changed but cannot be loaded; serving the previous certificate", zap.Error(err))
	}
}

func (f *filePair) stopWatch() {
	if f.watch != nil {
		f.watch.stop()
	}
}

func (fw *fileWatch) stop() {
	fw.once.Do(func() {
		fw.w.Close()
		<-fw.done
	})
}

// pairSelector makes certmagic serve the current pair of mode "files" for
// any name, also while the previous one is still in the cache.
type pairSelector struct{ m *Manager }

func (s pairSelector) SelectCertificate(_ *tls.ClientHelloInfo, choices []certmagic.Certificate) (certmagic.Certificate, error) {
	if p := s.m.files.hash.Load(); p != nil {
		for _, c := range choices {
			if c.Hash() == *p {
				return c, nil
			}
		}
	}
	if len(choices) > 0 {
		return choices[0], nil
	}
	return certmagic.Certificate{}, errors.New("tls: no certificate loaded")
}

// loadPair reads and checks a certificate chain and its key; errors name
// the file at fault.
func loadPair(certFile, keyFile string) (certPEM, keyPEM []byte, leaf *x509.Certificate, err error) {
	if certFile == "" || keyFile == "" {
		return nil, nil, nil, errors.New(`tls: mode "files" needs cert_file and key_file`)
	}
	if certPEM, err = readFile(certFile); err != nil {
		return nil, nil, nil, fmt.Errorf("tls.cert_file: %w", err)
	}
	if keyPEM, err = readFile(keyFile); err != nil {
		return nil, nil, nil, fmt.Errorf("tls.key_file: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "tls: ")
		switch {
		case strings.Contains(msg, "in certificate input"):
			return nil, nil, nil, fmt.Errorf("tls.cert_file %q: %s", certFile, msg)
		case strings.Contains(msg, "does not match"):
			return nil, nil, nil, fmt.Errorf("tls.key_file %q does not match the certificate in tls.cert_file %q", keyFile, certFile)
		default:
			return nil, nil, nil, fmt.Errorf("tls.key_file %q (with tls.cert_file %q): %s", keyFile, certFile, msg)
		}
	}
	return certPEM, keyPEM, pair.Leaf, nil
}

// readFile reads a regular file of at most maxPEMFile bytes.
func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", name)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", name, err)
	}
	if len(data) > maxPEMFile {
		return nil, fmt.Errorf("%q is larger than %d MiB", name, maxPEMFile>>20)
	}
	return data, nil
}

func certNames(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return names
}
