// Package docs_test keeps docs/ complete: each test derives a list from the
// code (config keys from config.Config, endpoints from control.Server.Routes,
// metrics from a fresh registry, commands from ctl.Commands) and fails,
// naming each one, when docs/ lacks something the code has or documents
// something it does not.
//
// The conventions the tests read:
//   - configuration.md: a heading naming the table in backticks (“`[server]`”,
//     “`[[service]]`”, “`[service.health]`”; one heading may name several),
//     then one table row per key whose first cell is the key: “| `interval` |”.
//   - control-api.md: one row per endpoint, “| `GET /v1/services` | read |”,
//     with the role ("none" when no token is needed), and a heading
//     “`GET /v1/services`” for each.
//   - metrics.md: one row per metric, “| `switchd_x` | counter | `service`, `color` |”,
//     labels "none" when there are none; “`go_*`”-style mentions for the
//     families of the standard collectors.
//   - switchctl.md: a heading “`switchctl status`” per command.
//   - control-api.md: a table headed “| `event` / `type` |” with one row per
//     event type (api.EventTypes); configuration.md's `events` row of
//     `[[notify]]` names each of them in backticks.
package docs_test

import (
	"context"
	"encoding"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/control"
	"github.com/switchd/switchd/internal/ctl"
	"github.com/switchd/switchd/internal/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// configKeys returns every key of config.toml by table, the table spelled
// as a TOML header: "[server]" → {"http_listen", …}, "[[service]]",
// "[service.health]". It reads the toml tags of config.Config the way the
// parser does: a type with UnmarshalText is a value, a struct a table, a
// slice of structs an array of tables.
func configKeys() map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type, path string, header string)
	walk = func(t reflect.Type, path, header string) {
		for sf := range t.Fields() {
			name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
			if name == "" || name == "-" || !sf.IsExported() {
				continue
			}
			ft, sub := sf.Type, strings.TrimPrefix(path+"."+name, ".")
			switch {
			case reflect.PointerTo(ft).Implements(textUnmarshaler):
				out[header] = append(out[header], name)
			case ft.Kind() == reflect.Struct:
				walk(ft, sub, "["+sub+"]")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), sub, "[["+sub+"]]")
			default:
				out[header] = append(out[header], name)
			}
		}
	}
	walk(reflect.TypeFor[config.Config](), "", "")
	delete(out, "") // the root holds only tables
	return out
}

var (
	tableName = regexp.MustCompile("`(\\[\\[?[a-z0-9_.]+\\]\\]?)`")
	keyRow    = regexp.MustCompile("^\\|\\s*`([a-z0-9_]+)`\\s*\\|")
)

// documentedKeys reads configuration.md: table header → key → line.
func documentedKeys(p page) map[string]map[string]int {
	out := map[string]map[string]int{}
	var tables []string
	for _, l := range p.lines {
		if l.inCode {
			continue
		}
		if strings.HasPrefix(l.text, "#") {
			tables = nil
			for _, m := range tableName.FindAllStringSubmatch(l.text, -1) {
				tables = append(tables, m[1])
			}
			continue
		}
		m := keyRow.FindStringSubmatch(l.text)
		if m == nil {
			continue
		}
		for _, tb := range tables {
			if out[tb] == nil {
				out[tb] = map[string]int{}
			}
			out[tb][m[1]] = l.n
		}
	}
	return out
}

func TestConfigKeysDocumented(t *testing.T) {
	p := readPage(t, "configuration.md")
	code, docs := configKeys(), documentedKeys(p)
	if len(code) == 0 {
		t.Fatal("found no tables in config.Config")
	}
	for _, table := range sortedKeys(code) {
		for _, key := range code[table] {
			if _, ok := docs[table][key]; !ok {
				t.Errorf("%s: no row for %s %s: want a row \"| `%s` | type | default | what it does |\" under a heading naming `%s`",
					p.path, table, key, key, table)
			}
		}
	}
	for _, table := range sortedKeys(docs) {
		for key, n := range docs[table] {
			if !slices.Contains(code[table], key) {
				t.Errorf("%s:%d: documents %s %s, which config.Config does not have", p.path, n, table, key)
			}
		}
	}
}

var (
	routeRow     = regexp.MustCompile("^\\|\\s*`([A-Z]+ /[^`]*)`\\s*\\|\\s*([a-z]+)\\s*\\|")
	routeHeading = regexp.MustCompile("^`([A-Z]+ /[^`]*)`$")
)

