package tlsx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/atomicfile"
)

const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	leafLifetime = 7 * 24 * time.Hour
	// A leaf is replaced once less than a third of its life is left, so a
	// client never gets one about to expire.
	leafRenewBefore = leafLifetime / 3
	// backdate covers clocks of clients a little behind ours.
	backdate = time.Hour
	// maxLeaves bounds the leaves kept in memory: under a "*.suffix" host,
	// clients choose the names, and so how many there are.
	maxLeaves = 1024
)

// localCA is the CA of mode "internal": an ECDSA P-256 key and a
// self-signed certificate, made once and kept under dir, that signs
// short-lived leaves in memory for the names clients ask for.
type localCA struct {
	certFile string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	log      *zap.Logger

	mu     sync.Mutex
	leaves map[string]*tls.Certificate // by the name certified: "app.example.com" or "*.example.com"
}

// openLocalCA loads the CA in dir, or creates it when there is none. The
// key is written before the certificate: a key without a certificate is
// an interrupted creation and is made again, while a certificate without
// its key is refused, since clients may trust that certificate already.
func openLocalCA(dir string, log *zap.Logger) (*localCA, error) {
	ca := &localCA{certFile: filepath.Join(dir, "ca.crt"), log: log, leaves: map[string]*tls.Certificate{}}
	keyFile := filepath.Join(dir, "ca.key")
	certPEM, err := os.ReadFile(ca.certFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ca, ca.create(dir, keyFile)
	case err != nil:
		return nil, fmt.Errorf("tls: internal CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: internal CA certificate %q without its key: %w", ca.certFile, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: internal CA %q, %q: %w", ca.certFile, keyFile, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || !pair.Leaf.IsCA {
		return nil, fmt.Errorf("tls: internal CA %q: not an ECDSA CA certificate", ca.certFile)
	}
	ca.cert, ca.key = pair.Leaf, key
	if time.Until(ca.cert.NotAfter) < leafLifetime {
		log.Warn("internal CA expires soon; remove its folder to make a new one (clients must then trust the new one)",
			zap.String("ca_file", ca.certFile), zap.Time("not_after", ca.cert.NotAfter))
	}
	return ca, nil
}

func (ca *localCA) create(dir, keyFile string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tls: internal CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls: internal CA: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tls: internal CA: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	now := time.Now()
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "switchd internal CA " + host, Organization: []string{"switchd"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// SubjectKeyId: made by CreateCertificate for a CA, and copied
		// into each leaf's AuthorityKeyId.
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tls: internal CA: %w", err)
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("tls: internal CA: %w", err)
	}
	ca.key = key
	if err := writeFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("tls: internal CA: %w", err)
	}
	if err := writeFileAtomic(ca.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("tls: internal CA: %w", err)
	}
	ca.log.Info("internal CA created; clients must trust its certificate", zap.String("ca_file", ca.certFile))
	return nil
}

// leaf returns a certificate for name, which matched pattern among the
// hosts. A name one label under a "*.suffix" pattern gets the wildcard
// certificate of that pattern, shared by all of them.
func (ca *localCA) leaf(name, pattern string) (*tls.Certificate, error) {
	subject := name
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok && !strings.Contains(strings.TrimSuffix(name, suffix), ".") {
		subject = pattern
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	now := time.Now()
	if c := ca.leaves[subject]; c != nil && now.Before(c.Leaf.NotAfter.Add(-leafRenewBefore)) {
		return c, nil
	}
	c, err := ca.issue(subject, now)
	if err != nil {
		ca.log.Error("internal CA: issuing", zap.String("name", subject), zap.Error(err))
		return nil, err
	}
	if len(ca.leaves) >= maxLeaves {
		for k := range ca.leaves { // an arbitrary one: map order is random
			delete(ca.leaves, k)
			break
		}
	}
	ca.leaves[subject] = c
	return c, nil
}

func (ca *localCA) issue(subject string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(leafLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: subject},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(subject); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{subject}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tls: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // never 0
}

// writeFileAtomic replaces name with data (atomicfile): a crash leaves
// the old file or the new one, never a part.
// The error names the file and the failing step.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	if err := atomicfile.OS().Write(name, "."+filepath.Base(name)+".tmp*", data, perm); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
