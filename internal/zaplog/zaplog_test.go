package zaplog

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStdLogger: each line is one zap line at the level asked, the quiet
// ones at debug, the text trimmed.
func TestStdLogger(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	l := StdLogger(zap.New(core), "http server", zapcore.WarnLevel, func(s string) bool { return strings.Contains(s, "TLS handshake error") })
	l.Printf("http: Accept error: too many open files")
	l.Printf("http: TLS handshake error from 127.0.0.1:1: EOF")
	got := logs.All()
	if len(got) != 2 {
		t.Fatalf("%d lines", len(got))
	}
	if got[0].Level != zapcore.WarnLevel || got[0].Message != "http server" || got[0].ContextMap()["message"] != "http: Accept error: too many open files" {
		t.Fatalf("first line %+v", got[0])
	}
	if got[1].Level != zapcore.DebugLevel {
		t.Fatalf("a quiet line went at %v", got[1].Level)
	}
}
