package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/state"
	"github.com/switchd/switchd/internal/switchboard"
)

// Guard is the guard as the API sees it (nil: no guard).
type Guard interface {
	// Status returns the guard's view of a service, nil when it has none.
	Status(service string) *GuardStatus
	// Stability reports how the watch after the last change of service
	// went: "watching", "stable" or "reverted".
	Stability(service string) string
}

// Options configure a Server.
type Options struct {
	// Board is the owner of the active colours; required.
	Board *switchboard.Board
	// Guard shows guard status and answers wait=stable; nil: none.
	Guard Guard
	// Metrics serves GET /metrics; nil: 404.
	Metrics http.Handler
	// Events serves GET /v1/events; nil: 404.
	Events http.Handler
	// Reload re-reads the config for POST /v1/reload; nil: 404.
	Reload func(ctx context.Context) error
	// Status describes switchd itself (config reloads, state.json) for
	// GET /v1/status and the "switchd" object of GET /v1/services; nil:
	// neither.
	Status func() Status
	// Fleet lists the hosts that share this one's state for GET
	// /v1/fleet; an error means the shared store cannot be reached (503
	// store_unavailable). nil: no such endpoint.
	Fleet func(ctx context.Context) (Fleet, error)
	// Upgrade starts the binary on disk on the same sockets for POST
	// /v1/upgrade and returns once it serves; nil: 404.
	Upgrade func() error
	// Version is reported by /healthz.
	Version string
	// Logger; nil: no logs.
	Logger *zap.Logger
	// Level is the logger's level, read and set through /v1/log/level;
	// nil: no such endpoint.
	Level *zap.AtomicLevel
	// Tokens, when set, are required (Authorization: Bearer) on every
	// endpoint but /healthz and /metrics; nil: no authentication.
	Tokens *Tokens
	// Hosts are more names (lowercase, no port) that requests may carry as
	// Host, besides "localhost", loopback IPs and the IP the connection
	// arrived at; nil: those only.
	Hosts []string
	// ClientCertRole is the role of a verified client certificate whose
	// name has no line in Tokens; RoleNone: such a certificate reaches
	// /healthz and /metrics only.
	ClientCertRole Role
	// AuthFailed is called once per failed authentication with one of
	// metrics.AuthFailureReasons; nil: not counted.
	AuthFailed func(reason string)
}

// Server is the control API. Create it with New; serve Handler.
type Server struct {
	o       Options
	mux     *http.ServeMux
	tokens  atomic.Pointer[Tokens]
	audit   *zap.Logger
	actions map[string]string // "METHOD pattern" → audit action of a mutation
	// methods holds, per route pattern, the handler of each method.
	methods map[string]map[string]methodRoute
	limiter *failLimiter
	now     func() time.Time
	routes  []Route // what New registered, for Routes
}

// maxBody caps a control request body; the biggest legitimate one is tiny.
const maxBody = 64 << 10

// jsonSpace is the whitespace JSON allows around a value (RFC 8259, section 2).
const jsonSpace = " \t\r\n"

