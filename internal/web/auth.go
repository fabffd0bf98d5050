package web

import (
	"net"
	"net/http"

	"callvault/internal/vault"
)

type loginData struct {
	UserName string
	Next     string
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	p := &page{L: requestLang(r), Path: r.URL.RequestURI(), Langs: languages}
	p.Title = p.L.T("login_title")
	p.Data = loginData{Next: localPath(r.URL.Query().Get("next"), "/recordings")}
	u.render(w, http.StatusOK, "login", p)
}

// login opens a session with the service, as the API's POST /login does,
// behind the same kind of limiter: a login name or client address with too
// many failures in a minute is refused until the minute ends.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	p := &page{L: requestLang(r), Path: "/login", Langs: languages}
	p.Title = p.L.T("login_title")
	login, password := r.PostFormValue("user"), r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"), "/recordings")
	p.Data = loginData{UserName: login, Next: next}
	ip := clientIP(r)
	if u.limiter.Blocked(ip, login) > 0 {
		p.Error = p.L.T("login_rate")
		u.render(w, http.StatusTooManyRequests, "login", p)
		return
	}
	token, sess, err := u.svc.Login(r.Context(), login, password)
	if err != nil {
		if vault.ErrorCode(err) != vault.EUNAUTHORIZED {
			u.renderError(w, r, p, err)
			return
		}
		u.limiter.Fail(ip, login)
		p.Error = p.L.T("login_failed")
		u.render(w, http.StatusUnauthorized, "login", p)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, p *page) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := u.svc.Logout(r.Context(), c.Value); err != nil {
			u.renderError(w, r, p, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
