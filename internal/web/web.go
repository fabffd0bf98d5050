// Package web is callvault's browser UI: server-rendered pages
// (html/template) for search, playback and administration, in the guide's
// sixteen UI languages. Handlers call the service in-process; media play
// through the API's play endpoint (Range, so seeking works) with the
// session cookie. Static files and templates are embedded: nothing comes
// from a CDN (the waveform player's and the charts' libraries are vendored
// into static/vendor by scripts/vendor-ui.sh).
package web

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"callvault/internal/httpx"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// SessionCookie is the API's session cookie: one login serves the pages
// and the play endpoint the players load from.
const SessionCookie = httpx.SessionCookie

// CSRFField is the hidden form field carrying the session's CSRF token.
const CSRFField = "csrf"

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// UI serves the pages.
type UI struct {
	svc    *service.Service
	log    *slog.Logger
	logins *service.Logins
	site   *httpx.Site
	pages  map[string]*template.Template
	now    func() time.Time
}

// Options are what the UI shares with the API: give both the same.
type Options struct {
	Log *slog.Logger
	// Logins is the one login gate; nil makes one (for a UI alone).
	Logins *service.Logins
	// Site is the public URL and trusted proxies; nil: none.
	Site *httpx.Site
	// Now is the clock (the trends page's default period); nil: time.Now.
	Now func() time.Time
}

// New prepares the UI of a service.
func New(svc *service.Service, opt Options) *UI {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Logins == nil {
		opt.Logins = service.NewLogins(svc, service.LoginOptions{})
	}
	if opt.Site == nil {
		opt.Site, _ = httpx.NewSite("", httpx.Proxies{})
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	u := &UI{svc: svc, log: opt.Log, logins: opt.Logins, site: opt.Site, pages: map[string]*template.Template{}, now: opt.Now}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		u.pages[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", name))
	}
	return u
}

// Handler routes the pages. It is mounted at "/" beside the API.
func (u *UI) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/recordings", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /login", u.loginPage)
	mux.HandleFunc("POST /login", u.login)
	mux.HandleFunc("GET /lang", u.setLang)
	mux.HandleFunc("POST /logout", u.authed(u.logout))

	mux.HandleFunc("GET /recordings", u.authed(u.search))
	mux.HandleFunc("GET /recordings/{id}", u.authed(u.recording))
	mux.HandleFunc("GET /recordings/{id}/delete", u.authed(u.confirmDeleteRecording))
	mux.HandleFunc("POST /recordings/{id}/delete", u.authed(u.deleteRecording))

	mux.HandleFunc("GET /admin/certificates", u.authed(u.certificates))
	mux.HandleFunc("POST /admin/certificates", u.authed(u.uploadCertificate))
	mux.HandleFunc("POST /admin/certificates/describe", u.authed(u.describeCertificate))
	mux.HandleFunc("GET /admin/certificates/{alias}", u.authed(u.certificate))
	mux.HandleFunc("GET /admin/certificates/{alias}/delete", u.authed(u.confirmDelete))
	mux.HandleFunc("POST /admin/certificates/{alias}/delete", u.authed(u.deleteCertificate))
	mux.HandleFunc("POST /admin/certificates/{alias}/rewrap", u.authed(u.startRewrap))
	mux.HandleFunc("GET /admin/screen-certificates", u.authed(u.screenCertificates))
	mux.HandleFunc("POST /admin/screen-certificates", u.authed(u.screenCertificates))
	mux.HandleFunc("GET /admin/users", u.authed(u.users))
	mux.HandleFunc("POST /admin/users", u.authed(u.createUser))
	mux.HandleFunc("GET /admin/users/{name}", u.authed(u.user))
	mux.HandleFunc("POST /admin/users/{name}", u.authed(u.updateUser))
	mux.HandleFunc("GET /admin/users/{name}/delete", u.authed(u.confirmDeleteUser))
	mux.HandleFunc("POST /admin/users/{name}/delete", u.authed(u.deleteUser))
	mux.HandleFunc("GET /admin/retention", u.authed(u.retention))
	mux.HandleFunc("POST /admin/retention", u.authed(u.setRetention))
	mux.HandleFunc("GET /admin/audit", u.authed(u.audit))
	mux.HandleFunc("GET /admin/legal-holds", u.authed(u.legalHolds))
	mux.HandleFunc("POST /admin/legal-holds", u.authed(u.createLegalHold))
	mux.HandleFunc("GET /admin/legal-holds/{id}/release", u.authed(u.confirmRelease))
	mux.HandleFunc("POST /admin/legal-holds/{id}/release", u.authed(u.releaseLegalHold))
	mux.HandleFunc("GET /admin/jobs", u.authed(u.jobs))
	mux.HandleFunc("GET /admin/jobs/{id}", u.authed(u.job))
	u.analyticsRoutes(mux)
	u.qmRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u.renderError(w, r, &page{L: requestLang(r)}, vault.Errorf(vault.ENOTFOUND, "no page %s", r.URL.Path))
	})
	return secure(mux)
}

// secure sets the headers every answer carries: scripts, styles and media
// only from this origin, no framing, no sniffing.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentPolicy(""))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// contentPolicy is the Content-Security-Policy of the UI. styleNonce, when
// set, also admits <style> elements carrying it: the waveform player
// (wavesurfer.js) styles its shadow DOM with one, and a page that shows
// the player gives it the nonce. Nothing comes from another origin.
func contentPolicy(styleNonce string) string {
	style := ""
	if styleNonce != "" {
		style = "style-src 'self' 'nonce-" + styleNonce + "'; "
	}
	return "default-src 'self'; " + style + "img-src 'self' data:; media-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
}

