package web_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callvault/internal/vault"
)

// TestBrowserQM drives quality management in Chromium, one browser for
// all of it: (a) a form designed with the script (a group and two
// questions added, one of them multiple choice with a condition), a
// refused save's reason shown beside the form, saved and published, the
// version checked through the service; (b) an evaluation assigned from
// the recording's page and made while the call plays: a time marked on a question, a conditional question shown
// and hidden as its condition's answer changes, submitted, the score the
// service computed shown, and the saved time seeking the player; (c) the
// agent opening it from "My evaluations" and disputing it; (d) the
// agent's report drawn by uPlot with their average in the table.
func TestBrowserQM(t *testing.T) {
	e, formID := newQMEnv(t)
	ctx0 := context.Background()

	b := newBrowser(t)
	site := e.http.URL
	text := func(sel string) string { return get(t, b, "text of "+sel, chromedp.Text(chromedp.CSS(sel))) }
	eval := func(what, js string) string { return get(t, b, what, chromedp.Evaluate[string](js)) }
	login := func(user, password string) {
		run(t, b, "log in as "+user,
			chromedp.Navigate(site+"/login"),
			chromedp.WaitVisible(chromedp.ID("user")),
			chromedp.SendKeys(chromedp.ID("user"), user),
			chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Submit(chromedp.ID("login-form")),
			chromedp.WaitVisible(chromedp.ID("search-form")),
		)
	}
	login("admin@acme", adminPassword)

	// (a) The designer.
	const group2 = `#qm-groups > [data-group]:nth-of-type(2)`
	const q2, q3 = group2 + ` [data-question]:nth-of-type(1)`, group2 + ` [data-question]:nth-of-type(2)`
	run(t, b, "a new form",
		chromedp.Navigate(site+"/qm/forms"),
		chromedp.WaitVisible(chromedp.ID("new-form")),
		chromedp.SendKeys(chromedp.ID("nf-name"), "Browser form"),
		chromedp.Click(chromedp.ID("new-form-create")),
		chromedp.WaitVisible(chromedp.ID("qm-designer")),
		chromedp.Click(chromedp.ID("add-group")),
		chromedp.SendKeys(chromedp.CSS(group2+` input[data-f="name"]`), "Closing"),
		chromedp.SetValue(chromedp.CSS(group2+` input[data-f="weight"]`), "2"),
		chromedp.Click(chromedp.CSS(group2+` > p.toolbar > button[data-act="add-question"]`)),
		chromedp.SendKeys(chromedp.CSS(q2+` > label input[data-f="text"]`), "Offered more help?"),
		chromedp.Click(chromedp.CSS(group2+` > p.toolbar > button[data-act="add-question"]`)),
		chromedp.WaitVisible(chromedp.CSS(q3)),
		// Saved with the new question's text empty: refused, and why.
		chromedp.Click(chromedp.ID("save-draft")),
		chromedp.WaitVisible(chromedp.ID("designer-error")),
	)
	if msg := text("#designer-error"); !strings.Contains(msg, `Not accepted: question "q3"'s text is empty`) {
		t.Fatalf("designer error: %q", msg)
	}
	screenshot(t, b, "qm-designer-refused")
	run(t, b, "a multiple choice question shown when q2 is answered yes",
		chromedp.SendKeys(chromedp.CSS(q3+` > label input[data-f="text"]`), "How was the goodbye?"),
		chromedp.SetValue(chromedp.CSS(q3+` select[data-f="type"]`), "choice"),
		chromedp.Click(chromedp.CSS(q3+` button[data-act="add-answer"]`)),
		chromedp.SendKeys(chromedp.CSS(q3+` tr[data-answer]:nth-of-type(3) input[data-f="text"]`), "Abrupt"),
		chromedp.SetValue(chromedp.CSS(q3+` select[data-f="whenQuestion"]`), "q2"),
		chromedp.Click(chromedp.CSS(q3+` input[data-f="critical"]`)),
		chromedp.Click(chromedp.ID("save-draft")),
		chromedp.WaitVisible(chromedp.ID("designer-status")),
	)
	get(t, b, "saved", chromedp.Poll[bool](`document.getElementById("designer-status").textContent === "Draft saved." && document.getElementById("designer-error").hidden`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if got := eval("the condition's answer", `document.querySelector('`+q3+` select[data-f="whenAnswer"]').value`); got != "yes" {
		t.Fatalf("the condition's answer is %q, want q2's first answer", got)
	}
	screenshot(t, b, "qm-designer")
	run(t, b, "publish", chromedp.Click(chromedp.ID("publish")), chromedp.WaitVisible(chromedp.ID("qm-versions")))
	if flash := text(".flash"); flash != "Version 1 published." {
		t.Fatalf("after publishing: %q", flash)
	}
	designed := strings.TrimPrefix(eval("form id", `location.pathname`), "/qm/forms/")
	v1, err := e.srv.Svc.FormVersion(ctx0, e.admin, designed, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(v1.QuestionGroups) != 2 || v1.Name != "Browser form" {
		t.Fatalf("version 1: %+v", v1)
	}
	g := v1.QuestionGroups[1]
	if g.Name != "Closing" || g.Weight != 2 || len(g.Questions) != 2 {
		t.Fatalf("the added group: %+v", g)
	}
	if q := g.Questions[0]; q.ID != "q2" || q.Text != "Offered more help?" || q.Type != vault.QuestionYesNo || len(q.Answers) != 2 || q.Answers[0].ID != "yes" {
		t.Fatalf("the first added question: %+v", q)
	}
	if q := g.Questions[1]; q.ID != "q3" || q.Type != vault.QuestionChoice || len(q.Answers) != 3 || q.Answers[2].Text != "Abrupt" || q.Answers[2].ID != "a1" ||
		!q.Critical || q.VisibleWhen == nil || *q.VisibleWhen != (vault.VisibleWhen{Question: "q2", Answer: "yes"}) {
		t.Fatalf("the second added question: %+v", q)
	}

	// (b) Evaluating while the call plays, assigned from the recording's
	// page (the evaluator offered is oneself).
	run(t, b, "assign from the recording page",
		chromedp.Navigate(site+"/recordings/qm-john"),
		chromedp.WaitVisible(chromedp.ID("assign-form")),
		chromedp.SetValue(chromedp.ID("as-form"), formID+":1"),
	)
	screenshot(t, b, "qm-recording")
	run(t, b, "the evaluation", chromedp.Click(chromedp.ID("assign")), chromedp.WaitVisible(chromedp.ID("eval-form")))
	evalID := strings.TrimPrefix(eval("evaluation id", `location.pathname`), "/qm/evaluations/")
	if ev := e.evaluation(evalID); ev.Evaluator != "admin" || ev.Agent != "agent_103001" || ev.RecordingID != "qm-john" || ev.FormID != formID {
		t.Fatalf("assigned from the recording page: %+v", ev.Evaluation)
	}
	hidden := func() string {
		return eval("hidden questions", `[...document.querySelectorAll("#eval-form fieldset[data-question]")].filter(f => f.hidden).map(f => f.dataset.question).join(",")`)
	}
	if h := hidden(); h != "why" {
		t.Fatalf("hidden before answering: %q", h)
	}
	get(t, b, "playing", chromedp.Evaluate[bool](`(async () => {
		const a = document.getElementById("qm-player");
		await a.play();
		const t0 = Date.now();
		while (a.currentTime < 2.5 && Date.now() - t0 < 20000) await new Promise(r => setTimeout(r, 50));
		return a.currentTime >= 2.5;
	})()`, chromedp.EvalAwaitPromise))
	run(t, b, "mark the tone", chromedp.Click(chromedp.CSS(`fieldset[data-question="tone"] button[data-mark]`)))
	marked := eval("marked", `(() => { const a = document.getElementById("qm-player"); a.pause(); return document.querySelector('input[name="at.tone"]').value; })()`)
	var markedMs int64
	if _, err := fmt.Sscan(marked, &markedMs); err != nil || markedMs < 2500 || markedMs > 23700 {
		t.Fatalf("marked time %q", marked)
	}
	run(t, b, "greeting missed", chromedp.Click(chromedp.CSS(`input[name="answer.greet"][value="no"]`)))
	if h := hidden(); h != "" {
		t.Fatalf("hidden after a missed greeting: %q", h)
	}
	run(t, b, "answer",
		chromedp.SendKeys(chromedp.CSS(`textarea[name="text.why"]`), "rushed"),
		chromedp.Click(chromedp.CSS(`input[name="answer.greet"][value="yes"]`)),
		chromedp.Click(chromedp.CSS(`input[name="answer.tone"][value="ok"]`)),
		chromedp.Click(chromedp.CSS(`input[name="answer.verify"][value="yes"]`)),
		chromedp.SendKeys(chromedp.CSS(`textarea[name="comment.tone"]`), "flat here"),
	)
	if h := hidden(); h != "why" {
		t.Fatalf("hidden after the greeting: %q", h)
	}
	screenshot(t, b, "qm-evaluation")
	run(t, b, "submit", chromedp.Click(chromedp.ID("eval-submit")), chromedp.WaitVisible(chromedp.ID("qm-score")))
	ev := e.evaluation(evalID)
	if ev.State != vault.EvalSubmitted || ev.Score == nil || ev.Score.Total == nil {
		t.Fatalf("after the submission: %+v", ev.Evaluation)
	}
	var tone *vault.AnswerValue
	for i := range ev.Answers {
		if ev.Answers[i].Question == "tone" {
			tone = &ev.Answers[i]
		}
		if ev.Answers[i].Question == "why" {
			t.Fatalf("the hidden question's answer was kept: %+v", ev.Answers[i])
		}
	}
	if tone == nil || tone.AtMs == nil || *tone.AtMs != markedMs || tone.Comment != "flat here" || tone.Answer == nil || *tone.Answer != "ok" {
		t.Fatalf("the tone answer: %+v", tone)
	}
	if got, want := text("#score-total"), fmt.Sprintf("%.1f%%", *ev.Score.Total); got != want {
		t.Fatalf("score shown %q, the service's %q", got, want)
	}
	if got := text("#score-critical"); got != fmt.Sprintf("%.1f%%", *ev.Score.Critical) {
		t.Fatalf("critical score shown %q", got)
	}
	// The saved time seeks the player.
	seeked := get(t, b, "seek to the marked time", chromedp.Evaluate[float64](`(async () => {
		const a = document.getElementById("qm-player");
		const t0 = Date.now();
		while (a.readyState < 1 && Date.now() - t0 < 20000) await new Promise(r => setTimeout(r, 50));
		const done = new Promise(resolve => a.addEventListener("seeked", () => resolve(a.currentTime), {once: true}));
		document.querySelector('.qm-q.ro[data-question="tone"] a.seek').click();
		return await done;
	})()`, chromedp.EvalAwaitPromise))
	if math.Abs(seeked-float64(markedMs)/1000) > 0.3 {
		t.Fatalf("the saved time %d ms seeked the player to %.2f s", markedMs, seeked)
	}
	if path := eval("still here", `location.pathname`); path != "/qm/evaluations/"+evalID {
		t.Fatalf("the time link navigated to %s", path)
	}
	screenshot(t, b, "qm-evaluation-submitted")

	// (c) The agent disputes it.
	run(t, b, "log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))
	login("agent_103001@acme", "password-agent_103001")
	run(t, b, "my evaluations",
		chromedp.Click(chromedp.ID("nav-qm")),
		chromedp.WaitVisible(chromedp.ID("qm-evaluations")),
		chromedp.Click(chromedp.CSS(`#qm-evaluations a.eval-link`)),
		chromedp.WaitVisible(chromedp.ID("dispute-form")),
		chromedp.SendKeys(chromedp.ID("dispute-comment"), "I was not flat"),
		chromedp.Click(chromedp.ID("dispute")),
		chromedp.WaitVisible(chromedp.ID("note-dispute")),
	)
	if ev := e.evaluation(evalID); ev.State != vault.EvalDisputed || ev.Dispute == nil || ev.Dispute.Comment != "I was not flat" || ev.Dispute.By != "agent_103001" {
		t.Fatalf("after the dispute: %+v", ev.Evaluation)
	}
	if state := text("#eval-state"); state != "Disputed" {
		t.Fatalf("state shown %q", state)
	}
	screenshot(t, b, "qm-disputed")

	// (d) The agent's report.
	run(t, b, "report", chromedp.Navigate(site+"/qm/reports"), chromedp.WaitVisible(chromedp.CSS("#report-chart canvas")))
	if n := get(t, b, "chart legend", chromedp.Evaluate[int](`document.querySelectorAll("#report-chart .u-legend .u-series").length`)); n != 2 {
		t.Fatalf("chart legend has %d series, want the x axis and agent_103001", n)
	}
	if got, want := text(`#report-agents tr[data-agent="agent_103001"] .avg-total`), fmt.Sprintf("%.1f%%", *ev.Score.Total); got != want {
		t.Fatalf("the agent's average %q, want %q", got, want)
	}
	screenshot(t, b, "qm-report")
}
