package web_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callvault/internal/samples"
)

// TestBrowserCustody drives the custody pages in Chromium, one browser
// for the three: the audit trail filtered by action; a legal hold made by
// id, its badge, the refused deletion and the release; and a certificate
// rotation run by the server's job queue, followed on the job page until
// done.
func TestBrowserCustody(t *testing.T) {
	e := newEnv(t).withSamples()
	e.runJobs()
	ctx := context.Background()
	s1 := samples.Recordings()[0]
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range 6 {
		e.ingestAudio(fmt.Sprintf("rot-%d", i), base.Add(time.Duration(i)*time.Hour), "+4420700000"+fmt.Sprint(i))
	}
	certPath, keyPath := guideCert(t, t.TempDir(), "next")
	second, err := e.srv.Svc.UploadCertificate(ctx, e.admin, readFile(t, certPath), readFile(t, keyPath), nil, nil)
	if err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	site := e.http.URL
	text := func(t *testing.T, sel string) string {
		return get(t, b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
	}
	run(t, b, "log in",
		chromedp.Navigate(site+"/login"),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin@acme"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("login-form")),
		chromedp.WaitVisible(chromedp.ID("search-form")),
	)

	t.Run("audit", func(t *testing.T) {
		run(t, b, "view a recording", chromedp.Navigate(site+"/recordings/"+url.PathEscape(s1.ID)), chromedp.WaitVisible(chromedp.ID("timeline")))
		run(t, b, "filter the audit",
			chromedp.Navigate(site+"/admin/audit"),
			chromedp.WaitVisible(chromedp.ID("audit-form")),
			// SetValue: typing would open the suggestions list over the button.
			chromedp.SetValue(chromedp.ID("a-action"), "recording.view"),
			chromedp.Click(chromedp.ID("audit-search")),
			chromedp.WaitVisible(chromedp.CSS(`#a-action[value="recording.view"]`)),
			chromedp.WaitVisible(chromedp.ID("audit")),
		)
		actions := get(t, b, "actions", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#audit tbody tr td:nth-child(6)")].map(td => td.textContent)`))
		targets := text(t, "#audit tbody")
		if len(actions) == 0 || !strings.Contains(targets, s1.ID) || !strings.Contains(targets, "admin") {
			t.Fatalf("audit rows: %v %q", actions, targets)
		}
		for _, a := range actions {
			if a != "recording.view" {
				t.Fatalf("the filter shows %q", a)
			}
		}
		if note := text(t, "#audit-verify"); !strings.Contains(note, "callvault audit verify") {
			t.Fatalf("verify note: %q", note)
		}
		screenshot(t, b, "audit")
	})

	t.Run("legal hold", func(t *testing.T) {
		run(t, b, "create a hold",
			chromedp.Navigate(site+"/admin/legal-holds"),
			chromedp.WaitVisible(chromedp.ID("hold-form")),
			chromedp.SendKeys(chromedp.ID("h-name"), "Case 42"),
			chromedp.SendKeys(chromedp.ID("h-reason"), "Litigation"),
			chromedp.SendKeys(chromedp.ID("h-ids"), s1.ID),
			chromedp.Click(chromedp.ID("hold-create")),
			chromedp.WaitVisible(chromedp.CSS("p.flash")),
		)
		if count, state := text(t, "#holds tbody tr td.count"), text(t, "#holds tbody tr td.state"); count != "1" || state != "Active" {
			t.Fatalf("hold row: count %q, state %q", count, state)
		}
		screenshot(t, b, "legal-holds")
		run(t, b, "the recording", chromedp.Navigate(site+"/recordings/"+url.PathEscape(s1.ID)), chromedp.WaitVisible(chromedp.ID("hold-badge")))
		if badge := text(t, "#hold-badge"); badge != "On legal hold: Case 42" {
			t.Fatalf("badge: %q", badge)
		}
		screenshot(t, b, "recording-held")
		run(t, b, "try deleting",
			chromedp.Click(chromedp.ID("delete-recording")),
			chromedp.WaitVisible(chromedp.ID("delete-recording-confirm")),
			chromedp.Click(chromedp.ID("delete-recording-confirm")),
			chromedp.WaitVisible(chromedp.ID("error")),
		)
		if msg := text(t, "#error"); !strings.Contains(msg, "The server refused to delete the recording") || !strings.Contains(msg, "under legal hold") || !strings.Contains(msg, "Case 42") {
			t.Fatalf("refusal: %q", msg)
		}
		screenshot(t, b, "recording-delete-held")
		run(t, b, "release",
			chromedp.Navigate(site+"/admin/legal-holds"),
			chromedp.WaitVisible(chromedp.ID("holds")),
			chromedp.Click(chromedp.CSS("#holds a.release")),
			chromedp.WaitVisible(chromedp.ID("release-confirm")),
			chromedp.Click(chromedp.ID("release-confirm")),
			chromedp.WaitVisible(chromedp.CSS("p.flash")),
		)
		if state := text(t, "#holds tbody tr td.state"); !strings.HasPrefix(state, "Released") {
			t.Fatalf("after release: %q", state)
		}
		if n := get(t, b, "release links", chromedp.Evaluate[int](`document.querySelectorAll("#holds a.release").length`)); n != 0 {
			t.Fatal("a released hold still offers Release")
		}
	})

	t.Run("rotation", func(t *testing.T) {
		before, err := e.srv.Svc.Certificate(ctx, e.admin, e.alias)
		if err != nil || before.DeployedCount < 6 {
			t.Fatalf("old certificate before: %+v %v", before, err)
		}
		run(t, b, "start the re-wrap",
			chromedp.Navigate(site+"/admin/certificates/"+e.alias),
			chromedp.WaitVisible(chromedp.ID("rewrap-form")),
			chromedp.SetValue(chromedp.ID("rewrap-to"), second.Alias),
			chromedp.ScrollIntoView(chromedp.ID("rewrap-start")),
		)
		screenshot(t, b, "certificate-rewrap")
		run(t, b, "start",
			chromedp.Click(chromedp.ID("rewrap-start")),
			chromedp.WaitVisible(chromedp.ID("job-progress")),
		)
		// The page follows the job (app.js polls the API and reloads on a
		// change of state) until it is over.
		first := get(t, b, "first state", chromedp.Evaluate[string](`document.getElementById("job").dataset.state`))
		t.Logf("the job page opened with the job %s", first)
		deadline := time.Now().Add(time.Minute)
		state := ""
		for state != "completed" && time.Now().Before(deadline) {
			time.Sleep(250 * time.Millisecond)
			state, _ = chromedp.Run(b, chromedp.Evaluate[string](`(document.getElementById("job") || {dataset: {}}).dataset.state || ""`))
			if state == "discarded" || state == "cancelled" {
				break
			}
		}
		type bar struct {
			Value, Max    float64
			State, Failed string
			Done, Total   string
		}
		got := get(t, b, "progress", chromedp.Evaluate[bar](`({Value: document.getElementById("job-progress").value, Max: document.getElementById("job-progress").max,
			State: document.getElementById("job-state").textContent, Failed: document.getElementById("job-failed").textContent,
			Done: document.getElementById("job-done-n").textContent, Total: document.getElementById("job-total").textContent})`))
		if state != "completed" || got.Value != got.Max || got.State != "Completed" || got.Failed != "0" || got.Done != got.Total || got.Done != fmt.Sprint(before.DeployedCount) {
			t.Fatalf("job %s: %+v", state, got)
		}
		screenshot(t, b, "job")
		run(t, b, "old certificate", chromedp.Navigate(site+"/admin/certificates/"+e.alias), chromedp.WaitVisible(chromedp.ID("cert-details")))
		deployed := get(t, b, "deployed count", chromedp.Evaluate[string](`[...document.querySelectorAll("#cert-details tr")].find(tr => tr.querySelector("th").textContent === "Deployed Count").querySelector("td").textContent`))
		if deployed != "0" {
			t.Fatalf("old certificate deployed on %s files", deployed)
		}
		run(t, b, "jobs list", chromedp.Navigate(site+"/admin/jobs"), chromedp.WaitVisible(chromedp.ID("jobs")))
		rows := get(t, b, "job rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#jobs tbody tr")].map(tr => tr.textContent)`))
		found := false
		for _, row := range rows {
			found = found || strings.Contains(row, "Certificate re-wrap") && strings.Contains(row, "Completed")
		}
		if !found {
			t.Fatalf("jobs list: %q", rows)
		}
		screenshot(t, b, "jobs")
	})
}
