package daemon

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"

	"github.com/switchd/switchd/internal/control"
)

// readEvents parses a server-sent event stream into ch until r ends.
func readEvents(r io.Reader, ch chan<- control.Event) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var e control.Event
			if json.Unmarshal([]byte(data), &e) == nil {
				select {
				case ch <- e:
				default:
				}
			}
		}
	}
}
