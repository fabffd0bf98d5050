// Package apiclient is a typed Go client of callvault's /api/v2, as rcbs
// and tests use it: HTTP Basic auth, transient faults retried with
// backoff, authentication failures reported at once. It sends the
// credentials only to the scheme, host and port of its prefix (a mediaUri
// or next link elsewhere is refused), and every request has timeouts, so
// a server that stops answering fails the request instead of holding its
// caller for ever. Every JSON answer has a size limit (Limits) and caps on
// how many records, media files and aliases it may hold, so that a server
// cannot exhaust its caller's memory either.
package apiclient

import (
	"bytes"
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
	"sync"
	"sync/atomic"
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
	// HTTP sends the requests; nil: a client on NewTransport(Timeouts).
	// A client given here should carry the connect, TLS and
	// response-header timeouts in its transport (NewTransport makes one);
	// the read timeout on bodies is applied here whatever it is.
	HTTP *http.Client
	// Timeouts bound each request; zero fields take the defaults.
	Timeouts Timeouts
	// Attempts is how many times a transient fault is tried (default 5).
	Attempts int
	// Backoff gives the pause before attempt n (n ≥ 1); default
	// exponential from 250 ms with jitter, at most 10 s.
	Backoff func(n int) time.Duration
	// Limits bound the size of the JSON answers read; zero fields take
	// the defaults.
	Limits Limits

	defaultHTTP     sync.Once
	defaultHTTPUsed *http.Client
}

// Timeouts bound the phases of one request. A fault that passes one of
// them is transient: the request is tried again as for a 503.
type Timeouts struct {
	// Connect bounds opening the TCP connection and, separately, the TLS
	// handshake (default 30 s).
	Connect time.Duration
	// ResponseHeader bounds the wait for the answer's headers once the
	// request is sent (default 60 s).
	ResponseHeader time.Duration
	// Read bounds a pause while reading an answer's body: a server that
	// sends nothing for this long is given up (default 120 s).
	Read time.Duration
}

// Default timeouts: generous for a slow server and a large listing page
// (a page of 1000 records is rendered as it is written), short enough
// that a hung server is noticed within minutes, not never.
const (
	DefaultConnectTimeout        = 30 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultReadTimeout           = 120 * time.Second
)

// WithDefaults fills the zero fields with the defaults.
func (t Timeouts) WithDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = DefaultConnectTimeout
	}
	if t.ResponseHeader <= 0 {
		t.ResponseHeader = DefaultResponseHeaderTimeout
	}
	if t.Read <= 0 {
		t.Read = DefaultReadTimeout
	}
	return t
}

// NewTransport is http.DefaultTransport with the timeouts t (zero fields:
// the defaults) for connecting, the TLS handshake and the response
// headers.
func NewTransport(t Timeouts) *http.Transport {
	t = t.WithDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	tr.DialContext = dialer.DialContext
	tr.TLSHandshakeTimeout = t.Connect
	tr.ResponseHeaderTimeout = t.ResponseHeader
	tr.IdleConnTimeout = 90 * time.Second
	return tr
}

// Limits bound how much of a JSON answer is read, so that a server cannot
// exhaust the client's memory with an answer that never ends. An answer
// larger than its limit fails with a *TooLargeError, which is not
// transient.
type Limits struct {
	Page   int64 // one page of search results (up to 1000 records)
	Record int64 // one record (GET /recordings/{id})
	Small  int64 // /me and the backup settings
}

// Default limits: far above what callvault sends (a page of 1000 records
// of a few kilobytes each is a few megabytes; the guide puts a voice
// record's metadata at 1 MB at most), low enough that a hostile answer is
// stopped before it fills the memory of a small machine.
const (
	DefaultPageLimit   = 256 << 20
	DefaultRecordLimit = 64 << 20
	DefaultSmallLimit  = 1 << 20
)

// WithDefaults fills the zero fields with the defaults.
func (l Limits) WithDefaults() Limits {
	if l.Page <= 0 {
		l.Page = DefaultPageLimit
	}
	if l.Record <= 0 {
		l.Record = DefaultRecordLimit
	}
	if l.Small <= 0 {
		l.Small = DefaultSmallLimit
	}
	return l
}

