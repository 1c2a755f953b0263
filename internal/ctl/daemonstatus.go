package ctl

import (
	"fmt"
	"io"
	"time"

	"github.com/switchd/switchd/control/api"
)

// writeUnsaved warns of every service whose state switchd holds in memory
// only: a restart now would bring back what state.json still says.
func writeUnsaved(w io.Writer, list []api.Service) {
	for _, s := range list {
		if s.Persisted != nil && !*s.Persisted {
			fmt.Fprintf(w, "%s: NOT PERSISTED: state.json could not be written; switchd retries every second (a restart now would go back to what the file says)\n", cell(s.Name))
		}
	}
}

// reloadLine sums up the last load of the config file.
func reloadLine(st api.Status) string {
	r := st.Config.LastReload
	if r.OK {
		return fmt.Sprintf("config: loaded %s (%s)", timeCell(&r.At), cell(r.Source))
	}
	line := fmt.Sprintf("config: last reload FAILED %s (%s): %s", timeCell(&r.At), cell(r.Source), oneLine(r.Error, 300))
	if r.LastSuccess != nil {
		line += "; running the config loaded " + timeCell(r.LastSuccess)
	}
	return line
}

// writeDaemonStatus prints switchd's own state under the services: the last
// config reload, a state.json that was missing at start, and a line per
// certificate of the https listener. nil (a switchd too old to send it)
// prints nothing.
func writeDaemonStatus(w io.Writer, st *api.Status, now time.Time) {
	if st == nil {
		return
	}
	fmt.Fprintln(w, reloadLine(*st))
	if st.State.MissingAtStart {
		fmt.Fprintf(w, "state: %s did not exist at start-up: services started on their initial colours\n", cell(st.State.Path))
	}
	for _, c := range st.TLS {
		fmt.Fprintln(w, certLine(c, now))
	}
}

// certWarnBefore is how close to its expiry a certificate is warned of:
// ACME renews with a third of the life left (30 days of Let's Encrypt's
// 90), so a certificate this close means renewal has been failing for
// weeks, and one from files needs replacing by hand.
const certWarnBefore = 14 * 24 * time.Hour

// certLine sums up the certificate served for one host. Certificates of
// the internal CA live 7 days and are replaced at handshakes well before
// they expire: no warning for them.
func certLine(c api.CertStatus, now time.Time) string {
	what := cell(c.Source)
	if c.Issuer != "" {
		what += ", " + cell(c.Issuer)
	}
	head := fmt.Sprintf("tls: %s (%s): ", cell(c.Host), what)
	if c.NotAfter == nil {
		return head + "no certificate yet"
	}
	left := c.NotAfter.Sub(now)
	switch {
	case left <= 0:
		return head + "EXPIRED " + timeCell(c.NotAfter)
	case left < certWarnBefore && c.Source != "internal":
		return head + fmt.Sprintf("WARNING: expires %s, in %s", timeCell(c.NotAfter), daysLeft(left))
	}
	return head + fmt.Sprintf("expires %s, in %s", timeCell(c.NotAfter), daysLeft(left))
}

// daysLeft is d in whole days, or hours below a day.
func daysLeft(d time.Duration) string {
	if d < 24*time.Hour {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
