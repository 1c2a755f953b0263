package config

import (
	_ "embed"
	"fmt"
	"strings"
)

//go:embed demo.toml
var demoTOML string

// Demo returns the config of `switchd -demo`: one default service "demo"
// with blue at blueAddr and green at greenAddr, the proxy on
// 127.0.0.1:8080, the control API on 127.0.0.1:9180, console logs and
// state in stateDir. It goes through Parse, so every default applies.
//
// The addresses are the demo upstreams' own listeners; an address Parse
// refuses is a bug in the caller, so Demo panics on it.
func Demo(blueAddr, greenAddr, stateDir string) *Config {
	text := strings.NewReplacer(
		"{{blue}}", tomlString(blueAddr),
		"{{green}}", tomlString(greenAddr),
		"{{state_dir}}", tomlString(stateDir),
	).Replace(demoTOML)
	c, err := Parse([]byte(text), "demo.toml")
	if err != nil {
		panic(fmt.Sprintf("config: demo config: %v", err))
	}
	c.Path = ""
	return c
}

// tomlString quotes s as a TOML basic string. strconv.Quote is not one:
// TOML has no \x escapes.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
