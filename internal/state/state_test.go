package state

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchd/switchd/internal/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sample is a File with one service of each shape: flipped, never flipped.
func sample() File {
	return File{
		Version: 1,
		Services: map[string]Record{
			"app": {
				Active:     config.Green,
				Previous:   config.Blue,
				Generation: 7,
				ChangedAt:  time.Date(2025, 3, 4, 5, 6, 7, 890000000, time.UTC),
				ChangedBy:  "alice",
				Reason:     "manual",
				Detail:     "deploy 4f2a",
				Forced:     true,
			},
			"api": {
				Active:     config.Blue,
				Generation: 0,
				ChangedAt:  time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
				ChangedBy:  "switchd",
				Reason:     "initial",
			},
		},
	}
}

// equalFile compares Files by meaning: times by instant and offset, since a
// decoded time's *Location differs from the one it was built with.
func equalFile(t *testing.T, got, want File) {
	t.Helper()
	if got.Version != want.Version {
		t.Errorf("Version = %d, want %d", got.Version, want.Version)
	}
	if len(got.Services) != len(want.Services) {
		t.Errorf("got %d services, want %d", len(got.Services), len(want.Services))
	}
	for name, w := range want.Services {
		g, ok := got.Services[name]
		if !ok {
			t.Errorf("service %q missing", name)
			continue
		}
		if !sameTime(g.ChangedAt, w.ChangedAt) {
			t.Errorf("service %q: ChangedAt = %v, want %v", name, g.ChangedAt, w.ChangedAt)
		}
		g.ChangedAt, w.ChangedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("service %q:\n got %+v\nwant %+v", name, g, w)
		}
	}
}

func sameTime(a, b time.Time) bool {
	_, ao := a.Zone()
	_, bo := b.Zone()
	return a.Equal(b) && ao == bo
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	data, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("encoded file does not end in a newline: %q", data)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	equalFile(t, got, sample())
}

