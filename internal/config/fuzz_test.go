package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(demoTOML))
	if shipped, err := os.ReadFile("../../config.toml"); err == nil {
		f.Add(shipped)
	}
	for _, tt := range parseErrorTests {
		f.Add([]byte(tt.text))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			if c != nil {
				t.Fatal("a config and an error")
			}
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.toml") {
					t.Fatalf("error line without the file name: %q", line)
				}
			}
			return
		}
		checkValid(t, c)

		// What Parse accepted, written back out, reads back the same: the
		// defaults and normal forms are fixed points.
		out, err := toml.Marshal(c)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := Parse(out, "fuzz.toml")
		if err != nil {
			t.Fatalf("parse of the marshalled config:\n%v\n%s", err, out)
		}
		// %+v, not reflect.DeepEqual: a nil and an empty list are the same
		// config. Where keys stand is not part of it.
		c.keyLines, again.keyLines = nil, nil
		if before, after := fmt.Sprintf("%+v", c), fmt.Sprintf("%+v", again); before != after {
			t.Fatalf("round trip changed the config\nbefore: %s\n after: %s", before, after)
		}
	})
}

// checkValid asserts the promises of a Config that Parse returned.
func checkValid(t *testing.T, c *Config) {
	t.Helper()
	if len(c.Services) == 0 {
		t.Fatal("no services")
	}
	names, hosts, defaults := map[string]bool{}, map[string]bool{}, 0
	for _, s := range c.Services {
		if !serviceName.MatchString(s.Name) || names[s.Name] {
			t.Fatalf("bad or duplicate name %q", s.Name)
		}
		names[s.Name] = true
		if len(s.Hosts) == 0 {
			defaults++
		}
		for _, h := range s.Hosts {
			if !validHost(h) || h != normalizeHost(h) || hosts[h] {
				t.Fatalf("bad or duplicate host %q", h)
			}
			hosts[h] = true
		}
		if !s.Initial.Valid() {
			t.Fatalf("service %q: initial %v is not a colour", s.Name, s.Initial)
		}
		for _, col := range Colors {
			for _, u := range s.Pool(col).Upstreams {
				if canon, err := parseUpstream(u); err != nil || canon != u {
					t.Fatalf("upstream %q not canonical: %q, %v", u, canon, err)
				}
			}
		}
		h, g := s.Health, s.Guard
		if h.Interval.D() < 10*time.Millisecond || h.Timeout <= 0 || h.Timeout > h.Interval || h.Rise < 1 || h.Fall < 1 || !strings.HasPrefix(h.Path, "/") {
			t.Fatalf("service %q: bad health %+v", s.Name, h)
		}
		if g.Window.D() < 100*time.Millisecond || !(g.MaxErrorRate > 0 && g.MaxErrorRate <= 1) || g.MinRequests < 1 {
			t.Fatalf("service %q: bad guard %+v", s.Name, g)
		}
		if !validHeaderName(s.Preview.Header) {
			t.Fatalf("service %q: bad preview header %q", s.Name, s.Preview.Header)
		}
	}
	if defaults > 1 {
		t.Fatalf("%d default services", defaults)
	}
	if !slices.Contains(TLSModes, c.TLS.Mode) || c.State.Dir == "" || c.Server.MaxHeaderBytes < 1024 || len(c.Server.Trusted) != len(c.Server.TrustedProxies) {
		t.Fatalf("bad top level: %+v", c)
	}
	if _, err := checkControlListen(c.Control.Listen); err != nil {
		t.Fatalf("control.listen %q: %v", c.Control.Listen, err)
	}
}
