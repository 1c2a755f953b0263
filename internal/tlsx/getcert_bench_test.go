package tlsx

import (
	"crypto/tls"
	"net"
	"testing"
)

// addrConn is a net.Conn that has only addresses: what GetCertificate reads
// of a ClientHelloInfo's Conn.
type addrConn struct {
	net.Conn
	local net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }

// BenchmarkGetCertificate is the certificate lookup of every handshake in
// mode "files": the name of the pair, another name, and no name (an address
// typed in).
func BenchmarkGetCertificate(b *testing.B) {
	certFile, keyFile := tempFiles(b)
	newPair(b, "app.example.com", "127.0.0.1").write(b, certFile, keyFile)
	m, err := New(b.Context(), filesOptions(b, certFile, keyFile))
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	cfg, err := m.TLSConfig().GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		b.Fatal(err)
	}
	conn := addrConn{local: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}}
	for _, sni := range []string{"app.example.com", "other.example.com", ""} {
		hello := &tls.ClientHelloInfo{ServerName: sni, Conn: conn, SupportedProtos: []string{"h2", "http/1.1"}}
		b.Run("sni="+sni, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if c, err := cfg.GetCertificate(hello); err != nil || c == nil {
					b.Fatal(c, err)
				}
			}
		})
	}
}

// Handshakes in mode "files" reuse the pair certmagic gave out: no lookup,
// no allocation per handshake.
func TestFilesHandshakeAllocatesNothing(t *testing.T) {
	certFile, keyFile := tempFiles(t)
	newPair(t, "app.example.com").write(t, certFile, keyFile)
	m := newManager(t, filesOptions(t, certFile, keyFile))
	cfg, err := m.TLSConfig().GetConfigForClient(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "app.example.com", SupportedProtos: []string{"h2"}}
	if _, err := cfg.GetCertificate(hello); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = cfg.GetCertificate(hello) }); n != 0 {
		t.Errorf("GetCertificate: %v allocations per handshake, want 0", n)
	}
}