func TestEncodeFormat(t *testing.T) {
	f := File{Services: map[string]Record{"app": {
		Active:    config.Blue,
		ChangedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Reason:    "initial",
	}}}
	data, err := Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Version 0 is written as 1; empty Previous, Detail and Forced are left out.
	want := `{
  "version": 1,
  "services": {
    "app": {
      "active": "blue",
      "generation": 0,
      "changed_at": "2025-01-02T03:04:05Z",
      "changed_by": "",
      "reason": "initial"
    }
  }
}
`
	if string(data) != want {
		t.Errorf("Encode =\n%s\nwant\n%s", data, want)
	}

	data, err = Encode(File{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"version\": 1,\n  \"services\": {}\n}\n"; string(data) != want {
		t.Errorf("Encode(File{}) = %q, want %q", data, want)
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want File
	}{
		{
			name: "empty object",
			in:   `{}`,
			want: File{Version: 1, Services: map[string]Record{}},
		},
		{
			name: "missing version is 1",
			in:   `{"services":{"app":{"active":"green","reason":"manual"}}}`,
			want: File{Version: 1, Services: map[string]Record{"app": {Active: config.Green, Reason: "manual"}}},
		},
		{
			name: "version 0 is 1, null services is none",
			in:   `{"version":0,"services":null}`,
			want: File{Version: 1, Services: map[string]Record{}},
		},
		{
			// Forward compatibility: a newer switchd's file must not stop
			// an older one from starting.
			name: "unknown fields and reasons",
			in: `{"version":1,"written_by":"switchd 9.0","services":{"app":{
				"active":"blue","previous":"green","generation":3,
				"changed_at":"2025-03-04T05:06:07+01:00","changed_by":"bob",
				"reason":"canary","detail":"x","forced":false,"weight":50}}}`,
			want: File{Version: 1, Services: map[string]Record{"app": {
				Active: config.Blue, Previous: config.Green, Generation: 3,
				ChangedAt: time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600)), ChangedBy: "bob",
				Reason: "canary", Detail: "x",
			}}},
		},
		{
			name: "largest generation",
			in:   `{"services":{"app":{"active":"blue","reason":"guard","generation":9007199254740992}}}`,
			want: File{Version: 1, Services: map[string]Record{"app": {Active: config.Blue, Reason: "guard", Generation: 1 << 53}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Services == nil {
				t.Error("Services is nil, want an empty map")
			}
			equalFile(t, got, tt.want)
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	const valid = `{"version":1,"services":{"app":{"active":"blue","reason":"manual"}}}`
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", ``, `file is empty`},
		{"blank", " \n\t", `file is empty`},
		{"null", `null`, `top level is null, want an object`},
		{"truncated", valid[:40], `invalid JSON at offset 40: unexpected end of JSON input`},
		{"garbage", "\x00\x01garbage", `invalid JSON at offset 1: invalid character '\x00' looking for beginning of value`},
		{"not JSON", `version = 1`, `invalid JSON at offset 1: invalid character 'v' looking for beginning of value`},
		{"trailing data", valid + `x`, `invalid JSON at offset 69: invalid character 'x' after top-level value`},
		{"two objects", valid + valid, `invalid JSON at offset 69: invalid character '{' after top-level value`},
		{"array", `[]`, `got array, want an object`},
		{"version string", `{"version":"1"}`, `field "version": got string, want an integer`},
		{"version float", `{"version":1.5}`, `field "version": got number 1.5, want an integer`},
		{"version 2", `{"version":2}`, `unsupported version 2: this switchd reads version 1`},
		{"version -1", `{"version":-1}`, `unsupported version -1: this switchd reads version 1`},
		{"services array", `{"services":[]}`, `field "services": got array, want an object`},
		{"service string", `{"services":{"app":"blue"}}`, `service "app": got string, want an object`},
		{"service null", `{"services":{"app":null}}`, `service "app": no active colour`},
		{"generation string", `{"services":{"app":{"active":"blue","reason":"manual","generation":"7"}}}`,
			`service "app": field "generation": got string, want a non-negative integer`},
		{"generation negative", `{"services":{"app":{"active":"blue","reason":"manual","generation":-1}}}`,
			`service "app": field "generation": got number -1, want a non-negative integer`},
		{"generation 2^53+1", `{"services":{"app":{"active":"blue","reason":"manual","generation":9007199254740993}}}`,
			`service "app": generation 9007199254740993 is above 2^53 (9007199254740992), the largest that JSON clients read exactly`},
		{"generation 2^64-1", `{"services":{"app":{"active":"blue","reason":"manual","generation":18446744073709551615}}}`,
			`service "app": generation 18446744073709551615 is above 2^53 (9007199254740992), the largest that JSON clients read exactly`},
		{"generation too big", `{"services":{"app":{"active":"blue","reason":"manual","generation":18446744073709551616}}}`,
			`service "app": field "generation": got number 18446744073709551616, want a non-negative integer`},
		{"forced string", `{"services":{"app":{"active":"blue","reason":"manual","forced":"yes"}}}`,
			`service "app": field "forced": got string, want true or false`},
		{"active number", `{"services":{"app":{"active":1,"reason":"manual"}}}`,
			`service "app": field "active": got number, want a string`},
		{"no active", `{"services":{"app":{"reason":"manual"}}}`, `service "app": no active colour`},
		{"bad active", `{"services":{"app":{"active":"purple","reason":"manual"}}}`, `service "app": bad active colour "purple"`},
		{"active case", `{"services":{"app":{"active":"Blue","reason":"manual"}}}`, `service "app": bad active colour "Blue"`},
		{"bad previous", `{"services":{"app":{"active":"blue","previous":"red","reason":"manual"}}}`,
			`service "app": bad previous colour "red"`},
		{"previous is active", `{"services":{"app":{"active":"blue","previous":"blue","reason":"manual"}}}`,
			`service "app": previous colour "blue" is the same as active`},
		{"no reason", `{"services":{"app":{"active":"blue"}}}`, `service "app": empty reason`},
		{"bad time", `{"services":{"app":{"active":"blue","reason":"manual","changed_at":"yesterday"}}}`,
			`service "app": field "changed_at": parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`},
		{"time number", `{"services":{"app":{"active":"blue","reason":"manual","changed_at":0}}}`,
			`service "app": field "changed_at": Time.UnmarshalJSON: input is not a JSON string`},
		{"empty name", `{"services":{"":{"active":"blue","reason":"manual"}}}`, `service "": empty service name`},
		{"first bad service by name", `{"services":{"b":{"active":"x","reason":"m"},"a":{"active":"y","reason":"m"}}}`,
			`service "a": bad active colour "y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode(%q) = %+v, want error %q", tt.in, f, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Decode(%q) error\n got %q\nwant %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	rec := func(mod func(*Record)) File {
		r := Record{Active: config.Blue, Reason: "manual"}
		mod(&r)
		return File{Services: map[string]Record{"app": r}}
	}
	tests := []struct {
		name string
		in   File
		want string
	}{
		{"version", File{Version: 2}, `unsupported version 2: this switchd writes version 1`},
		{"empty name", File{Services: map[string]Record{"": {Active: config.Blue, Reason: "manual"}}}, `service "": empty service name`},
		{"zero record", File{Services: map[string]Record{"app": {}}}, `service "app": no active colour`},
		{"out of range active", rec(func(r *Record) { r.Active = 7 }), `service "app": bad active colour "Color(7)"`},
		{"out of range previous", rec(func(r *Record) { r.Previous = 9 }), `service "app": bad previous colour "Color(9)"`},
		{"previous is active", rec(func(r *Record) { r.Previous = config.Blue }), `service "app": previous colour "blue" is the same as active`},
		{"no reason", rec(func(r *Record) { r.Reason = "" }), `service "app": empty reason`},
		{"generation 2^53+1", rec(func(r *Record) { r.Generation = 1<<53 + 1 }),
			`service "app": generation 9007199254740993 is above 2^53 (9007199254740992), the largest that JSON clients read exactly`},
		{"year 10000", rec(func(r *Record) { r.ChangedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
			`service "app": changed_at year 10000 is outside 0-9999`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Encode(tt.in)
			if err == nil {
				t.Fatalf("Encode succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Encode error\n got %q\nwant %q", err, tt.want)
			}
		})
	}
}
