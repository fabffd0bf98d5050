package web_test

import (
	"context"
	"html"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"callvault/internal/vault"
)

// planValues is a valid plan form for newQMEnv's form.
func planValues(formID string) url.Values {
	return url.Values{"name": {"Weekly John"}, "form": {formID}, "version": {"0"}, "evaluators": {"sup, supjohn"},
		"agents": {"agent_103001\n/Anthony/Paul"}, "perAgent": {"2"}, "every": {"week"}, "partition": {"/Sales"},
		"minDurationSec": {"30"}, "category": {"Complaint"}, "startFrom": {"2026-01-05T08:00"}, "startTo": {"2026-12-31T18:30:15"},
		"active": {"1"}}
}

func (e *env) plans() []vault.Plan {
	e.t.Helper()
	list, err := e.srv.Svc.Plans(context.Background(), e.admin)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

// The plan pages of a supervisor: the list and the new plan's form (the
// published forms, the analytics categories, the hint on hierarchy
// groups); refusals with the server's reason, what was typed kept and
// nothing stored; a plan created as typed (an agents' group kept); the
// edit page filled in, a change, refusals of a change of period and of a
// missing form version; the deletion after its confirmation.
func TestQMPlanPages(t *testing.T) {
	e, formID := newQMEnv(t)
	ctx := context.Background()
	if _, err := e.srv.Svc.PutTopic(ctx, e.admin, "", vault.Topic{Name: "Billing", Phrases: []vault.Phrase{{Text: "my invoice"}}}, false, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Svc.PutCategory(ctx, e.admin, "", vault.Category{Name: "Complaint", All: []string{"Billing"}, MinOccurrences: 1}, true); err != nil {
		t.Fatal(err)
	}
	sup := e.login("sup@acme", "password-sup")
	r := sup.get("/qm/plans")
	wantStatus(t, r, 200, `<a href="/qm/plans" aria-current="page">Plans</a>`, `id="no-plans"`, `id="plan-form"`,
		`<option value="`+formID+`" selected>Call quality (latest: version 1)</option>`, `id="pl-version" name="version" type="number" min="0" step="1" value="0"`,
		`<option value="week" selected>Week</option>`, html.EscapeString("hierarchy groups such as /Anthony/John (every agent under it)"),
		`<datalist id="pl-categories"><option value="Complaint"></datalist>`, `>sup</textarea>`, `id="pl-active" checked`)

	// Refused: no plan is stored, the form keeps what was typed.
	bad := planValues(formID)
	bad.Set("perAgent", "0")
	r = sup.post("/qm/plans", bad, true)
	wantStatus(t, r, 400, "Not accepted:", "perAgent 0: use 1 to 100", `value="Weekly John"`, ">agent_103001\n/Anthony/Paul</textarea>",
		">sup, supjohn</textarea>", `value="/Sales"`, `value="30"`, `value="Complaint"`, `value="2026-01-05T08:00"`, `value="2026-12-31T18:30:15"`)
	bad = planValues(formID)
	bad.Set("every", "fortnight")
	wantStatus(t, sup.post("/qm/plans", bad, true), 400, "Not accepted:", html.EscapeString(`every "fortnight": use week or month`), `value="Weekly John"`)
	bad = planValues(formID)
	bad.Set("perAgent", "two")
	wantStatus(t, sup.post("/qm/plans", bad, true), 400, "Not accepted:", "Calls per agent: give a whole number.")
	bad = planValues(formID)
	bad.Set("agents", "nobody")
	wantStatus(t, sup.post("/qm/plans", bad, true), 400, html.EscapeString(`agents: no user "nobody"`), ">nobody</textarea>")
	if list := e.plans(); len(list) != 0 {
		t.Fatalf("a refused plan was stored: %+v", list)
	}

	// Created as typed: the first period is the week holding its date.
	lastWeek := vault.IntervalStart(vault.IntervalWeek, time.Now()).AddDate(0, 0, -7)
	good := planValues(formID)
	good.Set("firstPeriod", lastWeek.AddDate(0, 0, 2).Format(time.DateOnly))
	loc := redirected(t, sup.post("/qm/plans", good, true), "/qm/plans?done=created")
	list := e.plans()
	if len(list) != 1 {
		t.Fatalf("%d plans", len(list))
	}
	pl := list[0]
	wantFilter := vault.PlanFilter{StartFrom: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), StartTo: time.Date(2026, 12, 31, 18, 30, 15, 0, time.UTC),
		Partition: "/Sales", MinDurationSec: 30, Category: "Complaint"}
	if pl.Name != "Weekly John" || pl.FormID != formID || pl.FormVersion != 0 || !slices.Equal(pl.Evaluators, []string{"sup", "supjohn"}) ||
		!slices.Equal(pl.Agents, []string{"/Anthony/Paul", "agent_103001"}) || pl.PerAgent != 2 || pl.Every != vault.EveryWeek ||
		!sameFilter(pl.Filter, wantFilter) || !pl.FirstPeriod.Equal(lastWeek) || !pl.Active || pl.CreatedBy != "sup" {
		t.Fatalf("created: %+v", pl)
	}
	id := pl.ID
	r = sup.get(loc)
	wantStatus(t, r, 200, "Plan created", `id="qm-plans"`, `<tr data-plan="`+id+`">`, `<a href="/qm/plans/`+id+`" class="plan-link">Weekly John</a>`,
		`Call quality <span class="hint">latest version</span>`, `<td class="every">Week</td>`, `<td class="num per-agent">2</td>`,
		`<td dir="ltr" class="agents">/Anthony/Paul, agent_103001</td>`, `<td dir="ltr" class="evaluators">sup, supjohn</td>`,
		`<td class="filter">Partition /Sales<br>At least 30 s<br>Category Complaint<br>Started from 01/05/2026 8:00:00 AM UTC<br>Started before 12/31/2026 6:30:15 PM UTC</td>`,
		">Active</span>", "First period: "+lastWeek.Format("01/02/2006"), `<td class="done-through">Not run yet</td>`,
		`href="/qm/evaluations?plan=`+id+`"`, `<a href="/qm/plans/`+id+`" class="plan-edit">Edit</a>`)

	// The edit page: the same form, filled in; the period shown, not sent.
	r = sup.get("/qm/plans/" + id)
	wantStatus(t, r, 200, "Plan Weekly John", `action="/qm/plans/`+id+`"`, `value="Weekly John"`, `<option value="`+formID+`" selected>`,
		`name="every" disabled`, `<option value="week" selected>Week</option>`, `value="`+lastWeek.Format(time.DateOnly)+`" disabled`,
		">/Anthony/Paul\nagent_103001</textarea>", ">sup\nsupjohn</textarea>", `value="/Sales"`, `value="30"`, `value="Complaint"`,
		`value="2026-01-05T08:00:00"`, `value="2026-12-31T18:30:15"`, `id="pl-active" checked`, `href="/qm/plans/`+id+`/delete"`)

	// A change: no period sent (the form's select is disabled), the
	// filter emptied, paused.
	change := url.Values{"name": {"Weekly team"}, "form": {formID}, "version": {"1"}, "evaluators": {"sup"}, "agents": {"/Anthony/John"},
		"perAgent": {"3"}, "partition": {""}, "minDurationSec": {""}, "category": {""}, "startFrom": {""}, "startTo": {""}}
	loc = redirected(t, sup.post("/qm/plans/"+id, change, true), "/qm/plans/"+id+"?done=saved")
	got, err := e.srv.Svc.Plan(ctx, e.admin, id)
	if err != nil || got.Name != "Weekly team" || got.FormVersion != 1 || got.PerAgent != 3 || !slices.Equal(got.Agents, []string{"/Anthony/John"}) ||
		!slices.Equal(got.Evaluators, []string{"sup"}) || !sameFilter(got.Filter, vault.PlanFilter{}) || got.Active || got.Every != vault.EveryWeek ||
		!got.FirstPeriod.Equal(lastWeek) {
		t.Fatalf("changed: %+v %v", got, err)
	}
	wantStatus(t, sup.get(loc), 200, "Plan saved.", `<td>Paused</td>`, `value="Weekly team"`, `value="1"`, `id="pl-active">`)
	wantStatus(t, sup.get("/qm/plans"), 200, `<tr data-plan="`+id+`" class="disabled">`, `version 1`, "All calls", ">Paused</span>")

	// Refused changes keep what was typed and change nothing.
	change.Set("name", "Monthly team")
	change.Set("every", "month")
	wantStatus(t, sup.post("/qm/plans/"+id, change, true), 400, "Not accepted:", html.EscapeString("a plan's period cannot change (it is week)"),
		`value="Monthly team"`)
	change.Del("every")
	change.Set("version", "7")
	wantStatus(t, sup.post("/qm/plans/"+id, change, true), 404, "Not accepted:", "has no version 7", `value="Monthly team"`, `value="7"`)
	if got, _ := e.srv.Svc.Plan(ctx, e.admin, id); got.Name != "Weekly team" || got.FormVersion != 1 {
		t.Fatalf("a refused change was stored: %+v", got)
	}

	// Delete: asked first, then gone.
	r = sup.get("/qm/plans/" + id + "/delete")
	wantStatus(t, r, 200, "Delete plan Weekly team", `id="plan-delete-warning"`, `action="/qm/plans/`+id+`/delete"`, `id="plan-delete-confirm"`)
	if strings.Contains(r.body, `id="plan-form"`) {
		t.Fatal("the confirmation shows the plan's form")
	}
	loc = redirected(t, sup.post("/qm/plans/"+id+"/delete", url.Values{}, true), "/qm/plans?done=deleted")
	if _, err := e.srv.Svc.Plan(ctx, e.admin, id); vault.ErrorCode(err) != vault.ENOTFOUND {
		t.Fatalf("the deleted plan: %v", err)
	}
	wantStatus(t, sup.get(loc), 200, "Plan deleted.", `id="no-plans"`)
	wantStatus(t, sup.get("/qm/plans/"+id), 404)
	wantStatus(t, sup.post("/qm/plans/"+id+"/delete", url.Values{}, true), 404)

	// A plan created unticked is paused; no first period is the current one.
	paused := planValues(formID)
	paused.Del("active")
	redirected(t, sup.post("/qm/plans", paused, true), "/qm/plans?done=created")
	if list := e.plans(); len(list) != 1 || list[0].Active || !list[0].FirstPeriod.Equal(vault.IntervalStart(vault.IntervalWeek, time.Now())) {
		t.Fatalf("the paused plan: %+v", list)
	}
}

// A plan whose first period is over, run: the list shows the last run
// (period, evaluations created, the agents short of calls), the
// evaluations page lists the plan's evaluations only, and they stay when
// the plan is deleted.
func TestQMPlanRun(t *testing.T) {
	e, formID := newQMEnv(t)
	ctx := context.Background()
	thisWeek := vault.IntervalStart(vault.IntervalWeek, time.Now())
	lastWeek := thisWeek.AddDate(0, 0, -7)
	callAt := lastWeek.AddDate(0, 0, 2).Add(10 * time.Hour)
	e.ingestCall("qm-lastweek", "agent_103001", callAt)
	e.ingestCall("qm-lastweek-paul", "agent_other", callAt.Add(10*time.Minute)) // not one of the plan's agents
	manual := e.assign("qm-john", formID, "sup")

	sup := e.login("sup@acme", "password-sup")
	sup.get("/qm/plans")
	form := url.Values{"name": {"John team weekly"}, "form": {formID}, "version": {"0"}, "evaluators": {"sup"}, "agents": {"/Anthony/John"},
		"perAgent": {"2"}, "every": {"week"}, "firstPeriod": {lastWeek.Format(time.DateOnly)},
		"startFrom": {callAt.Add(-time.Hour).Format("2006-01-02T15:04")}, "startTo": {callAt.Add(time.Hour).Format("2006-01-02T15:04")}, "active": {"1"}}
	redirected(t, sup.post("/qm/plans", form, true), "/qm/plans?done=created")
	list := e.plans()
	if len(list) != 1 || !slices.Equal(list[0].Agents, []string{"/Anthony/John"}) {
		t.Fatalf("plans: %+v", list)
	}
	id := list[0].ID
	wantStatus(t, sup.get("/qm/plans"), 200, `<td class="done-through">Not run yet</td>`)

	if err := e.srv.Svc.RunDuePlans(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	pl, err := e.srv.Svc.Plan(ctx, e.admin, id)
	if err != nil || pl.LastRun == nil || pl.LastRun.Created != 1 || pl.LastRun.Short["agent_103001"] != 1 || !pl.DoneThrough.Equal(thisWeek) {
		t.Fatalf("after the run: %+v %+v %v", pl, pl.LastRun, err)
	}
	evals, err := e.srv.Svc.Evaluations(ctx, e.admin, vault.EvaluationFilter{PlanID: id})
	if err != nil || len(evals) != 1 || evals[0].RecordingID != "qm-lastweek" || evals[0].Agent != "agent_103001" || evals[0].Evaluator != "sup" {
		t.Fatalf("the plan's evaluations: %+v %v", evals, err)
	}
	planEval := evals[0].ID

	r := sup.get("/qm/plans")
	period := lastWeek.Format("01/02/2006") + " – " + thisWeek.AddDate(0, 0, -1).Format("01/02/2006")
	wantStatus(t, r, 200, `<td class="done-through">`+thisWeek.Format("01/02/2006")+` 12:00:00 AM UTC</td>`,
		`<span class="period">`+period+`</span>`, "Evaluations created: 1",
		`<span class="short">Too few calls (missing): <span dir="ltr">agent_103001</span> (1)</span>`)
	wantStatus(t, sup.get("/qm/plans/"+id), 200, `<td id="plan-done-through">`+thisWeek.Format("01/02/2006")+` 12:00:00 AM UTC</td>`,
		period+" · Evaluations created: 1", `href="/qm/evaluations?plan=`+id+`"`)

	// The evaluations page by plan: the plan's only, named in the title.
	r = sup.get("/qm/evaluations?plan=" + url.QueryEscape(id))
	wantStatus(t, r, 200, "<h1>Evaluations of plan John team weekly</h1>", `href="/qm/evaluations/`+planEval+`"`,
		`<input type="hidden" name="plan" value="`+id+`">`) // the filter form keeps the plan
	if strings.Contains(r.body, manual) {
		t.Fatal("the plan's evaluations list one it did not create")
	}
	wantStatus(t, sup.get("/qm/evaluations"), 200, `href="/qm/evaluations/`+planEval+`"`, `href="/qm/evaluations/`+manual+`"`)
	wantStatus(t, sup.get("/qm/evaluations?plan=nosuchplan"), 200, `id="no-evaluations"`)

	// Deleted, the plan's evaluations stay.
	sup.get("/qm/plans/" + id + "/delete")
	redirected(t, sup.post("/qm/plans/"+id+"/delete", url.Values{}, true), "/qm/plans?done=deleted")
	if evals, err := e.srv.Svc.Evaluations(ctx, e.admin, vault.EvaluationFilter{PlanID: id}); err != nil || len(evals) != 1 || evals[0].ID != planEval {
		t.Fatalf("the evaluations after the plan's deletion: %+v %v", evals, err)
	}
	wantStatus(t, sup.get("/qm/evaluations/"+planEval), 200, `id="eval-form"`)
}

// Agents may not open or change plans (nor see the tab), and every plan
// post needs the session's CSRF token; neither changes anything.
func TestQMPlanAccessAndCSRF(t *testing.T) {
	e, formID := newQMEnv(t)
	ctx := context.Background()
	pl, err := e.srv.Svc.CreatePlan(ctx, e.admin, vault.Plan{Name: "Weekly", FormID: formID, Evaluators: []string{"sup"},
		Agents: []string{"/Anthony"}, PerAgent: 1, Every: vault.EveryWeek, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	before := e.plans()[0]
	form := planValues(formID)
	form.Set("category", "")
	posts := map[string]url.Values{"/qm/plans": form, "/qm/plans/" + pl.ID: form, "/qm/plans/" + pl.ID + "/delete": {}}

	agent := e.login("agent_103001@acme", "password-agent_103001")
	for _, path := range []string{"/qm/plans", "/qm/plans/" + pl.ID, "/qm/plans/" + pl.ID + "/delete"} {
		wantStatus(t, agent.get(path), 403, "You may not open this page")
	}
	for path, values := range posts {
		wantStatus(t, agent.post(path, cloneForm(values), true), 403, "You may not open this page")
	}
	if r := agent.get("/qm/evaluations"); strings.Contains(r.body, `href="/qm/plans"`) {
		t.Fatal("an agent is offered the plans tab")
	}

	sup := e.login("sup@acme", "password-sup")
	wantStatus(t, sup.get("/qm/plans"), 200, `href="/qm/plans/`+pl.ID+`"`)
	for path, values := range posts {
		wantStatus(t, sup.post(path, cloneForm(values), false), 403, "The form has expired.") // no token
		f := cloneForm(values)
		f.Set("csrf", "not-the-token")
		wantStatus(t, sup.post(path, f, false), 403, "The form has expired.")
	}
	wantStatus(t, e.login("admin@acme", adminPassword).get("/qm/plans/"+pl.ID), 200, `value="Weekly"`)

	list := e.plans()
	if len(list) != 1 || list[0].Name != "Weekly" || !slices.Equal(list[0].Agents, []string{"/Anthony"}) || !list[0].UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("a refused post changed the plans: %+v", list)
	}
}

// sameFilter compares plan filters (times by instant).
func sameFilter(a, b vault.PlanFilter) bool {
	return a.StartFrom.Equal(b.StartFrom) && a.StartTo.Equal(b.StartTo) && a.Partition == b.Partition &&
		a.MinDurationSec == b.MinDurationSec && a.Category == b.Category
}
