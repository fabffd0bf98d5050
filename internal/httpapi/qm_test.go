package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"callvault/internal/vault"
)

// qmForm is the form of the QM tests, internal/qm's scoring table's
// (weights 1, 2 and 3, a critical, a fatal, a conditional and a text
// question, an empty group), with the id "service".
var qmForm = func() string {
	b, err := os.ReadFile("../qm/testdata/service-form.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// qmUsers are the guide's hierarchy example, its supervisors, and a QA
// lead who sees everything.
func (e *env) qmUsers() {
	e.t.Helper()
	users := []struct{ name, role, hierarchy, group string }{
		{"Agent1", "agent", "/Anthony/John", ""},
		{"Agent2", "agent", "/Anthony/John", ""},
		{"Agent3", "agent", "/Anthony/Paul", ""},
		{"anthony", "supervisor", "", "/Anthony"},
		{"john", "supervisor", "", "/Anthony/John"},
		{"paul", "supervisor", "", "/Anthony/Paul"},
		{"qa", "supervisor", "", "/"},
	}
	for _, u := range users {
		body := map[string]any{"userName": u.name, "password": "password-" + u.name, "roles": []string{u.role}, "accessGroups": []string{}}
		if u.hierarchy != "" {
			body["agentHierarchy"] = u.hierarchy
		}
		if u.group != "" {
			body["accessGroups"] = []string{u.group}
		}
		b, _ := json.Marshal(body)
		if r := e.admin("POST", "/api/v2/users", "application/json", bytes.NewReader(b)); r.status != 201 {
			e.t.Fatalf("create %s: %d %s", u.name, r.status, r.body)
		}
	}
}

// as sends a JSON request as one of qmUsers.
func (e *env) as(user, method, path, body string) resp {
	e.t.Helper()
	var rd *strings.Reader
	ct := ""
	if body != "" {
		rd, ct = strings.NewReader(body), "application/json"
	}
	if rd == nil {
		return e.do(method, path, user+"@acme", "password-"+user, ct, nil)
	}
	return e.do(method, path, user+"@acme", "password-"+user, ct, rd)
}

// putCall stores a call's metadata: agent joined, start and stop times.
func (e *env) putCall(id, agent string, start time.Time, length time.Duration) {
	e.t.Helper()
	doc := map[string]any{"id": id, "startTime": start.UTC().Format(time.RFC3339Nano), "stopTime": start.Add(length).UTC().Format(time.RFC3339Nano),
		"eventHistory": []any{map[string]any{"occurredAt": start.UTC().Format(time.RFC3339Nano), "event": "Joined", "calluuid": id,
			"contact": map[string]any{"type": "User", "userName": agent}}}}
	b, _ := json.Marshal(doc)
	if r := e.admin("PUT", "/api/v2/recordings/"+id, "application/json", bytes.NewReader(b)); r.status != 200 {
		e.t.Fatalf("put %s: %d %s", id, r.status, r.body)
	}
}

type evaluationJSON struct {
	ID, RecordingID, Agent, Team, Evaluator, FormID, Kind, State, Supersedes, SupersededBy, PlanID, CalibrationID string
	Version, Revision                                                                                             int
	Score                                                                                                         *struct {
		Total, Critical *float64
		Fatal           bool
	}
	Answers []struct {
		Question string
		Answer   *string
		NA       bool
		Comment  string
		AtMs     *int64
	}
	Dispute, SignOff, Declined *struct{ By, Comment string }
}

func decodeAs[T any](t *testing.T, r resp, status int) T {
	t.Helper()
	var v T
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return v
}

func near(got *float64, want float64) bool { return got != nil && math.Abs(*got-want) < 1e-6 }

func TestQualityManagement(t *testing.T) {
	e := newEnv(t, 0)
	e.qmUsers()
	start := e.clock().Add(-2 * time.Hour)
	e.putCall("r-agent1", "Agent1", start, 5*time.Minute)
	e.putCall("r-agent2", "Agent2", start.Add(time.Minute), 5*time.Minute)
	e.putCall("r-agent3", "Agent3", start.Add(2*time.Minute), 5*time.Minute)

	// Forms: validation, roles, drafts and immutable versions.
	for name, doc := range map[string]string{
		"a condition naming a later question": strings.Replace(qmForm, `"visibleWhen": {"question": "q3"`, `"visibleWhen": {"question": "q6"`, 1),
		"a negative weight":                   strings.Replace(qmForm, `"weight": 2`, `"weight": -2`, 1),
		"a duplicate id":                      strings.Replace(qmForm, `"id": "q6"`, `"id": "q1"`, 1),
		"no answers": strings.Replace(qmForm, `"type": "choice", "naAllowed": true, "critical": true,
       "answers": [{"id": "good", "text": "Good", "points": 3}, {"id": "ok", "text": "OK", "points": 1}, {"id": "bad", "text": "Bad", "points": 0}]`, `"type": "choice", "answers": []`, 1),
	} {
		r := e.postJSON("POST", "/api/v2/qm/forms", doc)
		wantError(t, r, 400, "invalid")
		t.Logf("%s: %s", name, r.json(t)["message"])
	}
	wantError(t, e.as("Agent1", "POST", "/api/v2/qm/forms", qmForm), 403, "forbidden")
	if r := e.as("john", "POST", "/api/v2/qm/forms", qmForm); r.status != 201 {
		t.Fatalf("create form: %d %s", r.status, r.body)
	}
	wantError(t, e.as("john", "POST", "/api/v2/qm/forms", qmForm), 409, "conflict")
	wantError(t, e.as("john", "POST", "/api/v2/qm/evaluations", `{"recordingId":"r-agent1","formId":"service","evaluator":"john"}`), 404, "not_found") // not published
	v1 := decodeAs[map[string]any](t, e.as("john", "POST", "/api/v2/qm/forms/service/publish", ""), 201)
	if v1["version"] != 1.0 {
		t.Fatalf("first publish: %v", v1)
	}
	renamed := strings.Replace(qmForm, `"name": "Service call"`, `"name": "Service call v2"`, 1)
	if r := e.as("john", "PUT", "/api/v2/qm/forms/service", renamed); r.status != 200 {
		t.Fatalf("update draft: %d %s", r.status, r.body)
	}
	decodeAs[map[string]any](t, e.as("john", "POST", "/api/v2/qm/forms/service/publish", ""), 201)
	old := decodeAs[map[string]any](t, e.as("john", "GET", "/api/v2/qm/forms/service/versions/1", ""), 200)
	if old["name"] != "Service call" {
		t.Errorf("version 1 changed with the draft: %v", old["name"])
	}
	versions := decodeAs[struct {
		Versions      []struct{ Version int }
		LatestVersion int
	}](t, e.as("john", "GET", "/api/v2/qm/forms/service/versions", ""), 200)
	if len(versions.Versions) != 2 || versions.LatestVersion != 2 {
		t.Errorf("versions = %+v", versions)
	}

	// Who may evaluate what: the guide's example. John's supervisor scope
	// is /Anthony/John: he cannot evaluate Paul's team's call, and cannot
	// be assigned one by anthony, who sees both teams.
	wantError(t, e.as("john", "POST", "/api/v2/qm/evaluations", `{"recordingId":"r-agent3","formId":"service","evaluator":"john"}`), 404, "not_found")
	r := e.as("anthony", "POST", "/api/v2/qm/evaluations", `{"recordingId":"r-agent3","formId":"service","evaluator":"john"}`)
	wantError(t, r, 403, "forbidden")
	if !strings.Contains(r.json(t)["message"].(string), `"john" may not see recording "r-agent3"`) {
		t.Errorf("message = %s", r.body)
	}
	wantError(t, e.as("Agent1", "POST", "/api/v2/qm/evaluations", `{"recordingId":"r-agent1","formId":"service","evaluator":"john"}`), 403, "forbidden")
	wantError(t, e.as("anthony", "POST", "/api/v2/qm/evaluations", `{"recordingId":"r-agent1","formId":"service","evaluator":"Agent2"}`), 403, "forbidden")
	// Many at once is all or none.
	r = e.as("anthony", "POST", "/api/v2/qm/evaluations", `[{"recordingId":"r-agent1","formId":"service","version":1,"evaluator":"john"},
		{"recordingId":"r-agent3","formId":"service","evaluator":"john"}]`)
	wantError(t, r, 403, "forbidden")
	if !strings.Contains(r.json(t)["message"].(string), "evaluation 2:") {
		t.Errorf("batch error does not name the request: %s", r.body)
	}
	if list := decodeAs[struct{ Evaluations []evaluationJSON }](t, e.as("qa", "GET", "/api/v2/qm/evaluations", ""), 200); len(list.Evaluations) != 0 {
		t.Fatalf("a refused batch left %d evaluations", len(list.Evaluations))
	}
	batch := decodeAs[struct{ Evaluations []evaluationJSON }](t, e.as("anthony", "POST", "/api/v2/qm/evaluations",
		`[{"recordingId":"r-agent1","formId":"service","version":1,"evaluator":"john"},{"recordingId":"r-agent3","formId":"service","evaluator":"paul"}]`), 201)
	if len(batch.Evaluations) != 2 {
		t.Fatalf("batch = %+v", batch)
	}
	ev, ev3 := batch.Evaluations[0], batch.Evaluations[1]
	if ev.Agent != "Agent1" || ev.Team != "/Anthony/John" || ev.Version != 1 || ev.State != "assigned" || ev3.Version != 2 {
		t.Fatalf("assigned = %+v / %+v", ev, ev3)
	}

	// Agents do not see what is not submitted; other supervisors do not
	// see another team's evaluations.
	wantError(t, e.as("Agent1", "GET", "/api/v2/qm/evaluations/"+ev.ID, ""), 404, "not_found")
	wantError(t, e.as("paul", "GET", "/api/v2/qm/evaluations/"+ev.ID, ""), 404, "not_found")
	wantError(t, e.as("paul", "PUT", "/api/v2/qm/evaluations/"+ev.ID, `{"answers":[]}`), 404, "not_found")
	wantError(t, e.as("anthony", "PUT", "/api/v2/qm/evaluations/"+ev.ID, `{"answers":[]}`), 403, "forbidden") // not the evaluator

	// Save and continue, then submit.
	saved := decodeAs[evaluationJSON](t, e.as("john", "PUT", "/api/v2/qm/evaluations/"+ev.ID,
		`{"answers":[{"question":"q2","answer":"ok","comment":"flat at 0:42","atMs":42000},{"question":"q3","answer":"yes"}]}`), 200)
	if saved.State != "draft" || len(saved.Answers) != 2 || saved.Answers[0].AtMs == nil || *saved.Answers[0].AtMs != 42000 {
		t.Fatalf("saved = %+v", saved)
	}
	wantError(t, e.as("john", "PUT", "/api/v2/qm/evaluations/"+ev.ID, `{"answers":[{"question":"q1","na":true}]}`), 400, "invalid")
	r = e.as("john", "POST", "/api/v2/qm/evaluations/"+ev.ID+"/submit", "")
	wantError(t, r, 400, "invalid")
	if msg := r.json(t)["message"].(string); !strings.Contains(msg, "q1") || !strings.Contains(msg, "q4") {
		t.Errorf("submit without required answers: %s", msg)
	}
	sub := decodeAs[evaluationJSON](t, e.as("john", "POST", "/api/v2/qm/evaluations/"+ev.ID+"/submit",
		`{"answers":[{"question":"q1","answer":"yes"},{"question":"q2","answer":"ok","comment":"flat at 0:42","atMs":42000},
		{"question":"q3","answer":"yes"},{"question":"q4","answer":"yes"},{"question":"q6","na":true}]}`), 200)
	// Hand-computed (internal/qm TestScore's first case): total 86.67,
	// critical 77.78.
	if sub.State != "submitted" || sub.Score == nil || !near(sub.Score.Total, 260.0/3) || !near(sub.Score.Critical, (1.0/3+2)/3*100) || sub.Score.Fatal {
		t.Fatalf("submitted = %+v score %+v", sub, sub.Score)
	}
	wantError(t, e.as("john", "PUT", "/api/v2/qm/evaluations/"+ev.ID, `{"answers":[]}`), 409, "conflict")

	// The agent sees it now; another agent does not.
	mine := decodeAs[struct{ Evaluations []evaluationJSON }](t, e.as("Agent1", "GET", "/api/v2/qm/evaluations", ""), 200)
	if len(mine.Evaluations) != 1 || mine.Evaluations[0].ID != ev.ID {
		t.Fatalf("Agent1's evaluations = %+v", mine.Evaluations)
	}
	wantError(t, e.as("Agent2", "GET", "/api/v2/qm/evaluations/"+ev.ID, ""), 404, "not_found")
	wantError(t, e.as("Agent2", "POST", "/api/v2/qm/evaluations/"+ev.ID+"/signoff", ""), 404, "not_found")

	// Dispute, rescore (a new version; the old one retracted on submit),
	// dispute again, decline, sign off.
	wantError(t, e.as("Agent1", "POST", "/api/v2/qm/evaluations/"+ev.ID+"/dispute", `{"comment":""}`), 400, "invalid")
	disputed := decodeAs[evaluationJSON](t, e.as("Agent1", "POST", "/api/v2/qm/evaluations/"+ev.ID+"/dispute", `{"comment":"I did offer more help"}`), 200)
	if disputed.State != "disputed" || disputed.Dispute == nil || disputed.Dispute.Comment != "I did offer more help" {
		t.Fatalf("disputed = %+v", disputed)
	}
	wantError(t, e.as("Agent1", "POST", "/api/v2/qm/evaluations/"+ev.ID+"/rescore", ""), 403, "forbidden")
	re := decodeAs[evaluationJSON](t, e.as("john", "POST", "/api/v2/qm/evaluations/"+ev.ID+"/rescore", ""), 201)
	if re.Supersedes != ev.ID || re.Revision != 2 || re.State != "draft" || len(re.Answers) != 5 {
		t.Fatalf("rescore = %+v", re)
	}
	wantError(t, e.as("john", "POST", "/api/v2/qm/evaluations/"+ev.ID+"/rescore", ""), 409, "conflict")
	resub := decodeAs[evaluationJSON](t, e.as("john", "POST", "/api/v2/qm/evaluations/"+re.ID+"/submit",
		`{"answers":[{"question":"q1","answer":"yes"},{"question":"q2","answer":"ok"},{"question":"q3","answer":"yes"},{"question":"q4","answer":"yes"},{"question":"q6","answer":"yes"}]}`), 200)
	// Greeting 0.6×1, Compliance 1×2, Closing 1×3: 5.6/6 = 93.33.
	if !near(resub.Score.Total, 5.6/6*100) {
		t.Errorf("rescored total = %v", *resub.Score.Total)
	}
	retracted := decodeAs[evaluationJSON](t, e.as("Agent1", "GET", "/api/v2/qm/evaluations/"+ev.ID, ""), 200)
	if retracted.State != "retracted" || retracted.SupersededBy != re.ID {
		t.Errorf("old evaluation = %s superseded by %q", retracted.State, retracted.SupersededBy)
	}
	decodeAs[evaluationJSON](t, e.as("Agent1", "POST", "/api/v2/qm/evaluations/"+re.ID+"/dispute", `{"comment":"still low"}`), 200)
	wantError(t, e.as("john", "POST", "/api/v2/qm/evaluations/"+re.ID+"/decline", ""), 400, "invalid")
	declined := decodeAs[evaluationJSON](t, e.as("john", "POST", "/api/v2/qm/evaluations/"+re.ID+"/decline", `{"comment":"the score stands"}`), 200)
	if declined.State != "submitted" || declined.Declined == nil {
		t.Fatalf("declined = %+v", declined)
	}
	wantError(t, e.as("Agent1", "POST", "/api/v2/qm/evaluations/"+re.ID+"/dispute", `{"comment":"again"}`), 409, "conflict")
	if s := decodeAs[evaluationJSON](t, e.as("Agent1", "POST", "/api/v2/qm/evaluations/"+re.ID+"/signoff", `{"comment":"ok"}`), 200); s.State != "signedOff" {
		t.Fatalf("signed off = %+v", s)
	}

	// Paul's evaluation of Agent3, with a fatal answer.
	decodeAs[evaluationJSON](t, e.as("paul", "POST", "/api/v2/qm/evaluations/"+ev3.ID+"/submit",
		`{"answers":[{"question":"q1","answer":"yes"},{"question":"q3","answer":"no"}]}`), 200)

	// Lists by filter, under the viewer rule.
	if l := decodeAs[struct{ Evaluations []evaluationJSON }](t, e.as("john", "GET", "/api/v2/qm/evaluations?state=signedOff,retracted", ""), 200); len(l.Evaluations) != 2 {
		t.Errorf("john's signedOff+retracted = %d", len(l.Evaluations))
	}
	if l := decodeAs[struct{ Evaluations []evaluationJSON }](t, e.as("john", "GET", "/api/v2/qm/evaluations?agent=Agent3", ""), 200); len(l.Evaluations) != 0 {
		t.Errorf("john sees Agent3's evaluations: %+v", l.Evaluations)
	}
	wantError(t, e.as("john", "GET", "/api/v2/qm/evaluations?colour=red", ""), 400, "invalid")
	wantError(t, e.as("john", "GET", "/api/v2/qm/evaluations?state=done", ""), 400, "invalid")

	// The agents' report: averages per agent and team, under the rule.
	q := url.Values{"from": {e.clock().Add(-24 * time.Hour).Format(time.RFC3339)}, "to": {e.clock().Add(time.Hour).Format(time.RFC3339)}}
	type report struct {
		Agents, Teams []struct {
			Agent, Team     string
			Count, Fatal    int
			Total, Critical *float64
		}
		States map[string]int
	}
	all := decodeAs[report](t, e.as("qa", "GET", "/api/v2/qm/reports/agents?"+q.Encode(), ""), 200)
	if len(all.Agents) != 2 || all.Agents[0].Agent != "Agent1" || !near(all.Agents[0].Total, 5.6/6*100) || all.Agents[1].Fatal != 1 || !near(all.Agents[1].Total, 0) {
		t.Errorf("qa's report agents = %+v", all.Agents)
	}
	if all.States["signedOff"] != 1 || all.States["retracted"] != 1 || all.States["submitted"] != 1 {
		t.Errorf("states = %v", all.States)
	}
	teams := map[string]float64{}
	for _, tm := range all.Teams {
		teams[tm.Team] = *tm.Total
	}
	if math.Abs(teams["/Anthony"]-5.6/6*100/2) > 1e-6 || len(teams) != 3 {
		t.Errorf("teams = %v", teams)
	}
	johns := decodeAs[report](t, e.as("john", "GET", "/api/v2/qm/reports/agents?"+q.Encode(), ""), 200)
	if len(johns.Agents) != 1 || johns.Agents[0].Agent != "Agent1" {
		t.Errorf("john's report = %+v", johns.Agents)
	}
	agents := decodeAs[report](t, e.as("Agent3", "GET", "/api/v2/qm/reports/agents?"+q.Encode(), ""), 200)
	if len(agents.Agents) != 1 || agents.Agents[0].Agent != "Agent3" {
		t.Errorf("Agent3's report = %+v", agents.Agents)
	}
	wantError(t, e.as("qa", "GET", "/api/v2/qm/reports/agents?interval=year", ""), 400, "invalid")

	// Calibration: qa is the expert, john and anthony evaluate too.
	cal := decodeAs[struct {
		ID          string
		Evaluations []evaluationJSON
	}](t, e.as("anthony", "POST", "/api/v2/qm/calibrations", `{"name":"November","recordingId":"r-agent2","formId":"service","expert":"qa","evaluators":["john","anthony"]}`), 201)
	if len(cal.Evaluations) != 3 {
		t.Fatalf("calibration evaluations = %d", len(cal.Evaluations))
	}
	wantError(t, e.as("anthony", "POST", "/api/v2/qm/calibrations", `{"recordingId":"r-agent2","formId":"service","expert":"qa","evaluators":["paul"]}`), 403, "forbidden")
	answers := map[string]string{
		"qa":      `{"answers":[{"question":"q1","answer":"yes"},{"question":"q2","answer":"good"},{"question":"q3","answer":"yes"},{"question":"q4","answer":"yes"},{"question":"q6","answer":"yes"}]}`,
		"john":    `{"answers":[{"question":"q1","answer":"yes"},{"question":"q2","answer":"ok"},{"question":"q3","answer":"yes"},{"question":"q4","answer":"yes"},{"question":"q6","na":true}]}`,
		"anthony": `{"answers":[{"question":"q1","answer":"yes"},{"question":"q2","answer":"good"},{"question":"q3","answer":"yes"},{"question":"q4","answer":"yes"},{"question":"q6","answer":"yes"}]}`,
	}
	for _, ce := range cal.Evaluations {
		if ce.Kind != "calibration" {
			t.Errorf("calibration evaluation kind %q", ce.Kind)
		}
		if ce.Evaluator == "john" {
			// Blind: before john submits he sees the others' states,
			// not their answers or scores, and no report.
			blind := decodeAs[struct {
				Evaluations []evaluationJSON
				Report      struct{ Evaluators []any }
			}](t, e.as("john", "GET", "/api/v2/qm/calibrations/"+cal.ID, ""), 200)
			for _, other := range blind.Evaluations {
				if other.Evaluator != "john" && (len(other.Answers) > 0 || other.Score != nil) {
					t.Errorf("john sees %s's answers before submitting: %+v", other.Evaluator, other)
				}
			}
			if len(blind.Report.Evaluators) != 0 {
				t.Errorf("john sees the report before submitting")
			}
			peek := decodeAs[evaluationJSON](t, e.as("john", "GET", "/api/v2/qm/evaluations/"+cal.Evaluations[0].ID, ""), 200)
			if len(peek.Answers) > 0 || peek.Score != nil {
				t.Errorf("john sees the expert's answers before submitting: %+v", peek)
			}
		}
		decodeAs[evaluationJSON](t, e.as(ce.Evaluator, "POST", "/api/v2/qm/evaluations/"+ce.ID+"/submit", answers[ce.Evaluator]), 200)
	}
	calRep := decodeAs[struct {
		Report struct {
			ExpertSubmitted bool
			Evaluators      []struct {
				Evaluator                 string
				TotalDeviation, Agreement *float64
				MeanAbsDeviation          *float64
				Questions                 []struct {
					Question  string
					Deviation *float64
				}
			}
		}
	}](t, e.as("anthony", "GET", "/api/v2/qm/calibrations/"+cal.ID, ""), 200)
	devs := map[string]float64{}
	for _, ev := range calRep.Report.Evaluators {
		devs[ev.Evaluator] = *ev.TotalDeviation
		if ev.Evaluator == "john" && !near(ev.Agreement, 60) {
			t.Errorf("john's agreement = %v", *ev.Agreement)
		}
	}
	if !calRep.Report.ExpertSubmitted || math.Abs(devs["john"]-(260.0/3-100)) > 1e-6 || devs["anthony"] != 0 {
		t.Errorf("calibration deviations = %v", devs)
	}
	wantError(t, e.as("paul", "GET", "/api/v2/qm/calibrations/"+cal.ID, ""), 404, "not_found")
	// Calibrations are not the agent's evaluations.
	if l := decodeAs[struct{ Evaluations []evaluationJSON }](t, e.as("Agent2", "GET", "/api/v2/qm/evaluations", ""), 200); len(l.Evaluations) != 0 {
		t.Errorf("Agent2 sees calibration evaluations: %+v", l.Evaluations)
	}

	// Every step is in the audit trail.
	for _, action := range []string{"qm.form.create", "qm.form.publish", "qm.evaluation.assign", "qm.evaluation.save", "qm.evaluation.submit",
		"qm.evaluation.dispute", "qm.evaluation.rescore", "qm.evaluation.decline", "qm.evaluation.signoff", "qm.calibration.create"} {
		a := decodeAs[struct {
			Entries []struct{ Action, User string }
		}](t, e.admin("GET", "/api/v2/audit?action="+action, "", nil), 200)
		if len(a.Entries) == 0 {
			t.Errorf("no audit entry %s", action)
		}
	}

	// Deleting the recording deletes its evaluations and calibration.
	if r := e.admin("DELETE", "/api/v2/recordings/r-agent2", "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, e.as("qa", "GET", "/api/v2/qm/calibrations/"+cal.ID, ""), 404, "not_found")
	wantError(t, e.as("qa", "GET", "/api/v2/qm/evaluations/"+cal.Evaluations[0].ID, ""), 404, "not_found")
}

// TestQMPlanOverTwoPeriods runs a weekly plan with a fixed clock: each
// period's evaluations are created once it is over, PerAgent per agent of
// the team, from that week's eligible calls only, never twice.
func TestQMPlanOverTwoPeriods(t *testing.T) {
	e := newEnv(t, 0)
	e.qmUsers()
	if r := e.postJSON("POST", "/api/v2/qm/forms", qmForm); r.status != 201 {
		t.Fatalf("form: %d %s", r.status, r.body)
	}
	decodeAs[map[string]any](t, e.postJSON("POST", "/api/v2/qm/forms/service/publish", ""), 201)

	// Week 1 starts Monday 2026-11-02, week 2 on the 9th.
	week1 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	e.mu.Lock()
	e.now = week1.Add(-time.Hour)
	e.mu.Unlock()
	calls := map[string]int{} // recording id → week
	for w, monday := range []time.Time{week1, week1.AddDate(0, 0, 7)} {
		for i := range 3 {
			for _, agent := range []string{"Agent1", "Agent2", "Agent3"} {
				id := fmt.Sprintf("w%d-%s-%d", w+1, agent, i)
				e.putCall(id, agent, monday.Add(time.Duration(24*i+10)*time.Hour), 4*time.Minute)
				calls[id] = w + 1
			}
		}
		// Too short for the plan's filter.
		e.putCall(fmt.Sprintf("w%d-Agent1-short", w+1), "Agent1", monday.Add(50*time.Hour), 10*time.Second)
	}
	wantError(t, e.as("john", "POST", "/api/v2/qm/plans", `{"name":"P","formId":"service","evaluators":["john"],"agents":["/Anthony/John"],"perAgent":2,"every":"fortnight"}`), 400, "invalid")
	wantError(t, e.as("Agent1", "POST", "/api/v2/qm/plans", `{"name":"P","formId":"service","evaluators":["john"],"agents":["/Anthony/John"],"perAgent":2,"every":"week"}`), 403, "forbidden")
	plan := decodeAs[struct{ ID string }](t, e.as("john", "POST", "/api/v2/qm/plans",
		`{"name":"John's team weekly","formId":"service","evaluators":["john","paul"],"agents":["/Anthony/John"],"perAgent":2,"every":"week",
		  "firstPeriod":"2026-11-02T00:00:00Z","filter":{"minDurationSec":60}}`), 201)

	planEvaluations := func() []evaluationJSON {
		t.Helper()
		l := decodeAs[struct{ Evaluations []evaluationJSON }](t, e.as("qa", "GET", "/api/v2/qm/evaluations?planId="+plan.ID+"&limit=200", ""), 200)
		return l.Evaluations
	}
	run := func() {
		t.Helper()
		if err := e.srv.Svc.RunDuePlans(context.Background(), "acme"); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want map[int]int) {
		t.Helper()
		got := map[int]int{}
		seen := map[string]bool{}
		perAgent := map[string]int{}
		for _, ev := range planEvaluations() {
			if seen[ev.RecordingID] {
				t.Errorf("recording %s evaluated twice by the plan", ev.RecordingID)
			}
			seen[ev.RecordingID] = true
			week, ok := calls[ev.RecordingID]
			if !ok {
				t.Errorf("the plan picked %s (too short, or not the team's)", ev.RecordingID)
			}
			if ev.Agent == "Agent3" || ev.Evaluator != "john" || ev.State != "assigned" || ev.Version != 1 {
				t.Errorf("plan evaluation %+v", ev)
			}
			got[week]++
			perAgent[fmt.Sprint(week, ev.Agent)]++
		}
		for k, n := range perAgent {
			if n != 2 {
				t.Errorf("%s: %d evaluations, want 2", k, n)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("evaluations by week = %v, want %v", got, want)
		}
	}
	run() // week 1 not over: nothing
	check(map[int]int{})
	e.advance(8 * 24 * time.Hour) // Tuesday of week 2
	run()
	check(map[int]int{1: 4})
	run() // again: nothing new
	check(map[int]int{1: 4})
	// Week 2 through the queue: the tenant sweep (run on start) queues
	// the due plan's job.
	e.advance(7 * 24 * time.Hour)
	e.runJobs()
	for deadline := time.Now().Add(30 * time.Second); len(planEvaluations()) < 8; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the plan job did not create week 2's evaluations: %d", len(planEvaluations()))
		}
	}
	check(map[int]int{1: 4, 2: 4})

	p := decodeAs[struct {
		DoneThrough time.Time
		LastRun     struct {
			Created     int
			PeriodStart time.Time
		}
	}](t, e.as("john", "GET", "/api/v2/qm/plans/"+plan.ID, ""), 200)
	if !p.DoneThrough.Equal(week1.AddDate(0, 0, 14)) || p.LastRun.Created != 4 || !p.LastRun.PeriodStart.Equal(week1.AddDate(0, 0, 7)) {
		t.Errorf("plan = %+v", p)
	}
	// A monthly plan of Paul's team's calls that speech analytics put in
	// a category: only two of Agent3's calls are, so one is short.
	for _, id := range []string{"w1-Agent3-0", "w2-Agent3-2"} {
		if err := e.srv.Svc.Store.PutAnalysis(context.Background(), vault.Analysis{Tenant: "acme", RecordingID: id, Status: vault.AnalysisDone,
			Categories: []string{"Churn risk"}, Events: []vault.Event{}, AnalyzedAt: e.clock()}); err != nil {
			t.Fatal(err)
		}
	}
	paused := decodeAs[struct {
		ID     string
		Active bool
	}](t, e.as("paul", "POST", "/api/v2/qm/plans",
		`{"name":"Paused","formId":"service","evaluators":["paul"],"agents":["Agent3"],"perAgent":1,"every":"week","firstPeriod":"2026-11-02T00:00:00Z","active":false}`), 201)
	if paused.Active {
		t.Errorf("a plan created paused is active")
	}
	monthly := decodeAs[struct{ ID string }](t, e.as("paul", "POST", "/api/v2/qm/plans",
		`{"name":"Churn calls","formId":"service","evaluators":["paul"],"agents":["Agent3"],"perAgent":3,"every":"month",
		  "firstPeriod":"2026-11-01T00:00:00Z","filter":{"category":"Churn risk"}}`), 201)
	e.mu.Lock()
	e.now = time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC)
	e.mu.Unlock()
	run()
	churn := decodeAs[struct{ Evaluations []evaluationJSON }](t, e.as("qa", "GET", "/api/v2/qm/evaluations?planId="+monthly.ID, ""), 200)
	var got []string
	for _, ev := range churn.Evaluations {
		got = append(got, ev.RecordingID)
	}
	slices.Sort(got)
	if want := []string{"w1-Agent3-0", "w2-Agent3-2"}; !slices.Equal(got, want) {
		t.Errorf("category plan picked %v, want %v", got, want)
	}
	if l := decodeAs[struct{ Evaluations []evaluationJSON }](t, e.as("qa", "GET", "/api/v2/qm/evaluations?planId="+paused.ID, ""), 200); len(l.Evaluations) != 0 {
		t.Errorf("a paused plan created %d evaluations", len(l.Evaluations))
	}
	mp := decodeAs[struct {
		LastRun struct{ Short map[string]int }
	}](t, e.as("paul", "GET", "/api/v2/qm/plans/"+monthly.ID, ""), 200)
	if mp.LastRun.Short["Agent3"] != 1 {
		t.Errorf("short = %v, want Agent3 short by 1", mp.LastRun.Short)
	}

	// A supervisor plans only agents under his groups, and sees, changes
	// and deletes only such plans.
	wantError(t, e.as("john", "POST", "/api/v2/qm/plans", `{"name":"P","formId":"service","evaluators":["john"],"agents":["Agent3"],"perAgent":1,"every":"week"}`), 403, "forbidden")
	wantError(t, e.as("john", "POST", "/api/v2/qm/plans", `{"name":"P","formId":"service","evaluators":["john"],"agents":["/Anthony"],"perAgent":1,"every":"week"}`), 403, "forbidden")
	wantError(t, e.as("john", "GET", "/api/v2/qm/plans/"+monthly.ID, ""), 404, "not_found")
	wantError(t, e.as("john", "DELETE", "/api/v2/qm/plans/"+monthly.ID, ""), 404, "not_found")
	if l := decodeAs[struct{ Plans []struct{ ID string } }](t, e.as("qa", "GET", "/api/v2/qm/plans", ""), 200); len(l.Plans) != 3 {
		t.Errorf("qa's plans = %+v, want all three", l.Plans)
	}
	plans := decodeAs[struct{ Plans []struct{ ID string } }](t, e.as("john", "GET", "/api/v2/qm/plans", ""), 200)
	if len(plans.Plans) != 1 || plans.Plans[0].ID != plan.ID {
		t.Errorf("plans = %+v", plans)
	}
	if r := e.as("john", "DELETE", "/api/v2/qm/plans/"+plan.ID, ""); r.status != 204 {
		t.Errorf("delete plan: %d %s", r.status, r.body)
	}
	if n := len(planEvaluations()); n != 8 {
		t.Errorf("deleting the plan removed its evaluations: %d left", n)
	}
}
