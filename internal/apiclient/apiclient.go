// Package apiclient is a typed Go client of callvault's /api/v2, as rcbs
// and tests use it: HTTP Basic auth, transient faults retried with
// backoff, authentication failures reported at once.
package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one server as one user.
type Client struct {
	// Prefix is the API root, e.g. http://127.0.0.1:8080/api/v2 (the
	// guide's gwsUriPrefix).
	Prefix        string
	RecordingsURI string // default /recordings
	SettingsURI   string // default /me/settings/rcbs
	User          string // user@tenant
	Password      string
	HTTP          *http.Client
	// Attempts is how many times a transient fault is tried (default 5).
	Attempts int
	// Backoff gives the pause before attempt n (n ≥ 1); default
	// exponential from 250 ms with jitter, at most 10 s.
	Backoff func(n int) time.Duration
}

// Error is an answer of the server that is not a success.
type Error struct {
	Status  int
	Code    string
	Message string
	URL     string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("%s: %d %s", e.URL, e.Status, msg)
}

// IsAuth reports whether err is a refusal of the credentials (401) or of
// the permission (403): retrying cannot help.
func IsAuth(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// IsNotFound reports a 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// IsTransient reports whether trying again may succeed: server errors, rate
// limits, timeouts, resets and cut-off bodies.
func IsTransient(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "connection refused") ||
		errors.Is(err, context.DeadlineExceeded)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) backoff(n int) time.Duration {
	if c.Backoff != nil {
		return c.Backoff(n)
	}
	d := 250 * time.Millisecond << min(n-1, 6)
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

func (c *Client) attempts() int {
	if c.Attempts > 0 {
		return c.Attempts
	}
	return 5
}

// URL joins the prefix and a path (with its query).
func (c *Client) URL(path string) string {
	return strings.TrimSuffix(c.Prefix, "/") + path
}

// do sends a request built by newReq, retrying transient faults; the
// caller closes the body of a successful answer.
func (c *Client) do(ctx context.Context, newReq func() (*http.Request, error)) (*http.Response, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		req = req.WithContext(ctx)
		req.SetBasicAuth(c.User, c.Password)
		res, err := c.httpClient().Do(req)
		if err == nil && res.StatusCode < 300 {
			return res, nil
		}
		var retryAfter time.Duration
		if err == nil {
			err = answerError(res)
			if s, convErr := strconv.Atoi(res.Header.Get("Retry-After")); convErr == nil {
				retryAfter = time.Duration(s) * time.Second
			}
		}
		lastErr = err
		if !IsTransient(err) || attempt >= c.attempts() {
			return nil, lastErr
		}
		if err := sleep(ctx, max(c.backoff(attempt), retryAfter)); err != nil {
			return nil, err
		}
	}
}

// sleep pauses for d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// answerError reads an error answer ({"code","message"}) and closes it.
func answerError(res *http.Response) error {
	defer res.Body.Close()
	e := &Error{Status: res.StatusCode, URL: redactURL(res.Request.URL)}
	var body struct{ Code, Message string }
	if b, err := io.ReadAll(io.LimitReader(res.Body, 64<<10)); err == nil && json.Unmarshal(b, &body) == nil {
		e.Code, e.Message = body.Code, body.Message
	}
	return e
}

// redactURL keeps user info out of messages.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// getJSON reads a JSON answer into v. An answer cut off mid-body (a reset,
// a dropped connection) is a transient fault like a 5xx and is asked for
// again.
func (c *Client) getJSON(ctx context.Context, fullURL string, v any) error {
	for attempt := 1; ; attempt++ {
		res, err := c.do(ctx, func() (*http.Request, error) { return http.NewRequest(http.MethodGet, fullURL, nil) })
		if err != nil {
			return err
		}
		err = json.NewDecoder(res.Body).Decode(v)
		res.Body.Close()
		if err == nil {
			return nil
		}
		err = fmt.Errorf("cannot read the answer of %s: %w", fullURL, err)
		if !IsTransient(err) || attempt >= c.attempts() {
			return err
		}
		if err := sleep(ctx, c.backoff(attempt)); err != nil {
			return err
		}
	}
}

// Me is the caller.
type Me struct {
	UserName string   `json:"userName"`
	Tenant   string   `json:"tenant"`
	Roles    []string `json:"roles"`
}

// Me returns who the credentials belong to.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var me Me
	return &me, c.getJSON(ctx, c.URL("/me"), &me)
}

