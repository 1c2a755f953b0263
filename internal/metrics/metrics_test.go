package metrics

import (
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchd/switchd/control/api"
	"github.com/switchd/switchd/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFlipReasonsAreTheAPIs: the reason label of switchd_flips_total
// takes exactly the API's change reasons, each declared at zero, so that a
// reason added to api.ChangeReasons is a series without an edit here.
func TestFlipReasonsAreTheAPIs(t *testing.T) {
	m := New(nil, "test")
	m.Declare([]config.Service{{Name: "app"}})
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		if f.GetName() != "switchd_flips_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "reason" {
					got = append(got, l.GetValue())
				}
			}
		}
	}
	want := slices.Clone(api.ChangeReasons)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("reason labels %q, want api.ChangeReasons %q", got, want)
	}
}
