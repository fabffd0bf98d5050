package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// qmForm is the quality form the tests evaluate with: a yes/no greeting
// (required), a text question shown only when the greeting was missed, a
// critical three-point tone question, and a heavier group with a fatal
// identity check that allows N/A.
const qmForm = `{"name": "Call quality", "description": "The standard check", "questionGroups": [
  {"name": "Opening", "weight": 1, "questions": [
    {"id": "greet", "text": "Greeted the customer?", "type": "yesno", "required": true,
     "answers": [{"id": "yes", "text": "Yes", "points": 1}, {"id": "no", "text": "No", "points": 0}]},
    {"id": "why", "text": "Why not?", "type": "text", "visibleWhen": {"question": "greet", "answer": "no"}},
    {"id": "tone", "text": "Tone of voice", "type": "choice", "critical": true,
     "answers": [{"id": "good", "text": "Good", "points": 2}, {"id": "ok", "text": "Fair", "points": 1}, {"id": "bad", "text": "Poor", "points": 0}]}]},
  {"name": "Compliance", "weight": 2, "questions": [
    {"id": "verify", "text": "Verified the caller's identity?", "type": "yesno", "required": true, "fatal": true, "naAllowed": true,
     "answers": [{"id": "yes", "text": "Yes", "points": 1}, {"id": "no", "text": "No", "points": 0}]}]}]}`

// qmEnv is an env with the sample users, a supervisor of /Anthony/John
// only (supjohn), a published qmForm, and two calls with audio: qm-john
// of agent_103001 (/Anthony/John) and qm-paul of agent_other
// (/Anthony/Paul).
func newQMEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t).withSamples()
	ctx := context.Background()
	if _, err := e.srv.Svc.CreateUser(ctx, e.admin, service.UserInput{UserName: "supjohn", Roles: []vault.Role{vault.RoleSupervisor},
		AccessGroups: []string{"/Anthony/John"}, Password: ptr("password-supjohn")}); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Minute)
	e.ingestCall("qm-john", "agent_103001", start)
	e.ingestCall("qm-paul", "agent_other", start.Add(time.Hour))
	return e, e.publishForm(qmForm)
}

// ingestCall stores a call of an agent with the sample MP3 (a.mp3, 23.7
// s): the agent joins it, so the recording is theirs and their team's.
func (e *env) ingestCall(id, agent string, start time.Time) {
	e.t.Helper()
	e.ingestAudio(id, start, "+15550100")
	doc := fmt.Sprintf(`{"id":%q,"eventHistory":[{"occurredAt":%q,"event":"Joined","contact":{"type":"User","userName":%q}}]}`,
		id, start.Format(time.RFC3339), agent)
	if _, _, err := e.srv.Svc.PutMetadata(context.Background(), e.admin, id, []byte(doc)); err != nil {
		e.t.Fatal(err)
	}
}

// publishForm creates a form from its JSON and publishes version 1.
func (e *env) publishForm(doc string) string {
	e.t.Helper()
	ctx := context.Background()
	f, err := e.srv.Svc.CreateForm(ctx, e.admin, []byte(doc))
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.srv.Svc.PublishForm(ctx, e.admin, f.ID); err != nil {
		e.t.Fatal(err)
	}
	return f.ID
}

func (e *env) assign(recordingID, formID, evaluator string) string {
	e.t.Helper()
	list, err := e.srv.Svc.Assign(context.Background(), e.admin, []service.AssignRequest{{RecordingID: recordingID, FormID: formID, Evaluator: evaluator}})
	if err != nil {
		e.t.Fatal(err)
	}
	return list[0].ID
}

