package web_test

// Issue 9's hardening as the UI shows it, over HTTP against the real
// server.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"callvault/internal/vault"
)

// Item 12: no "next" takes the browser to another site, after login or
// a language switch.
func TestNoOpenRedirect(t *testing.T) {
	e := newEnv(t)
	evil := []string{
		"/%09/evil.example", "/%0a/evil.example", "/%0d/evil.example", "%09//evil.example", "/%5Cevil.example",
		"/%5C%5Cevil.example", "//evil.example", "///evil.example", "https://evil.example/", "https:evil.example",
		"%20//evil.example", "/%00/evil.example", "javascript:alert(1)",
	}
	for _, next := range evil {
		c := e.client("")
		if r := c.get("/lang?lang=de-DE&next=" + next); r.header.Get("Location") != "/recordings" {
			t.Errorf("/lang?next=%s redirects to %q", next, r.header.Get("Location"))
		}
		// The login page carries only a local next.
		r := c.get("/login?next=" + next)
		if !strings.Contains(r.body, `name="next" value="/recordings"`) {
			t.Errorf("/login?next=%s: the form's next is not /recordings", next)
		}
		decoded, _ := url.QueryUnescape(next)
		r = c.post("/login", url.Values{"user": {"admin@acme"}, "password": {adminPassword}, "next": {decoded}}, false)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/recordings" {
			t.Errorf("login with next=%q: %d to %q", decoded, r.status, r.header.Get("Location"))
		}
	}
	// A local next still works.
	c := e.client("")
	r := c.post("/login", url.Values{"user": {"admin@acme"}, "password": {adminPassword}, "next": {"/admin/users?x=1"}}, false)
	if r.header.Get("Location") != "/admin/users?x=1" {
		t.Fatalf("local next: %q", r.header.Get("Location"))
	}
}

