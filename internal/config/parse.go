package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Load reads the file at path and parses it with Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a config.toml, fills every default and validates the
// result. path names the file in errors ("config.toml" when empty) and is
// kept in Config.Path.
//
// The error, when not nil, joins one *Error per problem, sorted by line
// and formatted as `config.toml:14: service "app": health.interval: bad
// duration "1x" (...)`. Unknown keys are errors. data is not modified.
func Parse(data []byte, path string) (*Config, error) {
	// Bad expressions are blanked out of a copy so that the rest can still
	// be decoded and validated: one run reports every problem.
	// A UTF-8 byte order mark is what some Windows editors write first;
	// TOML does not allow it, and it carries no meaning.
	doc := bytes.Clone(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	sc := scanDoc(doc)
	if sc.bad {
		return nil, sc.probs.err(path, sc.names())
	}
	sc.blank()

	var c Config
	dec := toml.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		// The scan accepts only what the decoder does, except for TOML
		// rules it does not model (a table both dotted and [headed]).
		sc.addDecodeError(err)
		return nil, sc.probs.err(path, sc.names())
	}
	c.Path = path
	c.keyLines = sc.lines
	applyDefaults(&c, sc.set)
	validate(&c, sc)
	if err := sc.probs.err(path, sc.names()); err != nil {
		return nil, err
	}
	return &c, nil
}

// addDecodeError records an error of the go-toml decoder, naming the key
// of that line when the scan knows one.
func (s *scan) addDecodeError(err error) {
	var missing *toml.StrictMissingError
	if errors.As(err, &missing) {
		for i := range missing.Errors {
			s.addDecodeError(&missing.Errors[i])
		}
		return
	}
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		s.probs.add(0, "", "%s", strings.TrimPrefix(err.Error(), "toml: "))
		return
	}
	line, _ := de.Position()
	path := strings.Join(de.Key(), ".")
	if p := s.pathAt(line); p != "" {
		path = p
	}
	s.probs.add(line, path, "%s", strings.TrimPrefix(de.Error(), "toml: "))
}

// pathAt returns the longest path the scan saw on line, or "".
func (s *scan) pathAt(line int) string {
	best := ""
	for p, l := range s.lines {
		if l == line && (len(p) > len(best) || len(p) == len(best) && p < best) {
			best = p
		}
	}
	return best
}
