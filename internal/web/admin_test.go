package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"callvault/internal/samples"
	"callvault/internal/vault"
)

func TestCertificateScreens(t *testing.T) {
	e := newEnv(t).withSamples()
	c := e.login("admin@acme", adminPassword)
	c.get("/admin/certificates?upload=1")
	certPath, keyPath := guideCert(t, t.TempDir(), "second")

	// Describe: the fields the panel fills before saving.
	r := c.postFiles("/admin/certificates/describe", map[string]string{"csrf": c.csrf}, map[string]string{"certificate": certPath})
	var info map[string]string
	if err := json.Unmarshal([]byte(r.body), &info); r.status != 200 || err != nil {
		t.Fatalf("describe: %d %s", r.status, r.body)
	}
	if info["subjectName"] != "Genesys Recording <Email not set>" || info["subjectDN"] != "CN=Genesys Recording,C=US,ST=California,O=Genesys" ||
		info["issuerDN"] != info["subjectDN"] || info["serialNumber"] == "" {
		t.Fatalf("describe: %v", info)
	}
	r = c.postFiles("/admin/certificates/describe", map[string]string{"csrf": c.csrf}, map[string]string{"certificate": keyPath})
	if r.status != 400 || !strings.Contains(r.body, "error") {
		t.Fatalf("describe a key file: %d %s", r.status, r.body)
	}
	wantStatus(t, c.postFiles("/admin/certificates/describe", nil, map[string]string{"certificate": certPath}), 403)

	// Upload: a wrong key is refused plainly, the right one stored.
	_, wrongKey := guideCert(t, t.TempDir(), "other")
	r = c.postFiles("/admin/certificates", map[string]string{"csrf": c.csrf}, map[string]string{"certificate": certPath, "key": wrongKey})
	wantStatus(t, r, 400, "the private key does not belong to the certificate", `id="upload-form"`)
	r = c.postFiles("/admin/certificates", map[string]string{"csrf": c.csrf}, map[string]string{"certificate": certPath, "key": keyPath})
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	r = c.get("/admin/certificates?done=uploaded")
	wantStatus(t, r, 200, "Certificate uploaded.", info["serialNumber"][:0])
	if strings.Count(r.body, "Genesys Recording &lt;Email not set&gt;") != 2 {
		t.Fatal("the list does not show both certificates")
	}
	list, _ := e.srv.Svc.Certificates(context.Background(), e.admin, "")
	var second string
	for _, cert := range list {
		if cert.SerialNumber == info["serialNumber"] {
			second = cert.Alias
		}
	}
	if second == "" {
		t.Fatal("uploaded certificate not stored")
	}
	wantStatus(t, c.get("/admin/certificates/"+second), 200, info["serialNumber"])
	wantStatus(t, c.get("/admin/certificates?q="+info["serialNumber"]), 200, "/admin/certificates/"+second)

	// Delete: refused while recordings need it; allowed when unused.
	c.get("/admin/certificates/" + e.alias + "/delete")
	r = c.post("/admin/certificates/"+e.alias+"/delete", url.Values{}, true)
	wantStatus(t, r, 409, "The server refused to delete the certificate", "still encrypts stored recordings", "Do not delete any certificates")
	r = c.post("/admin/certificates/"+second+"/delete", url.Values{}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("delete unused: %d %s", r.status, r.body)
	}
	wantStatus(t, c.get("/admin/certificates/"+second), 404)
}

func TestScreenCertificates(t *testing.T) {
	e := newEnv(t).withSamples()
	c := e.login("admin@acme", adminPassword)
	screen := func() bool {
		cert, err := e.srv.Svc.Certificate(context.Background(), e.admin, e.alias)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(cert.Usage, vault.UsageScreen)
	}
	wantStatus(t, c.get("/admin/screen-certificates"), 200, "No certificate is assigned")
	// Add stages the change; nothing is saved until Save.
	r := c.post("/admin/screen-certificates", url.Values{"op": {"add"}, "add": {e.alias}}, true)
	wantStatus(t, r, 200, `id="unsaved"`, `name="pending" value="`+e.alias+`"`)
	if screen() {
		t.Fatal("Add saved before Save")
	}
	if r := c.post("/admin/screen-certificates", url.Values{"op": {"cancel"}, "pending": {e.alias}}, true); r.status != http.StatusSeeOther || screen() {
		t.Fatal("Cancel kept the change")
	}
	if r := c.post("/admin/screen-certificates", url.Values{"op": {"save"}, "pending": {e.alias}}, true); r.status != http.StatusSeeOther || !screen() {
		t.Fatalf("Save: %d %s", r.status, r.body)
	}
	wantStatus(t, c.get("/admin/screen-certificates?done=saved"), 200, "Saved.", `id="sel-`+e.alias+`"`)
	r = c.post("/admin/screen-certificates", url.Values{"op": {"remove"}, "pending": {e.alias}, "selected": {e.alias}}, true)
	wantStatus(t, r, 200, "No certificate is assigned", `id="unsaved"`)
	if r := c.post("/admin/screen-certificates", url.Values{"op": {"save"}}, true); r.status != http.StatusSeeOther || screen() {
		t.Fatal("Remove + Save kept the assignment")
	}
}

