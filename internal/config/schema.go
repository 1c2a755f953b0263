package config

import (
	"encoding"
	"reflect"
	"sort"
	"strings"
	"sync"
)

// kind is what a key of config.toml holds, as the scan pass sees it.
type kind uint8

const (
	kindTable  kind = iota // a struct: [table], inline table or dotted keys
	kindTables             // a slice of structs: [[table]] or an array of inline tables
	kindText               // an encoding.TextUnmarshaler: Duration, Color, ...
	kindString
	kindInt
	kindFloat
	kindBool
	kindStrings
)

// field describes one key of config.toml. The tree is derived from the Go
// types by reflection, so a field added to config.go is known to the scan
// pass without a second list to keep in sync.
type field struct {
	kind   kind
	typ    reflect.Type
	fields map[string]*field // kindTable and kindTables: keys by toml name
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// schema is the field tree of Config, built once.
var schema = sync.OnceValue(func() *field { return fieldOf(reflect.TypeFor[Config]()) })

func fieldOf(t reflect.Type) *field {
	f := &field{typ: t}
	switch {
	case reflect.PointerTo(t).Implements(textUnmarshaler):
		f.kind = kindText
	case t.Kind() == reflect.Struct:
		f.kind = kindTable
		f.fields = structFields(t)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		f.kind = kindTables
		f.fields = structFields(t.Elem())
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		f.kind = kindStrings
	case t.Kind() == reflect.String:
		f.kind = kindString
	case t.Kind() == reflect.Bool:
		f.kind = kindBool
	case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
		f.kind = kindFloat
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		f.kind = kindInt
	default:
		panic("config: no toml kind for " + t.String()) // a programming error in config.go
	}
	return f
}

func structFields(t reflect.Type) map[string]*field {
	m := make(map[string]*field)
	for sf := range t.Fields() {
		name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		m[name] = fieldOf(sf.Type)
	}
	return m
}

// want describes what a key of this kind accepts, for "want X, got Y".
func (f *field) want() string {
	switch f.kind {
	case kindTable:
		return "a table"
	case kindTables:
		return "an array of tables"
	case kindString:
		return "a string"
	case kindInt:
		return "an integer"
	case kindFloat:
		return "a number"
	case kindBool:
		return "true or false"
	case kindStrings:
		return "a list of strings"
	}
	switch f.typ {
	case reflect.TypeFor[Duration]():
		return `a duration string like "10s"`
	case reflect.TypeFor[Watch]():
		return `a duration string like "10m" or "always"`
	case reflect.TypeFor[Color]():
		return `"blue" or "green"`
	case reflect.TypeFor[StatusRange]():
		return `a status range like "200-399"`
	case reflect.TypeFor[MinHealthy]():
		return `a count like "2" or a percentage like "50%"`
	}
	return "a string"
}

// suggest returns the known key closest to name when it is close enough to
// be a typo, or "".
func (f *field) suggest(name string) string {
	names := make([]string, 0, len(f.fields))
	for k := range f.fields {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic among equally close names
	best, bestD := "", 3
	for _, k := range names {
		if d := editDistance(strings.ToLower(name), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, bounded in cost by the short
// keys it is used on.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