// New returns the API over o.Board.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	s := &Server{o: o, mux: http.NewServeMux(), audit: auditLogger(o.Logger), actions: map[string]string{},
		methods: map[string]map[string]methodRoute{}, limiter: newFailLimiter(failEvery, failBurst, maxSources), now: time.Now}
	s.tokens.Store(o.Tokens)
	s.route("/", "GET", RoleRead, "", s.page)
	s.route("/healthz", "GET", RoleNone, "", s.healthz)
	s.route("/v1/services", "GET", RoleRead, "", s.list)
	s.route("/v1/services/{name}", "GET", RoleRead, "", s.get)
	s.route("/v1/services/{name}/flip", "POST", RoleOperate, "flip", s.flip)
	s.route("/v1/services/{name}/activate", "POST", RoleOperate, "activate", s.activate)
	s.route("/v1/services/{name}/rollback", "POST", RoleOperate, "rollback", s.rollback)
	s.route("/v1/services/{name}/wait", "GET", RoleRead, "", s.wait)
	s.route("/v1/services/{name}/pools/{color}", "PUT", RoleOperate, "pool_set", s.poolSet)
	s.route("/v1/services/{name}/pools/{color}", "DELETE", RoleOperate, "pool_reset", s.poolReset)
	s.route("/v1/services/{name}/pools/{color}/upstreams", "POST", RoleOperate, "pool_add", s.poolAdd)
	s.route("/v1/services/{name}/pools/{color}/upstreams/{address}", "DELETE", RoleOperate, "pool_remove", s.poolRemove)
	if o.Metrics != nil {
		s.route("/metrics", "GET", RoleNone, "", o.Metrics.ServeHTTP)
	}
	if o.Events != nil {
		s.route("/v1/events", "GET", RoleRead, "", o.Events.ServeHTTP)
	}
	if o.Reload != nil {
		s.route("/v1/reload", "POST", RoleAdmin, "reload", s.reload)
	}
	if o.Status != nil {
		s.route("/v1/status", "GET", RoleRead, "", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, o.Status())
		})
	}
	if o.Fleet != nil {
		s.route("/v1/fleet", "GET", RoleRead, "", s.fleet)
	}
	if o.Upgrade != nil {
		s.route("/v1/upgrade", "POST", RoleAdmin, "upgrade", s.upgrade)
	}
	if o.Level != nil {
		s.actions["PUT /v1/log/level"] = "log_level"
		s.mux.HandleFunc("/v1/log/level", s.logLevel)
		s.routes = append(s.routes, logLevelRoles...)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no endpoint %s", r.URL.Path))
	})
	return s
}

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// serve refuses what a browser may have sent on a page's behalf before
// routing, and writes the request's audit line when it is done.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rec := &auditRecord{}
	r = withAudit(r, rec)
	sw := &statusWriter{ResponseWriter: w}
	defer s.writeAudit(r, rec, sw)
	if status, code, msg := s.edgeRefusal(r); status != 0 {
		// Name in the audit line what the request would have done.
		if _, pattern := s.mux.Handler(r); pattern != "" {
			rec.service = pathValue(pattern, r.URL.Path, "{name}")
			if mutating(r.Method) {
				rec.action = s.actions[r.Method+" "+pattern]
			}
		}
		writeError(sw, status, code, msg)
		return
	}
	s.mux.ServeHTTP(sw, r)
}

// pathValue is the segment of path where pattern has wildcard, "" if none.
func pathValue(pattern, path, wildcard string) string {
	ps, segs := strings.Split(pattern, "/"), strings.Split(path, "/")
	for i, p := range ps {
		if p == wildcard && i < len(segs) {
			return segs[i]
		}
	}
	return ""
}

// SetTokens replaces the credentials (on reload); nil turns authentication off.
func (s *Server) SetTokens(t *Tokens) { s.tokens.Store(t) }

// methodRoute is one method of a route.
type methodRoute struct {
	need   Role
	action string
	h      http.HandlerFunc
}

// route registers h for one method and role of pattern (a pattern may
// take several methods, each its own role); any other method gets a JSON
// 405, so that a mutation can never happen through GET. action names a
// mutation in the audit log ("" for reads).
func (s *Server) route(pattern, method string, need Role, action string, h http.HandlerFunc) {
	s.actions[method+" "+pattern] = action
	s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Role: need})
	ms := s.methods[pattern]
	if ms == nil {
		ms = map[string]methodRoute{}
		s.methods[pattern] = ms
		muxPattern := pattern
		if pattern == "/" {
			// The status page is "/" itself; a bare "/" would be every
			// path the mux does not know, which must stay a JSON 404.
			muxPattern = "/{$}"
		}
		s.mux.HandleFunc(muxPattern, func(w http.ResponseWriter, r *http.Request) { s.dispatch(w, r, ms) })
	}
	ms[method] = methodRoute{need: need, action: action, h: h}
}

// dispatch serves r with the handler of its method.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, ms map[string]methodRoute) {
	method := r.Method
	if method == http.MethodHead {
		if _, ok := ms[http.MethodGet]; ok {
			method = http.MethodGet
		}
	}
	m, ok := ms[method]
	if !ok {
		allow := slices.Sorted(maps.Keys(ms))
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, CodeMethod, fmt.Sprintf("%s needs %s, not %s", r.URL.Path, strings.Join(allow, " or "), r.Method))
		return
	}
	rec := auditOf(r)
	rec.action, rec.service = m.action, r.PathValue("name")
	if jsonOnly(w, r) {
		return
	}
	r, ok = s.authorize(w, r, m.need)
	if !ok {
		return
	}
	m.h(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Health{Status: "ok", Version: s.o.Version, PID: os.Getpid()})
}

