package config

import "fmt"

// Color is one of the two pools of a service. The zero value is NoColor, which
// means "none" (for example a service that has never had a previous colour).
type Color uint8

const (
	// NoColor is the zero Color: no colour chosen.
	NoColor Color = iota
	// Blue is the blue pool.
	Blue
	// Green is the green pool.
	Green
)

// Colors lists both colours in a fixed order, for loops and series.
var Colors = [2]Color{Blue, Green}

// String returns "blue", "green" or "" for NoColor.
func (c Color) String() string {
	switch c {
	case Blue:
		return "blue"
	case Green:
		return "green"
	}
	return ""
}

// Other returns the other colour; NoColor stays NoColor.
func (c Color) Other() Color {
	switch c {
	case Blue:
		return Green
	case Green:
		return Blue
	}
	return NoColor
}

// Index maps Blue to 0 and Green to 1, for arrays indexed by colour.
// It must not be called on NoColor.
func (c Color) Index() int { return int(c) - 1 }

// Valid reports whether c is Blue or Green.
func (c Color) Valid() bool { return c == Blue || c == Green }

// ParseColor parses "blue" or "green".
func ParseColor(s string) (Color, error) {
	switch s {
	case "blue":
		return Blue, nil
	case "green":
		return Green, nil
	}
	return NoColor, fmt.Errorf("bad colour %q: want \"blue\" or \"green\"", s)
}

// MarshalText encodes the colour as its name; NoColor encodes as "".
func (c Color) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText accepts "blue", "green" and "" (NoColor).
func (c *Color) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*c = NoColor
		return nil
	}
	v, err := ParseColor(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}
