// Package framing checks the framing of HTTP/1.1 requests on a connection
// before net/http parses them, and refuses what two parsers could read two
// ways (RFC 9112 §6.1, §11.2): Content-Length together with
// Transfer-Encoding, several of either, a Transfer-Encoding other than
// exactly chunked (or any in HTTP/1.0), an invalid Content-Length, a folded
// header line (obs-fold), a bare LF or CR in a head or a chunk line.
//
// net/http accepts several of these and hides them from the handler (it
// drops Content-Length when chunked, textproto joins folded lines and takes
// a bare LF as a line end), and a proxy in front of switchd, or an upstream
// behind it, may read the same bytes another way: request smuggling. Conn
// holds each request head until it is complete and valid; a bad one never
// reaches net/http, which is handed bytes it answers with 400 before it
// closes the connection. Bodies pass through as they come; only their
// framing (Content-Length counts, chunk sizes, trailers) is followed, so
// that the next head is found where net/http will look for it.
package framing

import "errors"

// errOverflow: a head longer than net/http accepts. Its bytes go to net/http
// as they are, which answers 431 as it always did.
var errOverflow = errors.New("request head too long")

// Why a request is refused; the error text is for tests and debug logs.
var (
	errBareLF     = errors.New("bare LF")
	errBareCR     = errors.New("bare CR")
	errCTL        = errors.New("control character in a header")
	errFold       = errors.New("folded header line (obs-fold)")
	errFieldName  = errors.New("bad header field name")
	errNoColon    = errors.New("header line without colon")
	errEmptyLine  = errors.New("empty request line")
	errBadCL      = errors.New("invalid Content-Length")
	errTwoCL      = errors.New("more than one Content-Length")
	errBadTE      = errors.New("Transfer-Encoding other than chunked")
	errTwoTE      = errors.New("more than one Transfer-Encoding")
	errCLAndTE    = errors.New("both Content-Length and Transfer-Encoding")
	errTEIn10     = errors.New("Transfer-Encoding in an HTTP/1.0 request")
	errChunkSize  = errors.New("bad chunk size")
	errChunkEnd   = errors.New("chunk data not followed by CRLF")
	errLongLine   = errors.New("chunk line too long")
	errLongFields = errors.New("trailer section too long")
)

type state uint8

const (
	stHead      state = iota // a request head
	stBody                   // remain bytes of a Content-Length body
	stChunkLine              // chunk-size [; ext] CRLF
	stChunkData              // remain bytes of chunk data
	stChunkEnd               // the CRLF after chunk data
	stTrailer                // trailer fields up to an empty line
)

// maxChunkLine is net/http's limit on a chunk-size line
// (net/http/internal.maxLineLength); a longer one fails there too.
const maxChunkLine = 4096

// scanner follows the requests of one connection. It looks at each element
// that must be whole before it can be judged (a head, a chunk line, a
// trailer section) once, line by line, as its bytes arrive; it never
// allocates.
type scanner struct {
	maxHead int // longest head, in bytes, before errOverflow

	st       state
	remain   uint64 // stBody, stChunkData: bytes left
	requests int    // requests whose framing ended (head, body, trailer)
	pos      int    // bytes of the current element already looked at
	line     int    // lines of the current head or trailer done

	// The head so far.
	http10    bool // the request line's version is below HTTP/1.1
	cl, te    bool // Content-Length, Transfer-Encoding seen
	clen      uint64
	lineStart int // where the line being looked at starts
}

func newScanner(maxHead int) scanner { return scanner{maxHead: maxHead} }

// step looks at b, the bytes after everything already validated, and
// returns how many of them are now validated: whole elements and body
// bytes. It stops at an element that is not yet complete (0, nil when
// nothing more can be validated) and at a refused one (its error).
func (s *scanner) step(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		rest := b[done:]
		var n int
		var err error
		switch s.st {
		case stBody, stChunkData:
			n = len(rest)
			if uint64(n) > s.remain {
				n = int(s.remain)
			}
			s.remain -= uint64(n)
			if s.remain == 0 {
				s.bodyDone()
			}
		case stChunkEnd:
			if len(rest) < 2 {
				if rest[0] != '\r' {
					return done, errChunkEnd
				}
				return done, nil
			}
			if rest[0] != '\r' || rest[1] != '\n' {
				return done, errChunkEnd
			}
			n, s.st = 2, stChunkLine
		case stChunkLine:
			n, err = s.chunkLine(rest)
		case stHead, stTrailer:
			n, err = s.fields(rest)
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, nil
		}
		done += n
	}
	return done, nil
}

// bodyRemain returns how many bytes may be passed on without looking at
// them: the rest of a Content-Length body or of a chunk's data.
func (s *scanner) bodyRemain() uint64 {
	if s.st == stBody || s.st == stChunkData {
		return s.remain
	}
	return 0
}

// skipped records n body bytes passed on without step.
func (s *scanner) skipped(n int) {
	s.remain -= uint64(n)
	if s.remain == 0 {
		s.bodyDone()
	}
}

// bodyDone moves on at the end of a Content-Length body or a chunk's data.
func (s *scanner) bodyDone() {
	if s.st == stBody {
		s.st = stHead
		s.requests++
	} else {
		s.st = stChunkEnd
	}
}

