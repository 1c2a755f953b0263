package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// maxErrors caps how many problems Parse reports: past a few dozen the
// file is probably not a switchd config at all, and a wall of errors hides
// the first one.
const maxErrors = 20

// Error is one problem in a config file. Parse returns them joined with
// errors.Join, one per line, sorted by line; use errors.As to get at one.
type Error struct {
	// File is the path given to Parse.
	File string
	// Line is 1-based; 0 when no line applies (a missing section).
	Line int
	// Subject is `service "app"` or `notify #1` for keys inside those
	// sections, "" for the rest.
	Subject string
	// Key is the dotted key, relative to Subject: "health.interval". It may
	// be "" when the problem is about the whole subject.
	Key string
	// Problem says what is wrong, lowercase, values quoted.
	Problem string
}

// Error formats the problem as "<file>:<line>: <subject>: <key>: <problem>",
// leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	for _, s := range []string{e.Subject, e.Key, e.Problem} {
		if s != "" {
			b.WriteString(": ")
			b.WriteString(s)
		}
	}
	return b.String()
}

// problem is an Error before its path is split into subject and key: the
// service names that subjects quote are only all known at the end.
type problem struct {
	line int
	path string // concrete key path: "service[1].health.interval"
	msg  string
}

// problems collects what is wrong with one file.
type problems []problem

func (ps *problems) add(line int, path, format string, args ...any) {
	*ps = append(*ps, problem{line: line, path: path, msg: fmt.Sprintf(format, args...)})
}

var elemIndex = regexp.MustCompile(`\[\d+\]`)

// err turns the problems into one error, or nil. names maps a service's
// index to its name, for subjects.
func (ps problems) err(file string, names map[int]string) error {
	if len(ps) == 0 {
		return nil
	}
	if file == "" {
		file = "config.toml"
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].line < ps[j].line })
	errs := make([]error, 0, min(len(ps), maxErrors)+1)
	for i, p := range ps {
		if i == maxErrors {
			errs = append(errs, &Error{File: file, Problem: fmt.Sprintf("%d more errors not shown", len(ps)-maxErrors)})
			break
		}
		subject, key := splitPath(p.path, names)
		errs = append(errs, &Error{File: file, Line: p.line, Subject: subject, Key: key, Problem: p.msg})
	}
	return errors.Join(errs...)
}

// splitPath turns "service[1].health.interval" into `service "app"` and
// "health.interval". Element indexes are dropped from keys: the line
// already points at the element.
func splitPath(path string, names map[int]string) (subject, key string) {
	for _, section := range []string{"service", "notify"} {
		rest, ok := strings.CutPrefix(path, section+"[")
		if !ok {
			continue
		}
		num, rest, ok := strings.Cut(rest, "]")
		i, err := strconv.Atoi(num)
		if !ok || err != nil {
			break
		}
		subject = fmt.Sprintf("%s #%d", section, i+1)
		if name := names[i]; section == "service" && name != "" {
			subject = fmt.Sprintf("service %q", name)
		}
		return subject, elemIndex.ReplaceAllString(strings.TrimPrefix(rest, "."), "")
	}
	return "", elemIndex.ReplaceAllString(path, "")
}
