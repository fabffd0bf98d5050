package httpx

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"callvault/internal/vault"
)

// Every form of "next" that a browser would take to another host is
// refused (issue 9, item 12: next=/%09/evil.example redirected off-site).
func TestLocalPath(t *testing.T) {
	for _, c := range []struct{ next, want string }{
		{"/recordings", "/recordings"},
		{"/recordings?caller=%2B1905*&cursor=abc", "/recordings?caller=%2B1905*&cursor=abc"},
		{"/admin/certificates#upload", "/admin/certificates#upload"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // a path on this site: browsers do not decode %2F
		{"", "/fallback"},
		{"recordings", "/fallback"},
		{"//evil.example", "/fallback"},
		{"//evil.example/", "/fallback"},
		{"/\t/evil.example", "/fallback"}, // what next=/%09/evil.example decodes to
		{"/\n/evil.example", "/fallback"},
		{"/\r/evil.example", "/fallback"},
		{"\t//evil.example", "/fallback"},
		{" //evil.example", "/fallback"},
		{"/\\evil.example", "/fallback"},
		{"/\\/evil.example", "/fallback"},
		{"\\\\evil.example", "/fallback"},
		{"/ /evil.example", "/fallback"},
		{"/\x00/evil.example", "/fallback"},
		{"/\x7f/evil.example", "/fallback"},
		{"https://evil.example/", "/fallback"},
		{"http:/evil.example", "/fallback"},
		{"HTTPS://evil.example", "/fallback"},
		{"javascript:alert(1)", "/fallback"},
		{"/%", "/fallback"}, // does not parse
		{"/" + strings.Repeat("a", 5000), "/fallback"},
	} {
		if got := LocalPath(c.next, "/fallback"); got != c.want {
			t.Errorf("LocalPath(%q) = %q, want %q", c.next, got, c.want)
		}
	}
}

// browserResolve resolves a Location as a WHATWG browser does, for the
// properties that move a URL to another host: tabs and newlines are
// removed, leading and trailing controls and spaces stripped, '\' read
// as '/'.
func browserResolve(base *url.URL, loc string) (*url.URL, error) {
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(loc)
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(ref), nil
}

// FuzzLocalPath: whatever next is, the redirect stays on this host.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/recordings", "//evil.example", "/\t/evil.example", "/\\evil", "https://x", " /x", "/%09/x", "/a?b=//c"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://vault.example/recordings/")
	f.Fuzz(func(t *testing.T, next string) {
		got := LocalPath(next, "/fallback")
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("LocalPath(%q) = %q: not a local path", next, got)
		}
		u, err := browserResolve(base, got)
		if err != nil {
			return
		}
		if u.Host != "vault.example" || u.Scheme != "https" {
			t.Fatalf("LocalPath(%q) = %q resolves to %s, another site", next, got, u)
		}
	})
}