func TestUserScreens(t *testing.T) {
	e := newEnv(t)
	c := e.login("admin@acme", adminPassword)
	c.get("/admin/users")
	r := c.post("/admin/users", url.Values{"userName": {"john"}, "password": {"password-john"}, "roles": {"supervisor"},
		"accessGroups": {"/Anthony/John, /sales"}}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	wantStatus(t, c.get("/admin/users"), 200, "/Anthony/John, /sales", "Supervisor")
	wantStatus(t, c.post("/admin/users", url.Values{"userName": {"john"}, "password": {"password-john"}, "roles": {"agent"}}, true), 409, "exists already")
	wantStatus(t, c.post("/admin/users", url.Values{"userName": {"bad name!"}, "password": {"password-bad"}, "roles": {"agent"}}, true), 400)
	r = c.post("/admin/users/john", url.Values{"roles": {"agent"}, "agentHierarchy": {"/Anthony/John"}}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	u, err := e.srv.Svc.User(context.Background(), e.admin, "john")
	if err != nil || u.AgentHierarchy != "/Anthony/John" || !u.HasRole(vault.RoleAgent) || len(u.AccessGroups) != 0 {
		t.Fatalf("updated user: %+v %v", u, err)
	}
	// The new password is not needed to keep the old one.
	e.login("john@acme", "password-john")
	wantStatus(t, c.post("/admin/users/admin", url.Values{"roles": {"agent"}}, true), 400, "cannot take the admin role from yourself")
}

func TestLanguagePages(t *testing.T) {
	e := newEnv(t).withSamples()
	c := e.login("admin@acme", adminPassword)
	// Accept-Language picks the language; the cookie remembers a switch.
	wantStatus(t, c.get("/recordings", "Accept-Language", "ja-JP,ja;q=0.9"), 200, `<html lang="ja-JP" dir="ltr">`, "録音", "開始時刻")
	wantStatus(t, c.get("/recordings", "Accept-Language", "en-GB"), 200, `<html lang="en-US" dir="ltr">`)
	wantStatus(t, c.get("/recordings", "Accept-Language", "es-US"), 200, `<html lang="es-MX"`)
	r := c.get("/lang?lang=ar&next=/admin/certificates")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/admin/certificates" || !strings.Contains(r.header.Get("Set-Cookie"), "callvault_lang=ar") {
		t.Fatalf("switch: %d %v", r.status, r.header)
	}
	wantStatus(t, c.get("/admin/certificates", "Accept-Language", "ja-JP"), 200, `<html lang="ar" dir="rtl">`, "شهادات التسجيل", "صادرة إلى")
	if r := c.get("/lang?lang=ar&next=//evil.example"); r.header.Get("Location") != "/recordings" {
		t.Fatalf("open redirect: %s", r.header.Get("Location"))
	}
	// Every language renders every main page.
	for _, tag := range []string{"nl-NL", "en-US", "fr-CA", "ru-RU", "es-MX", "es-ES", "de-DE", "pt-BR", "ko-KR", "fr-FR", "ja-JP", "zh-CN", "it-IT", "ar", "tr-TR", "zh-TW"} {
		c.get("/lang?lang=" + tag)
		for _, path := range []string{"/recordings", "/recordings/" + url.PathEscape(samples.Recordings()[0].ID), "/admin/certificates?upload=1",
			"/admin/certificates/" + e.alias, "/admin/screen-certificates", "/admin/users", "/admin/retention", "/admin/audit", "/admin/legal-holds", "/admin/jobs"} {
			wantStatus(t, c.get(path), 200, `<html lang="`+tag+`"`)
		}
	}
}
