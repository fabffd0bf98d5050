package httpapi

import (
	"crypto/subtle"
	"net/http"

	"callvault/internal/httpx"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// SessionCookie holds a browser session token.
const SessionCookie = httpx.SessionCookie

// CSRFHeader carries the session's CSRF token on state-changing calls.
const CSRFHeader = "X-CSRF-TOKEN"

type handlerWithUser func(w http.ResponseWriter, r *http.Request, u *vault.User)

// authed runs h for an authenticated caller: HTTP Basic (API clients such
// as rcbs), checked by the one login gate, or the session cookie
// (browsers, with the CSRF token on every state-changing method).
func (s *Server) authed(h handlerWithUser) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(service.WithClient(r.Context(), s.Site.ClientAddr(r)))
		if login, password, ok := r.BasicAuth(); ok {
			u, err := s.Logins.Authenticate(r.Context(), login, password, s.Site.ClientAddr(r))
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			h(w, r, u)
			return
		}
		c, err := r.Cookie(SessionCookie)
		if err != nil || c.Value == "" {
			s.writeError(w, r, vault.Errorf(vault.EUNAUTHORIZED, "log in: HTTP Basic auth as user@tenant, or a session"))
			return
		}
		sess, u, err := s.Svc.SessionUser(r.Context(), c.Value)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if httpx.ChangesState(r.Method) {
			got := r.Header.Get(CSRFHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
				s.writeError(w, r, vault.Errorf(vault.EFORBIDDEN, "missing or wrong %s header", CSRFHeader))
				return
			}
		}
		h(w, r, u)
	}
}

type loginRequest struct {
	UserName string `json:"userName"`
	Password string `json:"password"`
}

// login opens a browser session: a cookie, and a CSRF token in the body.
// It is the UI's login too, answered in JSON (the same gate, limiter and
// cookie as the UI's form).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in loginRequest
	if err := decodeJSON(r, 64<<10, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	token, sess, err := s.Logins.Login(r.Context(), in.UserName, in.Password, s.Site.ClientAddr(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	httpx.SetSessionCookie(w, s.Site.Secure(r), token, sess.ExpiresAt)
	writeJSON(w, http.StatusOK, map[string]any{"userName": sess.UserName, "tenant": sess.Tenant, "csrfToken": sess.CSRFToken, "expires": sess.ExpiresAt})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *vault.User) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := s.Svc.Logout(r.Context(), c.Value); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	httpx.ClearSessionCookie(w, s.Site.Secure(r))
	w.WriteHeader(http.StatusNoContent)
}
