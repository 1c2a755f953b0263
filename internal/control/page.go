package control

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/switchd/switchd/internal/config"
)

// The status page (GET /) is rendered here, by the same template on the
// first load and on every live update: its script refetches the page when
// /v1/events says something changed and swaps the new <main> in, so there is
// one rendering of the state, in Go, and the page works without script too
// (then it is a snapshot that a reload refreshes).
//
// The script and the style are inline and allowed by their SHA-256 in the
// Content-Security-Policy, computed here from the embedded files, so that
// the policy can forbid everything else (no other script, no style
// attribute, no frame, no form, no connection but to this origin).

var (
	//go:embed page/status.html
	pageHTML string
	//go:embed page/status.js
	pageJS string
	//go:embed page/status.css
	pageCSS string
)

// pageEvents is how many past events the page lists.
const pageEvents = 20

// pageTemplate renders the page; its functions keep the template free of
// arithmetic.
var pageTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"ms":    func(f float64) string { return fmt.Sprintf("%.1f ms", f) },
	"clock": pageClock,
	"rate":  func(f float64) string { return fmt.Sprintf("%.1f%%", finite(f)*100) },
}).Parse(pageHTML))

// pageCSP is the page's Content-Security-Policy.
var pageCSP = fmt.Sprintf("default-src 'none'; script-src '%s'; style-src '%s'; connect-src 'self'; img-src data:; "+
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'", cspHash(pageJS), cspHash(pageCSS))

// cspHash is a CSP source expression for an inline element's exact text.
func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// pageData is what the template sees.
type pageData struct {
	Script   template.JS
	Style    template.CSS
	Version  string
	Now      time.Time
	Services []pageService
	Events   []Event // newest first
	Switchd  *Status
}

// pageService is a service with its pools in a fixed order: blue, green.
type pageService struct {
	Service
	Pools []pagePool
}

type pagePool struct {
	Color  string
	Active bool
	Pool
	Guard *GuardWindow
}

// eventHistory is what the status page needs from Options.Events to list
// the last events; a *Broker has it.
type eventHistory interface {
	Recent(n int) []Event
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	d := pageData{Script: template.JS(pageJS), Style: template.CSS(pageCSS), Version: s.o.Version, Now: s.now().UTC()}
	for _, name := range s.o.Board.Names() {
		v, ok := s.o.Board.View(name)
		if !ok {
			continue
		}
		svc := s.status(v)
		ps := pageService{Service: svc}
		// Blue left, green right whichever is active: a flip moves the
		// highlight, not the panels.
		for _, c := range config.Colors {
			c := c.String()
			p := pagePool{Color: c, Active: c == svc.Active, Pool: svc.Pools[c]}
			if svc.Guard != nil {
				if gw, ok := svc.Guard.Colors[c]; ok {
					p.Guard = &gw
				}
			}
			ps.Pools = append(ps.Pools, p)
		}
		d.Services = append(d.Services, ps)
	}
	if h, ok := s.o.Events.(eventHistory); ok {
		d.Events = h.Recent(pageEvents)
	}
	if s.o.Status != nil {
		st := s.o.Status()
		d.Switchd = &st
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		s.o.Logger.Error("status page", zap.Error(err))
		writeError(w, http.StatusInternalServerError, CodeInternal, "status page: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	_, _ = w.Write(buf.Bytes())
}

// pageClock prints a time, or a pointer to one, in UTC to the second.
func pageClock(t any) string {
	switch t := t.(type) {
	case time.Time:
		return t.UTC().Format("2006-01-02 15:04:05Z")
	case *time.Time:
		if t != nil {
			return pageClock(*t)
		}
	}
	return ""
}

// finite keeps NaN out of a template (an empty window's rate).
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}
