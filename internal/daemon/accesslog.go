package daemon

import (
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchd/switchd/internal/config"
)

// Access log lines are written through a buffer: one write(2) per
// accessLogBuffer bytes or per accessLogFlush, not one per request (an
// unbuffered line was a fifth of the CPU of a request). Every other line
// (flips, errors, warnings) still goes out at once. What a crash can lose
// is bounded by both: at most the last second of access lines.
const (
	accessLogBuffer = 64 << 10
	accessLogFlush  = time.Second
)

// newAccessLogger returns the access log's logger, writing to out through
// the buffer with the process logger's format and level, and the function
// that flushes it and stops its timer (at exit). Access lines carry no
// caller: it is the same line of proxy/handler.go every time, and finding
// it costs a stack walk per request.
func newAccessLogger(c config.Log, out zapcore.WriteSyncer, lvl zap.AtomicLevel, tty bool) (*zap.Logger, func()) {
	buf := &zapcore.BufferedWriteSyncer{WS: out, Size: accessLogBuffer, FlushInterval: accessLogFlush}
	enc := newEncoder(c, tty)
	l := zap.New(zapcore.NewCore(enc, buf, lvl), zap.ErrorOutput(out)).Named("proxy")
	return l, func() { _ = buf.Stop() }
}

// stderrAccessLogger is newAccessLogger on the process's stderr.
func stderrAccessLogger(c config.Log, lvl zap.AtomicLevel) (*zap.Logger, func()) {
	return newAccessLogger(c, zapcore.Lock(os.Stderr), lvl, isTerminal(os.Stderr))
}
