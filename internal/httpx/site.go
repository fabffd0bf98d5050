package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"callvault/internal/vault"
)

// Site is this server's public face: the base of the absolute URLs in
// answers (mediaUri, next, recordingsUri) and the origin that browsers'
// state-changing requests must come from. Neither is ever taken from the
// request's Host header, which the client writes.
type Site struct {
	base    string // "https://vault.example.com"; "" before -public-url is known
	Proxies Proxies
}

// NewSite parses -public-url ("" or scheme://host[:port]; no path, query or
// credentials). With "", Base is the address the connection arrived at
// (the listen address), http or https as the connection is.
func NewSite(publicURL string, proxies Proxies) (*Site, error) {
	s := &Site{Proxies: proxies}
	if publicURL == "" {
		return s, nil
	}
	u, err := url.Parse(publicURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("public URL %q: %w", publicURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("public URL %q: give http:// or https://", publicURL)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("public URL %q: give scheme://host[:port] only", publicURL)
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("public URL %q: the API is served at the root; a path prefix is not supported", publicURL)
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if u.Scheme == "http" && port == "80" || u.Scheme == "https" && port == "443" {
		port = "" // browsers omit the default port in Origin
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	s.base = u.Scheme + "://" + host
	return s, nil
}

// PublicURL is the configured base, or "" when it comes from the
// connection.
func (s *Site) PublicURL() string { return s.base }

// Base is the scheme and authority for absolute URLs in answers to r.
func (s *Site) Base(r *http.Request) string {
	if s.base != "" {
		return s.base
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return scheme + "://" + addr.String()
	}
	return scheme + "://localhost"
}

// Secure reports whether cookies set in answer to r should be Secure: the
// public URL is https, or the browser came over HTTPS (directly or, per a
// trusted proxy, X-Forwarded-Proto).
func (s *Site) Secure(r *http.Request) bool {
	return strings.HasPrefix(s.base, "https://") || s.Proxies.HTTPS(r)
}

// ClientAddr is the client's address (see Proxies.ClientAddr).
func (s *Site) ClientAddr(r *http.Request) string { return s.Proxies.ClientAddr(r) }

// SameOrigin reports whether a browser says that r comes from one of our
// own pages: Sec-Fetch-Site: same-origin, or an Origin equal to ours.
// Requests of clients that are not browsers carry neither.
func (s *Site) SameOrigin(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("Sec-Fetch-Site"), "same-origin") {
		return true
	}
	origin := r.Header.Get("Origin")
	return origin != "" && strings.EqualFold(origin, s.Base(r))
}

// CheckOrigin refuses (EFORBIDDEN) a request that a browser made for
// another site: Sec-Fetch-Site cross-site or same-site, or, from browsers
// that do not send Sec-Fetch-Site, an Origin other than ours. A request
// with neither header is not from a browser (or from an old browser's
// same-origin form) and passes: cookies are SameSite=Strict and carry a
// CSRF token, and API clients do not send Origin.
func (s *Site) CheckOrigin(r *http.Request) error {
	switch strings.ToLower(r.Header.Get("Sec-Fetch-Site")) {
	case "same-origin", "none": // "none": the user's own navigation
		return nil
	case "":
	default: // cross-site, same-site, or anything new
		return vault.Errorf(vault.EFORBIDDEN, "cross-site request refused (Sec-Fetch-Site: %s): change things from this server's own pages, or from a client that is not a browser", r.Header.Get("Sec-Fetch-Site"))
	}
	origin := r.Header.Get("Origin")
	if origin == "" || strings.EqualFold(origin, s.Base(r)) {
		return nil
	}
	return vault.Errorf(vault.EFORBIDDEN, "cross-site request refused: Origin %q is not %s", origin, s.Base(r))
}

// ChangesState reports whether the method may change state (and must
// pass CheckOrigin).
func ChangesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}
