package control

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/switchd/switchd/internal/metrics"
)

// Role is what a token may do; each role includes the ones below it.
type Role int

const (
	// RoleNone: no token needed (/healthz, /metrics).
	RoleNone Role = iota
	// RoleRead: GET endpoints.
	RoleRead
	// RoleOperate: + flip, activate, rollback.
	RoleOperate
	// RoleAdmin: + reload, log level, upgrade.
	RoleAdmin
)

var roleNames = map[string]Role{"read": RoleRead, "operate": RoleOperate, "admin": RoleAdmin}

// String returns "read", "operate", "admin" or "none".
func (r Role) String() string {
	for k, v := range roleNames {
		if v == r {
			return k
		}
	}
	return "none"
}

// ParseRole parses "read", "operate" or "admin".
func ParseRole(s string) (Role, error) {
	if r, ok := roleNames[s]; ok {
		return r, nil
	}
	return RoleNone, fmt.Errorf("bad role %q: want read, operate or admin", s)
}

// Token is one line of the tokens file.
type Token struct {
	Name string
	Role Role
}

// Tokens are the API's credentials, by the SHA-256 of the secret: the file
// holds no secret, and a lookup by hash does not leak how much of a guess
// was right.
type Tokens struct {
	byHash map[[sha256.Size]byte]Token
}

// LoadTokens reads a tokens file: lines "<name> <role> sha256:<hex>",
// '#' comments and blank lines ignored. Errors name the file and line.
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	return ParseTokens(data, path)
}

// ParseTokens parses the text of a tokens file; path is for errors.
func ParseTokens(data []byte, path string) (*Tokens, error) {
	t := &Tokens{byHash: map[[sha256.Size]byte]Token{}}
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want \"<name> <role> sha256:<hex>\", got %d fields", path, n, len(f))
		}
		role, err := ParseRole(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		hexsum, ok := strings.CutPrefix(f[2], "sha256:")
		sum, err := hex.DecodeString(hexsum)
		if !ok || err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: token %q: want sha256:<64 hex digits>", path, n, f[0])
		}
		if names[f[0]] {
			return nil, fmt.Errorf("%s:%d: token name %q used twice", path, n, f[0])
		}
		names[f[0]] = true
		var key [sha256.Size]byte
		copy(key[:], sum)
		if _, dup := t.byHash[key]; dup {
			return nil, fmt.Errorf("%s:%d: token %q has the same secret as another", path, n, f[0])
		}
		t.byHash[key] = Token{Name: f[0], Role: role}
	}
	return t, sc.Err()
}

// lookup returns the token whose secret is secret.
func (t *Tokens) lookup(secret string) (Token, bool) {
	tok, ok := t.byHash[sha256.Sum256([]byte(secret))]
	return tok, ok
}

// named returns the token called name; a nil *Tokens has none.
func (t *Tokens) named(name string) (Token, bool) {
	if t == nil {
		return Token{}, false
	}
	for _, tok := range t.byHash {
		if tok.Name == name {
			return tok, true
		}
	}
	return Token{}, false
}

// identity is who a request proved to be: a token's or a client
// certificate's name, with its role.
type identity struct {
	Name string
	Role Role
	Via  string // "token" or "certificate"
}

type identityKey struct{}

// authorize checks the credentials of a request to a route that needs
// role. A bearer token, when sent and tokens are configured, decides;
// else a verified client certificate (its name, with the role of the
// tokens-file line of that name or Options.ClientCertRole); with neither
// tokens nor a certificate everything is allowed (loopback or a unix
// socket, which config validation insists on).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, need Role) (*http.Request, bool) {
	if need == RoleNone {
		return r, true
	}
	toks := s.tokens.Load()
	cert := clientName(r)
	_, sent := r.Header["Authorization"]
	var id identity
	switch {
	case toks == nil && cert == "":
		return r, true
	case cert != "" && (!sent || toks == nil):
		id = identity{Name: cert, Role: s.o.ClientCertRole, Via: "certificate"}
		if tok, ok := toks.named(cert); ok {
			id.Role = tok.Role
		}
	default:
		tok, ok := s.checkToken(w, r, toks)
		if !ok {
			return r, false
		}
		id = identity{Name: tok.Name, Role: tok.Role, Via: "token"}
	}
	auditOf(r).actor = id.Name
	if id.Role < need {
		writeError(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("%s %q has role %s; this needs %s", id.Via, id.Name, id.Role, need))
		return r, false
	}
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, id)), true
}

