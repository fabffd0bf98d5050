package web

import (
	"net/http"
	"strconv"

	"callvault/internal/httpx"
	"callvault/internal/service"
	"callvault/internal/vault"
)

type loginData struct {
	UserName string
	Next     string
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	p := &page{L: requestLang(r), Path: r.URL.RequestURI(), Langs: languages}
	p.Title = p.L.T("login_title")
	p.Data = loginData{Next: httpx.LocalPath(r.URL.Query().Get("next"), "/recordings")}
	u.render(w, http.StatusOK, "login", p)
}

// login opens a session through the one login gate the API's login and
// Basic auth use (service.Logins: its limiter, its bound on password
// checks) and the same session cookie; only the answer differs: a page.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	p := &page{L: requestLang(r), Path: "/login", Langs: languages}
	p.Title = p.L.T("login_title")
	login, password := r.PostFormValue("user"), r.PostFormValue("password")
	next := httpx.LocalPath(r.PostFormValue("next"), "/recordings")
	p.Data = loginData{UserName: login, Next: next}
	token, sess, err := u.logins.Login(r.Context(), login, password, u.site.ClientAddr(r))
	if err != nil {
		if secs := service.RetryAfter(err); secs > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		switch vault.ErrorCode(err) {
		case vault.EUNAUTHORIZED:
			p.Error = p.L.T("login_failed")
		case vault.ERATELIMIT:
			p.Error = p.L.T("login_rate")
		case vault.EUNAVAILABLE:
			p.Error = p.L.T("login_busy")
		default:
			u.renderError(w, r, p, err)
			return
		}
		u.render(w, vault.HTTPStatus(err), "login", p)
		return
	}
	httpx.SetSessionCookie(w, u.site.Secure(r), token, sess.ExpiresAt)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, p *page) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := u.svc.Logout(r.Context(), c.Value); err != nil {
			u.renderError(w, r, p, err)
			return
		}
	}
	httpx.ClearSessionCookie(w, u.site.Secure(r))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
