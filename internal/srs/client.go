package srs

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"callvault/internal/httpx"
)

// ErrSessionLost: the server answered 401 to a call made with a session,
// which means the session is gone (expired, logged out, password changed).
var ErrSessionLost = errors.New("the server session is gone (401)")

// APIError is an answer of the server other than 2xx.
type APIError struct {
	Status  int
	Code    string // the server's error code, if it sent JSON
	Message string // the server's message, or a short form of its body
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, msg)
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, msg)
}

// Unwrap makes a 401 match ErrSessionLost.
func (e *APIError) Unwrap() error {
	if e.Status == http.StatusUnauthorized {
		return ErrSessionLost
	}
	return nil
}

// Retryable reports whether err is worth trying again later: a network
// failure or a 5xx (or 429) answer. A 4xx answer will not change.
func Retryable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500 || apiErr.Status == http.StatusTooManyRequests || apiErr.Status == http.StatusRequestTimeout
	}
	return err != nil
}

// ProxySettings are the outbound proxy parameters of config.json.
type ProxySettings struct {
	Host, Username, Password string
	Port                     int
	UseSystem                bool // http.ProxyFromEnvironment; the explicit proxy wins
}

// NewHTTPClient is the client srs reaches the server with: through the
// configured proxy (with its user name and password) or the system's, and
// never following redirects, so that the session cookie and the uploads
// go nowhere but the configured server. It has no overall timeout, which
// would cut long uploads: each call sets its own deadline.
func NewHTTPClient(p ProxySettings) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 90 * time.Second, // above the longest poll (30 s)
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	switch {
	case p.Host != "":
		u := &url.URL{Scheme: "http", Host: net.JoinHostPort(p.Host, strconv.Itoa(p.Port))}
		if p.Username != "" {
			u.User = url.UserPassword(p.Username, p.Password)
		}
		tr.Proxy = http.ProxyURL(u)
	case p.UseSystem:
		tr.Proxy = http.ProxyFromEnvironment
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Client is a session with the vault's API under one server URL. Login
// starts it; it keeps the session cookie and CSRF token in memory only,
// never the password.
type Client struct {
	base string
	http *http.Client

	mu      sync.Mutex
	session string // the value of the session cookie
	csrf    string
}

// NewClient talks to server (its /api/v2 URL) through hc.
func NewClient(server string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(server, "/"), http: hc}
}

// Server is the URL the client talks to.
func (c *Client) Server() string { return c.base }

// LoginInfo is the server's answer to a login.
type LoginInfo struct {
	UserName  string    `json:"userName"`
	Tenant    string    `json:"tenant"`
	CSRFToken string    `json:"csrfToken"`
	Expires   time.Time `json:"expires"`
}

