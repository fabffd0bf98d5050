package httpx

import (
	"net/url"
	"strings"
)

// LocalPath returns next when it is a path on this site (for a redirect
// after login or a language switch), else fallback.
//
// Browsers remove tabs and newlines anywhere in a URL, strip leading and
// trailing control characters and spaces, and read '\' as '/': to them
// "/\t/evil.example" and "/\evil.example" are "//evil.example", another
// host. So a next with any control character, space or backslash is
// refused outright; what is left must parse (net/url) with no scheme, no
// host and no user, and its path must start with exactly one '/'.
func LocalPath(next, fallback string) string {
	if next == "" || len(next) > 4096 {
		return fallback
	}
	if strings.IndexFunc(next, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) >= 0 {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return fallback
	}
	return next
}
