package daemon

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/switchd/switchd/internal/config"
	"github.com/switchd/switchd/internal/switchboard"
)

type countingSwitcher struct{ reverts int }

func (c *countingSwitcher) Revert(string, config.Color, config.Color, switchboard.Reason, string) (switchboard.Change, error) {
	c.reverts++
	return switchboard.Change{}, nil
}

func (c *countingSwitcher) Counts(string, config.Color) (up, down, total int) { return 1, 0, 1 }

// TestFrozenProcessDoesNotAct: while a process is frozen (an upgrade is
// starting its successor, or has handed over) the guard's reverts and the
// control API's changes are refused; reads go through; thawed, both act.
func TestFrozenProcessDoesNotAct(t *testing.T) {
	h := &handover{frozen: true}
	inner := &countingSwitcher{}
	sw := h.switcher(inner)
	changed := 0
	api := h.gateMutations(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			changed++
		}
	}))
	send := func(method, path string) int {
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code
	}

	if _, err := sw.Revert("app", config.Green, config.Blue, switchboard.Failover, "all down"); err == nil || inner.reverts != 0 {
		t.Fatalf("frozen: revert %v, %d reached the switchboard", err, inner.reverts)
	}
	for _, path := range []string{"/v1/services/app/flip", "/v1/reload", "/v1/services/app/pools/blue"} {
		if code := send(http.MethodPost, path); code != http.StatusServiceUnavailable {
			t.Errorf("frozen: POST %s answered %d, want 503", path, code)
		}
	}
	if code := send(http.MethodGet, "/v1/services"); code != http.StatusOK {
		t.Errorf("frozen: GET answered %d", code)
	}
	if code := send(http.MethodPost, "/v1/upgrade"); code != http.StatusOK {
		t.Errorf("frozen: POST /v1/upgrade answered %d; it reports its own refusal", code)
	}
	if changed != 1 { // the upgrade request only
		t.Fatalf("frozen: %d changes reached the API", changed)
	}

	h.setFrozen(false)
	if _, err := sw.Revert("app", config.Green, config.Blue, switchboard.Failover, "all down"); err != nil || inner.reverts != 1 {
		t.Fatalf("thawed: revert %v, %d reverts", err, inner.reverts)
	}
	if code := send(http.MethodPost, "/v1/services/app/flip"); code != http.StatusOK || changed != 2 {
		t.Fatalf("thawed: flip %d, %d changes", code, changed)
	}
}
