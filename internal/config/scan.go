package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// scan is the first pass over a document, on go-toml's AST. It does what
// the decoder cannot: it remembers the line of every key so that
// validation can cite it, it reports every bad key and value instead of
// stopping at the first, and it marks the bad expressions so that they
// can be blanked out and the rest still decoded and validated.
//
// Paths are concrete: "service[1].health.interval", counting [[service]]
// elements from 0 in the order go-toml decodes them.
type scan struct {
	data  []byte
	nl    []int // offsets of '\n', to turn offsets into lines
	probs problems
	bad   bool // a syntax error: the document cannot be decoded

	lines   map[string]int    // path → line of its first appearance
	defined map[string]int    // leaves and explicit tables → line; a second definition is an error
	exprOf  map[string]int    // leaf path → number of its top-level expression
	strs    map[string]string // string leaves as written, for service names in subjects
	arrays  map[string]int    // array of tables → elements so far; -1: written inline
	dropped map[int]bool      // top-level expressions blanked out before decoding
	broken  []string          // paths whose value was dropped, so no second error names them
	spans   []span            // byte range of each top-level expression

	sec section // the table that key-values land in
}

type section struct {
	path string // "" for the root
	f    *field
	bad  bool // the header was wrong: its key-values are dropped without more errors
}

type span struct{ start, end int }

type keyPart struct {
	name string
	off  int
}

// scanDoc runs the first pass over data.
func scanDoc(data []byte) *scan {
	s := &scan{
		data:    data,
		lines:   make(map[string]int),
		defined: make(map[string]int),
		exprOf:  make(map[string]int),
		strs:    make(map[string]string),
		arrays:  make(map[string]int),
		dropped: make(map[int]bool),
		sec:     section{f: schema()},
	}
	for i, b := range data {
		if b == '\n' {
			s.nl = append(s.nl, i)
		}
	}
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		n := p.Expression()
		num := len(s.spans)
		switch n.Kind {
		case unstable.KeyValue:
			s.spans = append(s.spans, span{int(n.Raw.Offset), int(n.Raw.Offset + n.Raw.Length)})
			s.topKeyval(n, num)
		case unstable.Table, unstable.ArrayTable:
			s.spans = append(s.spans, s.lineSpan(keyParts(n)[0].off))
			s.header(n, num)
		}
	}
	if err := p.Error(); err != nil {
		s.bad = true
		var perr *unstable.ParserError
		if errors.As(err, &perr) {
			s.probs.add(s.offsetLine(perr.Highlight), "", "bad toml: %s", perr.Message)
		} else {
			s.probs.add(0, "", "bad toml: %s", err)
		}
	}
	return s
}

// blank overwrites the dropped expressions with spaces, keeping line breaks
// so that the decoder's lines still match.
func (s *scan) blank() {
	for num := range s.dropped {
		sp := s.spans[num]
		for i := sp.start; i < sp.end; i++ {
			if s.data[i] != '\n' {
				s.data[i] = ' '
			}
		}
	}
}

// set reports whether the leaf at path was written (and kept), so that a
// default does not overwrite an explicit false, 0 or "".
func (s *scan) set(path string) bool {
	num, ok := s.exprOf[path]
	return ok && !s.dropped[num]
}

// line returns the line of the first of paths that the document has, or 0.
func (s *scan) line(paths ...string) int {
	for _, p := range paths {
		if l, ok := s.lines[p]; ok {
			return l
		}
	}
	return 0
}

// isBroken reports whether path, or a table holding it, was dropped.
func (s *scan) isBroken(path string) bool {
	for _, b := range s.broken {
		if path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[") {
			return true
		}
	}
	return false
}

// names maps each service's index to its name as written.
func (s *scan) names() map[int]string {
	m := make(map[int]string)
	for i := 0; ; i++ {
		if _, ok := s.lines[elem("service", i)]; !ok {
			return m
		}
		if n, ok := s.strs[elem("service", i)+".name"]; ok {
			m[i] = n
		}
	}
}

func (s *scan) lineOf(off int) int { return sort.SearchInts(s.nl, off) + 1 }