// Item 13: the Users page shows and edits names, e-mail and Disabled,
// deletes after a confirmation, and a password change, role change or
// disabling ends the user's browser session at once.
func TestUserScreensNamesDisableDelete(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin@acme", adminPassword)
	admin.get("/admin/users")
	r := admin.post("/admin/users", url.Values{"userName": {"jane"}, "password": {"password-jane"}, "roles": {"supervisor"},
		"firstName": {"Jane"}, "lastName": {"Roe"}, "email": {"jane@example.com"}, "accessGroups": {"/"}}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	wantStatus(t, admin.get("/admin/users"), 200, "Jane Roe", "jane@example.com")
	wantStatus(t, admin.get("/admin/users/jane"), 200, `name="firstName" value="Jane"`, `name="lastName" value="Roe"`,
		`name="email" type="email" value="jane@example.com"`, `name="disabled"`, `href="/admin/users/jane/delete"`)

	// The edit form: a change of name keeps the session.
	jane := e.login("jane@acme", "password-jane")
	update := func(form url.Values) {
		t.Helper()
		admin.get("/admin/users/jane")
		if r := admin.post("/admin/users/jane", form, true); r.status != http.StatusSeeOther {
			t.Fatalf("update %v: %d %s", form, r.status, r.body)
		}
	}
	base := url.Values{"roles": {"supervisor"}, "accessGroups": {"/"}, "firstName": {"Janet"}, "lastName": {"Roe"}, "email": {"jane@example.com"}}
	update(base)
	wantStatus(t, jane.get("/recordings"), 200)
	if u, _ := e.srv.Svc.User(context.Background(), e.admin, "jane"); u.FirstName != "Janet" || u.Disabled {
		t.Fatalf("after the edit: %+v", u)
	}
	loggedOut := func(what string, c *client) {
		t.Helper()
		if r := c.get("/recordings"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
			t.Fatalf("after %s the old session still opens pages: %d", what, r.status)
		}
		if r := c.get(playURL("x", "y")); r.status != http.StatusUnauthorized {
			t.Fatalf("after %s the old session still reaches the API: %d", what, r.status)
		}
	}
	withPassword := cloneForm(base)
	withPassword.Set("password", "password-jane-2")
	update(withPassword)
	loggedOut("a password change", jane)

	jane = e.login("jane@acme", "password-jane-2")
	agentRole := cloneForm(base)
	agentRole.Set("roles", "agent")
	update(agentRole)
	loggedOut("a role change", jane)

	jane = e.login("jane@acme", "password-jane-2")
	disabled := cloneForm(agentRole)
	disabled.Set("disabled", "1")
	update(disabled)
	loggedOut("disabling", jane)
	wantStatus(t, e.client("").post("/login", url.Values{"user": {"jane@acme"}, "password": {"password-jane-2"}}, false), 401)
	wantStatus(t, admin.get("/admin/users"), 200, `class="disabled"`)
	// Unticking Disabled lets the user in again.
	update(agentRole)
	e.login("jane@acme", "password-jane-2")

	// Delete: a confirmation page first, then gone.
	wantStatus(t, admin.get("/admin/users/jane/delete"), 200, "Delete user jane", "their open sessions end at once", `id="delete-user-confirm"`)
	wantStatus(t, admin.post("/admin/users/jane/delete", url.Values{}, false), 403) // the CSRF token, as everywhere
	if r := admin.post("/admin/users/jane/delete", url.Values{}, true); r.status != http.StatusSeeOther || r.header.Get("Location") != "/admin/users?done=deleted" {
		t.Fatalf("delete: %d %s", r.status, r.header.Get("Location"))
	}
	if r := admin.get("/admin/users?done=deleted"); !strings.Contains(r.body, "User deleted.") || strings.Contains(r.body, "Janet") {
		t.Fatalf("after delete: %.2000s", r.body)
	}
	admin.get("/admin/users/admin/delete")
	wantStatus(t, admin.post("/admin/users/admin/delete", url.Values{}, true), 400, "cannot delete yourself")
}

func cloneForm(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Item 14: the page shows the stored period in whole days (a part day
// from an older version as the whole days that keep it), and the form
// takes whole days only: 0.5 is refused and changes nothing.
func TestRetentionWholeDaysUI(t *testing.T) {
	e := newEnv(t)
	c := e.login("admin@acme", adminPassword)
	if err := e.srv.Svc.Store.SetRetention(context.Background(), "acme", 12*time.Hour); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.get("/admin/retention"), 200, "kept 1 days", `value="1"`, `step="1"`)
	for _, bad := range []string{"0.5", "1.5", "1e3", "-1", "36501", "seven", ""} {
		c.get("/admin/retention")
		r := c.post("/admin/retention", url.Values{"days": {bad}}, true)
		wantStatus(t, r, 400, "whole number of days", "kept 1 days")
		if bad != "" && !strings.Contains(r.body, `value="`+html.EscapeString(bad)+`"`) {
			t.Errorf("the refused value %q is not shown back", bad)
		}
		if d, _ := e.srv.Svc.Retention(context.Background(), e.admin); d.RetentionDays != 1 {
			t.Fatalf("after %q the retention is %d days", bad, d.RetentionDays)
		}
	}
	c.get("/admin/retention")
	if r := c.post("/admin/retention", url.Values{"days": {"0"}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("0 days: %d", r.status)
	}
	wantStatus(t, c.get("/admin/retention"), 200, "kept for ever", `value="0"`)
}

// Items 10 and 11: a media row of a type the player does not take is not
// linked for display; a change another site's page asks for is refused.
func TestUIMediaLinksAndCrossSite(t *testing.T) {
	e := newEnv(t).withSamples()
	ctx := context.Background()
	page := []byte("<script>alert(1)</script>")
	key := "acme/old-row/x.html"
	wc, err := e.srv.Svc.Blobs.NewWriter(ctx, key, "text/html")
	if err != nil {
		t.Fatal(err)
	}
	wc.Write(page)
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(page)
	if _, _, err := e.srv.Svc.Store.PutMedia(ctx, vault.Media{Tenant: "acme", RecordingID: "OLD-1", MediaID: "x.html", Type: "text/html",
		Size: int64(len(page)), SHA256: hex.EncodeToString(sum[:]), BlobKey: key, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	admin := e.login("admin@acme", adminPassword)
	r := admin.get("/recordings/OLD-1")
	wantStatus(t, r, 200, "text/html", "not played in the browser")
	if strings.Contains(r.body, playURL("OLD-1", "x.html")) {
		t.Fatal("the page links a text/html media file")
	}
	if res := admin.get(playURL("OLD-1", "x.html")); res.header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(res.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("play of a text/html row: %v", res.header)
	}

	// Another site's form, even with the session's token (say it leaked),
	// is refused: the browser says where it comes from.
	admin.get("/admin/retention")
	form := url.Values{"days": {"1"}, "csrf": {admin.csrf}}
	for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "https://evil.example"}} {
		req, _ := http.NewRequest("POST", e.http.URL+"/admin/retention", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(h[0], h[1])
		if r := admin.do(req); r.status != http.StatusForbidden {
			t.Fatalf("cross-site form %v: %d", h, r.status)
		}
	}
	if d, _ := e.srv.Svc.Retention(ctx, e.admin); d.RetentionDays != 0 {
		t.Fatal("a cross-site form changed the retention")
	}
	req, _ := http.NewRequest("POST", e.http.URL+"/admin/retention", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := admin.do(req); r.status != http.StatusSeeOther {
		t.Fatalf("our own form: %d", r.status)
	}
}

// One limiter for the UI and the API: failures at the API count at the
// UI's login.
func TestOneLimiterForUIAndAPI(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("GET", e.http.URL+"/api/v2/me", nil)
		req.SetBasicAuth("admin@acme", "wrong password")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	r := e.client("").post("/login", url.Values{"user": {"admin@acme"}, "password": {adminPassword}}, false)
	wantStatus(t, r, 429, "Too many failed logins")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}