func (s *Server) list(w http.ResponseWriter, _ *http.Request) {
	out := ServiceList{Services: []Service{}}
	for _, name := range s.o.Board.Names() {
		if v, ok := s.o.Board.View(name); ok {
			out.Services = append(out.Services, s.status(v))
		}
	}
	if s.o.Status != nil {
		st := s.o.Status()
		out.Switchd = &st
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, s.status(v))
}

func (s *Server) view(w http.ResponseWriter, r *http.Request) (switchboard.View, bool) {
	name := r.PathValue("name")
	v, ok := s.o.Board.View(name)
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("unknown service %q", name))
	}
	return v, ok
}

func (s *Server) flip(w http.ResponseWriter, r *http.Request) {
	s.mutate(w, r, false, change{
		target: func(rec state.Record, _ ChangeRequest) config.Color { return rec.Active.Other() },
		do: func(name string, _ ChangeRequest, br switchboard.Request) (switchboard.Change, error) {
			return s.o.Board.Flip(name, br)
		},
	})
}

func (s *Server) activate(w http.ResponseWriter, r *http.Request) {
	s.mutate(w, r, true, change{
		target: func(_ state.Record, req ChangeRequest) config.Color {
			c, _ := config.ParseColor(req.Color) // checked by decodeChange
			return c
		},
		do: func(name string, req ChangeRequest, br switchboard.Request) (switchboard.Change, error) {
			c, _ := config.ParseColor(req.Color)
			return s.o.Board.Activate(name, c, br)
		},
	})
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	s.mutate(w, r, false, change{
		target: func(rec state.Record, _ ChangeRequest) config.Color { return rec.Previous },
		do: func(name string, _ ChangeRequest, br switchboard.Request) (switchboard.Change, error) {
			return s.o.Board.Rollback(name, br)
		},
	})
}

// change is one kind of change of the active colour: where it would go
// from a record (for the audit line of a refused one), and how it is made.
type change struct {
	target func(rec state.Record, req ChangeRequest) config.Color
	do     func(name string, req ChangeRequest, br switchboard.Request) (switchboard.Change, error)
}

func (s *Server) mutate(w http.ResponseWriter, r *http.Request, needColor bool, ch change) {
	name := r.PathValue("name")
	v, ok := s.view(w, r)
	if !ok {
		return // 404 before complaining about the body
	}
	rec := auditOf(r)
	rec.from, rec.generation = v.Record.Active.String(), v.Record.Generation
	req, br, err := decodeChange(r, needColor)
	rec.reason, rec.forced = req.Reason, req.Force
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	rec.to = ch.target(v.Record, req).String()
	br.Actor = actor(r)
	rec.changedBy = br.Actor
	c, err := ch.do(name, req, br)
	if err != nil {
		status, code := errorStatus(err)
		writeError(w, status, code, err.Error())
		return
	}
	v, _ = s.o.Board.View(name)
	rec.from, rec.to, rec.generation, rec.unchanged = c.From.String(), c.To.String(), v.Record.Generation, !c.Changed
	writeJSON(w, http.StatusOK, ChangeResult{Changed: c.Changed, From: c.From.String(), To: c.To.String(), Service: s.status(v)})
}

// decodeChange reads a ChangeRequest (decodeBody) and checks its values.
func decodeChange(r *http.Request, needColor bool) (ChangeRequest, switchboard.Request, error) {
	var req ChangeRequest
	if err := decodeBody(r, &req); err != nil {
		return req, switchboard.Request{}, err
	}
	br := switchboard.Request{ExpectGeneration: req.ExpectGeneration, ExpectPoolsVersion: req.ExpectPoolsVersion, Force: req.Force, Detail: req.Reason}
	if req.Expect != "" {
		c, err := config.ParseColor(req.Expect)
		if err != nil {
			return req, br, fmt.Errorf("expect: %v", err)
		}
		br.Expect = c
	}
	if needColor {
		if req.Color == "" {
			return req, br, errors.New("color: required (\"blue\" or \"green\")")
		}
		if _, err := config.ParseColor(req.Color); err != nil {
			return req, br, fmt.Errorf("color: %v", err)
		}
	} else if req.Color != "" {
		return req, br, errors.New("color: only activate takes a colour")
	}
	if len(req.Reason) > 1024 {
		return req, br, errors.New("reason: longer than 1024 bytes")
	}
	return req, br, nil
}