// offsetLine returns the line of b, a slice of the document, or 0.
func (s *scan) offsetLine(b []byte) int {
	off := cap(s.data) - cap(b)
	if b == nil || off < 0 || off > len(s.data) {
		return 0
	}
	return s.lineOf(off)
}

// lineSpan is the line holding off, without its line break.
func (s *scan) lineSpan(off int) span {
	start, end := 0, len(s.data)
	if i := sort.SearchInts(s.nl, off); i < len(s.nl) {
		end = s.nl[i]
		if i > 0 {
			start = s.nl[i-1] + 1
		}
	} else if len(s.nl) > 0 {
		start = s.nl[len(s.nl)-1] + 1
	}
	return span{start, end}
}

func (s *scan) setLine(path string, line int) {
	if _, ok := s.lines[path]; !ok {
		s.lines[path] = line
	}
}

func (s *scan) drop(num int, path string) {
	s.dropped[num] = true
	s.broken = append(s.broken, path)
}

func keyParts(n *unstable.Node) []keyPart {
	var parts []keyPart
	it := n.Key()
	for it.Next() {
		k := it.Node()
		parts = append(parts, keyPart{string(k.Data), int(k.Raw.Offset)})
	}
	return parts
}

// join appends a key to a path, quoting it when it is not a bare key.
func join(path, name string) string {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		name = strconv.Quote(name)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func elem(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func (s *scan) unknown(line int, path string, parent *field, name, what string) {
	msg := "unknown " + what
	if hint := parent.suggest(name); hint != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", hint)
	}
	s.probs.add(line, path, "%s", msg)
}

// header handles [table] and [[table]].
func (s *scan) header(n *unstable.Node, num int) {
	parts := keyParts(n)
	line := s.lineOf(parts[0].off)
	array := n.Kind == unstable.ArrayTable
	s.sec = section{bad: true}
	cur, path := schema(), ""
	for i, k := range parts {
		f := cur.fields[k.name]
		full := join(path, k.name)
		if f == nil {
			s.unknown(line, full, cur, k.name, "table")
			s.drop(num, full)
			return
		}
		if i < len(parts)-1 {
			switch f.kind {
			case kindTable:
				path = full
			case kindTables:
				count := s.arrays[full]
				if count <= 0 {
					s.probs.add(line, full, "a [%s] table needs a [[%s]] before it", strings.Join(keyNames(parts), "."), full)
					s.drop(num, full)
					return
				}
				path = elem(full, count-1)
			default:
				s.probs.add(line, full, "want %s, got a table", f.want())
				s.drop(num, full)
				return
			}
			cur = f
			continue
		}
		switch {
		case array && f.kind == kindTables:
			count := s.arrays[full]
			if count < 0 {
				s.probs.add(line, full, "cannot add to an array written inline on line %d", s.lines[full])
				s.drop(num, full)
				return
			}
			if count == 0 {
				s.defined[full] = line
			}
			s.arrays[full] = count + 1
			s.setLine(full, line)
			path = elem(full, count)
		case !array && f.kind == kindTable:
			if first, dup := s.defined[full]; dup {
				s.probs.add(line, full, "defined twice (first on line %d)", first)
				s.drop(num, full)
				return
			}
			s.defined[full] = line
			path = full
		case array:
			s.probs.add(line, full, "want %s, got an array of tables", f.want())
			s.drop(num, full)
			return
		default:
			s.probs.add(line, full, "want %s, got a table", f.want())
			s.drop(num, full)
			return
		}
		s.setLine(path, line)
		s.sec = section{path: path, f: f}
	}
}

func keyNames(parts []keyPart) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.name
	}
	return out
}

// topKeyval handles a key-value outside any inline table.
func (s *scan) topKeyval(n *unstable.Node, num int) {
	if s.sec.bad {
		s.dropped[num] = true
		return
	}
	if !s.keyval(n, s.sec.f, s.sec.path, num) {
		path := s.sec.path
		for _, k := range keyParts(n) {
			path = join(path, k.name)
		}
		s.drop(num, path)
	}
}

