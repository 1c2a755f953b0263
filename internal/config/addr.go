package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// validHost reports whether h, already normalised, is a DNS name (or an
// IPv4 literal, which has the same shape) or a "*.suffix" pattern.
func validHost(h string) bool {
	h, _ = strings.CutPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			// Underscores are not hostname characters, but internal names
			// carry them often enough that refusing them helps no one.
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

var errUpstreamForm = errors.New(`want "host:port", "http://host:port" or "https://host:port"`)

// parseUpstream checks an upstream address and returns its canonical form:
// "host:port" for plain HTTP, "https://host:port" for TLS, host lowercased.
// One spelling per upstream keeps health state, metrics labels and the
// duplicate check consistent.
func parseUpstream(s string) (string, error) {
	rest, scheme := s, "http"
	if before, after, ok := strings.Cut(s, "://"); ok {
		scheme, rest = strings.ToLower(before), after
		if scheme != "http" && scheme != "https" {
			return "", fmt.Errorf("scheme %q is not http or https", before)
		}
	}
	// A lone trailing slash is no path; it is what a copied URL ends with.
	rest = strings.TrimSuffix(rest, "/")
	switch {
	case strings.Contains(rest, "/"):
		return "", errors.New("must not have a path")
	case strings.ContainsAny(rest, "?#"):
		return "", errors.New("must not have a query or fragment")
	case strings.Contains(rest, "@"):
		return "", errors.New("must not carry credentials")
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" || port == "" {
		return "", errUpstreamForm
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	host = strings.ToLower(host)
	if _, err := netip.ParseAddr(host); err != nil && (!validHost(host) || strings.HasPrefix(host, "*")) {
		return "", fmt.Errorf("bad host %q", host)
	}
	addr := net.JoinHostPort(host, strconv.Itoa(n))
	if scheme == "https" {
		return "https://" + addr, nil
	}
	return addr, nil
}

// SplitUpstream checks an upstream address as the config does and splits it
// into its scheme ("http" or "https") and "host:port". The proxy and the
// health checks use it, so that all three read an address the same way.
func SplitUpstream(addr string) (scheme, hostport string, err error) {
	canon, err := parseUpstream(addr)
	if err != nil {
		return "", "", fmt.Errorf("upstream %q: %w", addr, err)
	}
	if rest, ok := strings.CutPrefix(canon, "https://"); ok {
		return "https", rest, nil
	}
	return "http", canon, nil
}

// checkListen checks a TCP listen address "host:port"; host may be empty
// (every interface) and port 0 (any free port, for tests).
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New(`want "host:port"`)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !validHost(strings.ToLower(host)) {
		return fmt.Errorf("bad host %q", host)
	}
	return nil
}

// unixSocket returns the path of a "unix:/path" address.
func unixSocket(addr string) (path string, ok bool) { return strings.CutPrefix(addr, "unix:") }

// checkControlListen checks [control].listen and reports whether it needs
// a tokens file: TCP on anything but loopback is reachable by others.
func checkControlListen(addr string) (needTokens bool, err error) {
	if p, ok := unixSocket(addr); ok {
		if !filepath.IsAbs(p) {
			return false, errors.New("a unix socket path must be absolute")
		}
		return false, nil
	}
	if err := checkListen(addr); err != nil {
		return false, errors.New(`want "host:port" or "unix:/abs/path"`)
	}
	host, _, _ := net.SplitHostPort(addr)
	if strings.EqualFold(host, "localhost") {
		return false, nil
	}
	ip, err := netip.ParseAddr(host)
	return err != nil || !ip.IsLoopback(), nil
}

// parsePrefix parses a CIDR, or a bare IP as a one-address prefix.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	ip = ip.WithZone("") // a zone names a local interface, not a peer
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// validHeaderName reports whether s is an HTTP field name (RFC 9110 §5.1:
// a token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// CanonicalUpstream checks an upstream address as the config does and
// returns its one spelling ("host:port" or "https://host:port"), for
// addresses that arrive through the control API rather than the file.
func CanonicalUpstream(addr string) (string, error) {
	canon, err := parseUpstream(addr)
	if err != nil {
		return "", fmt.Errorf("upstream %q: %w", addr, err)
	}
	return canon, nil
}
