package control

import (
	"net/http"
	"slices"
)

// Route is one endpoint of the API as New registered it.
type Route struct {
	// Method is "GET", "POST" or "PUT"; a GET route answers HEAD too.
	Method string
	// Pattern is the path as http.ServeMux reads it: "/v1/services/{name}/flip".
	Pattern string
	// Role is the least a token needs when tokens are configured; RoleNone:
	// no token at all.
	Role Role
}

// Routes lists the endpoints s serves, in the order New registered them;
// optional ones (metrics, events, reload, log level) only when their Option
// is set. docs/ checks itself against this list, so an endpoint cannot be
// added without being documented.
func (s *Server) Routes() []Route { return slices.Clone(s.routes) }

// logLevelRoles are the methods of /v1/log/level and what each needs:
// reading the level is harmless, changing it is an admin's call.
var logLevelRoles = []Route{
	{Method: http.MethodGet, Pattern: "/v1/log/level", Role: RoleRead},
	{Method: http.MethodPut, Pattern: "/v1/log/level", Role: RoleAdmin},
}

// logLevelRole returns the role a request to /v1/log/level needs, false for
// a method it does not take.
func logLevelRole(method string) (Role, bool) {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	for _, r := range logLevelRoles {
		if r.Method == method {
			return r.Role, true
		}
	}
	return RoleNone, false
}