// Login opens a session for userName (user@tenant). password is used for
// this one request.
func (c *Client) Login(ctx context.Context, userName, password string) (LoginInfo, error) {
	body, err := json.Marshal(map[string]string{"userName": userName, "password": password})
	if err != nil {
		return LoginInfo{}, fmt.Errorf("cannot encode the login: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/login", bytes.NewReader(body))
	if err != nil {
		return LoginInfo{}, fmt.Errorf("cannot log in: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return LoginInfo{}, fmt.Errorf("cannot log in to %s: %w", c.base, err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return LoginInfo{}, readAPIError(resp)
	}
	var info LoginInfo
	if err := decodeJSON(resp, &info); err != nil {
		return LoginInfo{}, fmt.Errorf("cannot read the login answer: %w", err)
	}
	var token string
	for _, ck := range resp.Cookies() {
		if ck.Name == httpx.SessionCookie && ck.Value != "" {
			token = ck.Value
		}
	}
	if token == "" {
		return LoginInfo{}, fmt.Errorf("cannot log in: the server set no %s cookie", httpx.SessionCookie)
	}
	c.mu.Lock()
	c.session, c.csrf = token, info.CSRFToken
	c.mu.Unlock()
	return info, nil
}

// secrets are the session's token and CSRF token, for the log's redactor.
func (c *Client) secrets() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return []string{c.session, c.csrf}
}

// Me is the logged-in user, as GET /me answers.
type Me struct {
	UserName  string   `json:"userName"`
	Tenant    string   `json:"tenant"`
	FirstName string   `json:"firstName"`
	LastName  string   `json:"lastName"`
	Roles     []string `json:"roles"`
}

// Me fetches the user; raw is the answer as the server sent it.
func (c *Client) Me(ctx context.Context) (me Me, raw json.RawMessage, err error) {
	err = c.call(ctx, http.MethodGet, "/me", nil, &raw, 30*time.Second)
	if err == nil {
		err = json.Unmarshal(raw, &me)
	}
	if err != nil {
		return Me{}, nil, fmt.Errorf("cannot fetch the user: %w", err)
	}
	return me, raw, nil
}

// ScreenSettings are the tenant's screen recording settings for this user.
type ScreenSettings struct {
	RecordingWhen string              `json:"recordingWhen"` // "voice" or "off"
	Certificates  []ScreenCertificate `json:"certificates"`
	FrameRate     int                 `json:"frameRate"`
	MaxWidth      int                 `json:"maxWidth"`
}

// ScreenCertificate is one certificate the tenant encrypts screen
// recordings for.
type ScreenCertificate struct {
	Alias       string `json:"alias"`
	Certificate string `json:"certificate"` // PEM
}

// ScreenSettings fetches GET /me/settings/screen-recording.
func (c *Client) ScreenSettings(ctx context.Context) (ScreenSettings, error) {
	var s ScreenSettings
	if err := c.call(ctx, http.MethodGet, "/me/settings/screen-recording", nil, &s, 30*time.Second); err != nil {
		return ScreenSettings{}, fmt.Errorf("cannot fetch the screen recording settings: %w", err)
	}
	return s, nil
}

// Command is one instruction of the server.
type Command struct {
	Seq         int64     `json:"seq"`
	Command     string    `json:"command"` // start, stop, pause, resume
	RecordingID string    `json:"recordingId"`
	MediaID     string    `json:"mediaId"`
	IssuedAt    time.Time `json:"issuedAt"`
}

// Commands is the answer to a poll.
type Commands struct {
	Commands []Command `json:"commands"`
	Seq      int64     `json:"seq"` // the latest seq
}

// MaxPollWait is the longest wait the server accepts for a poll.
const MaxPollWait = 30 * time.Second

// PollCommands long-polls for the commands after seq after, waiting up to
// wait for one. after < 0 asks for the current state at once.
func (c *Client) PollCommands(ctx context.Context, after int64, wait time.Duration) (Commands, error) {
	q := url.Values{}
	timeout := 30 * time.Second
	if after >= 0 {
		wait = min(max(wait, 0), MaxPollWait)
		q.Set("after", strconv.FormatInt(after, 10))
		q.Set("wait", strconv.Itoa(int(wait/time.Second)))
		timeout += wait
	}
	path := "/me/screen-recording/commands"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var cmds Commands
	if err := c.call(ctx, http.MethodGet, path, nil, &cmds, timeout); err != nil {
		return Commands{}, fmt.Errorf("cannot poll for commands: %w", err)
	}
	return cmds, nil
}

// Stopped tells the server srs stopped a capture on its own.
func (c *Client) Stopped(ctx context.Context, recordingID, mediaID, reason string) error {
	body := map[string]string{"recordingId": recordingID, "mediaId": mediaID, "reason": reason}
	if err := c.call(ctx, http.MethodPost, "/me/screen-recording/stopped", body, nil, 30*time.Second); err != nil {
		return fmt.Errorf("cannot report the stop of %s: %w", mediaID, err)
	}
	return nil
}

// MediaUpload is one file for PUT /recordings/{id}/media/{mediaId}.
type MediaUpload struct {
	RecordingID, MediaID string
	Body                 io.Reader
	Size                 int64
	Encrypted            bool // CMS (application/pkcs7-mime) or plain video/mp4
	Truncated            bool // cut short by a crash
}

// PutMedia uploads a media file.
func (c *Client) PutMedia(ctx context.Context, m MediaUpload) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	u := c.base + "/recordings/" + url.PathEscape(m.RecordingID) + "/media/" + url.PathEscape(m.MediaID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, m.Body)
	if err != nil {
		return fmt.Errorf("cannot upload %s: %w", m.MediaID, err)
	}
	req.ContentLength = m.Size
	if m.Encrypted {
		req.Header.Set("Content-Type", "application/pkcs7-mime")
		req.Header.Set("X-Media-Type", "video/mp4")
	} else {
		req.Header.Set("Content-Type", "video/mp4")
	}
	if m.Truncated {
		req.Header.Set("X-Media-Truncated", "true")
	}
	if err := c.send(req, nil); err != nil {
		return fmt.Errorf("cannot upload %s: %w", m.MediaID, err)
	}
	return nil
}

// PutRecording merges the metadata record {"id", "mediaFiles": [entry]}.
func (c *Client) PutRecording(ctx context.Context, recordingID string, entry MediaEntry) error {
	body := struct {
		ID         string       `json:"id"`
		MediaFiles []MediaEntry `json:"mediaFiles"`
	}{recordingID, []MediaEntry{entry}}
	if err := c.call(ctx, http.MethodPut, "/recordings/"+url.PathEscape(recordingID), body, nil, 60*time.Second); err != nil {
		return fmt.Errorf("cannot store the metadata of %s: %w", entry.MediaID, err)
	}
	return nil
}

// Logout ends the session; the client keeps no token afterwards.
func (c *Client) Logout(ctx context.Context) error {
	err := c.call(ctx, http.MethodPost, "/logout", nil, nil, 10*time.Second)
	c.mu.Lock()
	c.session, c.csrf = "", ""
	c.mu.Unlock()
	if err != nil && !errors.Is(err, ErrSessionLost) {
		return fmt.Errorf("cannot log out: %w", err)
	}
	return nil
}

// call sends a JSON body (nil: none) and decodes a JSON answer into out
// (nil: discarded), within timeout.
func (c *Client) call(ctx context.Context, method, path string, body, out any, timeout time.Duration) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("cannot encode the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req, out)
}

// send adds the session and, on state-changing calls, the CSRF token.
func (c *Client) send(req *http.Request, out any) error {
	c.mu.Lock()
	session, csrf := c.session, c.csrf
	c.mu.Unlock()
	if session == "" {
		return ErrSessionLost
	}
	req.Header.Set("Accept", "application/json")
	req.AddCookie(&http.Cookie{Name: httpx.SessionCookie, Value: session})
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		req.Header.Set("X-CSRF-TOKEN", csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return readAPIError(resp)
	}
	if out == nil {
		return nil
	}
	return decodeJSON(resp, out)
}

func decodeJSON(resp *http.Response, out any) error {
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(out); err != nil {
		return fmt.Errorf("the server's answer is not the JSON expected: %w", err)
	}
	return nil
}

// readAPIError reads the server's {"code","message"} (or a short form of
// any other body) into an APIError.
func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	e := &APIError{Status: resp.StatusCode}
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &body) == nil && (body.Code != "" || body.Message != "") {
		e.Code, e.Message = body.Code, body.Message
	} else {
		e.Message = shortText(string(b), 200)
	}
	return e
}

func shortText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
