package config

// CheckActive reports every service whose active colour has no upstreams:
// it would answer every request with 502. The active colour is the one
// active(name) knows (state.json's) or else the service's initial. active
// may be nil. Errors cite file, line and key like Parse's, and say where the
// colour came from. The idle colour may be empty (nothing deployed yet).
func (c *Config) CheckActive(active func(service string) (Color, bool)) error {
	var probs problems
	names := map[int]string{}
	for i := range c.Services {
		sv := &c.Services[i]
		names[i] = sv.Name
		col, from := sv.Initial, "initial"
		if active != nil {
			if a, ok := active(sv.Name); ok && a.Valid() {
				col, from = a, "state.json"
			}
		}
		if !col.Valid() || len(sv.Pool(col).Upstreams) > 0 {
			continue
		}
		p := elem("service", i)
		key := p + "." + col.String() + ".upstreams"
		probs.add(c.line(key, p+"."+col.String(), p+".initial", p), key,
			"the active colour %s (from %s) has no upstreams", col, from)
	}
	return probs.err(c.Path, names)
}

func (c *Config) line(paths ...string) int {
	for _, p := range paths {
		if l, ok := c.keyLines[p]; ok {
			return l
		}
	}
	return 0
}
