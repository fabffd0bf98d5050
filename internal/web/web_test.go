package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"callvault/internal/samples"
)

func TestLoginLogout(t *testing.T) {
	e := newEnv(t)
	c := e.client("")
	r := c.get("/recordings?caller=%2B1905*")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next="+url.QueryEscape("/recordings?caller=%2B1905*") {
		t.Fatalf("no session: %d %s", r.status, r.header.Get("Location"))
	}
	wantStatus(t, c.get("/login"), 200, `name="password"`)
	wantStatus(t, c.post("/login", url.Values{"user": {"admin@acme"}, "password": {"wrong password"}}, false), 401, "Wrong user name or password")
	r = c.post("/login", url.Values{"user": {"admin@acme"}, "password": {adminPassword}, "next": {"//evil.example/"}}, false)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/recordings" {
		t.Fatalf("login: %d %s", r.status, r.header.Get("Location"))
	}
	cookie := r.header.Get("Set-Cookie")
	if !strings.Contains(cookie, "callvault_session=") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("session cookie: %s", cookie)
	}
	wantStatus(t, c.get("/recordings"), 200, "admin@acme", `id="logout"`)
	// Logout is a change: without the token it is refused.
	wantStatus(t, c.post("/logout", url.Values{}, false), 403, "The form has expired")
	if r := c.post("/logout", url.Values{}, true); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	if r := c.get("/recordings"); r.status != http.StatusSeeOther {
		t.Fatalf("after logout: %d", r.status)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	c := e.client("")
	for i := 0; i < 5; i++ {
		wantStatus(t, c.post("/login", url.Values{"user": {"admin@acme"}, "password": {"wrong password"}}, false), 401)
	}
	// Even the right password waits out the window.
	wantStatus(t, c.post("/login", url.Values{"user": {"admin@acme"}, "password": {adminPassword}}, false), 429, "Too many failed logins")
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.login("admin@acme", adminPassword)
	retention := func() int {
		d, err := e.srv.Svc.Retention(context.Background(), e.admin)
		if err != nil {
			t.Fatal(err)
		}
		return d.RetentionDays
	}
	wantStatus(t, c.post("/admin/retention", url.Values{"days": {"30"}}, false), 403)
	wantStatus(t, c.post("/admin/retention", url.Values{"days": {"30"}, "csrf": {"forged"}}, false), 403)
	if retention() != 0 {
		t.Fatal("a form without the CSRF token changed the retention")
	}
	// Another session's token does not fit this session.
	other := e.login("admin@acme", adminPassword)
	other.csrf, c.csrf = c.csrf, other.csrf
	wantStatus(t, c.post("/admin/retention", url.Values{"days": {"30"}}, true), 403)
	c.get("/admin/retention")
	if r := c.post("/admin/retention", url.Values{"days": {"30"}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("retention: %d %s", r.status, r.body)
	}
	if retention() != 30 {
		t.Fatalf("retention is %v", retention())
	}
	wantStatus(t, c.get("/admin/retention?done=saved"), 200, "Saved.", `value="30"`)
	wantStatus(t, c.post("/admin/retention", url.Values{"days": {"-1"}}, true), 400, "between 0 and 36500")
	// Every page's forms carry the token.
	for _, path := range []string{"/recordings", "/admin/certificates?upload=1", "/admin/screen-certificates", "/admin/users", "/admin/retention",
		"/admin/legal-holds"} {
		r := c.get(path)
		if n, m := strings.Count(r.body, "<form method=\"post\""), strings.Count(r.body, `name="csrf"`); n == 0 || n != m {
			t.Errorf("%s: %d post forms, %d CSRF fields", path, n, m)
		}
	}
}

func TestPagesAndAccessControl(t *testing.T) {
	e := newEnv(t).withSamples()
	s1, s2 := samples.Recordings()[0], samples.Recordings()[1]
	admin := e.login("admin@acme", adminPassword)

	r := admin.get("/recordings")
	wantStatus(t, r, 200, "/recordings/"+url.PathEscape(s1.ID), "/recordings/"+url.PathEscape(s2.ID), "19059683343", "agent_103001", "0:00:37")
	r = admin.get("/recordings/" + url.PathEscape(s1.ID))
	wantStatus(t, r, 200,
		`<audio controls preload="metadata" src="`+html.EscapeString(playURL(s1.ID, s1.Media[0].MediaID))+`"`,
		`<video controls preload="metadata" src="`, // the screen recording
		"Hotseating Last103001 (agent_103001) joined", "19059683343 left",
		"Attached data added", "Attached data updated", "Attached data deleted", "DispositionCode", "callType")
	// The player's source plays with the session cookie and Range.
	req, _ := http.NewRequest("GET", e.http.URL+playURL(s1.ID, s1.Media[0].MediaID), nil)
	req.Header.Set("Range", "bytes=100-199")
	if res := admin.do(req); res.status != http.StatusPartialContent || len(res.body) != 100 || res.body != string(s1.Media[0].Data[100:200]) {
		t.Fatalf("play with the session: %d, %d bytes", res.status, len(res.body))
	}
	for path, want := range map[string]string{
		"/admin/certificates":                             "Genesys Recording &lt;Email not set&gt;",
		"/admin/certificates/" + e.alias:                  "CN=Genesys Recording,C=US,ST=California,O=Genesys",
		"/admin/certificates/" + e.alias + "/delete":      "Do not delete any certificates",
		"/admin/screen-certificates":                      "Select Certificate",
		"/admin/users":                                    "/Anthony/John",
		"/admin/users/agent_103001":                       "Edit user agent_103001",
		"/admin/retention":                                "kept for ever",
		"/recordings?caller=%2B1905*&mediaType=video/mp4": s1.ID,
	} {
		wantStatus(t, admin.get(path), 200, want)
	}
	wantStatus(t, admin.get("/recordings/nope"), 404, "Not found")
	wantStatus(t, admin.get("/recordings?from=yesterday"), 400, "not valid")

	// An agent sees their own call only, and no administration.
	agent := e.login("agent_103001@acme", "password-agent_103001")
	r = agent.get("/recordings")
	wantStatus(t, r, 200, s1.ID)
	if strings.Contains(r.body, s2.ID) || strings.Contains(r.body, "/admin/") {
		t.Fatal("the agent sees another's call or the administration menu")
	}
	wantStatus(t, agent.get("/recordings/"+url.PathEscape(s2.ID)), 404)
	other := e.login("agent_other@acme", "password-agent_other")
	wantStatus(t, other.get("/recordings"), 200, "No recordings match")
	wantStatus(t, other.get("/recordings/"+url.PathEscape(s1.ID)), 404)
	if res := other.get(playURL(s1.ID, s1.Media[0].MediaID)); res.status != 404 {
		t.Fatalf("another agent plays the call: %d", res.status)
	}
	for _, path := range []string{"/admin/certificates", "/admin/certificates/" + e.alias, "/admin/screen-certificates", "/admin/users", "/admin/retention"} {
		wantStatus(t, agent.get(path), 403, "You may not open this page")
	}
	// With a valid token, changes are still refused by role.
	wantStatus(t, agent.post("/admin/users", url.Values{"userName": {"x"}, "password": {"password-x"}, "roles": {"admin"}}, true), 403)
	wantStatus(t, agent.post("/admin/retention", url.Values{"days": {"1"}}, true), 403)
	wantStatus(t, agent.post("/admin/certificates/"+e.alias+"/delete", url.Values{}, true), 403)
	wantStatus(t, agent.post("/admin/certificates/describe", url.Values{}, true), 403)
	// A supervisor of "/" sees both.
	wantStatus(t, e.login("sup@acme", "password-sup").get("/recordings"), 200, s1.ID, s2.ID)
}

func TestSearchPaging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 120; i++ {
		start := base.Add(time.Duration(i) * time.Minute)
		doc := `{"id":"rec-` + pad(i) + `","callerPhoneNumber":"+1905` + pad(i) + `","dialedPhoneNumber":"+15126401290","startTime":"` +
			start.Format(time.RFC3339) + `","stopTime":"` + start.Add(90*time.Second).Format(time.RFC3339) + `"}`
		if _, _, err := e.srv.Svc.PutMetadata(ctx, e.admin, "rec-"+pad(i), []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	c := e.login("admin@acme", adminPassword)
	var seen int
	next := "/recordings?from=2026-10-01T00:00&to=2026-10-02T00:00"
	for pages := 0; next != ""; pages++ {
		r := c.get(next)
		wantStatus(t, r, 200)
		seen += strings.Count(r.body, `class="rec-link"`)
		next = ""
		if i := strings.Index(r.body, `id="next-page"`); i >= 0 {
			href := r.body[strings.LastIndex(r.body[:i], `href="`)+6:]
			next = html.UnescapeString(href[:strings.IndexByte(href, '"')])
		}
		if pages > 3 {
			t.Fatal("paging does not end")
		}
	}
	if seen != 120 {
		t.Fatalf("paged %d rows, want 120", seen)
	}
	wantStatus(t, c.get("/recordings?caller=%2B1905011*"), 200, "rec-0110", "rec-0119", "10 recordings on this page")
	wantStatus(t, c.get("/recordings?from=2026-10-01T01:00"), 200, "50 recordings on this page", `id="next-page"`)
}

func pad(i int) string { return fmt.Sprintf("%04d", i) }