// newNonce is a fresh CSP nonce: 128 random bits (base32).
func newNonce() string { return rand.Text() }

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	L       *Lang
	User    *vault.User
	CSRF    string
	Nav     string // the menu entry to mark current
	Title   string
	Flash   string // a translated confirmation
	Error   string // a message to show in an alert
	Path    string // this page's path and query, for the language switcher
	Data    any
	Langs   []*Lang
	IsAdmin bool
	// IsSupervisor: the user reads the analytics configuration (topics,
	// categories) without changing it.
	IsSupervisor bool
	// StyleNonce is set by a page with the waveform player: render puts
	// it in the page's Content-Security-Policy (see contentPolicy).
	StyleNonce string
	// Refresh reloads the page every few seconds when scripts are off
	// (a job's progress; with scripts, app.js polls instead).
	Refresh bool
}

type pageHandler func(w http.ResponseWriter, r *http.Request, p *page)

// maxForm bounds a form body: certificate and key files are a few KB.
const maxForm = 1 << 20

// authed runs h for a logged-in user. Without a valid session a GET goes
// to the login page and anything else is refused. A POST must carry the
// session's CSRF token (form field or X-CSRF-TOKEN header).
func (u *UI) authed(h pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(service.WithClient(r.Context(), u.site.ClientAddr(r)))
		p := &page{L: requestLang(r), Path: r.URL.RequestURI(), Langs: languages}
		c, err := r.Cookie(SessionCookie)
		if err != nil || c.Value == "" {
			u.toLogin(w, r, p, vault.Errorf(vault.EUNAUTHORIZED, "log in first"))
			return
		}
		sess, user, err := u.svc.SessionUser(r.Context(), c.Value)
		if err != nil {
			u.toLogin(w, r, p, err)
			return
		}
		p.User, p.CSRF, p.IsAdmin = user, sess.CSRFToken, user.HasRole(vault.RoleAdmin)
		p.IsSupervisor = user.HasRole(vault.RoleSupervisor)
		if httpx.ChangesState(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			got := r.Header.Get("X-CSRF-TOKEN")
			if got == "" {
				if err := r.ParseMultipartForm(maxForm); err != nil && !errors.Is(err, http.ErrNotMultipart) {
					u.renderError(w, r, p, vault.Wrap(vault.EINVALID, err, "the form cannot be read"))
					return
				}
				got = r.PostFormValue(CSRFField)
			}
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
				u.renderError(w, r, p, errCSRF)
				return
			}
		}
		h(w, r, p)
	}
}

var errCSRF = vault.Errorf(vault.EFORBIDDEN, "missing or wrong CSRF token")

func (u *UI) toLogin(w http.ResponseWriter, r *http.Request, p *page, err error) {
	if vault.ErrorCode(err) != vault.EUNAUTHORIZED {
		u.renderError(w, r, p, err)
		return
	}
	if r.Method == http.MethodGet {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	u.renderError(w, r, p, err)
}

func statusFor(err error) int { return vault.HTTPStatus(err) }

// errorText is what a page shows for err: a translated sentence for the
// common cases, the service's message (English) for the rest.
func errorText(l *Lang, err error) string {
	switch {
	case err == errCSRF:
		return l.T("err_csrf")
	case vault.ErrorCode(err) == vault.EFORBIDDEN:
		return l.T("err_forbidden")
	case vault.ErrorCode(err) == vault.ENOTFOUND:
		return l.T("err_not_found")
	}
	return vault.ErrorMessage(err)
}

func (u *UI) renderError(w http.ResponseWriter, r *http.Request, p *page, err error) {
	status := statusFor(err)
	if status >= 500 {
		u.log.Error("page failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if p.Langs == nil {
		p.Langs = languages
	}
	p.Title = p.L.T("error_title")
	p.Error = errorText(p.L, err)
	u.render(w, status, "error", p)
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (u *UI) render(w http.ResponseWriter, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := u.pages[name].Execute(&buf, p); err != nil {
		u.log.Error("cannot render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	if p.StyleNonce != "" {
		h.Set("Content-Security-Policy", contentPolicy(p.StyleNonce))
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", p.L.Tag)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (u *UI) setLang(w http.ResponseWriter, r *http.Request) {
	tag := r.URL.Query().Get("lang")
	if _, ok := langByTag[tag]; ok {
		http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: tag, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: u.site.Secure(r), SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, httpx.LocalPath(r.URL.Query().Get("next"), "/recordings"), http.StatusSeeOther)
}

var funcs = template.FuncMap{
	"duration": Duration,
	"clock":    clock,
	"seconds":  seconds,
	"pathEscape": func(s string) string {
		return url.PathEscape(s)
	},
	"join": strings.Join,
	"deref": func(t *time.Time) time.Time {
		if t == nil {
			return time.Time{}
		}
		return *t
	},
	// args passes several values to a shared template.
	"args": func(v ...any) []any { return v },
	"hasRole": func(user *vault.User, role string) bool {
		return user != nil && user.HasRole(vault.Role(role))
	},
	"contains": func(list []string, s string) bool {
		for _, v := range list {
			if v == s {
				return true
			}
		}
		return false
	},
}
