// Package httpx holds what the API (internal/httpapi) and the UI
// (internal/web) share about HTTP, so that each rule exists once: the JSON
// writer, the search cursor, the session cookie, the client address
// behind trusted proxies, this server's public origin and the checks on
// state-changing requests, local redirects and body read deadlines. It
// imports only the domain (vault), never the service or an adapter.
package httpx

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"callvault/internal/vault"
)

// WriteJSON answers v as JSON with status, never cached. HTML characters
// are not escaped: the answer is served as application/json with nosniff.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// cursorJSON is the one cursor format, for the API's next links and the
// UI's page links: the position in the search order (start time in
// milliseconds, as the stores keep it, and the recording id).
type cursorJSON struct {
	StartMs int64  `json:"t"`
	ID      string `json:"i"`
}

// EncodeCursor returns the opaque form of a search position.
func EncodeCursor(c vault.Cursor) string {
	var ms int64
	if !c.StartTime.IsZero() {
		ms = c.StartTime.UnixMilli()
	}
	b, _ := json.Marshal(cursorJSON{StartMs: ms, ID: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor EncodeCursor made; EINVALID otherwise.
func DecodeCursor(v string) (*vault.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	var c cursorJSON
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.ID == "" {
		return nil, vault.Errorf(vault.EINVALID, "cursor is not one this server gave")
	}
	cur := &vault.Cursor{ID: c.ID}
	if c.StartMs != 0 {
		cur.StartTime = time.UnixMilli(c.StartMs).UTC()
	}
	return cur, nil
}

// SessionCookie holds a browser session token; one login serves the
// UI's pages and the API (the players load media from the API).
const SessionCookie = "callvault_session"

// SetSessionCookie gives the browser a session: HttpOnly, SameSite=Strict,
// Secure when the browser reached us over HTTPS.
func SetSessionCookie(w http.ResponseWriter, secure bool, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
	})
}

// ClearSessionCookie removes the session cookie.
func ClearSessionCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
}
