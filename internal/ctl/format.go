package ctl

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/switchd/switchd/control/api"
)

// timeLayout is how tables show instants: UTC, to the second, so that rows
// from hosts in different zones compare.
const timeLayout = "2006-01-02 15:04:05Z"

// minuteLayout is timeLayout without seconds, for the services table,
// which must fit in 80 columns (the seconds are in --json).
const minuteLayout = "2006-01-02 15:04" // UTC, as the CHANGED (UTC) header says

// colors is the order in which tables list the pools.
var colors = [...]string{"blue", "green"}

// tableWidth is the terminal width tables fit in: the last column (a
// reason, an error) is cut with "…" rather than wrapping every row.
const tableWidth = 80

// table is a tabwriter whose lines are fitted to tableWidth on flush.
type table struct {
	*tabwriter.Writer
	buf bytes.Buffer
	out io.Writer
}

func newTable(w io.Writer) *table {
	t := &table{out: w}
	t.Writer = tabwriter.NewWriter(&t.buf, 0, 8, 2, ' ', 0)
	return t
}

// Flush writes the table, each line cut to tableWidth.
func (t *table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	for _, line := range strings.SplitAfter(t.buf.String(), "\n") {
		if line == "" {
			continue
		}
		text := strings.TrimRight(line, " \n")
		if r := []rune(text); len(r) > tableWidth {
			// A terminal wraps what is wider, breaking the columns.
			text = string(r[:tableWidth-1]) + "…"
		}
		if _, err := io.WriteString(t.out, text+"\n"); err != nil {
			return err
		}
	}
	t.buf.Reset()
	return nil
}

// writeServices prints one summary row per service. When the reasons do
// not fit in tableWidth beside the other columns, they move below the
// table, one line per service, so that the rows stay whole.
func writeServices(w io.Writer, list []api.Service) {
	row := func(s api.Service) string {
		idle := s.Idle
		if idle == "" {
			idle = otherColor(s.Active)
		}
		return fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s",
			cell(s.Name), cell(s.Active), cell(idle), s.Generation, poolCell(s, "blue"), poolCell(s, "green"),
			minuteCell(&s.ChangedAt), cell(s.ChangedBy))
	}
	var wide bytes.Buffer
	tw := tabwriter.NewWriter(&wide, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tACTIVE\tIDLE\tGEN\tBLUE\tGREEN\tCHANGED (UTC)\tBY\tREASON")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\n", row(s), reasonCell(s))
	}
	tw.Flush()
	if fits(wide.String()) {
		w.Write(wide.Bytes())
		return
	}
	t := newTable(w)
	fmt.Fprintln(t, "SERVICE\tACTIVE\tIDLE\tGEN\tBLUE\tGREEN\tCHANGED (UTC)\tBY")
	for _, s := range list {
		fmt.Fprintln(t, row(s))
	}
	t.Flush()
	t = newTable(w)
	for _, s := range list {
		if r := reasonCell(s); r != "-" {
			fmt.Fprintf(t, "  %s: %s\n", cell(s.Name), r)
		}
	}
	t.Flush()
}

// fits reports whether every line of text is at most tableWidth wide.
func fits(text string) bool {
	for _, line := range strings.Split(text, "\n") {
		if utf8.RuneCountInString(strings.TrimRight(line, " ")) > tableWidth {
			return false
		}
	}
	return true
}

// writeUpstreams prints one row per upstream of both pools.
func writeUpstreams(w io.Writer, s api.Service) {
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "COLOR\tADDRESS\tSTATE\tSINCE\tLATENCY\tINFLIGHT\tERROR")
	for _, c := range colors {
		for _, u := range s.Pools[c].Upstreams {
			latency := "-"
			if u.LastCheck != nil {
				latency = fmt.Sprintf("%.1fms", u.LastLatencyMS)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n",
				c, cell(u.Address), cell(u.State), timeCell(u.Since), latency, u.Inflight, cell(u.LastError))
		}
	}
	tw.Flush()
}

// poolSummary is "healthy/total up", "0/2 up PANIC" when traffic to the
// active colour goes to every upstream because none is healthy, or "-" for
// an empty pool: for sentences ("blue 2/2 up").
func poolSummary(s api.Service, color string) string { return poolText(s, color, " up") }

// poolCell is poolSummary for the table, whose BLUE and GREEN headers say
// what is counted: "healthy/total", "0/2 PANIC", "-".
func poolCell(s api.Service, color string) string { return poolText(s, color, "") }

