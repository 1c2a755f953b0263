package config

import (
	"net/url"
	"strings"
	"time"
)

// stateBackend checks [state] backend and, for etcd, [state.etcd].
func (v validator) stateBackend(st *State) {
	switch st.Backend {
	case "file":
		return
	case "etcd":
	default:
		v.add("state.backend", nil, `bad value %q (want "file" or "etcd")`, st.Backend)
		return
	}
	e := &st.Etcd
	if len(e.Endpoints) == 0 {
		v.add("state.etcd.endpoints", []string{"state.backend"}, `must name at least one etcd client URL with backend "etcd"`)
	}
	for _, ep := range e.Endpoints {
		if u, err := url.Parse(ep); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "" {
			v.add("state.etcd.endpoints", nil, "bad endpoint %q (want http://host:port or https://host:port)", ep)
		}
	}
	if !strings.HasPrefix(e.Prefix, "/") || !strings.HasSuffix(e.Prefix, "/") {
		v.add("state.etcd.prefix", nil, `must start and end with "/", got %q`, e.Prefix)
	}
	if strings.ContainsAny(e.Node, "/ \t\r\n") {
		v.add("state.etcd.node", nil, "must not contain slashes or spaces, got %q", e.Node)
	}
	v.atLeast("state.etcd.dial_timeout", e.DialTimeout, 10*time.Millisecond)
	if (e.CertFile == "") != (e.KeyFile == "") {
		v.add("state.etcd.cert_file", nil, "cert_file and key_file go together (a client certificate needs both)")
	}
}
