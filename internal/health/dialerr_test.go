package health

import (
	"io"
	"net"
	"net/http"
	"testing"
)

func TestDialFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	_, err = http.Get("http://" + addr + "/")
	if err == nil {
		t.Fatal("GET to a closed port succeeded")
	}
	if !DialFailed(err) {
		t.Errorf("DialFailed(%v) = false, want true", err)
	}
	if DialFailed(io.ErrUnexpectedEOF) {
		t.Error("DialFailed(unexpected EOF) = true: the request may have been sent")
	}
	if DialFailed(nil) {
		t.Error("DialFailed(nil) = true")
	}
}