// What one answer may hold besides its size: each item read costs more
// memory than its bytes, so a server may not send millions of tiny ones.
// rcbs asks for pages of 1000 records; a recording has a few media files,
// a media file a few certificate aliases.
const (
	MaxPageRecords = 10000  // records in one page of search results
	MaxPageMedia   = 100000 // media files of all the records of one page
	MaxRecordMedia = 1000   // media files of one record
	MaxCertAliases = 100    // certAlias entries of one media file
)

// ErrTooLarge is the cause of every *TooLargeError.
var ErrTooLarge = errors.New("answer too large")

// TooLargeError is a JSON answer that went on past its limit. It is not
// transient: asking again would only read as much again.
type TooLargeError struct {
	URL   string
	What  string // "a page of search results"
	Limit int64  // bytes, or a number of Items
	Items string // "records": Limit counts these; "": Limit is bytes
}

func (e *TooLargeError) Error() string {
	size := "is larger than " + formatBytes(e.Limit)
	if e.Items != "" {
		size = fmt.Sprintf("holds more than %d %s", e.Limit, e.Items)
	}
	return fmt.Sprintf("%s: the answer %s, the most read for %s: given up, as no working server sends that much", e.URL, size, e.What)
}

func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// limitedBody reads at most left more bytes of r; a read past them
// fails with err.
type limitedBody struct {
	r    io.Reader
	left int64
	err  error
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, l.err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// MaxRetryAfter caps the pause a server's Retry-After asks for.
const MaxRetryAfter = 2 * time.Minute

// ErrForeignURL is returned for a URL the server gave (mediaUri, next, a
// redirect) on another scheme, host or port than the prefix: the
// credentials are never sent there.
var ErrForeignURL = errors.New("not on the scheme, host and port of the API prefix")

// TimeoutError is a request given up because the server did not answer
// in time. It is a net.Error whose Timeout() is true, so IsTransient
// holds and the request is tried again.
type TimeoutError struct {
	What string // what did not come: "data on the answer's body"
	URL  string
	d    time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: no %s for %v: the server stopped answering", e.URL, e.What, e.d)
}

// Timeout reports true: this is a timeout.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary reports true: trying again may succeed.
func (e *TimeoutError) Temporary() bool { return true }

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
	if errors.Is(err, ErrForeignURL) || errors.Is(err, ErrTooLarge) {
		return false
	}
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
	base := c.HTTP
	if base == nil {
		c.defaultHTTP.Do(func() { c.defaultHTTPUsed = &http.Client{Transport: NewTransport(c.Timeouts)} })
		base = c.defaultHTTPUsed
	}
	// A redirect is followed only on the prefix's origin: it would
	// otherwise carry the credentials elsewhere.
	hc := *base
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := c.checkOrigin(req.URL); err != nil {
			return err
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &hc
}

// origin is the scheme, host and port of a URL, the port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// allowedOrigins are where the credentials may go: the prefix's origin,
// and that of gwsRecordingsUri or gwsSettingsUri when the configuration
// gives them as whole URLs (the customer's choice, not the server's).
func (c *Client) allowedOrigins() []string {
	var out []string
	for _, raw := range []string{c.Prefix, c.RecordingsURI, c.SettingsURI} {
		if !strings.Contains(raw, "://") {
			continue
		}
		if u, err := url.Parse(raw); err == nil && u.Host != "" {
			out = append(out, origin(u))
		}
	}
	return out
}

// checkOrigin refuses a URL that is not on an allowed origin.
func (c *Client) checkOrigin(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("refusing %s: %w (%s)", redactURL(u), ErrForeignURL, c.prefixOrigin())
	}
	got := origin(u)
	for _, ok := range c.allowedOrigins() {
		if got == ok {
			return nil
		}
	}
	return fmt.Errorf("refusing %s: %w (%s); the credentials are sent only there", redactURL(u), ErrForeignURL, c.prefixOrigin())
}

