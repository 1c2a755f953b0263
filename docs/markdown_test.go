package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// page is one Markdown file, read as lines, with fenced code blocks marked
// so that a "# comment" in a shell example is not taken for a heading.
type page struct {
	path  string // relative to docs/, as messages name it: "configuration.md", "../README.md"
	lines []line
}

type line struct {
	n      int // 1-based
	text   string
	inCode bool
}

func readPage(t *testing.T, path string) page {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	p := page{path: path}
	fenced := false
	for i, text := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(text), "```") {
			fenced = !fenced
			p.lines = append(p.lines, line{n: i + 1, text: text, inCode: true})
			continue
		}
		p.lines = append(p.lines, line{n: i + 1, text: text, inCode: fenced})
	}
	return p
}

// pages returns README.md and every Markdown file of docs/.
func pages(t *testing.T) []page {
	t.Helper()
	names, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := []page{readPage(t, "../README.md")}
	for _, n := range names {
		out = append(out, readPage(t, n))
	}
	return out
}

// headings returns the heading lines of p (outside code), without the #s.
func (p page) headings() []line {
	var out []line
	for _, l := range p.lines {
		if !l.inCode && strings.HasPrefix(l.text, "#") {
			out = append(out, line{n: l.n, text: strings.TrimSpace(strings.TrimLeft(l.text, "#"))})
		}
	}
	return out
}

// slug is the anchor GitHub gives a heading: lowercase, punctuation but "-"
// and "_" dropped, spaces turned into "-".
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of p's headings; a repeated heading gets
// "-1", "-2", … as on GitHub.
func (p page) anchors() map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, h := range p.headings() {
		s := slug(h.text)
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinksResolve checks every relative link of README.md and docs/: the
// file must exist, and an anchor into a Markdown file must be one of its
// headings.
func TestLinksResolve(t *testing.T) {
	all := pages(t)
	byPath := map[string]page{}
	for _, p := range all {
		byPath[filepath.Clean(p.path)] = p
	}
	for _, p := range all {
		for _, l := range p.lines {
			if l.inCode {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(l.text, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				dest := filepath.Clean(filepath.Join(filepath.Dir(p.path), file))
				if file == "" {
					dest = filepath.Clean(p.path)
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d: link %q: no such file %s", p.path, l.n, target, dest)
					continue
				}
				if anchor == "" || !strings.HasSuffix(dest, ".md") {
					continue
				}
				to, ok := byPath[dest]
				if !ok {
					to = readPage(t, dest)
				}
				if !to.anchors()[anchor] {
					t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s", p.path, l.n, target, dest, anchor)
				}
			}
		}
	}
}

// TestNoOutsideReferences checks that README.md and docs/ stand alone: they
// never point at files beside the repository, which its users do not have.
func TestNoOutsideReferences(t *testing.T) {
	for _, p := range pages(t) {
		for _, l := range p.lines {
			for _, bad := range []string{"../shared", "SPEC.md"} {
				if strings.Contains(l.text, bad) {
					t.Errorf("%s:%d: mentions %q, which is not part of the repository: %s", p.path, l.n, bad, strings.TrimSpace(l.text))
				}
			}
		}
	}
}
