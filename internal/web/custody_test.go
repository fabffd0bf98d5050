package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"callvault/internal/samples"
	"callvault/internal/vault"
)

// hrefOf returns the unescaped href of the link with the id, or "".
func hrefOf(body, id string) string {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	href := body[strings.LastIndex(body[:i], `href="`)+6:]
	return html.UnescapeString(href[:strings.IndexByte(href, '"')])
}

func TestAuditPage(t *testing.T) {
	e := newEnv(t).withSamples()
	s1 := samples.Recordings()[0]
	admin := e.login("admin@acme", adminPassword)
	wantStatus(t, admin.get("/recordings/"+url.PathEscape(s1.ID)), 200)
	r := admin.get("/admin/audit?action=recording.view")
	wantStatus(t, r, 200, `id="audit"`, "<code>recording.view</code>", s1.ID, "callvault audit verify", "Administrator")
	if strings.Contains(r.body, "<code>recording.search</code>") {
		t.Fatal("an exact action filter shows other actions")
	}
	// A prefix ending in a dot selects the family.
	wantStatus(t, admin.get("/admin/audit?action=recording."), 200, "<code>recording.view</code>", "<code>recording.search</code>")
	wantStatus(t, admin.get("/admin/audit?action=login&user=admin"), 200, "<code>login</code>", "OK")
	wantStatus(t, admin.get("/admin/audit?target=nope"), 200, "No audit entries match.")
	wantStatus(t, admin.get("/admin/audit?from=yesterday"), 400, "not valid")
	wantStatus(t, admin.get("/admin/audit?cursor=-3"), 400, "next link")
	wantStatus(t, admin.get("/admin/audit?to=2000-01-01T00:00"), 200, "No audit entries match.")

	// Paging: the cursor of the next link is the API's (a seq).
	for range 60 {
		admin.get("/recordings")
	}
	r = admin.get("/admin/audit?action=recording.search")
	wantStatus(t, r, 200, `id="next-page"`)
	first := strings.Count(r.body, "<code>recording.search</code>")
	next := hrefOf(r.body, "next-page")
	if first != 50 || !strings.Contains(next, "cursor=") || !strings.Contains(next, "action=recording.search") {
		t.Fatalf("first page: %d rows, next %q", first, next)
	}
	r = admin.get(next)
	wantStatus(t, r, 200, `id="first-page"`)
	if n := strings.Count(r.body, "<code>recording.search</code>"); n < 10 || strings.Contains(r.body, `id="next-page"`) {
		t.Fatalf("second page: %d rows", n)
	}

	agent := e.login("agent_103001@acme", "password-agent_103001")
	wantStatus(t, agent.get("/admin/audit"), 403, "You may not open this page")
}

