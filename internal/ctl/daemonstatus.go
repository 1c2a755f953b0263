package ctl

import (
	"fmt"
	"io"

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
// config reload, and a state.json that was missing at start. nil (a switchd
// too old to send it) prints nothing.
func writeDaemonStatus(w io.Writer, st *api.Status) {
	if st == nil {
		return
	}
	fmt.Fprintln(w, reloadLine(*st))
	if st.State.MissingAtStart {
		fmt.Fprintf(w, "state: %s did not exist at start-up: services started on their initial colours\n", cell(st.State.Path))
	}
}
