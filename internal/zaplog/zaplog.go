// Package zaplog hands zap to the standard library's components that log
// through a *log.Logger (net/http's server).
package zaplog

import (
	"log"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// StdLogger returns a *log.Logger whose every line becomes one zap line,
// msg with the text as "message", at level; a line for which quiet
// reports true goes at debug instead. quiet may be nil.
func StdLogger(l *zap.Logger, msg string, level zapcore.Level, quiet func(line string) bool) *log.Logger {
	return log.New(writer{l: l, msg: msg, level: level, quiet: quiet}, "", 0)
}

type writer struct {
	l     *zap.Logger
	msg   string
	level zapcore.Level
	quiet func(string) bool
}

func (w writer) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := w.level
	if w.quiet != nil && w.quiet(line) {
		level = zapcore.DebugLevel
	}
	if ce := w.l.Check(level, w.msg); ce != nil {
		ce.Write(zap.String("message", line))
	}
	return len(p), nil
}