func (e *env) evaluation(id string) *service.EvaluationView {
	e.t.Helper()
	v, err := e.srv.Svc.Evaluation(context.Background(), e.admin, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// redirected checks a 303 to a path starting with prefix and returns it.
func redirected(t *testing.T, r resp, prefix string) string {
	t.Helper()
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("want a redirect to %s…, got %d %q: %.1500s", prefix, r.status, loc, r.body)
	}
	return loc
}

// The form designer's pages: the list and "new form" (a valid draft to
// start from), the editor with the draft's parts and the JSON editor
// without scripts (a refusal shown, nothing saved), publishing and the
// versions list; agents are refused every page and change.
func TestQMFormPages(t *testing.T) {
	e, formID := newQMEnv(t)
	ctx := context.Background()
	sup := e.login("sup@acme", "password-sup")
	r := sup.get("/qm/forms")
	wantStatus(t, r, 200, `id="qm-forms"`, "Call quality", `href="/qm/forms/`+formID+`"`, "version 1", `id="new-form"`, `href="/qm/evaluations" aria-current="page" id="nav-qm"`)

	r = sup.post("/qm/forms", url.Values{"name": {"  "}}, true)
	wantStatus(t, r, 400, "Not accepted:", html.EscapeString("the form's name is empty"))
	loc := redirected(t, sup.post("/qm/forms", url.Values{"name": {"Sales check"}}, true), "/qm/forms/")
	id := strings.TrimSuffix(strings.TrimPrefix(loc, "/qm/forms/"), "?done=created")
	draft, info, err := e.srv.Svc.Form(ctx, e.admin, id)
	if err != nil || draft.Name != "Sales check" || len(draft.QuestionGroups) != 1 || len(draft.QuestionGroups[0].Questions) != 1 || info.LatestVersion != 0 {
		t.Fatalf("new form: %+v %+v %v", draft, info, err)
	}
	r = sup.get(loc)
	wantStatus(t, r, 200, "Form created", `id="qm-designer"`, `data-api="/api/v2/qm/forms/`+id+`"`, `<template id="tpl-question">`,
		`value="Did the agent greet the customer?"`, `<option value="yesno" selected>Yes/No</option>`, `id="json-form"`, `id="no-versions"`,
		`/static/qm.js`)
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(r.body, "<script>") {
		t.Fatalf("the designer's CSP %q or an inline script", csp)
	}

	// The JSON editor: a condition on a later question is refused, with
	// the server's reason, the text kept and nothing saved.
	bad := `{"name": "Sales check", "questionGroups": [{"name": "G", "weight": 1, "questions": [
	  {"id": "q1", "text": "First", "type": "yesno", "visibleWhen": {"question": "q2", "answer": "yes"},
	   "answers": [{"id": "yes", "text": "Yes", "points": 1}, {"id": "no", "text": "No", "points": 0}]},
	  {"id": "q2", "text": "Second", "type": "yesno", "answers": [{"id": "yes", "text": "Yes", "points": 1}, {"id": "no", "text": "No", "points": 0}]}]}]}`
	r = sup.post("/qm/forms/"+id, url.Values{"form": {bad}}, true)
	wantStatus(t, r, 400, "Not accepted:", html.EscapeString(`visibleWhen names question "q2", which is not an earlier question of the form`), "First")
	if d, _, _ := e.srv.Svc.Form(ctx, e.admin, id); len(d.QuestionGroups[0].Questions) != 1 {
		t.Fatal("a refused draft was saved")
	}
	good := strings.Replace(bad, `"visibleWhen": {"question": "q2", "answer": "yes"},`, "", 1)
	redirected(t, sup.post("/qm/forms/"+id, url.Values{"form": {good}}, true), "/qm/forms/"+id+"?done=saved")
	loc = redirected(t, sup.post("/qm/forms/"+id+"/publish", url.Values{}, true), "/qm/forms/"+id+"?done=published&version=1")
	r = sup.get(loc)
	wantStatus(t, r, 200, "Version 1 published.", `id="qm-versions"`, "<td>sup</td>")
	if v, err := e.srv.Svc.FormVersion(ctx, e.admin, id, 1); err != nil || len(v.QuestionGroups[0].Questions) != 2 || v.QuestionGroups[0].Questions[1].Text != "Second" {
		t.Fatalf("version 1: %+v %v", v, err)
	}

	// Agents: no designer, no menu entry for it.
	agent := e.login("agent_103001@acme", "password-agent_103001")
	for _, path := range []string{"/qm/forms", "/qm/forms/" + id, "/qm/calibrations", "/qm/evaluations/new?recording=qm-john"} {
		wantStatus(t, agent.get(path), 403, "You may not open this page")
	}
	wantStatus(t, agent.post("/qm/forms", url.Values{"name": {"Mine"}}, true), 403)
	wantStatus(t, agent.post("/qm/forms/"+id, url.Values{"form": {good}}, true), 403)
	wantStatus(t, agent.post("/qm/forms/"+id+"/publish", url.Values{}, true), 403)
	r = agent.get("/qm/evaluations")
	wantStatus(t, r, 200, "My evaluations", `id="no-evaluations"`)
	if strings.Contains(r.body, `href="/qm/forms"`) || strings.Contains(r.body, `href="/qm/calibrations"`) || strings.Contains(r.body, `id="ef-evaluator"`) {
		t.Fatal("an agent is offered the designer, calibrations or the evaluator filter")
	}
	if list, _ := e.srv.Svc.Forms(ctx, e.admin); len(list) != 2 {
		t.Fatalf("%d forms after the agent's tries", len(list))
	}
}

// An evaluation from assignment to rescore through the pages (posted as
// without scripts): the recording page's assign form; the evaluator's
// form, saved and submitted; the agent's sign-off and dispute; the
// evaluator's decline and rescore. Who sees what: never an agent's
// evaluation to another agent, never a draft to the agent, never a call
// of Paul's team to the supervisor of /Anthony/John.
func TestQMEvaluationLife(t *testing.T) {
	e, formID := newQMEnv(t)
	sup := e.login("sup@acme", "password-sup")
	r := sup.get("/recordings/qm-john")
	wantStatus(t, r, 200, `id="assign-form"`, `<option value="`+formID+`:1" selected>Call quality (version 1)</option>`,
		`id="as-evaluator" name="evaluator" list="as-evaluators" dir="ltr" value="sup"`, "This call has no evaluations you may see.")

	// Refusals keep the form: an agent cannot evaluate.
	r = sup.post("/qm/evaluations", url.Values{"recordingId": {"qm-john"}, "form": {formID + ":1"}, "evaluator": {"agent_other"}}, true)
	wantStatus(t, r, 403, "Not accepted:", "so cannot evaluate it (evaluators are enabled admins or supervisors", `id="assign-form"`, `value="agent_other"`)
	loc := redirected(t, sup.post("/qm/evaluations", url.Values{"recordingId": {"qm-john"}, "form": {formID + ":1"}, "evaluator": {"sup"}}, true), "/qm/evaluations/")
	evalID := strings.TrimSuffix(strings.TrimPrefix(loc, "/qm/evaluations/"), "?done=assigned")
	ev := e.evaluation(evalID)
	if ev.Agent != "agent_103001" || ev.Evaluator != "sup" || ev.FormID != formID || ev.Version != 1 || ev.State != vault.EvalAssigned || ev.Team != "/Anthony/John" {
		t.Fatalf("assigned: %+v", ev.Evaluation)
	}
	r = sup.get(loc)
	wantStatus(t, r, 200, "Evaluation assigned.", `id="eval-form"`, `<audio controls preload="metadata" src="`+playURL("qm-john", "a.mp3")+`" id="qm-player"`,
		`data-question="why" data-type="text" data-when-question="greet" data-when-answer="no"`, html.EscapeString("Asked only when “Greeted the customer?” is answered “No”."),
		`name="answer.verify" value="_na"`, `data-api="/api/v2/qm/evaluations/`+evalID+`"`)
	if strings.Contains(r.body, `id="agent-actions"`) {
		t.Fatal("the evaluator gets the agent's actions")
	}
	wantStatus(t, sup.get("/recordings/qm-john"), 200, `id="qm-recording-evaluations"`, `href="/qm/evaluations/`+evalID+`"`, "Assigned")

	agent := e.login("agent_103001@acme", "password-agent_103001")
	other := e.login("agent_other@acme", "password-agent_other")
	supJohn := e.login("supjohn@acme", "password-supjohn")
	wantStatus(t, agent.get("/qm/evaluations/"+evalID), 404) // not submitted yet
	if r := agent.get("/recordings/qm-john"); strings.Contains(r.body, `id="assign-form"`) || strings.Contains(r.body, "/qm/evaluations/"+evalID) {
		t.Fatal("the agent's recording page offers the assign form or the unsubmitted evaluation")
	}

	// Save (the time marked and a comment), then a refused submission.
	form := url.Values{"answer.greet": {"yes"}, "answer.tone": {"ok"}, "comment.tone": {"a bit flat"}, "at.tone": {"4200"}, "comment": {"Good call"}, "action": {"save"}}
	redirected(t, sup.post("/qm/evaluations/"+evalID, form, true), "/qm/evaluations/"+evalID+"?done=saved")
	ev = e.evaluation(evalID)
	if ev.State != vault.EvalDraft || len(ev.Answers) != 2 || ev.Answers[1].Question != "tone" || ev.Answers[1].AtMs == nil || *ev.Answers[1].AtMs != 4200 ||
		ev.Answers[1].Comment != "a bit flat" || ev.Comment != "Good call" {
		t.Fatalf("saved: %+v", ev.Evaluation)
	}
	r = sup.get("/qm/evaluations/" + evalID)
	wantStatus(t, r, 200, `name="answer.tone" value="ok" checked`, `name="at.tone" value="4200"`, `href="`+playURL("qm-john", "a.mp3")+`#t=4.200" data-seek="4.200">▶ <span class="at" dir="ltr">0:04</span>`)
	form.Set("action", "submit")
	r = sup.post("/qm/evaluations/"+evalID, form, true)
	wantStatus(t, r, 400, "Not accepted:", "required questions are not answered: verify", `name="answer.tone" value="ok" checked`)
	form.Set("answer.verify", "yes")
	redirected(t, sup.post("/qm/evaluations/"+evalID, form, true), "/qm/evaluations/"+evalID+"?done=submitted")
	ev = e.evaluation(evalID)
	if ev.State != vault.EvalSubmitted || ev.Score == nil || ev.Score.Total == nil || fmt.Sprintf("%.1f", *ev.Score.Total) != "88.9" ||
		ev.Score.Critical == nil || *ev.Score.Critical != 50 || ev.Score.Fatal {
		t.Fatalf("submitted: %+v %+v", ev.Evaluation, ev.Score)
	}
	r = sup.get("/qm/evaluations/" + evalID + "?done=submitted")
	wantStatus(t, r, 200, "Evaluation submitted and scored.", `<dd id="score-total">88.9%</dd>`, `<dd id="score-critical">50.0%</dd>`, `<dd id="score-fatal">No</dd>`, `id="eval-answers"`)
	if strings.Contains(r.body, `id="eval-form"`) || strings.Contains(r.body, "Why not?") {
		t.Fatal("a submitted evaluation is editable, or shows a hidden question")
	}
	wantStatus(t, e.login("admin@acme", adminPassword).get("/qm/evaluations/"+evalID), 200, `id="score-total"`) // admins see it too

	// The agent's "My evaluations", in German as well; another agent and a
	// supervisor of another team see nothing of it.
	r = agent.get("/qm/evaluations")
	wantStatus(t, r, 200, "My evaluations", `href="/qm/evaluations/`+evalID+`"`, "Call quality", "88.9%")
	r = agent.get("/qm/evaluations/" + evalID)
	wantStatus(t, r, 200, `id="agent-actions"`, `id="signoff-form"`, `id="dispute-form"`, "Fair", "a bit flat", "Good call")
	site, _ := url.Parse(e.http.URL)
	agent.c.Jar.SetCookies(site, []*http.Cookie{{Name: "callvault_lang", Value: "de-DE", Path: "/"}})
	wantStatus(t, agent.get("/qm/evaluations/"+evalID), 200, "88,9 %", "Meine Bewertungen")
	agent.c.Jar.SetCookies(site, []*http.Cookie{{Name: "callvault_lang", Value: "en-US", Path: "/"}})
	wantStatus(t, other.get("/qm/evaluations/"+evalID), 404)
	wantStatus(t, other.post("/qm/evaluations/"+evalID+"/signoff", url.Values{}, true), 404)
	if r := other.get("/qm/evaluations"); strings.Contains(r.body, evalID) {
		t.Fatal("another agent lists the evaluation")
	}

	paulID := e.assign("qm-paul", formID, "sup")
	wantStatus(t, supJohn.get("/qm/evaluations/"+paulID), 404)
	wantStatus(t, supJohn.get("/recordings/qm-paul"), 404)
	if r := supJohn.get("/qm/evaluations"); strings.Contains(r.body, paulID) || !strings.Contains(r.body, evalID) {
		t.Fatal("the supervisor of /Anthony/John lists Paul's evaluation, or not John's")
	}
	r = supJohn.post("/qm/evaluations", url.Values{"recordingId": {"qm-paul"}, "form": {formID + ":1"}, "evaluator": {"supjohn"}}, true)
	wantStatus(t, r, 404)

	// A dispute needs a comment; then the evaluator declines (with a
	// comment), the agent disputes no more and signs off.
	wantStatus(t, agent.post("/qm/evaluations/"+evalID+"/dispute", url.Values{"comment": {"  "}}, true), 400, "say why in a comment", `id="dispute-form"`)
	redirected(t, agent.post("/qm/evaluations/"+evalID+"/dispute", url.Values{"comment": {"I did verify the caller"}}, true), "/qm/evaluations/"+evalID+"?done=disputed")
	if ev = e.evaluation(evalID); ev.State != vault.EvalDisputed || ev.Dispute == nil || ev.Dispute.Comment != "I did verify the caller" {
		t.Fatalf("disputed: %+v", ev.Evaluation)
	}
	r = sup.get("/qm/evaluations/" + evalID)
	wantStatus(t, r, 200, `id="evaluator-actions"`, `id="note-dispute"`, "Disputed by agent_103001", "I did verify the caller")
	wantStatus(t, agent.post("/qm/evaluations/"+evalID+"/decline", url.Values{"comment": {"no"}}, true), 403)
	wantStatus(t, sup.post("/qm/evaluations/"+evalID+"/decline", url.Values{"comment": {""}}, true), 400, "say why in a comment")
	redirected(t, sup.post("/qm/evaluations/"+evalID+"/decline", url.Values{"comment": {"The recording says otherwise"}}, true), "/qm/evaluations/"+evalID+"?done=declined")
	r = agent.get("/qm/evaluations/" + evalID)
	wantStatus(t, r, 200, `id="note-declined"`, "The recording says otherwise", `id="no-dispute"`, `id="signoff-form"`)
	redirected(t, agent.post("/qm/evaluations/"+evalID+"/signoff", url.Values{"comment": {"OK"}}, true), "/qm/evaluations/"+evalID+"?done=signedoff")
	if ev = e.evaluation(evalID); ev.State != vault.EvalSignedOff || ev.SignOff == nil || ev.SignOff.Comment != "OK" {
		t.Fatalf("signed off: %+v", ev.Evaluation)
	}
	wantStatus(t, agent.post("/qm/evaluations/"+evalID+"/signoff", url.Values{}, true), 409, "Not accepted:")

	// Rescore: a new draft for the evaluator; the old one is retracted
	// once the new one is submitted.
	second := e.assign("qm-john", formID, "sup")
	redirected(t, sup.post("/qm/evaluations/"+second, url.Values{"answer.greet": {"no"}, "text.why": {"rushed"}, "answer.verify": {"_na"}, "action": {"submit"}}, true),
		"/qm/evaluations/"+second+"?done=submitted")
	redirected(t, agent.post("/qm/evaluations/"+second+"/dispute", url.Values{"comment": {"Unfair"}}, true), "/qm/evaluations/"+second)
	loc = redirected(t, sup.post("/qm/evaluations/"+second+"/rescore", url.Values{}, true), "/qm/evaluations/")
	rescoreID := strings.TrimSuffix(strings.TrimPrefix(loc, "/qm/evaluations/"), "?done=rescore")
	if rescoreID == second {
		t.Fatal("rescore went to the disputed evaluation")
	}
	r = sup.get(loc)
	wantStatus(t, r, 200, "A new version of the evaluation", `id="eval-form"`, `id="supersedes"`, `name="answer.greet" value="no" checked`, `name="answer.verify" value="_na" checked`, ">rushed</textarea>")
	wantStatus(t, sup.get("/qm/evaluations/"+second), 200, `id="superseded-by"`, "A rescore of this evaluation is in progress.")
	redirected(t, sup.post("/qm/evaluations/"+rescoreID, url.Values{"answer.greet": {"yes"}, "answer.verify": {"yes"}, "action": {"submit"}}, true), "/qm/evaluations/"+rescoreID)
	if old := e.evaluation(second); old.State != vault.EvalRetracted || old.SupersededBy != rescoreID {
		t.Fatalf("the rescored evaluation: %+v", old.Evaluation)
	}
	wantStatus(t, sup.get("/qm/evaluations?state=retracted"), 200, `href="/qm/evaluations/`+second+`"`, "Retracted")
	wantStatus(t, sup.get("/qm/evaluations?state=nonsense"), 400, "not valid")
}

// Every state-changing QM page refuses a post without the session's CSRF
// token, and changes nothing.
func TestQMPostsNeedCSRF(t *testing.T) {
	e, formID := newQMEnv(t)
	ctx := context.Background()
	evalID := e.assign("qm-john", formID, "sup")
	sup := e.login("sup@acme", "password-sup")
	for path, form := range map[string]url.Values{
		"/qm/forms":                              {"name": {"X"}},
		"/qm/forms/" + formID:                    {"form": {qmForm}},
		"/qm/forms/" + formID + "/publish":       {},
		"/qm/evaluations":                        {"recordingId": {"qm-john"}, "form": {formID + ":1"}, "evaluator": {"sup"}},
		"/qm/evaluations/" + evalID:              {"answer.greet": {"yes"}, "answer.verify": {"yes"}, "action": {"submit"}},
		"/qm/evaluations/" + evalID + "/signoff": {},
		"/qm/evaluations/" + evalID + "/dispute": {"comment": {"x"}},
		"/qm/evaluations/" + evalID + "/decline": {"comment": {"x"}},
		"/qm/evaluations/" + evalID + "/rescore": {},
		"/qm/calibrations":                       {"recordingId": {"qm-john"}, "form": {formID + ":1"}, "expert": {"admin"}, "evaluators": {"sup"}},
	} {
		form.Set("csrf", "not-the-token")
		r := sup.post(path, form, false)
		wantStatus(t, r, 403, "The form has expired.")
	}
	forms, _ := e.srv.Svc.Forms(ctx, e.admin)
	list, _ := e.srv.Svc.Evaluations(ctx, e.admin, vault.EvaluationFilter{})
	cals, _ := e.srv.Svc.Calibrations(ctx, e.admin)
	if len(forms) != 1 || forms[0].LatestVersion != 1 || len(list) != 1 || list[0].State != vault.EvalAssigned || len(cals) != 0 {
		t.Fatalf("a post without the token changed something: %d forms (v%d), %d evaluations, %d calibrations", len(forms), forms[0].LatestVersion, len(list), len(cals))
	}
	// The designer's and the evaluation form's script use the API with the
	// session cookie: without the X-CSRF-TOKEN header it is refused too.
	req, _ := http.NewRequest("PUT", e.http.URL+"/api/v2/qm/evaluations/"+evalID, strings.NewReader(`{"answers": []}`))
	req.Header.Set("Content-Type", "application/json")
	if r := sup.do(req); r.status != http.StatusForbidden {
		t.Fatalf("API save without the CSRF header: %d %s", r.status, r.body)
	}
	sup.get("/qm/evaluations/" + evalID)
	req, _ = http.NewRequest("PUT", e.http.URL+"/api/v2/qm/evaluations/"+evalID, strings.NewReader(`{"answers": [{"question": "greet", "answer": "yes"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-TOKEN", sup.csrf)
	if r := sup.do(req); r.status != http.StatusOK {
		t.Fatalf("API save with the session and its CSRF header: %d %s", r.status, r.body)
	}
}

// Calibrations: created from the page (the expert and two evaluators get
// an evaluation each), the report once they have submitted: per
// evaluator, per question and the evaluator × question deviations. The
// report page: averages per agent and team, counts by state, the chart's
// data; an agent's report has their own evaluations only.
func TestQMCalibrationAndReport(t *testing.T) {
	e, formID := newQMEnv(t)
	ctx := context.Background()
	for _, name := range []string{"sup2", "sup3"} {
		if _, err := e.srv.Svc.CreateUser(ctx, e.admin, service.UserInput{UserName: name, Roles: []vault.Role{vault.RoleSupervisor},
			AccessGroups: []string{"/"}, Password: ptr("password-" + name)}); err != nil {
			t.Fatal(err)
		}
	}
	admin := e.login("admin@acme", adminPassword)
	r := admin.get("/qm/calibrations?recording=qm-john")
	wantStatus(t, r, 200, `id="no-calibrations"`, `id="calibration-form"`, `value="qm-john"`, "Evaluators: admin, sup, sup2, sup3, supjohn.")
	r = admin.post("/qm/calibrations", url.Values{"name": {"March"}, "recordingId": {"qm-john"}, "form": {formID + ":1"}, "expert": {"sup"}, "evaluators": {"sup, sup2"}}, true)
	wantStatus(t, r, 400, "Not accepted:", "is not also one of the evaluators", `value="March"`)
	loc := redirected(t, admin.post("/qm/calibrations", url.Values{"name": {"March"}, "recordingId": {"qm-john"}, "form": {formID + ":1"},
		"expert": {"sup"}, "evaluators": {"sup2, sup3"}}, true), "/qm/calibrations/")
	calID := strings.TrimSuffix(strings.TrimPrefix(loc, "/qm/calibrations/"), "?done=created")
	wantStatus(t, admin.get(loc), 200, "Calibration created", `id="expert-pending"`, `data-evaluator="sup2"`, `data-evaluator="sup3"`)

	cal, err := e.srv.Svc.Calibration(ctx, e.admin, calID)
	if err != nil || len(cal.Evaluations) != 3 {
		t.Fatalf("calibration: %+v %v", cal, err)
	}
	answers := map[string][]vault.AnswerValue{
		"sup":  {{Question: "greet", Answer: ptr("yes")}, {Question: "tone", Answer: ptr("good")}, {Question: "verify", Answer: ptr("yes")}},
		"sup2": {{Question: "greet", Answer: ptr("yes")}, {Question: "tone", Answer: ptr("ok")}, {Question: "verify", Answer: ptr("yes")}},
		"sup3": {{Question: "greet", Answer: ptr("yes")}, {Question: "tone", Answer: ptr("good")}, {Question: "verify", Answer: ptr("yes")}},
	}
	for _, ev := range cal.Evaluations {
		who, err := e.srv.Svc.Store.User(ctx, "acme", ev.Evaluator)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.srv.Svc.SubmitEvaluation(ctx, &who, ev.ID, service.SaveInput{Answers: answers[ev.Evaluator]}); err != nil {
			t.Fatal(err)
		}
	}
	r = admin.get(loc)
	wantStatus(t, r, 200)
	if strings.Contains(r.body, `id="expert-pending"`) {
		t.Fatal("the expert is still pending")
	}
	// sup2 answered tone "Fair" (1 of 2) where the expert said "Good": −50
	// points on tone (a mean of 16.7 over the three questions), a total
	// of 88.9, 11.1 below the expert's 100, agreement 2 of 3.
	row := func(table, key string) string {
		t.Helper()
		m := regexp.MustCompile(`(?s)<table[^>]*id="` + table + `".*?</table>`).FindString(r.body)
		rm := regexp.MustCompile(`(?s)<tr data-[a-z]+="` + regexp.QuoteMeta(key) + `">.*?</tr>`).FindString(m)
		if rm == "" {
			t.Fatalf("no row %s in %s: %s", key, table, m)
		}
		return rm
	}
	for _, want := range []string{"88.9%", "-11.1", "16.7", "66.7%"} {
		if s := row("cal-evaluators", "sup2"); !strings.Contains(s, want) {
			t.Errorf("sup2's row lacks %s: %s", want, s)
		}
	}
	if s := row("cal-evaluators", "sup3"); !strings.Contains(s, "&#43;0.0") || !strings.Contains(s, "100.0%") {
		t.Errorf("sup3 agrees with the expert: %s", s)
	}
	if s := row("cal-questions", "tone"); !strings.Contains(s, "25.0") || !strings.Contains(s, "50.0%") {
		t.Errorf("the tone question: %s", s)
	}
	if s := row("cal-matrix", "sup2"); !strings.Contains(s, `title="Answer: Fair; the expert&#39;s: Good">-50.0</td>`) {
		t.Errorf("sup2's deviations: %s", s)
	}
	wantStatus(t, admin.get("/qm/calibrations"), 200, `href="/qm/calibrations/`+calID+`"`, "March", "sup2, sup3")
	wantStatus(t, e.login("supjohn@acme", "password-supjohn").get("/qm/calibrations/"+calID), 200) // John's call
	wantStatus(t, e.login("agent_103001@acme", "password-agent_103001").get("/qm/calibrations/"+calID), 403)

	// Two submitted evaluations of John's agent (88.9 and 100), one of
	// Paul's (fatal: 0); the calibration's are not counted.
	for _, c := range []struct {
		recording string
		answers   []vault.AnswerValue
	}{
		{"qm-john", []vault.AnswerValue{{Question: "greet", Answer: ptr("yes")}, {Question: "tone", Answer: ptr("ok")}, {Question: "verify", Answer: ptr("yes")}}},
		{"qm-john", []vault.AnswerValue{{Question: "greet", Answer: ptr("yes")}, {Question: "tone", Answer: ptr("good")}, {Question: "verify", Answer: ptr("yes")}}},
		{"qm-paul", []vault.AnswerValue{{Question: "greet", Answer: ptr("yes")}, {Question: "tone", Answer: ptr("good")}, {Question: "verify", Answer: ptr("no")}}},
	} {
		id := e.assign(c.recording, formID, "admin")
		if _, err := e.srv.Svc.SubmitEvaluation(ctx, e.admin, id, service.SaveInput{Answers: c.answers}); err != nil {
			t.Fatal(err)
		}
	}
	e.assign("qm-paul", formID, "sup") // assigned, not submitted
	r = admin.get("/qm/reports")
	wantStatus(t, r, 200, `id="report-chart"`, `id="report-data"`, "/static/vendor/uplot/uPlot.iife.min.js")
	agents := regexp.MustCompile(`(?s)<table[^>]*id="report-agents".*?</table>`).FindString(r.body)
	for _, want := range []string{`<td dir="ltr">/Anthony/John</td><td class="num">2</td><td class="num avg-total">94.4%</td><td class="num">75.0%</td><td class="num">0</td>`,
		`<td dir="ltr">/Anthony/Paul</td><td class="num">1</td><td class="num avg-total">0.0%</td><td class="num">100.0%</td><td class="num">1</td>`} {
		if !strings.Contains(agents, want) {
			t.Errorf("the agents' table lacks %s: %s", want, agents)
		}
	}
	teams := regexp.MustCompile(`(?s)<table[^>]*id="report-teams".*?</table>`).FindString(r.body)
	if !strings.Contains(teams, `<tr data-team="/Anthony"><td dir="ltr">/Anthony</td><td class="num">3</td><td class="num">63.0%</td>`) {
		t.Errorf("the teams' table: %s", teams)
	}
	states := regexp.MustCompile(`(?s)<table[^>]*id="report-states".*?</table>`).FindString(r.body)
	for _, want := range []string{`<tr data-state="submitted"><th scope="row">Submitted</th><td class="num">3</td>`, `<tr data-state="assigned"><th scope="row">Assigned</th><td class="num">1</td>`} {
		if !strings.Contains(states, want) {
			t.Errorf("the states lack %s: %s", want, states)
		}
	}
	m := regexp.MustCompile(`(?s)<script type="application/json" id="report-data">(.*?)</script>`).FindStringSubmatch(r.body)
	var chart struct {
		X      []int64
		Series []struct {
			Label  string
			Values []*float64
		}
	}
	if m == nil || json.Unmarshal([]byte(m[1]), &chart) != nil || len(chart.Series) != 2 || chart.Series[0].Label != "agent_103001" {
		t.Fatalf("chart data: %v", m)
	}
	last := chart.Series[0].Values[len(chart.X)-1]
	if last == nil || fmt.Sprintf("%.1f", *last) != "94.4" {
		t.Fatalf("agent_103001's last interval: %v of %+v", last, chart)
	}
	wantStatus(t, admin.get("/qm/reports?interval=day"), 200, "94.4%")
	wantStatus(t, admin.get("/qm/reports?interval=hour"), 400, "not valid")
	wantStatus(t, admin.get("/qm/reports?from=2026-03-02&to=2026-03-01"), 400, "must be before")
	wantStatus(t, admin.get("/qm/reports?from=2020-01-01&to=2026-01-01"), 400, "at most three years")

	// The agent's report: their own only.
	r = e.login("agent_103001@acme", "password-agent_103001").get("/qm/reports")
	wantStatus(t, r, 200, "94.4%")
	if strings.Contains(r.body, "agent_other") || strings.Contains(r.body, "/Anthony/Paul") {
		t.Fatal("the agent's report shows another agent")
	}
	if !strings.Contains(r.body, `href="/qm/evaluations" aria-current="page" id="nav-qm">My evaluations</a>`) {
		t.Fatal("the agent's menu lacks My evaluations")
	}
}
