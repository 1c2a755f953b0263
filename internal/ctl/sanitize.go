package ctl

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Text from the server — a reason, changed_by, an error message, a
// service's or upstream's name — is whatever someone with an operate token
// (or a compromised switchd) put there. Printed raw, it could drive the
// terminal: C1 controls (U+009B is CSI, as ESC [ is), ESC sequences that
// retitle the window or rewrite the screen, and bidi overrides (U+202E)
// that make a line read other than it is (CVE-2021-42574, "Trojan
// Source"). Everything printed goes through sanitize, or through
// jsonSafe for --json.

// unsafeRune reports whether r must not reach a terminal as is: control
// characters (C0, DEL, C1), format characters (bidi embeddings, overrides
// and isolates, zero-width characters) and the line and paragraph
// separators.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// sanitize makes s safe to print: tabs and line breaks become spaces,
// every other unsafe rune a visible escape such as \u009b, and invalid
// UTF-8 U+FFFD.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f':
			b.WriteByte(' ')
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// jsonSafe escapes the unsafe runes of a JSON text as \uXXXX (a
// surrogate pair above U+FFFF): the document decodes to the same values,
// and no raw control reaches the terminal. JSON escapes C0 controls inside
// strings already; raw ones outside strings are JSON's own whitespace.
func jsonSafe(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		switch {
		case r < 0x80 && (r >= 0x20 || r == '\n' || r == '\t' || r == '\r') && r != 0x7f:
			out = append(out, data[0])
		case r == utf8.RuneError && n == 1:
			out = append(out, `\ufffd`...)
		case unsafeRune(r) && r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		case unsafeRune(r):
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, data[:n]...)
		}
		data = data[n:]
	}
	return out
}

// oneLine makes s safe for one line of a table or message: sanitized,
// trimmed, and cut at limit runes.
func oneLine(s string, limit int) string {
	s = sanitize(strings.TrimSpace(s))
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	n := 0
	for i := range s {
		if n == limit {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
