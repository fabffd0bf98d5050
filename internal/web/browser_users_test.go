package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// TestBrowserUsers drives the Users page in Chromium (issue 9, item 13):
// names and e-mail, Disabled, delete after the confirmation page; a real
// browser's forms pass the server's cross-site checks, and the user's
// session ends when disabled.
func TestBrowserUsers(t *testing.T) {
	e := newEnv(t)
	pw := "password-john"
	if _, err := e.srv.Svc.CreateUser(context.Background(), e.admin, service.UserInput{UserName: "john", Password: &pw,
		Roles: []vault.Role{vault.RoleSupervisor}, AccessGroups: []string{"/"}}); err != nil {
		t.Fatal(err)
	}
	john := e.login("john@acme", pw) // a session outside the browser
	ctx := newBrowser(t)
	base := e.http.URL
	text := func(sel chromedp.CSS) string { return get(t, ctx, "text of "+string(sel), chromedp.Text(sel)) }
	run(t, ctx, "log in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin@acme"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("login-form")),
		chromedp.WaitVisible(chromedp.ID("search-form")),
	)
	run(t, ctx, "edit john",
		chromedp.Navigate(base+"/admin/users/john"),
		chromedp.WaitVisible(chromedp.ID("e-fn")),
		chromedp.SendKeys(chromedp.ID("e-fn"), "John"),
		chromedp.SendKeys(chromedp.ID("e-ln"), "Smith"),
		chromedp.SendKeys(chromedp.ID("e-em"), "john@example.com"),
		chromedp.Click(chromedp.ID("e-dis")),
		chromedp.Submit(chromedp.ID("e-fn")),
		// The edit page lists the users too: wait for the saved page's
		// confirmation, not for the list.
		chromedp.WaitVisible(chromedp.CSS("p.flash")),
	)
	if row := text("#users tbody tr:nth-child(2)"); !strings.Contains(row, "John Smith") || !strings.Contains(row, "john@example.com") || !strings.Contains(row, "Disabled") {
		t.Fatalf("john's row: %q", row)
	}
	if r := john.get("/recordings"); r.status != http.StatusSeeOther {
		t.Fatalf("john's session survived being disabled: %d", r.status)
	}
	run(t, ctx, "delete john",
		chromedp.Navigate(base+"/admin/users/"+url.PathEscape("john")),
		chromedp.WaitVisible(chromedp.ID("delete-user")),
		chromedp.Click(chromedp.ID("delete-user")),
		chromedp.WaitVisible(chromedp.ID("delete-user-confirm")),
	)
	screenshot(t, ctx, "user-delete")
	run(t, ctx, "confirm", chromedp.Click(chromedp.ID("delete-user-confirm")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
	if flash := text("main"); !strings.Contains(flash, "User deleted.") || strings.Contains(flash, "John Smith") {
		t.Fatalf("after delete: %q", flash)
	}
	if _, err := e.srv.Svc.User(context.Background(), e.admin, "john"); vault.ErrorCode(err) != vault.ENOTFOUND {
		t.Fatalf("john not deleted: %v", err)
	}
}
