// Package testkit holds test doubles shared by the tests of several
// packages: health Targets (Targets), a test CA with server and client
// certificates (CA), kept-alive clients that count what they got (Clients),
// a POST nothing resends (PostOnce), an upstream that can cut its answers
// short or reset (RawUpstream), and a WebSocket echo upstream.
//
// It is imported only from _test.go files, and imports config and health
// only: it must not import the packages it helps test (switchboard, proxy,
// daemon, …), or their tests could not use it.
package testkit