func poolText(s api.Service, color, unit string) string {
	p, ok := s.Pools[color]
	if !ok || p.Total == 0 {
		return "-"
	}
	text := fmt.Sprintf("%d/%d%s", p.Healthy, p.Total, unit)
	if p.Panic {
		text += " PANIC"
	}
	return text
}

// reasonCell is the operator's words ("deploy 4f2a"), led by the kind of
// change when it was not a manual one ("guard: 12% errors").
func reasonCell(s api.Service) string {
	var parts []string
	if s.Reason != "" && s.Reason != api.ReasonManual {
		parts = append(parts, s.Reason)
	}
	if s.Detail != "" {
		parts = append(parts, s.Detail)
	}
	text := strings.Join(parts, ": ")
	if s.Forced {
		text = strings.TrimSpace(text + " (forced)")
	}
	if text == "" && s.Reason != "" {
		text = s.Reason
	}
	return cell(text)
}

// guardLine sums up the guard in one line.
func guardLine(g *api.GuardStatus, now time.Time) string {
	if !g.Enabled {
		return "guard: off"
	}
	var parts []string
	switch {
	case g.ArmedAlways:
		parts = append(parts, "armed always")
	case g.ArmedUntil != nil && g.ArmedUntil.After(now):
		parts = append(parts, "armed until "+g.ArmedUntil.UTC().Format(timeLayout))
	default:
		parts = append(parts, "not armed")
	}
	parts = append(parts, fmt.Sprintf("%d requests, %.1f%% errors in window", g.WindowRequests, g.WindowErrorRate*100))
	if t := g.LastTrip; t != nil {
		trip := fmt.Sprintf("last trip %s %s → %s", t.At.UTC().Format(timeLayout), t.From, t.To)
		if t.Detail != "" {
			trip += " (" + oneLine(t.Detail, 200) + ")"
		}
		parts = append(parts, trip)
	}
	return "guard: " + strings.Join(parts, ", ")
}

// formatChange is the line for a flip, set or rollback.
func formatChange(name string, res api.ChangeResult) string {
	s := res.Service
	if s.Name != "" {
		name = s.Name
	}
	if !res.Changed {
		return fmt.Sprintf("%s: %s already active (generation %d)", name, res.To, s.Generation)
	}
	forced := ""
	if s.Forced {
		forced = ", forced"
	}
	return fmt.Sprintf("%s: %s → %s (generation %d%s)", name, res.From, res.To, s.Generation, forced)
}

// formatReached is the line for a wait that was reached.
func formatReached(name, until string, w api.WaitResult) string {
	if w.Reached != "" {
		until = w.Reached
	}
	s := w.Service
	kind, color, _ := strings.Cut(until, ":")
	p := s.Pools[color]
	switch kind {
	case api.UntilHealthy:
		return fmt.Sprintf("%s: %s healthy (%d/%d up)", name, color, p.Healthy, p.Total)
	case api.UntilDrained:
		return fmt.Sprintf("%s: %s drained (%d in flight)", name, color, p.Inflight)
	case api.UntilStable:
		return fmt.Sprintf("%s: %s stable (generation %d)", name, s.Active, s.Generation)
	}
	return fmt.Sprintf("%s: %s reached", name, until)
}

// formatEvent is watch's line for one event; the parts present depend on
// the fields set rather than the type, so new types print sensibly.
func formatEvent(ev api.Event) string {
	var b strings.Builder
	b.WriteString(timeCell(&ev.Time))
	b.WriteString("  ")
	b.WriteString(cell(ev.Type))
	if ev.Service != "" {
		b.WriteString(" " + oneLine(ev.Service, 200))
	}
	switch {
	case ev.To != "":
		fmt.Fprintf(&b, " %s → %s (generation %d", cell(ev.From), ev.To, ev.Generation)
		if ev.Actor != "" {
			b.WriteString(", by " + oneLine(ev.Actor, 200))
		}
		if ev.Forced {
			b.WriteString(", forced")
		}
		b.WriteString(")")
	case ev.Upstream != "":
		fmt.Fprintf(&b, " %s %s %s", ev.Color, oneLine(ev.Upstream, 200), ev.State)
	case ev.OK != nil && *ev.OK:
		b.WriteString(" ok")
	case ev.OK != nil:
		b.WriteString(" failed")
	}
	if ev.Detail != "" {
		b.WriteString(": " + oneLine(ev.Detail, 2000))
	}
	return b.String()
}

// cell is s for a table cell: one line, "-" when empty.
func cell(s string) string {
	if s = oneLine(s, 200); s == "" {
		return "-"
	}
	return s
}

func timeCell(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeLayout)
}

func minuteCell(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(minuteLayout)
}
