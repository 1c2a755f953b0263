package daemon

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/switchd/switchd/internal/config"
)

// NewLogger builds the one logger of the process from [log], writing to
// stderr; components get it .Named. The level can be changed later through
// the returned AtomicLevel.
func NewLogger(c config.Log) (*zap.Logger, zap.AtomicLevel, error) {
	return newLogger(c, zapcore.Lock(os.Stderr), isTerminal(os.Stderr))
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// newLogger is NewLogger writing to out; tty says whether out is a
// terminal (newEncoder).
//
// No line carries a stack trace but a DPanic's or a panic's: an error
// line is an expected event an operator reads (a revert, a refused
// write), and the 5-9 frames of its call site helped no one reading it.
func newLogger(c config.Log, out zapcore.WriteSyncer, tty bool) (*zap.Logger, zap.AtomicLevel, error) {
	lvl, err := zap.ParseAtomicLevel(c.Level)
	if err != nil {
		return nil, lvl, fmt.Errorf("log.level: %w", err)
	}
	enc := newEncoder(c, tty)
	// No sampling: every line matters to an operator reconstructing a flip.
	core := zapcore.NewCore(enc, out, lvl)
	l := zap.New(core, zap.ErrorOutput(out), zap.AddCaller(), zap.AddStacktrace(zapcore.DPanicLevel))
	return l, lvl, nil
}

// newEncoder is [log].format's encoder: JSON, or the console format,
// whose levels are coloured only on a terminal (journald, docker logs and
// files would show the escape codes).
func newEncoder(c config.Log, tty bool) zapcore.Encoder {
	if c.Format == "console" {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		if tty {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		// ISO 8601 with the date and the offset: a line read the next day,
		// or next to another host's, still says when it happened.
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02T15:04:05.000Z07:00")
		return zapcore.NewConsoleEncoder(ec)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	return zapcore.NewJSONEncoder(ec)
}
