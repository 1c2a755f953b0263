package proxy

import (
	"sort"
	"strings"
	"sync/atomic"

	"github.com/switchd/switchd/internal/config"
)

// Router picks a service by the request's Host: exact name, then the longest
// "*.suffix", then the default service. It is replaced whole on reload.
type Router struct {
	table atomic.Pointer[routeTable]
}

type routeTable struct {
	exact    map[string]*Service
	suffixes []suffixRoute // longest suffix first
	def      *Service
}

type suffixRoute struct {
	suffix string // ".example.com"
	svc    *Service
}

// Route binds host patterns to a service; no hosts makes it the default.
type Route struct {
	Hosts   []string
	Service *Service
}

// NewRouter returns a router over routes.
func NewRouter(routes []Route) *Router {
	r := &Router{}
	r.Set(routes)
	return r
}

// Set replaces the routing table atomically.
func (r *Router) Set(routes []Route) {
	t := &routeTable{exact: map[string]*Service{}}
	for _, rt := range routes {
		if len(rt.Hosts) == 0 {
			t.def = rt.Service
		}
		for _, h := range rt.Hosts {
			h = strings.TrimSuffix(strings.ToLower(h), ".")
			if suf, ok := strings.CutPrefix(h, "*"); ok {
				t.suffixes = append(t.suffixes, suffixRoute{suf, rt.Service})
				continue
			}
			t.exact[h] = rt.Service
		}
	}
	sort.SliceStable(t.suffixes, func(i, j int) bool { return len(t.suffixes[i].suffix) > len(t.suffixes[j].suffix) })
	r.table.Store(t)
}

// Lookup returns the service for a Host header value, or nil.
func (r *Router) Lookup(host string) *Service {
	t := r.table.Load()
	h := config.RequestHost(host)
	if s, ok := t.exact[h]; ok {
		return s
	}
	for _, sr := range t.suffixes {
		if len(h) > len(sr.suffix) && strings.HasSuffix(h, sr.suffix) {
			return sr.svc
		}
	}
	return t.def
}