// Settings tell a backup client where media lives.
type Settings struct {
	MediaSource   string      `json:"mediaSource"`
	S3            *S3Location `json:"s3"`
	RecordingsURI string      `json:"recordingsUri"`
	Tenant        string      `json:"tenant"`
}

// S3Location is a bucket prefix media may be read from directly.
type S3Location struct {
	Bucket   string `json:"bucket"`
	Prefix   string `json:"prefix"`
	Region   string `json:"region"`
	Endpoint string `json:"endpoint"`
}

// Settings returns the backup settings.
func (c *Client) Settings(ctx context.Context) (*Settings, error) {
	uri := c.SettingsURI
	if uri == "" {
		uri = "/me/settings/rcbs"
	}
	var s Settings
	return &s, c.getJSON(ctx, c.URL(uri), &s)
}

// Recording is one metadata record as the server gives it: Raw is the
// record in the guide's format; the rest is lifted out of it.
type Recording struct {
	ID         string          `json:"id"`
	StartTime  string          `json:"startTime"`
	StopTime   string          `json:"stopTime"`
	MediaFiles []MediaFile     `json:"mediaFiles"`
	Raw        json.RawMessage `json:"-"`
}

// MediaFile is one media entry of a record.
type MediaFile struct {
	MediaID    string   `json:"mediaId"`
	Type       string   `json:"type"`
	Size       any      `json:"size"` // a number from the server; the guide's records carry strings
	SHA256     string   `json:"sha256"`
	CertAlias  []string `json:"certAlias"`
	MediaURI   *string  `json:"mediaUri"`
	StorageKey string   `json:"storageKey"`
	Pending    bool     `json:"pending"`
}

// StoredSize is the size of the stored file, or -1 when not known.
func (m MediaFile) StoredSize() int64 {
	switch v := m.Size.(type) {
	case float64:
		return int64(v)
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return -1
}

// Page is one page of search results.
type Page struct {
	Recordings []Recording
	Next       string // "" on the last page
}

// SearchPage fetches one page: the first from query, the next ones from
// the Next URL of the page before.
func (c *Client) SearchPage(ctx context.Context, query url.Values, next string) (*Page, error) {
	u := next
	if u == "" {
		uri := c.RecordingsURI
		if uri == "" {
			uri = "/recordings"
		}
		u = c.URL(uri) + "?" + query.Encode()
	}
	var raw struct {
		Recordings []json.RawMessage `json:"recordings"`
		Next       *string           `json:"next"`
	}
	if err := c.getJSON(ctx, u, &raw); err != nil {
		return nil, err
	}
	p := &Page{Recordings: make([]Recording, len(raw.Recordings))}
	for i, doc := range raw.Recordings {
		if err := json.Unmarshal(doc, &p.Recordings[i]); err != nil {
			return nil, fmt.Errorf("cannot read recording %d of %s: %w", i, u, err)
		}
		p.Recordings[i].Raw = doc
	}
	if raw.Next != nil {
		p.Next = *raw.Next
	}
	return p, nil
}

// Search calls fn for every recording that matches query, page by page.
func (c *Client) Search(ctx context.Context, query url.Values, fn func(Recording) error) error {
	next := ""
	for {
		p, err := c.SearchPage(ctx, query, next)
		if err != nil {
			return err
		}
		for _, r := range p.Recordings {
			if err := fn(r); err != nil {
				return err
			}
		}
		if p.Next == "" || len(p.Recordings) == 0 {
			return nil
		}
		next = p.Next
	}
}

// Recording fetches one record.
func (c *Client) Recording(ctx context.Context, id string) (*Recording, error) {
	u := c.URL("/recordings/" + url.PathEscape(id))
	var doc json.RawMessage
	if err := c.getJSON(ctx, u, &doc); err != nil {
		return nil, err
	}
	var r Recording
	if err := json.Unmarshal(doc, &r); err != nil {
		return nil, fmt.Errorf("cannot read recording %s: %w", id, err)
	}
	r.Raw = doc
	return &r, nil
}

// OpenMedia opens a media URI from offset (for resuming); it fails unless
// the server answers with exactly that part.
func (c *Client) OpenMedia(ctx context.Context, mediaURI string, offset int64) (io.ReadCloser, error) {
	res, err := c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, mediaURI, nil)
		if err == nil && offset > 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		}
		return req, err
	})
	if err != nil {
		return nil, err
	}
	if offset > 0 && res.StatusCode != http.StatusPartialContent {
		res.Body.Close()
		return nil, fmt.Errorf("%s: the server ignored the range request (status %d)", mediaURI, res.StatusCode)
	}
	return res.Body, nil
}