func (c *Client) prefixOrigin() string {
	if u, err := url.Parse(c.Prefix); err == nil {
		return origin(u)
	}
	return c.Prefix
}

// resolve reads a URL the server gave, relative ones against the prefix,
// and refuses it when it is on another origin.
func (c *Client) resolve(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("the server gave an unreadable URL %q: %w", raw, err)
	}
	if !u.IsAbs() {
		base, err := url.Parse(strings.TrimSuffix(c.Prefix, "/") + "/")
		if err != nil {
			return "", err
		}
		u = base.ResolveReference(u)
	}
	if err := c.checkOrigin(u); err != nil {
		return "", err
	}
	return u.String(), nil
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

// URL joins the prefix and a path (with its query); a whole URL (a
// gwsRecordingsUri or gwsSettingsUri configured as one) is kept.
func (c *Client) URL(path string) string {
	if strings.Contains(path, "://") {
		return path
	}
	return strings.TrimSuffix(c.Prefix, "/") + path
}

// do sends a request built by newReq, retrying transient faults; the
// caller closes the body of a successful answer. The request's URL must
// be on an allowed origin, or nothing is sent. The body of the answer
// fails with a *TimeoutError when no data comes for the read timeout.
func (c *Client) do(ctx context.Context, newReq func() (*http.Request, error)) (*http.Response, error) {
	var lastErr error
	for attempt := 1; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		if err := c.checkOrigin(req.URL); err != nil {
			return nil, err
		}
		reqCtx, cancel := context.WithCancel(ctx)
		req = req.WithContext(reqCtx)
		req.SetBasicAuth(c.User, c.Password)
		res, err := c.httpClient().Do(req)
		if err != nil {
			cancel()
		} else {
			res.Body = newIdleBody(res.Body, c.Timeouts.WithDefaults().Read, cancel, redactURL(req.URL))
			if res.StatusCode < 300 {
				return res, nil
			}
		}
		var retryAfter time.Duration
		if err == nil {
			err = answerError(res)
			retryAfter = retryAfterPause(res.Header.Get("Retry-After"))
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

// retryAfterPause reads a Retry-After of seconds, at most MaxRetryAfter:
// a server may ask for a pause, not hold its caller for ever.
func retryAfterPause(header string) time.Duration {
	s, err := strconv.Atoi(strings.TrimSpace(header))
	if err != nil || s <= 0 {
		return 0
	}
	return min(time.Duration(min(s, 3600))*time.Second, MaxRetryAfter)
}

// idleBody is an answer's body that gives up when no data comes for idle:
// the request's context is cancelled and the read fails with a
// *TimeoutError (transient), not with a bare "context canceled".
type idleBody struct {
	body   io.ReadCloser
	idle   time.Duration
	timer  *time.Timer
	cancel context.CancelFunc
	fired  atomic.Bool
	url    string
}

// WithReadTimeout wraps a body so that a pause of more than idle (zero:
// DefaultReadTimeout) cancels its request (cancel) and fails the read with
// a *TimeoutError; what names the source in the message. Closing it calls
// cancel. Other clients of the same servers (rcbs's S3 reads) use it too.
func WithReadTimeout(body io.ReadCloser, idle time.Duration, cancel context.CancelFunc, what string) io.ReadCloser {
	if idle <= 0 {
		idle = DefaultReadTimeout
	}
	return newIdleBody(body, idle, cancel, what)
}

func newIdleBody(body io.ReadCloser, idle time.Duration, cancel context.CancelFunc, url string) *idleBody {
	b := &idleBody{body: body, idle: idle, cancel: cancel, url: url}
	b.timer = time.AfterFunc(idle, func() {
		b.fired.Store(true)
		cancel()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 && !b.fired.Load() {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF && b.fired.Load() {
		err = &TimeoutError{What: "data on the answer's body", URL: b.url, d: b.idle}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.body.Close()
	b.cancel()
	return err
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

// redactString is redactURL for a URL not parsed yet.
func redactString(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return redactURL(u)
	}
	return strconv.Quote(raw)
}

// redactURL keeps user info out of messages.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// getJSON reads a JSON answer into v, at most limit bytes of it (what
// names the answer in the error when it is longer). An answer cut off
// mid-body (a reset, a dropped connection) is a transient fault like a
// 5xx and is asked for again; one too long is not.
func (c *Client) getJSON(ctx context.Context, fullURL string, v any, limit int64, what string) error {
	return c.readJSON(ctx, fullURL, limit, what, func(dec *json.Decoder) error { return dec.Decode(v) })
}

// readJSON is getJSON with the decoding done by decode, which may be
// called again (from the start of a new answer) after a transient fault.
func (c *Client) readJSON(ctx context.Context, fullURL string, limit int64, what string, decode func(*json.Decoder) error) error {
	for attempt := 1; ; attempt++ {
		res, err := c.do(ctx, func() (*http.Request, error) { return http.NewRequest(http.MethodGet, fullURL, nil) })
		if err != nil {
			return err
		}
		tooLarge := &TooLargeError{URL: redactString(fullURL), What: what, Limit: limit}
		if res.ContentLength > limit {
			res.Body.Close()
			return tooLarge
		}
		err = decode(json.NewDecoder(&limitedBody{r: res.Body, left: limit, err: tooLarge}))
		res.Body.Close()
		if errors.Is(err, ErrTooLarge) {
			return err // this answer's size, or a count decode refused
		}
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
	return &me, c.getJSON(ctx, c.URL("/me"), &me, c.Limits.WithDefaults().Small, "/me")
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
	return &s, c.getJSON(ctx, c.URL(uri), &s, c.Limits.WithDefaults().Small, "the backup settings")
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
	MediaID string `json:"mediaId"`
	Type    string `json:"type"`
	Size    any    `json:"size"` // a number from the server; the guide's records carry strings
	// SHA256 is the hex SHA-256 of the stored (usually encrypted) bytes;
	// it changes when the file is re-wrapped for a new certificate.
	SHA256 string `json:"sha256"`
	// ContentSHA256 is the hex SHA-256 of the plaintext; a re-wrap keeps
	// it. Empty from a server that does not give it.
	ContentSHA256 string   `json:"contentSha256"`
	CertAlias     []string `json:"certAlias"`
	MediaURI      *string  `json:"mediaUri"`
	StorageKey    string   `json:"storageKey"`
	Pending       bool     `json:"pending"`
}

// UnmarshalJSON reads a record, refusing more than MaxRecordMedia media
// files.
func (r *Recording) UnmarshalJSON(b []byte) error {
	var p struct {
		ID         string          `json:"id"`
		StartTime  string          `json:"startTime"`
		StopTime   string          `json:"stopTime"`
		MediaFiles json.RawMessage `json:"mediaFiles"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = Recording{ID: p.ID, StartTime: p.StartTime, StopTime: p.StopTime}
	if len(p.MediaFiles) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(p.MediaFiles))
	return decodeArray(dec, "mediaFiles", func() error {
		if len(r.MediaFiles) >= MaxRecordMedia {
			return &TooLargeError{URL: "recording " + strconv.Quote(p.ID), What: "one record", Limit: MaxRecordMedia, Items: "media files"}
		}
		var m MediaFile
		if err := dec.Decode(&m); err != nil {
			return err
		}
		r.MediaFiles = append(r.MediaFiles, m)
		return nil
	})
}

// UnmarshalJSON reads a media entry: size is kept only when it is a
// number or a string, and more than MaxCertAliases aliases are refused.
func (m *MediaFile) UnmarshalJSON(b []byte) error {
	type fields MediaFile // without this method
	var p struct {
		fields
		Size      json.RawMessage `json:"size"`
		CertAlias json.RawMessage `json:"certAlias"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*m = MediaFile(p.fields)
	m.Size, m.CertAlias = nil, nil
	if len(p.Size) > 0 && p.Size[0] == '"' {
		var s string
		if json.Unmarshal(p.Size, &s) == nil {
			m.Size = s
		}
	} else if len(p.Size) > 0 && (p.Size[0] == '-' || p.Size[0] >= '0' && p.Size[0] <= '9') {
		var f float64
		if json.Unmarshal(p.Size, &f) == nil {
			m.Size = f
		}
	}
	if len(p.CertAlias) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(p.CertAlias))
	return decodeArray(dec, "certAlias", func() error {
		if len(m.CertAlias) >= MaxCertAliases {
			return &TooLargeError{URL: "media " + strconv.Quote(m.MediaID), What: "one media file", Limit: MaxCertAliases, Items: "certificate aliases"}
		}
		var alias string
		if err := dec.Decode(&alias); err != nil {
			return err
		}
		m.CertAlias = append(m.CertAlias, alias)
		return nil
	})
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
	} else {
		resolved, err := c.resolve(next)
		if err != nil {
			return nil, fmt.Errorf("cannot follow the next page: %w", err)
		}
		u = resolved
	}
	limits := c.Limits.WithDefaults()
	const what = "a page of search results"
	var raw struct {
		Recordings []json.RawMessage
		Next       *string
	}
	// Read as a stream of records, so that no more than MaxPageRecords of
	// them, none larger than a record may be, are ever held.
	err := c.readJSON(ctx, u, limits.Page, what, func(dec *json.Decoder) error {
		raw.Recordings, raw.Next = nil, nil
		return decodeObject(dec, func(key string) error {
			switch {
			case strings.EqualFold(key, "recordings"):
				raw.Recordings = nil
				return decodeArray(dec, "recordings", func() error {
					if len(raw.Recordings) >= MaxPageRecords {
						return &TooLargeError{URL: redactString(u), What: what, Limit: MaxPageRecords, Items: "records"}
					}
					var doc json.RawMessage
					if err := dec.Decode(&doc); err != nil {
						return err
					}
					if int64(len(doc)) > limits.Record {
						return &TooLargeError{URL: redactString(u), What: "one record", Limit: limits.Record}
					}
					raw.Recordings = append(raw.Recordings, doc)
					return nil
				})
			case strings.EqualFold(key, "next"):
				raw.Next = nil
				return dec.Decode(&raw.Next)
			}
			return skipValue(dec)
		})
	})
	if err != nil {
		return nil, err
	}
	p := &Page{Recordings: make([]Recording, len(raw.Recordings))}
	media := 0
	for i, doc := range raw.Recordings {
		if err := json.Unmarshal(doc, &p.Recordings[i]); err != nil {
			return nil, fmt.Errorf("cannot read recording %d of %s: %w", i, u, err)
		}
		p.Recordings[i].Raw = doc
		if media += len(p.Recordings[i].MediaFiles); media > MaxPageMedia {
			return nil, &TooLargeError{URL: redactString(u), What: what, Limit: MaxPageMedia, Items: "media files"}
		}
	}
	if raw.Next != nil {
		p.Next = *raw.Next
	}
	return p, nil
}

// decodeObject reads a JSON object (or null) from dec, calling member for
// each key with dec at its value, which member must consume.
func decodeObject(dec *json.Decoder, member func(key string) error) error {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return err
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("want a JSON object, not %v", tok)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if err := member(key); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

// decodeArray reads a JSON array (or null) from dec, calling elem with dec
// at each element, which elem must consume; name says what the array is.
func decodeArray(dec *json.Decoder, name string, elem func() error) error {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return err
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("%s: want a JSON array, not %v", name, tok)
	}
	for dec.More() {
		if err := elem(); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

// skipValue reads past one JSON value without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// Search calls fn for every recording that matches query, page by page.
// A next link to a page already read ends it with an error: a server
// cannot keep it listing for ever.
func (c *Client) Search(ctx context.Context, query url.Values, fn func(Recording) error) error {
	next := ""
	seen := map[string]bool{}
	for {
		if next != "" {
			if seen[next] {
				return fmt.Errorf("the server's next link %s repeats a page already read", redactString(next))
			}
			seen[next] = true
		}
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
	if err := c.getJSON(ctx, u, &doc, c.Limits.WithDefaults().Record, "one record"); err != nil {
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
	mediaURI, err := c.resolve(mediaURI)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch the media file: %w", err)
	}
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
