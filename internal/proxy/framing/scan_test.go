package framing

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

var framingTests = []struct {
	name, in string
	want     error // nil: every byte passes
}{
	{"get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", nil},
	{"keep-alive pair", "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", nil},
	{"content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: x\r\n\r\n", nil},
	{"content-length blanks", "POST / HTTP/1.1\r\nHost: x\r\ncontent-length:\t 3 \r\n\r\nabc", nil},
	{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n", nil},
	{"chunked any case", "POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: CHUNKED\r\n\r\na \r\n0123456789\r\n0\r\n\r\n", nil},
	{"chunked trailer", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n", nil},
	{"expect continue", "PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", nil},
	{"http/1.0 content-length", "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nok", nil},
	{"websocket upgrade", "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", nil},
	{"obs-text value", "GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\r\n\r\n", nil},

	{"cl and te", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", errCLAndTE},
	{"te and cl", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", errCLAndTE},
	{"two te", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", errTwoTE},
	{"te list", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", errBadTE},
	{"te identity", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", errBadTE},
	{"te in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n0\r\n\r\n", errTEIn10},
	{"folded te", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc", errBadTE},
	{"folded after te", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n , gzip\r\n\r\n0\r\n\r\n", errFold},
	{"folded header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\t2\r\n\r\n", errFold},
	{"bare lf head", "GET / HTTP/1.1\nHost: x\n\n", errBareLF},
	{"bare lf before te", "POST / HTTP/1.1\r\nHost: x\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", errBareLF},
	{"bare cr", "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", errBareCR},
	{"two cl", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", errTwoCL},
	{"cl list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", errBadCL},
	{"cl sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", errBadCL},
	{"cl empty", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", errBadCL},
	{"cl huge", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", errBadCL},
	{"space before colon", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc", errFieldName},
	{"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", errNoColon},
	{"nul in value", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", errCTL},
	{"empty request line", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", errEmptyLine},
	{"second request bad", "GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", errCLAndTE},
	{"chunk bare lf", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", errBareLF},
	{"chunk bad size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", errChunkSize},
	{"chunk size space ext", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 ;x\r\nhello\r\n0\r\n\r\n", errChunkSize},
	{"chunk too long size", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", errChunkSize},
	{"chunk no crlf", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", errChunkEnd},
	{"trailer folded", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", errFold},
	{"trailer bare lf", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\nGET / HTTP/1.1\r\n\r\n", errBareLF},
}

// TestFraming: every case, whole and in pieces of every size from one byte,
// passes untouched or is refused for its reason; what passes ends its
// requests exactly where net/http does.
func TestFraming(t *testing.T) {
	for _, tc := range framingTests {
		t.Run(tc.name, func(t *testing.T) {
			ends, validated, err := checkerBoundaries([]byte(tc.in), 4096+8192)
			if !errors.Is(err, tc.want) {
				t.Fatalf("refused with %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				if validated != len(tc.in) {
					t.Fatalf("validated %d of %d bytes", validated, len(tc.in))
				}
				if g := goBoundaries([]byte(tc.in)); !slices.Equal(ends, g) {
					t.Fatalf("requests end at %v, net/http ends them at %v", ends, g)
				}
			}
			for step := 1; step <= len(tc.in); step++ {
				out, why := through([]byte(tc.in), step)
				want := tc.in
				if tc.want != nil {
					want = tc.in[:validated] + refusal
				}
				if string(out) != want || !errors.Is(why, tc.want) {
					t.Fatalf("reads of %d: passed %q (%v), want %q", step, out, why, want)
				}
			}
		})
	}
}

// TestLongHeadPassesForNetHTTPToRefuse: a head longer than net/http reads
// goes to net/http as it is (it answers 431), not as a 400.
func TestLongHeadPassesForNetHTTPToRefuse(t *testing.T) {
	in := "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 20000) + "\r\n\r\n"
	out, why := through([]byte(in), 1000)
	if why != nil || !bytes.HasPrefix([]byte(in), out) || len(out) < 4096+8192 {
		t.Fatalf("passed %d bytes (refused: %v); want the head as it is", len(out), why)
	}
}

// TestRefusedIsTold: Options.Refused hears of each refusal and its reason.
func TestRefusedIsTold(t *testing.T) {
	var told []error
	c := newConn(&scripted{data: []byte(framingTests[len(framingTests)-1].in), step: 3}, Options{Refused: func(_ net.Addr, why error) { told = append(told, why) }})
	buf := make([]byte, 100)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	if len(told) != 1 || !errors.Is(told[0], framingTests[len(framingTests)-1].want) {
		t.Fatalf("told %v, want once %v", told, framingTests[len(framingTests)-1].want)
	}
}
