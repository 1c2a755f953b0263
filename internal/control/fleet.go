package control

import (
	"net/http"
)

// fleet answers GET /v1/fleet.
func (s *Server) fleet(w http.ResponseWriter, r *http.Request) {
	f, err := s.o.Fleet(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeStoreUnavailable, "fleet not listed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, f)
}
