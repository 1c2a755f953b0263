package state

import (
	"bytes"
	"testing"
)

// FuzzDecode checks that Decode never panics on any input, and that whatever
// it accepts Encode can write and Decode reads back as the same File: switchd
// must be able to re-save any state it started from.
func FuzzDecode(f *testing.F) {
	good, err := Encode(sample())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(good),
		`{}`,
		`{"version":1,"services":{}}`,
		`{"services":{"app":{"active":"blue","previous":"green","reason":"guard","generation":3,"forced":true}}}`,
		`{"services":{"app":{"active":"green","reason":"x","changed_at":"2025-03-04T05:06:07.123456789+05:30"}}}`,
		`{"services":{"app":{"active":"blue","reason":"m","detail":"\u2028\ud800 caf\u00e9","changed_by":"<b>"}}}`,
		`{"services":{"app":{"active":"blue","reason":"m","unknown":[1,{"a":null}]}},"extra":true}`,
		`{"services":{"app":{"active":"blue","previous":"blue","reason":"m"}}}`,
		`{"services":{"app":{"active":"purple","reason":"m"}}}`,
		`{"services":{"app":{"active":"blue","reason":"m","changed_at":"0000-01-01T00:00:00+23:59"}}}`,
		`{"services":{"app":{"active":"blue","reason":"m","changed_at":"9999-12-31T23:59:59-23:59"}}}`,
		`{"services":{"app":{"active":"blue","reason":"m","changed_at":null,"generation":18446744073709551615}}}`,
		`{"version":2}`,
		`null`,
		``,
		`[`,
		string(good[:len(good)/2]),
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("Decode(%q) returned an empty error", data)
			}
			return
		}
		if got.Version != Version || got.Services == nil {
			t.Fatalf("Decode(%q) = %+v: want version 1 and a non-nil map", data, got)
		}
		enc, err := Encode(got)
		if err != nil {
			t.Fatalf("Decode accepted %q but Encode refuses %+v: %v", data, got, err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode accepted %q but not its re-encoding %q: %v", data, enc, err)
		}
		equalFile(t, again, got)
		// Encoding is canonical: a second round trip is byte-identical.
		enc2, err := Encode(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding differs:\n%s\n%s", enc, enc2)
		}
	})
}