// keyval checks one key-value against the table f at path. It reports at
// most one problem and returns false after it.
func (s *scan) keyval(n *unstable.Node, f *field, path string, num int) bool {
	parts := keyParts(n)
	line := s.lineOf(parts[0].off)
	for i, k := range parts {
		sub := f.fields[k.name]
		full := join(path, k.name)
		if sub == nil {
			s.unknown(line, full, f, k.name, "key")
			return false
		}
		path, f = full, sub
		if i < len(parts)-1 {
			// A dotted key walks through tables only.
			if f.kind != kindTable {
				s.probs.add(line, full, "want %s, got a table", f.want())
				return false
			}
			s.setLine(full, line)
		}
	}
	if first, dup := s.defined[path]; dup {
		s.probs.add(line, path, "defined twice (first on line %d)", first)
		return false
	}
	s.defined[path] = line
	s.setLine(path, line)
	s.exprOf[path] = num
	return s.value(n.Value(), f, path, line, num)
}

// value checks v against f, the way the decoder will read it.
func (s *scan) value(v *unstable.Node, f *field, path string, line, num int) bool {
	if v.Raw.Length > 0 {
		line = s.lineOf(int(v.Raw.Offset))
	}
	mismatch := func() bool {
		s.probs.add(line, path, "want %s, got %s", f.want(), kindName(v.Kind))
		return false
	}
	switch f.kind {
	case kindTable:
		if v.Kind != unstable.InlineTable {
			return mismatch()
		}
		for it := v.Children(); it.Next(); {
			if !s.keyval(it.Node(), f, path, num) {
				return false
			}
		}
	case kindTables:
		if v.Kind != unstable.Array {
			return mismatch()
		}
		s.arrays[path] = -1
		i := 0
		for it := v.Children(); it.Next(); i++ {
			e, ep := it.Node(), elem(path, i)
			eline := s.elemLine(e, line)
			if e.Kind != unstable.InlineTable {
				s.probs.add(eline, path, "want %s, got an array holding %s", f.want(), kindName(e.Kind))
				return false
			}
			s.setLine(ep, eline)
			for kv := e.Children(); kv.Next(); {
				if !s.keyval(kv.Node(), f, ep, num) {
					return false
				}
			}
		}
	case kindStrings:
		if v.Kind != unstable.Array {
			return mismatch()
		}
		i := 0
		for it := v.Children(); it.Next(); i++ {
			e := it.Node()
			eline := s.elemLine(e, line)
			if e.Kind != unstable.String {
				s.probs.add(eline, path, "want %s, got an array holding %s", f.want(), kindName(e.Kind))
				return false
			}
			s.setLine(elem(path, i), eline)
		}
	case kindString:
		if v.Kind != unstable.String {
			return mismatch()
		}
		s.strs[path] = string(v.Data)
	case kindBool:
		if v.Kind != unstable.Bool {
			return mismatch()
		}
	case kindFloat:
		if v.Kind != unstable.Float && v.Kind != unstable.Integer {
			return mismatch()
		}
	case kindInt:
		if v.Kind != unstable.Integer {
			return mismatch()
		}
		if _, err := strconv.ParseInt(string(v.Data), 0, 64); err != nil {
			s.probs.add(line, path, "integer %s is out of range", v.Data)
			return false
		}
	case kindText:
		// The decoder hands integers to UnmarshalText too, so that
		// min_healthy = 2 and expect_status = 200 work.
		if v.Kind != unstable.String && v.Kind != unstable.Integer {
			return mismatch()
		}
		u := reflect.New(f.typ).Interface().(encoding.TextUnmarshaler)
		if err := u.UnmarshalText(v.Data); err != nil {
			s.probs.add(line, path, "%s", err)
			return false
		}
	}
	return true
}

func (s *scan) elemLine(e *unstable.Node, def int) int {
	if e.Raw.Length > 0 {
		return s.lineOf(int(e.Raw.Offset))
	}
	return def
}

func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "an integer"
	case unstable.Float:
		return "a float"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.LocalDate:
		return "a date"
	case unstable.LocalTime:
		return "a time"
	}
	return "a date-time"
}