// checkToken finds the bearer token of r. Failures count against the
// source's limiter, and a source over its limit is refused before the
// token is looked at.
func (s *Server) checkToken(w http.ResponseWriter, r *http.Request, toks *Tokens) (Token, bool) {
	src := sourceKey(r.RemoteAddr)
	now := s.now()
	if wait, blocked := s.limiter.blocked(src, now); blocked {
		s.authFailed(metrics.AuthRateLimited)
		w.Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, wait.Round(time.Second))/time.Second)))
		writeError(w, http.StatusTooManyRequests, CodeTooManyRequests, "too many failed authentications from this address; try again later")
		return Token{}, false
	}
	secret, basic := requestSecret(r)
	if secret == "" {
		s.limiter.failed(src, now)
		s.authFailed(metrics.AuthMissing)
		challenge(w, `Bearer realm="switchd"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "a token is needed: Authorization: Bearer <token>")
		return Token{}, false
	}
	tok, ok := toks.lookup(secret)
	if !ok {
		s.limiter.failed(src, now)
		s.authFailed(metrics.AuthInvalid)
		challenge(w, `Bearer realm="switchd", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "unknown token")
		return Token{}, false
	}
	if basic {
		tok.Role = min(tok.Role, RoleRead)
	}
	return tok, true
}

// requestSecret is the token of r: a Bearer token, else the password of
// HTTP Basic credentials (basic true), which is how a browser showing the
// status page authenticates; "" when r has neither.
//
// A browser replays Basic credentials by itself on every request to this
// origin, as it would a cookie, so a Basic identity is capped at the read
// role: whatever a page could make a browser send, it cannot change a
// colour with a token it borrowed this way (the edge rules refuse such
// requests before this anyway). A form to type the token in would need a
// POST without JSON, exactly what the edge rules refuse, and a token kept
// by script in storage is open to any script that ever runs on the page.
func requestSecret(r *http.Request) (secret string, basic bool) {
	if s, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s, false
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return pw, true
	}
	return "", false
}

// challenge asks for a Bearer token, and for Basic credentials so that a
// browser that opens the status page prompts for the token (as password;
// the user name is not looked at).
func challenge(w http.ResponseWriter, bearer string) {
	w.Header().Set("WWW-Authenticate", bearer)
	w.Header().Add("WWW-Authenticate", `Basic realm="switchd", charset="UTF-8"`)
}

func (s *Server) authFailed(reason string) {
	if s.o.AuthFailed != nil {
		s.o.AuthFailed(reason)
	}
}

// clientName is the name of the verified client certificate of r: its
// Common Name, else its first DNS name, e-mail address or URI; "" when
// there is no verified certificate (or its name is no usable actor).
func clientName(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	c := r.TLS.PeerCertificates[0]
	name := c.Subject.CommonName
	switch {
	case name != "":
	case len(c.DNSNames) > 0:
		name = c.DNSNames[0]
	case len(c.EmailAddresses) > 0:
		name = c.EmailAddresses[0]
	case len(c.URIs) > 0:
		name = c.URIs[0].String()
	}
	if len(name) > 128 || strings.ContainsFunc(name, unicode.IsControl) {
		return ""
	}
	return name
}

// NewToken returns a fresh secret: 32 random bytes, URL-safe, prefixed so
// that secret scanners recognise it.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "swd_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// AddToken appends a line for a new token to the tokens file (created 0600
// when missing) and returns the secret, which is stored nowhere else.
func AddToken(path, name string, role Role) (string, error) {
	if name == "" || strings.ContainsAny(name, " \t#\r\n") {
		return "", fmt.Errorf("bad token name %q: no spaces or '#'", name)
	}
	if role == RoleNone {
		return "", errors.New("a token needs a role: read, operate or admin")
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("tokens file: %w", err)
	}
	if _, err := ParseTokens(old, path); err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(old), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return "", fmt.Errorf("%s: token %q exists already", path, name)
		}
	}
	secret, err := NewToken()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(secret))
	line := fmt.Sprintf("%s %s sha256:%s\n", name, role, hex.EncodeToString(sum[:]))
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		line = "\n" + line
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("tokens file: %w", err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return "", fmt.Errorf("tokens file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("tokens file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("tokens file: %w", err)
	}
	return secret, nil
}
