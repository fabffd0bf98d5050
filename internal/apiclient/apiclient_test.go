package apiclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckOrigin(t *testing.T) {
	c := &Client{Prefix: "https://vault.example.com/api/v2", RecordingsURI: "https://search.example.com:8443/recordings"}
	for _, ok := range []string{
		"https://vault.example.com/api/v2/recordings/R1/media/m",
		"https://VAULT.example.com:443/api/v2/x",
		"HTTPS://vault.example.com/elsewhere/on/the/same/origin",
		"https://search.example.com:8443/recordings?cursor=x", // configured by the customer
	} {
		u, _ := url.Parse(ok)
		if err := c.checkOrigin(u); err != nil {
			t.Errorf("checkOrigin(%s): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"http://vault.example.com/api/v2/x",         // another scheme
		"https://vault.example.com:8443/api/v2/x",   // another port
		"https://evil.example.com/api/v2/x",         // another host
		"https://vault.example.com.evil.com/api/v2", // a longer name
		"https://search.example.com/recordings",     // the configured host on another port
		"ftp://vault.example.com/x",
		"file:///etc/passwd",
	} {
		u, _ := url.Parse(bad)
		err := c.checkOrigin(u)
		if !errors.Is(err, ErrForeignURL) || IsTransient(err) {
			t.Errorf("checkOrigin(%s) = %v; want ErrForeignURL, not transient", bad, err)
		}
	}
	// Default ports are the same as none.
	c = &Client{Prefix: "http://127.0.0.1:80/api/v2"}
	if err := c.checkOrigin(&url.URL{Scheme: "http", Host: "127.0.0.1", Path: "/x"}); err != nil {
		t.Errorf("port 80 written out: %v", err)
	}
}

// witness answers anything and remembers the Authorization it got.
func witness(t *testing.T) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, "request:"+r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, `{"recordings":[],"next":null}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), auths...) }
}

func TestForeignURLsGetNoCredentials(t *testing.T) {
	other, seen := witness(t)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v2/recordings":
			io.WriteString(w, `{"recordings":[{"id":"R1"}],"next":"`+other.URL+`/api/v2/recordings?cursor=2"}`)
		case "/api/v2/redirect":
			http.Redirect(w, r, other.URL+"/api/v2/recordings/R1/media/m", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(api.Close)
	c := &Client{Prefix: api.URL + "/api/v2", User: "admin@acme", Password: "secret", Backoff: func(int) time.Duration { return 0 }}
	ctx := context.Background()

	if _, err := c.OpenMedia(ctx, other.URL+"/api/v2/recordings/R1/media/m", 0); !errors.Is(err, ErrForeignURL) {
		t.Errorf("OpenMedia on another port: %v", err)
	}
	if _, err := c.OpenMedia(ctx, api.URL+"/api/v2/redirect", 0); !errors.Is(err, ErrForeignURL) {
		t.Errorf("a redirect to another port: %v", err)
	}
	var got []string
	err := c.Search(ctx, url.Values{}, func(r Recording) error { got = append(got, r.ID); return nil })
	if !errors.Is(err, ErrForeignURL) || !strings.Contains(err.Error(), "cannot follow the next page") || len(got) != 1 {
		t.Errorf("Search with a next link on another port: %v, read %v", err, got)
	}
	if s := seen(); len(s) > 0 {
		t.Errorf("the other server was asked: %q", s)
	}
}

func TestSearchStopsOnARepeatedPage(t *testing.T) {
	var api *httptest.Server
	api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"recordings":[{"id":"R1"}],"next":"`+api.URL+`/api/v2/recordings?cursor=same"}`)
	}))
	t.Cleanup(api.Close)
	c := &Client{Prefix: api.URL + "/api/v2"}
	n := 0
	err := c.Search(context.Background(), url.Values{}, func(Recording) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), "repeats a page") || n != 2 {
		t.Errorf("Search = %v after %d records; want it to stop on the repeated page", err, n)
	}
}

// A server that accepts the connection and never answers fails each
// attempt after the response-header timeout; every attempt is made.
func TestResponseHeaderTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	c := &Client{Prefix: "http://" + ln.Addr().String() + "/api/v2", Attempts: 3, Backoff: func(int) time.Duration { return time.Millisecond },
		Timeouts: Timeouts{ResponseHeader: 100 * time.Millisecond}}
	start := time.Now()
	_, err = c.Me(context.Background())
	if elapsed := time.Since(start); err == nil || !IsTransient(err) || elapsed > 2*time.Second {
		t.Errorf("Me = %v after %v; want a transient timeout within 2 s", err, elapsed)
	}
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	if n != 3 {
		t.Errorf("%d connections, want 3 attempts", n)
	}
}

// A body that stops halfway fails with a *TimeoutError after the read
// timeout, a transient fault; a slow body that keeps sending does not.
func TestReadTimeout(t *testing.T) {
	release := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		if r.URL.Path == "/slow" {
			for range 10 {
				w.Write(make([]byte, 100))
				w.(http.Flusher).Flush()
				time.Sleep(40 * time.Millisecond)
			}
			return
		}
		w.Write(make([]byte, 500))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); api.Close() })
	c := &Client{Prefix: api.URL, Timeouts: Timeouts{Read: 400 * time.Millisecond}}
	body, err := c.OpenMedia(context.Background(), api.URL+"/stall", 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := io.Copy(io.Discard, body)
	body.Close()
	var te *TimeoutError
	if !errors.As(err, &te) || !IsTransient(err) || n != 500 || time.Since(start) > time.Second {
		t.Errorf("read %d bytes, %v after %v; want 500 and a transient *TimeoutError", n, err, time.Since(start))
	}
	// 400 ms in all, never 400 ms without data (the gaps are 40 ms; the
	// margin is for a loaded machine): whole.
	body, err = c.OpenMedia(context.Background(), api.URL+"/slow", 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err = io.Copy(io.Discard, body)
	body.Close()
	if err != nil || n != 1000 {
		t.Errorf("slow body: %d bytes, %v", n, err)
	}
}

func TestRetryAfterIsCapped(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"": 0, "x": 0, "-5": 0, "0": 0, "3": 3 * time.Second, " 7 ": 7 * time.Second,
		"120": MaxRetryAfter, "121": MaxRetryAfter, "999999999999": MaxRetryAfter, "99999999999999999999999": 0,
	} {
		if got := retryAfterPause(header); got != want {
			t.Errorf("Retry-After %q: pause %v, want %v", header, got, want)
		}
	}
}