func reqFrom(remote string, header ...string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

// X-Forwarded-For counts only from -trusted-proxies, and only as far as
// the trusted hops go (issue 9, item 9).
func TestClientAddr(t *testing.T) {
	proxies, err := ParseProxies("10.0.0.0/8, 192.168.1.5, ::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct client", "203.0.113.7:5555", nil, "203.0.113.7"},
		{"direct client lies", "203.0.113.7:5555", []string{"198.51.100.1"}, "203.0.113.7"},
		{"behind a proxy", "10.1.2.3:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-written entries are not believed", "10.1.2.3:80", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"two trusted hops", "10.1.2.3:80", []string{"198.51.100.1, 192.168.1.5"}, "198.51.100.1"},
		{"several headers", "10.1.2.3:80", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},
		{"only proxies", "10.1.2.3:80", []string{"10.9.9.9"}, "10.9.9.9"},
		{"no header", "10.1.2.3:80", nil, "10.1.2.3"},
		{"garbage left of the proxy", "10.1.2.3:80", []string{"evil, 10.0.0.9"}, "10.0.0.9"},
		{"garbage from the proxy's client", "10.1.2.3:80", []string{"not-an-ip"}, "10.1.2.3"},
		{"with port and brackets", "[::1]:80", []string{"[2001:db8::1]:4711"}, "2001:db8::1"},
		{"IPv4-mapped", "[::ffff:10.0.0.1]:80", []string{"198.51.100.1"}, "198.51.100.1"},
	} {
		var h []string
		for _, v := range c.xff {
			h = append(h, "X-Forwarded-For", v)
		}
		if got := proxies.ClientAddr(reqFrom(c.remote, h...)); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// Nobody trusted: the peer, always.
	if got := (Proxies{}).ClientAddr(reqFrom("10.1.2.3:80", "X-Forwarded-For", "1.1.1.1")); got != "10.1.2.3" {
		t.Errorf("without trusted proxies: %q", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/x"} {
		if _, err := ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
		}
	}
	// X-Forwarded-Proto likewise.
	if !proxies.HTTPS(reqFrom("10.1.2.3:80", "X-Forwarded-Proto", "https")) || proxies.HTTPS(reqFrom("203.0.113.7:1", "X-Forwarded-Proto", "https")) {
		t.Error("X-Forwarded-Proto is not believed from exactly the trusted proxies")
	}
}

// FuzzClientAddr: any X-Forwarded-For gives an address, never a panic; an
// untrusted peer is always the answer.
func FuzzClientAddr(f *testing.F) {
	f.Add("198.51.100.1, 10.0.0.1")
	f.Add("[::1]:80,,, garbage")
	proxies, _ := ParseProxies("10.0.0.0/8")
	f.Fuzz(func(t *testing.T, xff string) {
		if got := proxies.ClientAddr(reqFrom("203.0.113.7:1", "X-Forwarded-For", xff)); got != "203.0.113.7" {
			t.Fatalf("untrusted peer: %q", got)
		}
		got := proxies.ClientAddr(reqFrom("10.0.0.1:1", "X-Forwarded-For", xff))
		if net.ParseIP(got) == nil {
			t.Fatalf("not an address: %q", got)
		}
	})
}

func TestSiteOriginAndBase(t *testing.T) {
	site, err := NewSite("https://Vault.Example.com:443/", Proxies{})
	if err != nil {
		t.Fatal(err)
	}
	if site.PublicURL() != "https://vault.example.com" {
		t.Fatalf("public URL %q", site.PublicURL())
	}
	r := reqFrom("203.0.113.7:1")
	r.Host = "evil.example"
	if got := site.Base(r); got != "https://vault.example.com" {
		t.Fatalf("Base from Host: %q", got)
	}
	for _, c := range []struct {
		header []string
		ok     bool
	}{
		{nil, true}, // not a browser
		{[]string{"Sec-Fetch-Site", "same-origin"}, true},
		{[]string{"Sec-Fetch-Site", "none"}, true},
		{[]string{"Sec-Fetch-Site", "cross-site"}, false},
		{[]string{"Sec-Fetch-Site", "same-site"}, false},
		{[]string{"Sec-Fetch-Site", "cross-site", "Origin", "https://vault.example.com"}, false},
		{[]string{"Origin", "https://vault.example.com"}, true},
		{[]string{"Origin", "https://evil.example"}, false},
		{[]string{"Origin", "null"}, false},
		{[]string{"Origin", "https://vault.example.com:8443"}, false},
		{[]string{"Origin", "http://vault.example.com"}, false},
	} {
		err := site.CheckOrigin(reqFrom("203.0.113.7:1", c.header...))
		if (err == nil) != c.ok || err != nil && vault.ErrorCode(err) != vault.EFORBIDDEN {
			t.Errorf("%v: %v, want ok=%v", c.header, err, c.ok)
		}
	}
	for _, bad := range []string{"vault.example.com", "ftp://x", "https://x/prefix", "https://u:p@x", "https://x?q=1"} {
		if _, err := NewSite(bad, Proxies{}); err == nil {
			t.Errorf("NewSite(%q) accepted", bad)
		}
	}
	// Without a public URL: the address the connection arrived at.
	site, _ = NewSite("", Proxies{})
	r = reqFrom("203.0.113.7:1")
	r.Host = "evil.example"
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}))
	if got := site.Base(r); got != "http://127.0.0.1:8080" {
		t.Fatalf("default base %q", got)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, c := range []vault.Cursor{{ID: "a"}, {StartTime: time.UnixMilli(1626886128888).UTC(), ID: "021L6BI58K8FH7R5USI402LAES00000A"}} {
		got, err := DecodeCursor(EncodeCursor(c))
		if err != nil || got.ID != c.ID || !got.StartTime.Equal(c.StartTime) {
			t.Errorf("%+v: %+v %v", c, got, err)
		}
	}
	for _, bad := range []string{"", "xyz", EncodeCursor(vault.Cursor{})} {
		if _, err := DecodeCursor(bad); vault.ErrorCode(err) != vault.EINVALID {
			t.Errorf("DecodeCursor(%q): %v", bad, err)
		}
	}
}
