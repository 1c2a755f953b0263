package framing

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzFraming: no input panics the check; what it lets through is the input
// itself (up to a refusal, then the refusal); and net/http, reading what
// passed, ends each request exactly where the check did, never finding a
// request end the check did not.
func FuzzFraming(f *testing.F) {
	for _, tc := range framingTests {
		f.Add([]byte(tc.in), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		const maxHead = 1024
		ends, validated, err := checkerBoundaries(in, maxHead)
		if g := goBoundaries(in[:validated]); len(g) > len(ends) || !slices.Equal(g, ends[:len(g)]) {
			t.Fatalf("requests end at %v, net/http ends them at %v (refused: %v)", ends, g, err)
		}

		c := NewConn(&scripted{data: in, step: int(step%64) + 1}, 1)
		var out bytes.Buffer
		buf := make([]byte, 777)
		for {
			n, err := c.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				break
			}
		}
		got := out.Bytes()
		switch {
		case c.refused != nil:
			if !bytes.HasSuffix(got, []byte(refusal)) || !bytes.HasPrefix(in, got[:len(got)-len(refusal)]) {
				t.Fatalf("refused (%v) but passed %q", c.refused, got)
			}
		case !bytes.HasPrefix(in, got):
			t.Fatalf("passed %q, not a prefix of the input", got)
		}
	})
}
