package httpapi

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strconv"

	"callvault/internal/vault"
)

// SessionCookie holds a browser session token.
const SessionCookie = "callvault_session"

// CSRFHeader carries the session's CSRF token on state-changing calls.
const CSRFHeader = "X-CSRF-TOKEN"

type handlerWithUser func(w http.ResponseWriter, r *http.Request, u *vault.User)

// authed runs h for an authenticated caller: HTTP Basic (API clients such
// as rcbs) or the session cookie (browsers, with the CSRF token on every
// state-changing method).
func (s *Server) authed(h handlerWithUser) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if login, password, ok := r.BasicAuth(); ok {
			if wait := s.limiter.Blocked(clientIP(r), login); wait > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
				s.writeError(w, r, vault.Errorf(vault.ERATELIMIT, "too many failed logins; try again in %d seconds", int(wait.Seconds())+1))
				return
			}
			u, err := s.Svc.Authenticate(r.Context(), login, password)
			if err != nil {
				if vault.ErrorCode(err) == vault.EUNAUTHORIZED {
					s.limiter.Fail(clientIP(r), login)
				}
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
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
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
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in loginRequest
	if err := decodeJSON(r, 64<<10, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if wait := s.limiter.Blocked(clientIP(r), in.UserName); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.writeError(w, r, vault.Errorf(vault.ERATELIMIT, "too many failed logins; try again in %d seconds", int(wait.Seconds())+1))
		return
	}
	token, sess, err := s.Svc.Login(r.Context(), in.UserName, in.Password)
	if err != nil {
		if vault.ErrorCode(err) == vault.EUNAUTHORIZED {
			s.limiter.Fail(clientIP(r), in.UserName)
		}
		s.writeError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	writeJSON(w, http.StatusOK, map[string]any{"userName": sess.UserName, "tenant": sess.Tenant, "csrfToken": sess.CSRFToken, "expires": sess.ExpiresAt})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ *vault.User) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := s.Svc.Logout(r.Context(), c.Value); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
