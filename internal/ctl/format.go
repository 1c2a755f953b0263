package ctl

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchd/switchd/control/api"
)

// timeLayout is how tables show instants: UTC, to the second, so that rows
// from hosts in different zones compare.
const timeLayout = "2006-01-02 15:04:05Z"

// colors is the order in which tables list the pools.
var colors = [...]string{"blue", "green"}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0) }

// writeServices prints one summary row per service.
func writeServices(w io.Writer, list []api.Service) {
	tw := newTable(w)
	fmt.Fprintln(tw, "SERVICE\tACTIVE\tIDLE\tGEN\tBLUE\tGREEN\tCHANGED\tBY\tREASON")
	for _, s := range list {
		idle := s.Idle
		if idle == "" {
			idle = otherColor(s.Active)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n",
			cell(s.Name), cell(s.Active), cell(idle), s.Generation, poolSummary(s, "blue"), poolSummary(s, "green"),
			timeCell(&s.ChangedAt), cell(s.ChangedBy), reasonCell(s))
	}
	tw.Flush()
}

// writeUpstreams prints one row per upstream of both pools.
func writeUpstreams(w io.Writer, s api.Service) {
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "COLOR\tADDRESS\tSTATE\tSINCE\tLATENCY\tINFLIGHT\tLAST-ERROR")
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
// colour goes to every upstream because none is healthy, or "-" for a
// colour with nothing deployed.
func poolSummary(s api.Service, color string) string {
	p, ok := s.Pools[color]
	if !ok || p.Total == 0 {
		return "-"
	}
	if p.Panic {
		return fmt.Sprintf("%d/%d up PANIC", p.Healthy, p.Total)
	}
	return fmt.Sprintf("%d/%d up", p.Healthy, p.Total)
}

// reasonCell is the operator's words ("deploy 4f2a"), led by the kind of
// change when it was not a manual one ("guard: 12% errors").
func reasonCell(s api.Service) string {
	var parts []string
	if s.Reason != "" && s.Reason != "manual" {
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
	case "healthy":
		return fmt.Sprintf("%s: %s healthy (%d/%d up)", name, color, p.Healthy, p.Total)
	case "drained":
		return fmt.Sprintf("%s: %s drained (%d in flight)", name, color, p.Inflight)
	case "stable":
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