// chunkLine judges a chunk-size line as net/http's chunked reader reads it:
// CRLF at the end and no CR before, trailing blanks dropped, extension cut
// at ';', then 1 to 16 hex digits. Returns 0 while the line is incomplete.
func (s *scanner) chunkLine(b []byte) (int, error) {
	i := indexLF(b, s.pos)
	if i < 0 {
		if len(b) >= maxChunkLine {
			return 0, errLongLine
		}
		s.pos = len(b)
		return 0, nil
	}
	s.pos = 0
	if i == 0 || b[i-1] != '\r' {
		return 0, errBareLF
	}
	line := b[:i-1]
	if len(line) >= maxChunkLine {
		return 0, errLongLine
	}
	for _, c := range line {
		if c == '\r' {
			return 0, errBareCR
		}
	}
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	for j, c := range line {
		if c == ';' {
			line = line[:j]
			break
		}
	}
	if len(line) == 0 || len(line) > 16 {
		return 0, errChunkSize
	}
	var size uint64
	for _, c := range line {
		d, ok := hexDigit(c)
		if !ok {
			return 0, errChunkSize
		}
		size = size<<4 | uint64(d)
	}
	if size == 0 {
		s.st, s.line = stTrailer, 0
	} else {
		s.st, s.remain = stChunkData, size
	}
	return i + 1, nil
}

// fields judges a request head (stHead) or a trailer section (stTrailer)
// line by line as they complete; it returns the element's length once its
// empty line is there, 0 before.
func (s *scanner) fields(b []byte) (int, error) {
	limit := s.maxHead
	for {
		i := indexLF(b, s.pos)
		if i < 0 {
			if len(b) > limit {
				if s.st == stTrailer {
					return 0, errLongFields
				}
				return 0, errOverflow
			}
			// A bare CR in the line is found once the line is whole.
			s.pos = len(b)
			return 0, nil
		}
		if i > limit {
			if s.st == stTrailer {
				return 0, errLongFields
			}
			return 0, errOverflow
		}
		if i == s.lineStart || b[i-1] != '\r' {
			return 0, errBareLF
		}
		line := b[s.lineStart : i-1]
		s.pos, s.lineStart = i+1, i+1
		if len(line) == 0 {
			return s.endFields(i + 1)
		}
		var err error
		if s.st == stHead && s.line == 0 {
			err = s.requestLine(line)
		} else {
			err = s.fieldLine(line)
		}
		if err != nil {
			return 0, err
		}
		s.line++
	}
}

// endFields decides the body once a head's empty line is there, or goes
// back to heads after a trailer section.
func (s *scanner) endFields(n int) (int, error) {
	if s.st == stHead && s.line == 0 {
		// An empty line where the request line should be: net/http
		// refuses it too, but it is not worth a second opinion.
		return 0, errEmptyLine
	}
	head := s.st == stHead
	te, cl, clen, http10 := s.te, s.cl, s.clen, s.http10
	s.resetElement()
	if !head {
		s.st = stHead
		s.requests++
		return n, nil
	}
	switch {
	case te && cl:
		return 0, errCLAndTE
	case te && http10:
		return 0, errTEIn10
	case te:
		s.st = stChunkLine
	case cl && clen > 0:
		s.st, s.remain = stBody, clen
	default:
		s.st = stHead
		s.requests++
	}
	return n, nil
}

func (s *scanner) resetElement() {
	s.pos, s.lineStart, s.line = 0, 0, 0
	s.cl, s.te, s.clen, s.http10 = false, false, 0, false
}

// requestLine takes the version as net/http does (the text after the
// second space); only whether it is below 1.1 matters for the framing.
// Whatever else is wrong with the line net/http refuses by itself.
func (s *scanner) requestLine(line []byte) error {
	for _, c := range line {
		if c == '\r' {
			return errBareCR
		}
	}
	sp := 0
	start := 0
	for i, c := range line {
		if c == ' ' {
			sp++
			if sp == 2 {
				start = i + 1
				break
			}
		}
	}
	v := line[start:]
	// HTTP/1.1 and later minor versions honour Transfer-Encoding in
	// net/http; everything else (1.0, garbage) is treated as 1.0 here.
	s.http10 = !(sp == 2 && len(v) == 8 && string(v[:7]) == "HTTP/1." && v[7] >= '1' && v[7] <= '9')
	return nil
}

// fieldLine checks one header or trailer line: a token, a colon, then a
// value without control characters, and looks into Content-Length and
// Transfer-Encoding.
func (s *scanner) fieldLine(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return errFold
	}
	colon := -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
		if !isTchar(c) {
			return errFieldName
		}
	}
	switch colon {
	case -1:
		return errNoColon
	case 0:
		return errFieldName
	}
	name, value := line[:colon], line[colon+1:]
	for _, c := range value {
		if (c < ' ' && c != '\t') || c == 0x7f {
			if c == '\r' {
				return errBareCR
			}
			return errCTL
		}
	}
	if s.st != stHead {
		return nil // a trailer's Content-Length frames nothing
	}
	value = trimOWS(value)
	switch {
	case equalFold(name, "content-length"):
		if s.cl {
			return errTwoCL
		}
		s.cl = true
		if len(value) == 0 || len(value) > 18 { // 18 digits stay below 2^63
			return errBadCL
		}
		var n uint64
		for _, c := range value {
			if c < '0' || c > '9' {
				return errBadCL
			}
			n = n*10 + uint64(c-'0')
		}
		s.clen = n
	case equalFold(name, "transfer-encoding"):
		if s.te {
			return errTwoTE
		}
		s.te = true
		if !equalFold(value, "chunked") {
			return errBadTE
		}
	}
	return nil
}

func indexLF(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII lower, ignoring case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// isTchar reports whether c may be in a field name (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// between reports whether the scanner stands between two requests: the
// last one's framing ended and nothing of the next has been looked at.
func (s *scanner) between() bool {
	return s.st == stHead && s.pos == 0 && s.line == 0
}