// actor names who asks: the authenticated token's name, else the
// X-Switchd-Actor header a client sent (only trusted without tokens), else
// "api".
func actor(r *http.Request) string {
	if id, ok := r.Context().Value(identityKey{}).(identity); ok {
		return id.Name
	}
	if a := r.Header.Get("X-Switchd-Actor"); a != "" && len(a) <= 64 && !strings.ContainsAny(a, "\r\n") {
		return a
	}
	return "api"
}

func errorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, switchboard.ErrUnknownService):
		return http.StatusNotFound, CodeNotFound
	case errors.Is(err, switchboard.ErrConflict):
		return http.StatusConflict, CodeConflict
	case errors.Is(err, switchboard.ErrTargetUnhealthy):
		return http.StatusConflict, CodeTargetUnhealthy
	case errors.Is(err, switchboard.ErrTargetEmpty):
		return http.StatusConflict, CodeTargetEmpty
	case errors.Is(err, switchboard.ErrNoPrevious):
		return http.StatusConflict, CodeNoPrevious
	case errors.Is(err, switchboard.ErrBadColor), errors.Is(err, switchboard.ErrBadPool):
		return http.StatusBadRequest, CodeBadRequest
	case errors.Is(err, switchboard.ErrPersist):
		return http.StatusInternalServerError, CodePersist
	case errors.Is(err, switchboard.ErrUnavailable):
		return http.StatusServiceUnavailable, CodeStoreUnavailable
	}
	return http.StatusInternalServerError, CodeInternal
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if err := s.o.Reload(r.Context()); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// upgrade answers once the new process serves (200) or failed to start
// (500 upgrade_failed; this process serves on).
func (s *Server) upgrade(w http.ResponseWriter, _ *http.Request) {
	if err := s.o.Upgrade(); err != nil {
		writeError(w, http.StatusInternalServerError, CodeUpgradeFailed, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.code, sw.msg = code, msg
	}
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
}

// logLevel reads (role read) or sets (role admin) the log level, so that an
// operator can turn on debug logs without a restart.
func (s *Server) logLevel(w http.ResponseWriter, r *http.Request) {
	need, ok := logLevelRole(r.Method)
	if !ok {
		w.Header().Set("Allow", "GET, PUT")
		writeError(w, http.StatusMethodNotAllowed, CodeMethod, fmt.Sprintf("%s needs GET or PUT, not %s", r.URL.Path, r.Method))
		return
	}
	if r.Method == http.MethodPut {
		auditOf(r).action = "log_level"
		if jsonOnly(w, r) {
			return
		}
	}
	r, ok = s.authorize(w, r, need)
	if !ok {
		return
	}
	if r.Method == http.MethodPut {
		var req LogLevel
		if err := decodeBody(r, &req); err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
		lvl, err := zapcore.ParseLevel(req.Level) // "" would parse as info
		if req.Level == "" || err != nil || lvl < zapcore.DebugLevel || lvl > zapcore.ErrorLevel {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("level: bad level %q (want debug, info, warn or error)", req.Level))
			return
		}
		rec := auditOf(r)
		rec.from, rec.to = s.o.Level.Level().String(), lvl.String()
		s.o.Level.SetLevel(lvl)
		s.o.Logger.Info("log level changed", zap.Stringer("level", lvl), zap.String("actor", actor(r)))
	}
	writeJSON(w, http.StatusOK, LogLevel{Level: s.o.Level.Level().String()})
}

// decodeBody reads a JSON request body into v strictly: at most maxBody
// bytes, no unknown fields, nothing after the value. An empty body leaves v
// as it is.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("body larger than %d bytes", maxBody)
	}
	// JSON's own whitespace only: strings.TrimSpace would also take
	// Unicode spaces (U+00A0, U+0085) for an empty body.
	if len(bytes.Trim(body, jsonSpace)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON body: %v", err)
	}
	// Not dec.More: it reports false for a trailing '}' or ']', so "{}}"
	// would pass as valid.
	if len(bytes.Trim(body[dec.InputOffset():], jsonSpace)) > 0 {
		return errors.New("bad JSON body: data after the JSON value")
	}
	return nil
}