func TestLegalHoldPages(t *testing.T) {
	e := newEnv(t).withSamples()
	s1, s2 := samples.Recordings()[0], samples.Recordings()[1]
	admin := e.login("admin@acme", adminPassword)
	wantStatus(t, admin.get("/admin/legal-holds"), 200, "No legal holds.", `id="hold-form"`)

	// Refusals keep what was typed.
	wantStatus(t, admin.post("/admin/legal-holds", url.Values{"name": {""}, "recordingIds": {s1.ID}}, true), 400, "needs a name", s1.ID)
	wantStatus(t, admin.post("/admin/legal-holds", url.Values{"name": {"Empty"}}, true), 400, "recordingIds, a filter, or both", `value="Empty"`)
	wantStatus(t, admin.post("/admin/legal-holds", url.Values{"name": {"Ghost"}, "recordingIds": {"no-such-recording"}}, true), 404,
		"does not name a stored recording", "no-such-recording")
	wantStatus(t, admin.post("/admin/legal-holds", url.Values{"name": {"Bad"}, "startFrom": {"soon"}}, true), 400, "not valid")
	wantStatus(t, admin.post("/admin/legal-holds", url.Values{"name": {"Backwards"}, "startFrom": {"2021-07-22T00:00"}, "startTo": {"2021-07-21T00:00"}}, true),
		400, "must be before")

	// By id: one held, the badge on the recording and in the results.
	r := admin.post("/admin/legal-holds", url.Values{"name": {"Case 42"}, "reason": {"Litigation"}, "recordingIds": {s1.ID + "\n" + s1.ID + ", "}}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	holds, _ := e.srv.Svc.LegalHolds(context.Background(), e.admin)
	if len(holds) != 1 || holds[0].Count != 1 || len(holds[0].RecordingIDs) != 1 {
		t.Fatalf("holds: %+v", holds)
	}
	id := holds[0].ID
	r = admin.get("/admin/legal-holds?done=created")
	wantStatus(t, r, 200, "Legal hold created.", "Case 42", "Litigation", `<td class="num count">1</td>`, `<td class="num ids">1</td>`, "Active",
		"/admin/legal-holds/"+id+"/release")
	wantStatus(t, admin.get("/recordings/"+url.PathEscape(s1.ID)), 200, `id="hold-badge">On legal hold: Case 42<`, "Not backed up", `id="delete-recording"`)
	r = admin.get("/recordings")
	wantStatus(t, r, 200, "On legal hold: Case 42")
	if strings.Count(r.body, "On legal hold:") != 1 {
		t.Fatal("the results show the hold on more than the held recording")
	}

	// Deleting the held recording is refused, plainly.
	wantStatus(t, admin.get("/recordings/"+url.PathEscape(s1.ID)+"/delete"), 200, `id="delete-recording-confirm"`, "On legal hold: Case 42")
	wantStatus(t, admin.post("/recordings/"+url.PathEscape(s1.ID)+"/delete", url.Values{}, true), 409,
		"The server refused to delete the recording", "under legal hold", "Case 42")

	// By filter: the search conditions, shown as the API's parameters.
	r = admin.post("/admin/legal-holds", url.Values{"name": {"Callers from 1905"}, "caller": {"+1905*"}, "partition": {"sales"},
		"startFrom": {"2000-01-01T00:00"}}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("create by filter: %d %s", r.status, r.body)
	}
	r = admin.get("/admin/legal-holds")
	wantStatus(t, r, 200, "<code>callerPhoneNumber=&#43;1905*</code>", "<code>partition=/sales</code>", "<code>startTime=2000-01-01T00:00:00Z</code>")

	// Release: confirmation page, then the hold is released (once).
	wantStatus(t, admin.get("/admin/legal-holds/"+id+"/release"), 200, `id="release-confirm"`, "Case 42")
	if r := admin.post("/admin/legal-holds/"+id+"/release", url.Values{}, true); r.status != http.StatusSeeOther {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	wantStatus(t, admin.get("/admin/legal-holds?done=released"), 200, "Legal hold released.", "Released")
	wantStatus(t, admin.post("/admin/legal-holds/"+id+"/release", url.Values{}, true), 404, "The server refused to release the legal hold")
	if r := admin.get("/recordings/" + url.PathEscape(s1.ID)); strings.Contains(r.body, "On legal hold") {
		t.Fatal("the badge outlives the hold")
	}

	// Unheld, the recording is deleted.
	if r := admin.post("/recordings/"+url.PathEscape(s2.ID)+"/delete", url.Values{}, true); r.status != http.StatusSeeOther || r.header.Get("Location") != "/recordings?done=deleted" {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantStatus(t, admin.get("/recordings?done=deleted"), 200, "Recording deleted.")
	wantStatus(t, admin.get("/recordings/"+url.PathEscape(s2.ID)), 404)

	agent := e.login("agent_103001@acme", "password-agent_103001")
	if r := agent.get("/recordings/" + url.PathEscape(s1.ID)); strings.Contains(r.body, `id="delete-recording"`) {
		t.Fatal("an agent is offered deletion")
	}
	wantStatus(t, agent.get("/admin/legal-holds"), 403)
	wantStatus(t, agent.post("/admin/legal-holds", url.Values{"name": {"x"}, "recordingIds": {s1.ID}}, true), 403)
	wantStatus(t, agent.get("/recordings/"+url.PathEscape(s1.ID)+"/delete"), 403)
	wantStatus(t, agent.post("/recordings/"+url.PathEscape(s1.ID)+"/delete", url.Values{}, true), 403)
}

// A form that posts only the period keeps the backup and audit settings;
// the full form sets them with the same whole-day rule.
func TestRetentionSettingsForm(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	stored := func() vault.RetentionSettings {
		rs, err := e.srv.Svc.Retention(ctx, e.admin)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	if err := e.srv.Svc.SetRetention(ctx, e.admin, vault.RetentionSettings{RetentionDays: 10, RequireBackup: true, MaxBackupWaitDays: 7, AuditRetentionDays: 400}); err != nil {
		t.Fatal(err)
	}
	c := e.login("admin@acme", adminPassword)
	wantStatus(t, c.get("/admin/retention"), 200, `id="requireBackup" checked`, `name="maxBackupWaitDays" type="number" min="0" max="36500" step="1" inputmode="numeric" value="7"`,
		`value="400"`)
	if r := c.post("/admin/retention", url.Values{"days": {"30"}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("days only: %d %s", r.status, r.body)
	}
	if rs := stored(); rs != (vault.RetentionSettings{RetentionDays: 30, RequireBackup: true, MaxBackupWaitDays: 7, AuditRetentionDays: 400}) {
		t.Fatalf("a form of the period alone changed the rest: %+v", rs)
	}
	full := url.Values{"days": {"90"}, "requireBackupShown": {"1"}, "maxBackupWaitDays": {"14"}, "auditRetentionDays": {"0"}}
	if r := c.post("/admin/retention", full, true); r.status != http.StatusSeeOther {
		t.Fatalf("full form: %d %s", r.status, r.body)
	}
	if rs := stored(); rs != (vault.RetentionSettings{RetentionDays: 90, MaxBackupWaitDays: 14}) {
		t.Fatalf("after the full form: %+v", rs)
	}
	for field, bad := range map[string]string{"maxBackupWaitDays": "1.5", "auditRetentionDays": "1e3"} {
		form := url.Values{"days": {"5"}, "requireBackupShown": {"1"}, "requireBackup": {"1"}, "maxBackupWaitDays": {"3"}, "auditRetentionDays": {"3"}}
		form.Set(field, bad)
		wantStatus(t, c.post("/admin/retention", form, true), 400, "whole number of days", `value="`+bad+`"`, `id="requireBackup" checked`)
		if rs := stored(); rs != (vault.RetentionSettings{RetentionDays: 90, MaxBackupWaitDays: 14}) {
			t.Fatalf("a refused %s changed the settings: %+v", field, rs)
		}
	}
	wantStatus(t, c.post("/admin/retention", url.Values{"days": {"5"}, "maxBackupWaitDays": {""}}, true), 400, "whole number of days")
}

// The re-wrap form, its refusals, and the job pages (the queue does not
// run here: the job waits, and the page refreshes itself without script).
func TestRewrapPages(t *testing.T) {
	e := newEnv(t).withSamples()
	ctx := context.Background()
	admin := e.login("admin@acme", adminPassword)
	wantStatus(t, admin.get("/admin/certificates/"+e.alias), 200, `id="rewrap-none"`)
	certPath, keyPath := guideCert(t, t.TempDir(), "second")
	second, err := e.srv.Svc.UploadCertificate(ctx, e.admin, readFile(t, certPath), readFile(t, keyPath), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, admin.get("/admin/certificates/"+e.alias), 200, `id="rewrap-form"`, `<option value="`+second.Alias+`">`)
	r := admin.post("/admin/certificates/"+e.alias+"/rewrap", url.Values{"to": {e.alias}}, true)
	wantStatus(t, r, 400, "The server refused to start the re-wrap", "another certificate", `id="cert-details"`)
	wantStatus(t, admin.post("/admin/certificates/"+e.alias+"/rewrap", url.Values{"to": {second.Alias}, "verify": {"quick"}}, true), 400, "verify must be")
	r = admin.post("/admin/certificates/"+e.alias+"/rewrap", url.Values{"to": {second.Alias}, "verify": {"full"}}, true)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/admin/jobs/") {
		t.Fatalf("start: %d %s %s", r.status, r.header.Get("Location"), r.body)
	}
	job := r.header.Get("Location")
	wantStatus(t, admin.get(job), 200, `id="job-progress"`, `data-job="/api/v2`+strings.TrimPrefix(job, "/admin")+`"`,
		`<noscript><meta http-equiv="refresh" content="5"></noscript>`, "Certificate re-wrap", "Waiting", second.Alias)
	wantStatus(t, admin.get("/admin/jobs"), 200, `id="jobs"`, `href="`+job+`"`, "Certificate re-wrap", "admin")
	wantStatus(t, admin.get("/admin/jobs/abc"), 404)
	wantStatus(t, admin.get("/admin/jobs/99999"), 404)
	wantStatus(t, admin.get("/admin/jobs?cursor=x"), 400)

	agent := e.login("agent_103001@acme", "password-agent_103001")
	wantStatus(t, agent.get("/admin/jobs"), 403)
	wantStatus(t, agent.get(job), 403)
	wantStatus(t, agent.post("/admin/certificates/"+e.alias+"/rewrap", url.Values{"to": {second.Alias}}, true), 403)
}

// The search results and the recording page say when a recording was
// backed up and by whom.
func TestBackupState(t *testing.T) {
	e := newEnv(t).withSamples()
	ctx := context.Background()
	s1 := samples.Recordings()[0]
	_, media, err := e.srv.Svc.Recording(ctx, e.admin, s1.ID)
	if err != nil {
		t.Fatal(err)
	}
	var receipts []vault.Receipt
	for _, m := range media {
		receipts = append(receipts, vault.Receipt{RecordingID: s1.ID, MediaID: m.MediaID, SHA256: m.SHA256})
	}
	if res, err := e.srv.Svc.PutReceipts(ctx, e.admin, receipts); err != nil || res.Accepted != len(receipts) {
		t.Fatalf("receipts: %+v %v", res, err)
	}
	admin := e.login("admin@acme", adminPassword)
	today := time.Now().UTC().Format("01/02/2006")
	wantStatus(t, admin.get("/recordings/"+url.PathEscape(s1.ID)), 200, `id="backup-state">Backed up `+today, " by admin<")
	r := admin.get("/recordings")
	wantStatus(t, r, 200, "Backed up "+today)
	if strings.Count(r.body, "Not backed up") != 1 {
		t.Fatal("the other recording is not shown as not backed up")
	}
}
