// Package control is the HTTP control API of switchd. Its JSON types live
// in control/api, which switchctl imports without the daemon; the aliases
// in api.go keep the server's code short.
//
// Every request passes serve (server.go): the edge rules first (edge.go: a
// foreign Host, an Origin or a cross-site Sec-Fetch-Site get 403
// forbidden_origin), then the route's method, the JSON-only rule for
// mutations (415), authentication and role (auth.go, with the failed-auth
// limiter of limit.go), the handler, and last one audit line (audit.go).
// Changes of colour are asked of the switchboard; nothing here flips.
//
// Main types: Server (New, Handler, Routes, SetTokens), Options (the
// optional endpoints are optional fields), Role and Tokens, Broker (the
// event stream and its replay ring), and the seams it declares: Guard
// (status and stability).
//
// control imports control/api, config, health, metrics, state and
// switchboard. It must not import guard, proxy, notify or daemon: the guard
// is seen through the Guard interface, the rest is handed in by daemon as
// funcs (Reload, Status, Upgrade) and handlers (Metrics). A new endpoint is
// one s.route line in New (with its role and audit action), its handler,
// and a row and a section in docs/control-api.md (docs_test.go fails
// without them).
package control