func TestControlRoutesDocumented(t *testing.T) {
	// Every optional endpoint on: the reference documents them all. New
	// only registers handlers, so no switchboard is needed to list them.
	lvl := zap.NewAtomicLevel()
	stub := http.NotFoundHandler()
	srv := control.New(control.Options{Metrics: stub, Events: stub, Level: &lvl,
		Reload:  func(context.Context) error { return nil },
		Status:  func() control.Status { return control.Status{} },
		Upgrade: func() error { return nil },
		Fleet:   func(context.Context) (control.Fleet, error) { return control.Fleet{}, nil },
	})
	routes := srv.Routes()
	if len(routes) == 0 {
		t.Fatal("control.Server.Routes is empty")
	}

	p := readPage(t, "control-api.md")
	rows := map[string]string{} // "GET /v1/services" → role
	rowLine := map[string]int{}
	for _, l := range p.lines {
		if m := routeRow.FindStringSubmatch(l.text); m != nil && !l.inCode {
			rows[m[1]], rowLine[m[1]] = m[2], l.n
		}
	}
	headings := map[string]bool{}
	for _, h := range p.headings() {
		if m := routeHeading.FindStringSubmatch(h.text); m != nil {
			headings[m[1]] = true
		}
	}

	inCode := map[string]bool{}
	for _, r := range routes {
		ep := r.Method + " " + r.Pattern
		inCode[ep] = true
		role, ok := rows[ep]
		switch {
		case !ok:
			t.Errorf("%s: no row for %s: want \"| `%s` | %s | what |\" in the table of endpoints", p.path, ep, ep, r.Role)
		case role != r.Role.String():
			t.Errorf("%s:%d: %s is documented with role %q; the server needs %q", p.path, rowLine[ep], ep, role, r.Role)
		}
		if !headings[ep] {
			t.Errorf("%s: no section for %s: want a heading \"## `%s`\"", p.path, ep, ep)
		}
	}
	for _, ep := range sortedKeys(rows) {
		if !inCode[ep] {
			t.Errorf("%s:%d: documents %s, which the control server does not serve", p.path, rowLine[ep], ep)
		}
	}
}

// family is a metric as the code defines it.
type family struct {
	typ    string   // "counter", "gauge", "histogram", "summary", "untyped"
	labels []string // sorted
}

// codeMetrics builds switchd's metrics on a fresh registry, creates the
// series of the demo config, and returns every family Gather reports, plus
// any collector of metrics.Metrics that has no series yet (from Describe).
func codeMetrics(t *testing.T) map[string]family {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, "test")
	m.Declare(config.Demo("127.0.0.1:1", "127.0.0.1:2", t.TempDir()).Services)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]family{}
	for _, f := range fams {
		labels := map[string]bool{}
		for _, mt := range f.GetMetric() {
			for _, lp := range mt.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		out[f.GetName()] = family{typ: strings.ToLower(dto.MetricType_name[int32(f.GetType())]), labels: sortedKeys(labels)}
	}
	// A vector nobody has used yet has no series, so Gather leaves it out;
	// its Desc still names it and its labels.
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if _, reg := c.(*prometheus.Registry); !ok || reg {
			continue // the registry describes everything, as untyped
		}
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			n := descName.FindStringSubmatch(d.String())
			if n == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			if _, seen := out[n[1]]; seen {
				continue
			}
			var labels []string
			if l := descLabels.FindStringSubmatch(d.String()); l != nil && l[1] != "" {
				labels = strings.Split(l[1], ",")
				sort.Strings(labels)
			}
			out[n[1]] = family{typ: collectorType(c), labels: labels}
		}
	}
	return out
}

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

// collectorType names the metric type of one of client_golang's
// collectors. A Gauge has every method of a Counter, so it is asked first;
// a lone Summary looks like a Histogram and is taken for one.
func collectorType(c prometheus.Collector) string {
	switch c.(type) {
	case *prometheus.GaugeVec, prometheus.Gauge:
		return "gauge"
	case *prometheus.CounterVec, prometheus.Counter:
		return "counter"
	case *prometheus.HistogramVec, prometheus.Histogram:
		return "histogram"
	case *prometheus.SummaryVec:
		return "summary"
	}
	return "untyped"
}

var (
	metricRow = regexp.MustCompile("^\\|\\s*`(switchd_[a-z0-9_]+)`\\s*\\|\\s*([a-z]+)\\s*\\|([^|]*)\\|")
	backticks = regexp.MustCompile("`([^`]+)`")
)

