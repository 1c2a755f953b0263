package control

import (
	"context"
	"net/http"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// auditRecord collects, while a request is served, what its one audit line
// says. Handlers fill in what they learn; serve writes the line at the end.
type auditRecord struct {
	action     string // flip, activate, rollback, reload, log_level; "" for reads
	actor      string // token name, certificate name; "" is anonymous
	service    string
	color      string // the pool a pool change is about
	from, to   string
	generation uint64
	reason     string // the operator's words
	changedBy  string // what the change records as changed_by
	forced     bool
	unchanged  bool // activate of the colour already active
}

type auditKey struct{}

// auditOf returns the record of r; a request served outside serve (a test
// calling a handler) gets a throwaway one.
func auditOf(r *http.Request) *auditRecord {
	if rec, ok := r.Context().Value(auditKey{}).(*auditRecord); ok {
		return rec
	}
	return &auditRecord{}
}

func withAudit(r *http.Request, rec *auditRecord) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), auditKey{}, rec))
}

// statusWriter remembers the status and the error code of an answer.
type statusWriter struct {
	http.ResponseWriter
	status    int
	code, msg string // of an error body
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Flush of the real writer
// (event streams).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// audited reports whether an answer makes an audit line: every mutation,
// and every refusal a client or an attacker could learn from.
func audited(rec *auditRecord, status int) bool {
	if rec.action != "" {
		return true
	}
	switch status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusConflict,
		http.StatusUnsupportedMediaType, http.StatusTooManyRequests:
		return true
	}
	return false
}

// writeAudit writes the one line of a request. It never names a token or
// a secret: the actor is the token's name, and no header is logged.
func (s *Server) writeAudit(r *http.Request, rec *auditRecord, w *statusWriter) {
	if !audited(rec, w.status) {
		return
	}
	actor := rec.actor
	if actor == "" {
		actor = "anonymous"
	}
	source := r.RemoteAddr
	if source == "" || source == "@" {
		source = "unix"
	}
	result := "ok"
	switch {
	case w.status/100 != 2 && w.code != "":
		result = w.code
	case w.status/100 != 2:
		result = http.StatusText(w.status)
	case rec.unchanged:
		result = "unchanged"
	}
	action := rec.action
	if action == "" {
		action = "read"
	}
	fields := []zap.Field{
		zap.String("actor", actor), zap.String("source", source), zap.String("action", action),
		zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.String("service", rec.service), zap.String("from", rec.from), zap.String("to", rec.to),
		zap.Uint64("generation", rec.generation), zap.String("reason", rec.reason),
		zap.Int("status", w.status), zap.String("result", result),
	}
	if rec.changedBy != "" {
		fields = append(fields, zap.String("changed_by", rec.changedBy))
	}
	if rec.color != "" {
		fields = append(fields, zap.String("color", rec.color))
	}
	if rec.forced {
		fields = append(fields, zap.Bool("forced", true))
	}
	if w.msg != "" && w.status/100 != 2 {
		fields = append(fields, zap.String("message", w.msg))
	}
	if w.status/100 == 2 {
		s.audit.Info("control api", fields...)
		return
	}
	s.audit.Warn("control api", fields...)
}

// unleveled makes a core write every entry whatever the process's log
// level: an operator who sets log.level = "error" still gets the audit
// trail. Only the audit logger is wrapped.
type unleveled struct{ zapcore.Core }

func (c unleveled) Enabled(zapcore.Level) bool { return true }

func (c unleveled) With(f []zapcore.Field) zapcore.Core { return unleveled{c.Core.With(f)} }

func (c unleveled) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}

func auditLogger(l *zap.Logger) *zap.Logger {
	return l.Named("audit").WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return unleveled{c} }))
}
