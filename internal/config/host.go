package config

import (
	"net"
	"strings"
)

// RequestHost is the name a request's Host header (or a TLS server name)
// stands for, in the form the config's hosts are kept in: without port or
// IPv6 brackets, without a trailing dot, in lower case. The proxy routes by
// it and the control listener checks it, so both read a Host alike. It
// allocates only when the name has upper-case letters: it runs per request.
func RequestHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return normalizeHost(host)
}