func TestMetricsDocumented(t *testing.T) {
	code := codeMetrics(t)
	p := readPage(t, "metrics.md")
	type row struct {
		line   int
		typ    string
		labels []string
	}
	rows := map[string]row{}
	text := ""
	for _, l := range p.lines {
		text += l.text + "\n"
		m := metricRow.FindStringSubmatch(l.text)
		if m == nil || l.inCode {
			continue
		}
		var labels []string
		for _, b := range backticks.FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, b[1])
		}
		sort.Strings(labels)
		rows[m[1]] = row{l.n, m[2], labels}
	}

	for _, name := range sortedKeys(code) {
		f := code[name]
		prefix, _, _ := strings.Cut(name, "_")
		if prefix != "switchd" {
			// The standard Go and process collectors: named as a group.
			if !strings.Contains(text, "`"+prefix+"_*`") {
				t.Errorf("%s: %s is served but the page never mentions `%s_*`", p.path, name, prefix)
			}
			continue
		}
		r, ok := rows[name]
		if !ok {
			labels := "none"
			if len(f.labels) > 0 {
				labels = "`" + strings.Join(f.labels, "`, `") + "`"
			}
			t.Errorf("%s: no row for %s: want \"| `%s` | %s | %s | meaning |\"", p.path, name, name, f.typ, labels)
			continue
		}
		if r.typ != f.typ {
			t.Errorf("%s:%d: %s is documented as a %s; it is a %s", p.path, r.line, name, r.typ, f.typ)
		}
		if !slices.Equal(r.labels, f.labels) {
			t.Errorf("%s:%d: %s is documented with labels %v; it has %v", p.path, r.line, name, r.labels, f.labels)
		}
	}
	for _, name := range sortedKeys(rows) {
		if _, ok := code[name]; !ok {
			t.Errorf("%s:%d: documents %s, which switchd does not serve", p.path, rows[name].line, name)
		}
	}
}

var commandHeading = regexp.MustCompile("^`switchctl ([a-z][a-z0-9-]*)`$")

func TestSwitchctlCommandsDocumented(t *testing.T) {
	cmds := ctl.Commands()
	if len(cmds) == 0 {
		t.Fatal("ctl.Commands is empty")
	}
	p := readPage(t, "switchctl.md")
	documented := map[string]int{}
	for _, h := range p.headings() {
		if m := commandHeading.FindStringSubmatch(h.text); m != nil {
			documented[m[1]] = h.n
		}
	}
	for _, c := range cmds {
		if _, ok := documented[c]; !ok {
			t.Errorf("%s: no section for the command %q: want a heading \"### `switchctl %s`\"", p.path, c, c)
		}
	}
	for _, c := range sortedKeys(documented) {
		if !slices.Contains(cmds, c) {
			t.Errorf("%s:%d: documents the command %q, which switchctl does not have", p.path, documented[c], c)
		}
	}
}

var eventRow = regexp.MustCompile("^\\|\\s*`([a-z_]+)`\\s*\\|")

// TestEventTypesDocumented: the table of events lists every event type
// and no other, and [[notify]].events names each.
func TestEventTypesDocumented(t *testing.T) {
	p := readPage(t, "control-api.md")
	documented := map[string]int{}
	inTable := false
	for _, l := range p.lines {
		switch {
		case l.inCode:
			inTable = false
		case strings.HasPrefix(l.text, "| `event` / `type` |"):
			inTable = true
		case !strings.HasPrefix(l.text, "|"):
			inTable = false
		case inTable:
			if m := eventRow.FindStringSubmatch(l.text); m != nil {
				documented[m[1]] = l.n
			}
		}
	}
	for _, e := range api.EventTypes {
		if _, ok := documented[e]; !ok {
			t.Errorf("%s: no row for the event type %q in the table headed \"| `event` / `type` |\"", p.path, e)
		}
	}
	for _, e := range sortedKeys(documented) {
		if !slices.Contains(api.EventTypes, e) {
			t.Errorf("%s:%d: documents the event type %q, which api.EventTypes does not have", p.path, documented[e], e)
		}
	}

	c := readPage(t, "configuration.md")
	n, row := documentedKeys(c)["[[notify]]"]["events"], ""
	for _, l := range c.lines {
		if l.n == n {
			row = l.text
		}
	}
	for _, e := range api.EventTypes {
		if !strings.Contains(row, "`"+e+"`") {
			t.Errorf("%s:%d: the row of [[notify]] events does not name the event type `%s`", c.path, n, e)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
