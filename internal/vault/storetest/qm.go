package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"callvault/internal/vault"
)

// testQM pins down vault.QMStore, each part on a store of its own.
// Besides what the interface documents, it pins down:
//   - times come back in UTC to the millisecond, in the documents too; a
//     zero CreatedAt is stamped with the store's clock, a zero UpdatedAt
//     with CreatedAt; objects come back whole (as JSON, equal to what was
//     stored) with the tenant they were read in;
//   - a draft is Version 0 whatever fn sets, and fn cannot change which
//     form, evaluation or plan it is; FormInfo.Versions is never nil;
//   - effects are written with the change or not at all: a conflict, a
//     missing recording, a failing fn or a failing queue leave the audit,
//     the jobs and the rows as they were;
//   - UpdateEvaluations returns the named evaluations as saved, in the
//     order given, then the new ones; new evaluations made by
//     UpdateEvaluations and UpdatePlan are of the call's tenant;
//   - a rescore (Supersedes set) is not a plan's second evaluation of its
//     recording; PlanRecordings lists each recording once, by id, and its
//     evaluations outlive the plan;
//   - the visibility rule is an OR: Access (All, groups, or an agent's own
//     recordings by UserName), the evaluator, the agent of a finished
//     evaluation; an empty viewer sees nothing; EvaluationCounts has
//     entries only for states with evaluations;
//   - ScoreBuckets groups by agent, team and day (an agent who changed
//     teams has a bucket per team), ordered by agent, day, team; from is
//     inclusive, to exclusive.
func testQM(t *testing.T, fresh func(t *testing.T) (vault.Store, *fakeQueue)) {
	t.Run("Forms", func(t *testing.T) {
		s, _ := fresh(t)
		testQMForms(t, s)
	})
	t.Run("ConcurrentPublish", func(t *testing.T) {
		s, _ := fresh(t)
		testQMConcurrentPublish(t, s)
	})
	t.Run("CreateEvaluations", func(t *testing.T) { testQMCreateEvaluations(t, fresh) })
	t.Run("UpdateEvaluations", func(t *testing.T) { testQMUpdateEvaluations(t, fresh) })
	t.Run("ConcurrentUpdates", func(t *testing.T) {
		s, _ := fresh(t)
		testQMConcurrentUpdates(t, s)
	})
	t.Run("Lists", func(t *testing.T) {
		s, _ := fresh(t)
		testQMLists(t, s)
	})
	t.Run("ScoreBuckets", func(t *testing.T) {
		s, _ := fresh(t)
		testQMScoreBuckets(t, s)
	})
	t.Run("Calibrations", func(t *testing.T) {
		s, _ := fresh(t)
		testQMCalibrations(t, s)
	})
	t.Run("Plans", func(t *testing.T) {
		s, _ := fresh(t)
		testQMPlans(t, s)
	})
	t.Run("DeleteRecording", func(t *testing.T) {
		s, _ := fresh(t)
		testQMDeleteRecording(t, s)
	})
}

// qmTeams are the agents' hierarchies: John's team and Paul's, under
// Anthony.
var qmTeams = map[string]string{"Agent1": "/Anthony/John", "Agent2": "/Anthony/John", "Agent3": "/Anthony/Paul"}

// qmRecordings makes tenants acme and globex and their recordings: acme's
// r1 and r4 of Agent1, r2 of Agent2 (John's team), r3 of Agent3 (Paul's);
// globex's r1 of its own Agent1.
func qmRecordings(t *testing.T, s vault.Store) {
	t.Helper()
	mustTenants(t, s, "acme", "globex")
	for i, agent := range []string{"Agent1", "Agent2", "Agent3", "Agent1"} {
		put(t, s, vault.Recording{Tenant: "acme", ID: fmt.Sprintf("r%d", i+1), StartTime: base.Add(time.Duration(i) * time.Minute),
			Agents: []string{agent}, Groups: []string{"/Anthony", qmTeams[agent]}})
	}
	put(t, s, vault.Recording{Tenant: "globex", ID: "r1", StartTime: base, Agents: []string{"Agent1"},
		Groups: []string{"/Anthony", "/Anthony/John"}})
}

func score(total, critical *float64, fatal bool) *vault.Score {
	return &vault.Score{Total: total, Critical: critical, Fatal: fatal}
}

func pct(v float64) *float64 { return &v }

// qmEval is an evaluation with form f1 version 1, created at created; a
// finished one (submitted and after) was submitted an hour later with a
// score of 80, critical 100.
func qmEval(tenant, id, recording, agent, evaluator, state string, created time.Time) vault.Evaluation {
	yes := "yes"
	at := int64(1500)
	e := vault.Evaluation{
		Tenant: tenant, ID: id, RecordingID: recording, Agent: agent, Team: qmTeams[agent], Evaluator: evaluator,
		FormID: "f1", Version: 1, Kind: vault.KindEvaluation, State: state, Revision: 1,
		CreatedBy: "sup", CreatedAt: created, UpdatedAt: created,
	}
	if state != vault.EvalAssigned {
		e.Answers = []vault.AnswerValue{{Question: "q1", Answer: &yes, Comment: "greeted", AtMs: &at}, {Question: "q2", NA: true}}
	}
	switch state {
	case vault.EvalSubmitted, vault.EvalSignedOff, vault.EvalDisputed, vault.EvalRetracted:
		e.SubmittedAt = created.Add(time.Hour)
		e.UpdatedAt = e.SubmittedAt
		e.Score = score(pct(80), pct(100), false)
	}
	return e
}

func createEvals(t *testing.T, s vault.Store, list ...vault.Evaluation) {
	t.Helper()
	if err := s.CreateEvaluations(t.Context(), list, vault.Effects{}); err != nil {
		t.Fatalf("CreateEvaluations(%q): %v", evalIDs(list), err)
	}
}

func evalIDs(list []vault.Evaluation) []string {
	out := []string{} // not nil, so an empty result prints as []
	for _, e := range list {
		out = append(out, e.ID)
	}
	return out
}

func getEval(t *testing.T, s vault.Store, tenant, id string) vault.Evaluation {
	t.Helper()
	e, err := s.Evaluation(t.Context(), tenant, id)
	if err != nil {
		t.Fatalf("Evaluation(%q, %q): %v", tenant, id, err)
	}
	return e
}

// checkDoc compares got with want whole: the tenant and the JSON.
func checkDoc(t *testing.T, what string, gotTenant, wantTenant string, got, want any) {
	t.Helper()
	if gotTenant != wantTenant {
		t.Errorf("%s: tenant %q, want %q", what, gotTenant, wantTenant)
	}
	if g, w := asJSON(t, got), asJSON(t, want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func listEvals(t *testing.T, s vault.Store, tenant string, f vault.EvaluationFilter) []string {
	t.Helper()
	list, err := s.Evaluations(t.Context(), tenant, f)
	if err != nil {
		t.Fatalf("Evaluations(%q, %+v): %v", tenant, f, err)
	}
	return evalIDs(list)
}

func auditActions(t *testing.T, s vault.Store, tenant string) []string {
	t.Helper()
	out := []string{}
	for _, e := range scanAll(t, s, tenant) {
		out = append(out, e.Action+" "+e.Target)
	}
	return out
}

func checkActions(t *testing.T, s vault.Store, when string, want ...string) {
	t.Helper()
	if got := auditActions(t, s, "acme"); !slices.Equal(got, want) {
		t.Errorf("audit of acme %s = %q, want %q", when, got, want)
	}
}

var errQMTest = errors.New("fn refuses")

func sampleForm(tenant, id, name string) vault.Form {
	return vault.Form{
		Tenant: tenant, ID: id, Name: name, Description: "calls of the " + name + " line",
		QuestionGroups: []vault.QuestionGroup{{
			Name: "Opening", Weight: 2,
			Questions: []vault.Question{
				{ID: "q1", Text: "Greeted?", Type: vault.QuestionYesNo, Required: true, Critical: true,
					Answers: []vault.Choice{{ID: "yes", Text: "Yes", Points: 1}, {ID: "no", Text: "No", Points: 0}}},
				{ID: "q2", Text: "Name?", Help: "the caller's", Type: vault.QuestionChoice, NAAllowed: true,
					Answers:     []vault.Choice{{ID: "full", Text: "Full", Points: 2}, {ID: "first", Text: "First", Points: 1}},
					VisibleWhen: &vault.VisibleWhen{Question: "q1", Answer: "yes"}},
				{ID: "q3", Text: "Notes", Type: vault.QuestionText},
			},
		}},
		UpdatedBy: "alice", UpdatedAt: base,
	}
}

func testQMForms(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	f1 := sampleForm("acme", "f1", "Sales")
	if err := s.CreateForm(ctx, f1, vault.Effects{}.Add(entry("acme", "alice", "qm.form.create", "f1", 0))); err != nil {
		t.Fatalf("CreateForm: %v", err)
	}
	checkConflict(t, "CreateForm of an id taken", s.CreateForm(ctx, sampleForm("acme", "f1", "Other"),
		vault.Effects{}.Add(entry("acme", "alice", "qm.form.create", "f1", 1))))
	checkNotFound(t, "CreateForm of an unknown tenant", s.CreateForm(ctx, sampleForm("nobody", "f1", "Sales"), vault.Effects{}))
	checkActions(t, s, "after a conflict", "qm.form.create f1")

	draft, info, err := s.Form(ctx, "acme", "f1")
	if err != nil {
		t.Fatalf("Form: %v", err)
	}
	checkDoc(t, "the new draft", draft.Tenant, "acme", draft, f1)
	if info.ID != "f1" || info.Name != "Sales" || info.Description != f1.Description || info.LatestVersion != 0 ||
		info.Versions == nil || len(info.Versions) != 0 || info.UpdatedBy != "alice" {
		t.Errorf("FormInfo of a new form = %+v", info)
	}
	checkTime(t, "FormInfo.CreatedAt", info.CreatedAt, base)
	checkTime(t, "FormInfo.UpdatedAt", info.UpdatedAt, base)
	_, _, err = s.Form(ctx, "globex", "f1")
	checkNotFound(t, "Form of another tenant", err)
	_, _, err = s.Form(ctx, "acme", "f9")
	checkNotFound(t, "Form missing", err)
	_, err = s.FormVersion(ctx, "acme", "f1", 0)
	checkNotFound(t, "FormVersion(0) of a form never published", err)

	// A failing fn changes nothing; fn is not called for a missing form.
	_, err = s.UpdateForm(ctx, "acme", "f1", func(f *vault.Form) (vault.Effects, error) {
		f.Name = "Broken"
		return vault.Effects{}.Add(entry("acme", "bob", "qm.form.update", "f1", 2)), errQMTest
	})
	if !errors.Is(err, errQMTest) {
		t.Errorf("UpdateForm with a failing fn: err = %v, want fn's", err)
	}
	called := false
	_, err = s.UpdateForm(ctx, "acme", "f9", func(*vault.Form) (vault.Effects, error) { called = true; return vault.Effects{}, nil })
	checkNotFound(t, "UpdateForm of a missing form", err)
	_, err = s.UpdateForm(ctx, "globex", "f1", func(*vault.Form) (vault.Effects, error) { called = true; return vault.Effects{}, nil })
	checkNotFound(t, "UpdateForm of another tenant's form", err)
	if called {
		t.Error("UpdateForm called fn for a missing form")
	}

	update := func(name, by string, minutes int, change func(f *vault.Form)) vault.Form {
		t.Helper()
		saved, err := s.UpdateForm(ctx, "acme", "f1", func(f *vault.Form) (vault.Effects, error) {
			f.Name, f.UpdatedBy, f.UpdatedAt = name, by, base.Add(time.Duration(minutes)*time.Minute)
			f.ID, f.Version = "elsewhere", 7 // ignored: which form, and that it is the draft
			if change != nil {
				change(f)
			}
			return vault.Effects{}.Add(entry("acme", by, "qm.form.update", "f1", minutes)), nil
		})
		if err != nil {
			t.Fatalf("UpdateForm: %v", err)
		}
		return saved
	}
	want := f1
	want.Name, want.UpdatedBy, want.UpdatedAt = "Sales v1", "bob", base.Add(time.Minute)
	saved := update("Sales v1", "bob", 1, nil)
	checkDoc(t, "UpdateForm's answer", saved.Tenant, "acme", saved, want)
	if draft, _, err = s.Form(ctx, "acme", "f1"); err != nil {
		t.Fatal(err)
	}
	checkDoc(t, "the updated draft", draft.Tenant, "acme", draft, want)

	var published []vault.Form // what fx was given
	publish := func(by string, minutes int) vault.Form {
		t.Helper()
		v, err := s.PublishForm(ctx, "acme", "f1", by, base.Add(time.Duration(minutes)*time.Minute), func(v vault.Form) vault.Effects {
			published = append(published, v)
			return vault.Effects{}.Add(entry("acme", by, "qm.form.publish", "f1", minutes))
		})
		if err != nil {
			t.Fatalf("PublishForm: %v", err)
		}
		return v
	}
	v1 := publish("carol", 2)
	wantV1 := want
	wantV1.Version, wantV1.UpdatedBy, wantV1.UpdatedAt = 1, "carol", base.Add(2*time.Minute)
	checkDoc(t, "version 1", v1.Tenant, "acme", v1, wantV1)
	if len(published) != 1 || published[0].Version != 1 {
		t.Errorf("PublishForm gave fx %+v, want version 1", published)
	}

	// A change of the draft leaves version 1 as it was.
	update("Sales v2", "dave", 3, func(f *vault.Form) {
		f.QuestionGroups[0].Questions = append(f.QuestionGroups[0].Questions, vault.Question{ID: "q4", Text: "Closed?", Type: vault.QuestionYesNo,
			Answers: []vault.Choice{{ID: "yes", Text: "Yes", Points: 1}, {ID: "no", Text: "No"}}})
		f.QuestionGroups[0].Questions[0].Text = "Greeted the caller?"
	})
	got, err := s.FormVersion(ctx, "acme", "f1", 1)
	if err != nil {
		t.Fatalf("FormVersion(1): %v", err)
	}
	checkDoc(t, "version 1 after a draft change", got.Tenant, "acme", got, wantV1)
	if got, err = s.FormVersion(ctx, "acme", "f1", 0); err != nil || got.Version != 1 {
		t.Errorf("FormVersion(0) with one version = version %d, %v; want 1", got.Version, err)
	}

	v2 := publish("erin", 4)
	if v2.Version != 2 || v2.Name != "Sales v2" || len(v2.QuestionGroups[0].Questions) != 4 || v2.UpdatedBy != "erin" {
		t.Errorf("version 2 = %+v", v2)
	}
	for _, tc := range []struct {
		version int
		want    vault.Form
	}{{0, v2}, {2, v2}, {1, wantV1}} {
		got, err := s.FormVersion(ctx, "acme", "f1", tc.version)
		if err != nil {
			t.Fatalf("FormVersion(%d): %v", tc.version, err)
		}
		checkDoc(t, fmt.Sprintf("FormVersion(%d)", tc.version), got.Tenant, "acme", got, tc.want)
	}
	_, err = s.FormVersion(ctx, "acme", "f1", 3)
	checkNotFound(t, "FormVersion of a version to come", err)
	_, err = s.FormVersion(ctx, "globex", "f1", 1)
	checkNotFound(t, "FormVersion of another tenant", err)

	draft, info, err = s.Form(ctx, "acme", "f1")
	if err != nil {
		t.Fatal(err)
	}
	if draft.Version != 0 || draft.Name != "Sales v2" || draft.UpdatedBy != "dave" {
		t.Errorf("the draft after two versions = %+v", draft)
	}
	wantVersions := []vault.FormVersion{
		{Version: 1, Name: "Sales v1", PublishedBy: "carol", PublishedAt: base.Add(2 * time.Minute)},
		{Version: 2, Name: "Sales v2", PublishedBy: "erin", PublishedAt: base.Add(4 * time.Minute)},
	}
	if info.LatestVersion != 2 || asJSON(t, info.Versions) != asJSON(t, wantVersions) || info.Name != "Sales v2" {
		t.Errorf("FormInfo after two versions = %+v, want versions %+v", info, wantVersions)
	}
	checkTime(t, "FormInfo.CreatedAt after changes", info.CreatedAt, base)
	checkTime(t, "FormInfo.UpdatedAt after changes", info.UpdatedAt, base.Add(3*time.Minute))

	called = false
	_, err = s.PublishForm(ctx, "acme", "f9", "carol", base, func(vault.Form) vault.Effects { called = true; return vault.Effects{} })
	checkNotFound(t, "PublishForm of a missing form", err)
	if called {
		t.Error("PublishForm called fx for a missing form")
	}

	// The store stamps a zero UpdatedAt, and keeps times in UTC to the
	// millisecond.
	before := time.Now().Add(-time.Second)
	f0 := sampleForm("acme", "f0", "Support")
	f0.UpdatedAt = time.Time{}
	f2 := sampleForm("acme", "f2", "Billing")
	f2.UpdatedAt = base.Add(1500 * time.Microsecond).In(time.FixedZone("CET", 3600))
	for _, f := range []vault.Form{f2, f0, sampleForm("globex", "g1", "Theirs")} {
		if err := s.CreateForm(ctx, f, vault.Effects{}); err != nil {
			t.Fatalf("CreateForm(%q): %v", f.ID, err)
		}
	}
	if d, _, err := s.Form(ctx, "acme", "f0"); err != nil || d.UpdatedAt.Before(before) || d.UpdatedAt.Location() != time.UTC {
		t.Errorf("a draft created without UpdatedAt = %v, %v; want it stamped now in UTC", d.UpdatedAt, err)
	}
	if d, _, err := s.Form(ctx, "acme", "f2"); err != nil {
		t.Fatal(err)
	} else {
		checkTime(t, "UpdatedAt of a draft", d.UpdatedAt, base.Add(time.Millisecond))
	}

	forms, err := s.Forms(ctx, "acme")
	if err != nil {
		t.Fatalf("Forms: %v", err)
	}
	var ids []string
	for _, fi := range forms {
		ids = append(ids, fi.ID)
		if fi.Versions == nil || (fi.ID == "f1") != (len(fi.Versions) == 2) || (fi.ID == "f1") != (fi.LatestVersion == 2) {
			t.Errorf("Forms: %s has versions %+v, latest %d", fi.ID, fi.Versions, fi.LatestVersion)
		}
	}
	if !slices.Equal(ids, []string{"f0", "f1", "f2"}) {
		t.Errorf("Forms(acme) = %q, want f0 f1 f2", ids)
	}
	if forms[1].Name != "Sales v2" || asJSON(t, forms[1].Versions) != asJSON(t, wantVersions) {
		t.Errorf("Forms: f1 = %+v", forms[1])
	}
	if forms, err := s.Forms(ctx, "globex"); err != nil || len(forms) != 1 || forms[0].ID != "g1" {
		t.Errorf("Forms(globex) = %+v, %v; want g1 alone", forms, err)
	}
	if forms, err := s.Forms(ctx, "nobody"); err != nil || len(forms) != 0 {
		t.Errorf("Forms of an unknown tenant = %+v, %v; want none", forms, err)
	}
	checkActions(t, s, "after the form changes", "qm.form.create f1", "qm.form.update f1", "qm.form.publish f1",
		"qm.form.update f1", "qm.form.publish f1")
}

// testQMConcurrentPublish publishes one form from several goroutines:
// each gets a version of its own.
func testQMConcurrentPublish(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	if err := s.CreateForm(ctx, sampleForm("acme", "f1", "Sales"), vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	versions := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := s.PublishForm(ctx, "acme", "f1", fmt.Sprintf("user%d", i), base, func(v vault.Form) vault.Effects {
				return vault.Effects{}.Add(entry("acme", "u", "qm.form.publish", "f1", 0))
			})
			if err != nil {
				t.Errorf("PublishForm %d: %v", i, err)
			}
			versions[i] = v.Version
		})
	}
	wg.Wait()
	slices.Sort(versions)
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(versions, want) {
		t.Errorf("concurrent publishes got versions %v, want %v", versions, want)
	}
	_, info, err := s.Form(ctx, "acme", "f1")
	if err != nil || info.LatestVersion != n || len(info.Versions) != n {
		t.Errorf("after %d publishes: %+v, %v", n, info, err)
	}
	verifyChain(t, s, "acme")
}

func testQMCreateEvaluations(t *testing.T, fresh func(t *testing.T) (vault.Store, *fakeQueue)) {
	ctx := t.Context()
	s, q := fresh(t)
	qmRecordings(t, s)
	e1 := qmEval("acme", "e1", "r1", "Agent1", "ann", vault.EvalSubmitted, base)
	e1.Comment, e1.PlanID, e1.PeriodStart = "well done", "p1", base.Add(-24*time.Hour)
	e1.SignOff = &vault.Note{By: "Agent1", Comment: "ok", At: base.Add(2 * time.Hour)}
	e2 := qmEval("acme", "e2", "r2", "Agent2", "ann", vault.EvalAssigned, base.Add(time.Minute))
	fx := vault.Effects{
		Audit: []vault.AuditEntry{entry("acme", "sup", "qm.evaluation.assign", "e1", 0)},
		Jobs:  []vault.Job{{Tenant: "acme", Kind: "qm.notify", Args: []byte(`{"id":"e1"}`), CreatedBy: "sup"}},
	}
	if err := s.CreateEvaluations(ctx, []vault.Evaluation{e1, e2}, fx); err != nil {
		t.Fatalf("CreateEvaluations: %v", err)
	}
	checkDoc(t, "e1", getEval(t, s, "acme", "e1").Tenant, "acme", getEval(t, s, "acme", "e1"), e1)
	checkDoc(t, "e2", getEval(t, s, "acme", "e2").Tenant, "acme", getEval(t, s, "acme", "e2"), e2)
	if len(q.jobs) != 1 || q.jobs[0].Kind != "qm.notify" {
		t.Errorf("jobs queued = %+v, want qm.notify", q.jobs)
	}
	checkActions(t, s, "after CreateEvaluations", "qm.evaluation.assign e1")

	// All or none: a taken id, a missing recording, a plan's second
	// evaluation of a recording.
	failing := []struct {
		what  string
		list  []vault.Evaluation
		check func(t *testing.T, what string, err error)
	}{
		{"an id taken", []vault.Evaluation{qmEval("acme", "e3", "r3", "Agent3", "ann", vault.EvalAssigned, base),
			qmEval("acme", "e1", "r4", "Agent1", "ann", vault.EvalAssigned, base)}, checkConflict},
		{"a missing recording", []vault.Evaluation{qmEval("acme", "e3", "r3", "Agent3", "ann", vault.EvalAssigned, base),
			qmEval("acme", "e4", "r9", "Agent1", "ann", vault.EvalAssigned, base)}, checkNotFound},
		{"another tenant's recording", []vault.Evaluation{qmEval("acme", "e3", "r3", "Agent3", "ann", vault.EvalAssigned, base),
			qmEval("globex", "e4", "r2", "Agent1", "ann", vault.EvalAssigned, base)}, checkNotFound},
		{"a plan evaluating r1 twice", func() []vault.Evaluation {
			again := qmEval("acme", "e4", "r1", "Agent1", "bob", vault.EvalAssigned, base)
			again.PlanID = "p1"
			return []vault.Evaluation{qmEval("acme", "e3", "r3", "Agent3", "ann", vault.EvalAssigned, base), again}
		}(), checkConflict},
	}
	for _, tc := range failing {
		err := s.CreateEvaluations(ctx, tc.list, vault.Effects{
			Audit: []vault.AuditEntry{entry("acme", "sup", "qm.evaluation.assign", "e3", 1)},
			Jobs:  []vault.Job{{Tenant: "acme", Kind: "qm.notify"}},
		})
		tc.check(t, "CreateEvaluations with "+tc.what, err)
		for _, id := range []string{"e3", "e4"} {
			_, err := s.Evaluation(ctx, "acme", id)
			checkNotFound(t, id+" after CreateEvaluations with "+tc.what, err)
		}
	}
	checkActions(t, s, "after failed creates", "qm.evaluation.assign e1")
	if jobs, err := s.JobInfos(ctx, "acme", 0, 10); err != nil || len(jobs) != 1 {
		t.Errorf("job rows after failed creates: %+v, %v; want one", jobs, err)
	}

	// A rescore is not the plan's second evaluation; another plan may
	// evaluate the recording too.
	rescore := qmEval("acme", "e5", "r1", "Agent1", "ann", vault.EvalDraft, base.Add(2*time.Minute))
	rescore.PlanID, rescore.Supersedes, rescore.Revision = "p1", "e1", 2
	other := qmEval("acme", "e6", "r1", "Agent1", "bob", vault.EvalAssigned, base.Add(3*time.Minute))
	other.PlanID = "p2"
	createEvals(t, s, rescore, other)

	// Ids are per tenant; a tenant sees only its own.
	createEvals(t, s, qmEval("globex", "e1", "r1", "Agent1", "zed", vault.EvalDraft, base))
	if g := getEval(t, s, "globex", "e1"); g.Evaluator != "zed" || g.Tenant != "globex" {
		t.Errorf("globex's e1 = %+v", g)
	}
	if a := getEval(t, s, "acme", "e1"); a.Evaluator != "ann" {
		t.Errorf("acme's e1 after globex made its own = %+v", a)
	}
	_, err := s.Evaluation(ctx, "globex", "e2")
	checkNotFound(t, "Evaluation of another tenant's", err)
	_, err = s.Evaluation(ctx, "acme", "e9")
	checkNotFound(t, "Evaluation missing", err)

	// Times: stamped when zero, kept in UTC to the millisecond.
	before := time.Now().Add(-time.Second)
	stamped := qmEval("acme", "e7", "r2", "Agent2", "ann", vault.EvalAssigned, time.Time{})
	odd := qmEval("acme", "e8", "r2", "Agent2", "ann", vault.EvalDisputed, base.Add(1500*time.Microsecond).In(time.FixedZone("CET", 3600)))
	odd.Dispute = &vault.Note{By: "Agent2", Comment: "unfair", At: base.Add(2500 * time.Microsecond).In(time.FixedZone("EST", -5*3600))}
	createEvals(t, s, stamped, odd)
	got := getEval(t, s, "acme", "e7")
	if got.CreatedAt.Before(before) || got.CreatedAt.Location() != time.UTC || !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("an evaluation created without times: created %v, updated %v; want now and the same", got.CreatedAt, got.UpdatedAt)
	}
	got = getEval(t, s, "acme", "e8")
	checkTime(t, "CreatedAt", got.CreatedAt, base.Add(time.Millisecond))
	checkTime(t, "SubmittedAt", got.SubmittedAt, base.Add(time.Hour+time.Millisecond))
	checkTime(t, "Dispute.At", got.Dispute.At, base.Add(2*time.Millisecond))
	if odd.Dispute.At.Location() == time.UTC {
		t.Error("CreateEvaluations changed the caller's note")
	}
}

func testQMUpdateEvaluations(t *testing.T, fresh func(t *testing.T) (vault.Store, *fakeQueue)) {
	ctx := t.Context()
	s, q := fresh(t)
	qmRecordings(t, s)
	e1 := qmEval("acme", "e1", "r1", "Agent1", "ann", vault.EvalAssigned, base)
	e2 := qmEval("acme", "e2", "r2", "Agent2", "ann", vault.EvalAssigned, base.Add(time.Minute))
	createEvals(t, s, e1, e2, qmEval("globex", "g1", "r1", "Agent1", "zed", vault.EvalAssigned, base))

	yes := "yes"
	saved, err := s.UpdateEvaluations(ctx, "acme", []string{"e2", "e1"}, func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error) {
		if len(list) != 2 || list[0].ID != "e2" || list[1].ID != "e1" || list[0].Tenant != "acme" {
			t.Errorf("fn got %+v, want e2 and e1 in that order", list)
		}
		e := list[1]
		e.State, e.UpdatedAt = vault.EvalDraft, base.Add(5*time.Minute)
		e.Answers = []vault.AnswerValue{{Question: "q1", Answer: &yes}}
		e.ID, e.RecordingID = "elsewhere", "r3" // ignored: which evaluation, of what
		// Made in acme, whatever its Tenant says.
		created := qmEval("globex", "e3", "r3", "Agent3", "bob", vault.EvalAssigned, base.Add(6*time.Minute))
		return []vault.Evaluation{created}, vault.Effects{}.Add(entry("acme", "ann", "qm.evaluation.save", "e1", 5)), nil
	})
	if err != nil {
		t.Fatalf("UpdateEvaluations: %v", err)
	}
	wantE1 := e1
	wantE1.State, wantE1.UpdatedAt = vault.EvalDraft, base.Add(5*time.Minute)
	wantE1.Answers = []vault.AnswerValue{{Question: "q1", Answer: &yes}}
	wantE3 := qmEval("acme", "e3", "r3", "Agent3", "bob", vault.EvalAssigned, base.Add(6*time.Minute))
	if got := evalIDs(saved); !slices.Equal(got, []string{"e2", "e1", "e3"}) {
		t.Fatalf("UpdateEvaluations returned %q, want e2 e1 e3", got)
	}
	checkDoc(t, "UpdateEvaluations' e2", saved[0].Tenant, "acme", saved[0], e2)
	checkDoc(t, "UpdateEvaluations' e1", saved[1].Tenant, "acme", saved[1], wantE1)
	checkDoc(t, "UpdateEvaluations' e3", saved[2].Tenant, "acme", saved[2], wantE3)
	checkDoc(t, "e1 saved", "acme", "acme", getEval(t, s, "acme", "e1"), wantE1)
	checkDoc(t, "e2 unchanged", "acme", "acme", getEval(t, s, "acme", "e2"), e2)
	checkDoc(t, "e3 created", "acme", "acme", getEval(t, s, "acme", "e3"), wantE3)
	_, err = s.Evaluation(ctx, "globex", "e3")
	checkNotFound(t, "an evaluation UpdateEvaluations made, in another tenant", err)
	if got := listEvals(t, s, "acme", vault.EvaluationFilter{RecordingID: "r1", Viewer: vault.EvaluationViewer{Access: all}}); !slices.Equal(got, []string{"e1"}) {
		t.Errorf("evaluations of r1 after fn tried to move e1 = %q, want e1", got)
	}
	checkActions(t, s, "after UpdateEvaluations", "qm.evaluation.save e1")

	// What fails leaves everything as it was.
	failing := []struct {
		what  string
		ids   []string
		fn    func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error)
		check func(t *testing.T, err error)
	}{
		{"fn failing", []string{"e1"}, func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error) {
			list[0].State = vault.EvalSubmitted
			return []vault.Evaluation{qmEval("acme", "e4", "r4", "Agent1", "ann", vault.EvalAssigned, base)},
				vault.Effects{}.Add(entry("acme", "ann", "qm.evaluation.submit", "e1", 7)), errQMTest
		}, func(t *testing.T, err error) {
			if !errors.Is(err, errQMTest) {
				t.Errorf("UpdateEvaluations with a failing fn: err = %v, want fn's", err)
			}
		}},
		{"a new one's id taken", []string{"e1"}, func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error) {
			list[0].State = vault.EvalSubmitted
			return []vault.Evaluation{qmEval("acme", "e4", "r4", "Agent1", "ann", vault.EvalAssigned, base),
				qmEval("acme", "e2", "r4", "Agent1", "ann", vault.EvalAssigned, base)}, vault.Effects{}, nil
		}, func(t *testing.T, err error) { checkConflict(t, "UpdateEvaluations creating a taken id", err) }},
		{"a new one's recording missing", []string{"e1"}, func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error) {
			list[0].State = vault.EvalSubmitted
			return []vault.Evaluation{qmEval("acme", "e4", "r9", "Agent1", "ann", vault.EvalAssigned, base)}, vault.Effects{}, nil
		}, func(t *testing.T, err error) {
			checkNotFound(t, "UpdateEvaluations creating one of a missing recording", err)
		}},
		{"the queue failing", []string{"e1"}, func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error) {
			list[0].State = vault.EvalSubmitted
			return nil, vault.Effects{Jobs: []vault.Job{{Tenant: "acme", Kind: "qm.notify"}},
				Audit: []vault.AuditEntry{entry("acme", "ann", "qm.evaluation.submit", "e1", 7)}}, nil
		}, func(t *testing.T, err error) {
			if err == nil {
				t.Error("UpdateEvaluations with a failing queue succeeded")
			}
		}},
	}
	for _, tc := range failing {
		if tc.what == "the queue failing" {
			q.set(errors.New("queue down"), false)
		}
		_, err := s.UpdateEvaluations(ctx, "acme", tc.ids, tc.fn)
		q.set(nil, false)
		tc.check(t, err)
		checkDoc(t, "e1 after "+tc.what, "acme", "acme", getEval(t, s, "acme", "e1"), wantE1)
		_, err = s.Evaluation(ctx, "acme", "e4")
		checkNotFound(t, "e4 after "+tc.what, err)
	}
	checkActions(t, s, "after failed updates", "qm.evaluation.save e1")

	// A missing id, or one of another tenant: fn is not called.
	for _, tc := range []struct {
		tenant string
		ids    []string
	}{{"acme", []string{"e1", "e9"}}, {"acme", []string{"g1"}}, {"globex", []string{"e1"}}} {
		called := false
		_, err := s.UpdateEvaluations(ctx, tc.tenant, tc.ids, func([]*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error) {
			called = true
			return nil, vault.Effects{}, nil
		})
		checkNotFound(t, fmt.Sprintf("UpdateEvaluations(%q, %q)", tc.tenant, tc.ids), err)
		if called {
			t.Errorf("UpdateEvaluations(%q, %q) called fn", tc.tenant, tc.ids)
		}
	}

	// Rescoring: the old one retracted, a new one superseding it, in a
	// plan whose evaluation of r1 it is; an id named twice is one
	// evaluation.
	plan := qmEval("acme", "p1e", "r1", "Agent1", "ann", vault.EvalSubmitted, base.Add(10*time.Minute))
	plan.PlanID = "p1"
	createEvals(t, s, plan)
	saved, err = s.UpdateEvaluations(ctx, "acme", []string{"p1e", "p1e"}, func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error) {
		if list[0] != list[1] {
			t.Error("an id named twice gave fn two evaluations")
		}
		list[0].State, list[0].SupersededBy = vault.EvalRetracted, "p1e2"
		next := *list[0]
		next.ID, next.State, next.Supersedes, next.SupersededBy, next.Revision = "p1e2", vault.EvalDraft, "p1e", "", 2
		return []vault.Evaluation{next}, vault.Effects{}, nil
	})
	if err != nil {
		t.Fatalf("UpdateEvaluations rescoring: %v", err)
	}
	if got := evalIDs(saved); !slices.Equal(got, []string{"p1e", "p1e", "p1e2"}) {
		t.Errorf("UpdateEvaluations rescoring returned %q", got)
	}
	if old := getEval(t, s, "acme", "p1e"); old.State != vault.EvalRetracted || old.SupersededBy != "p1e2" {
		t.Errorf("the rescored evaluation = %+v", old)
	}
	if got := listEvals(t, s, "acme", vault.EvaluationFilter{PlanID: "p1", Viewer: vault.EvaluationViewer{Access: all}}); !slices.Equal(got, []string{"p1e2", "p1e"}) {
		t.Errorf("the plan's evaluations after a rescore = %q", got)
	}
}

// testQMConcurrentUpdates changes one evaluation from several goroutines:
// no change is lost.
func testQMConcurrentUpdates(t *testing.T, s vault.Store) {
	ctx := t.Context()
	qmRecordings(t, s)
	createEvals(t, s, qmEval("acme", "e1", "r1", "Agent1", "ann", vault.EvalDraft, base),
		qmEval("acme", "e2", "r2", "Agent2", "ann", vault.EvalDraft, base))
	const n = 10
	var wg sync.WaitGroup
	for i := range n {
		ids := []string{"e1", "e2"}
		if i%2 == 1 {
			ids = []string{"e2", "e1"} // locks taken in another order must not deadlock
		}
		wg.Go(func() {
			_, err := s.UpdateEvaluations(ctx, "acme", ids, func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error) {
				for _, e := range list {
					e.Revision++
				}
				return nil, vault.Effects{}.Add(entry("acme", "ann", "qm.evaluation.save", "e1", i)), nil
			})
			if err != nil {
				t.Errorf("UpdateEvaluations %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for _, id := range []string{"e1", "e2"} {
		if got := getEval(t, s, "acme", id).Revision; got != 1+n {
			t.Errorf("%s Revision after %d concurrent increments = %d, want %d", id, n, got, 1+n)
		}
	}
	verifyChain(t, s, "acme")
}

// testQMLists lists evaluations by filter, page and viewer.
func testQMLists(t *testing.T, s vault.Store) {
	ctx := t.Context()
	qmRecordings(t, s)
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	calibration := func(e vault.Evaluation) vault.Evaluation {
		e.Kind, e.CalibrationID = vault.KindCalibration, "c1"
		return e
	}
	inPlan := func(e vault.Evaluation) vault.Evaluation { e.PlanID = "p1"; return e }
	form2 := func(e vault.Evaluation) vault.Evaluation { e.FormID = "f2"; return e }
	rescore := qmEval("acme", "e09", "r3", "Agent3", "ann", vault.EvalSubmitted, at(9))
	rescore.Supersedes = "e08"
	createEvals(t, s,
		qmEval("acme", "e01", "r1", "Agent1", "ann", vault.EvalSubmitted, at(1)),
		qmEval("acme", "e02", "r2", "Agent2", "ann", vault.EvalDraft, at(2)),
		form2(qmEval("acme", "e03", "r3", "Agent3", "bob", vault.EvalSignedOff, at(3))),
		inPlan(qmEval("acme", "e04", "r4", "Agent1", "bob", vault.EvalAssigned, at(4))),
		calibration(qmEval("acme", "e05", "r1", "Agent1", "cal1", vault.EvalSubmitted, at(5))),
		calibration(qmEval("acme", "e06", "r1", "Agent1", "cal2", vault.EvalDraft, at(6))),
		inPlan(qmEval("acme", "e07", "r2", "Agent2", "ann", vault.EvalDisputed, at(7))),
		qmEval("acme", "e08", "r3", "Agent3", "ann", vault.EvalRetracted, at(8)),
		rescore,
		// Two at one time: newest first is by id, descending.
		qmEval("acme", "e10", "r4", "Agent1", "bob", vault.EvalSubmitted, at(10)),
		qmEval("acme", "e11", "r4", "Agent1", "bob", vault.EvalSubmitted, at(10)),
		qmEval("globex", "e01", "r1", "Agent1", "ann", vault.EvalSubmitted, at(1)),
		qmEval("globex", "g02", "r1", "Agent1", "bob", vault.EvalAssigned, at(20)),
	)
	everyone := vault.EvaluationViewer{Access: all}
	allIDs := []string{"e11", "e10", "e09", "e08", "e07", "e06", "e05", "e04", "e03", "e02", "e01"}

	t.Run("Filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    vault.EvaluationFilter
			want []string
		}{
			{"none", vault.EvaluationFilter{}, allIDs},
			{"agent", vault.EvaluationFilter{Agent: "Agent1"}, []string{"e11", "e10", "e06", "e05", "e04", "e01"}},
			{"evaluator", vault.EvaluationFilter{Evaluator: "ann"}, []string{"e09", "e08", "e07", "e02", "e01"}},
			{"states", vault.EvaluationFilter{States: []string{vault.EvalSubmitted, vault.EvalSignedOff}},
				[]string{"e11", "e10", "e09", "e05", "e03", "e01"}},
			{"recording", vault.EvaluationFilter{RecordingID: "r1"}, []string{"e06", "e05", "e01"}},
			{"a missing recording", vault.EvaluationFilter{RecordingID: "r9"}, []string{}},
			{"plan", vault.EvaluationFilter{PlanID: "p1"}, []string{"e07", "e04"}},
			{"calibration", vault.EvaluationFilter{CalibrationID: "c1"}, []string{"e06", "e05"}},
			{"kind calibration", vault.EvaluationFilter{Kind: vault.KindCalibration}, []string{"e06", "e05"}},
			{"kind evaluation", vault.EvaluationFilter{Kind: vault.KindEvaluation},
				[]string{"e11", "e10", "e09", "e08", "e07", "e04", "e03", "e02", "e01"}},
			{"form", vault.EvaluationFilter{FormID: "f2"}, []string{"e03"}},
			{"created range", vault.EvaluationFilter{CreatedFrom: at(3), CreatedTo: at(7)}, []string{"e06", "e05", "e04", "e03"}},
			{"created from", vault.EvaluationFilter{CreatedFrom: at(9)}, []string{"e11", "e10", "e09"}},
			{"created to", vault.EvaluationFilter{CreatedTo: at(2)}, []string{"e01"}},
			{"agent and state", vault.EvaluationFilter{Agent: "Agent1", States: []string{vault.EvalSubmitted}},
				[]string{"e11", "e10", "e05", "e01"}},
			{"agent and kind", vault.EvaluationFilter{Agent: "Agent1", Kind: vault.KindEvaluation}, []string{"e11", "e10", "e04", "e01"}},
			{"limit", vault.EvaluationFilter{Limit: 3}, []string{"e11", "e10", "e09"}},
			{"after a tie", vault.EvaluationFilter{After: &vault.Cursor{StartTime: at(10), ID: "e11"}, Limit: 2}, []string{"e10", "e09"}},
			{"after", vault.EvaluationFilter{Agent: "Agent1", After: &vault.Cursor{StartTime: at(5), ID: "e05"}}, []string{"e04", "e01"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := tc.f
				f.Viewer = everyone
				if got := listEvals(t, s, "acme", f); !slices.Equal(got, tc.want) {
					t.Errorf("Evaluations = %q, want %q", got, tc.want)
				}
			})
		}
		if got := listEvals(t, s, "globex", vault.EvaluationFilter{Viewer: everyone}); !slices.Equal(got, []string{"g02", "e01"}) {
			t.Errorf("Evaluations(globex) = %q, want g02 e01", got)
		}
		if got := listEvals(t, s, "globex", vault.EvaluationFilter{RecordingID: "r1", Evaluator: "ann", Viewer: everyone}); !slices.Equal(got, []string{"e01"}) {
			t.Errorf("Evaluations(globex, r1, ann) = %q, want its e01", got)
		}
		if e := getEval(t, s, "globex", "e01"); e.Tenant != "globex" || e.RecordingID != "r1" {
			t.Errorf("globex's e01 = %+v", e)
		}
	})

	john := vault.Access{Groups: []string{"/Anthony/John"}}
	paul := vault.Access{Groups: []string{"/Anthony/Paul"}}
	viewers := []struct {
		name   string
		viewer vault.EvaluationViewer
		want   []string
	}{
		{"everyone", everyone, allIDs},
		{"John's supervisor", vault.EvaluationViewer{Access: john, Self: "john"},
			[]string{"e11", "e10", "e07", "e06", "e05", "e04", "e02", "e01"}},
		{"Paul's supervisor", vault.EvaluationViewer{Access: paul}, []string{"e09", "e08", "e03"}},
		{"Anthony", vault.EvaluationViewer{Access: vault.Access{Groups: []string{"/Anthony"}}}, allIDs},
		{"a group of no recording", vault.EvaluationViewer{Access: vault.Access{Groups: []string{"/Anthony/Jo"}}}, []string{}},
		{"Agent1 alone", vault.EvaluationViewer{Self: "Agent1"}, []string{"e11", "e10", "e01"}},
		{"Agent2 alone", vault.EvaluationViewer{Self: "Agent2"}, []string{"e07"}},
		{"Agent1 with its recordings", vault.EvaluationViewer{Access: vault.Access{UserName: "Agent1"}, Self: "Agent1"},
			[]string{"e11", "e10", "e06", "e05", "e04", "e01"}},
		{"the evaluator ann", vault.EvaluationViewer{Self: "ann"}, []string{"e09", "e08", "e07", "e02", "e01"}},
		{"a calibrator", vault.EvaluationViewer{Self: "cal1"}, []string{"e05"}},
		{"the evaluator bob with Paul's team", vault.EvaluationViewer{Access: paul, Self: "bob"},
			[]string{"e11", "e10", "e09", "e08", "e04", "e03"}},
		{"nobody", vault.EvaluationViewer{}, []string{}},
	}
	t.Run("Viewers", func(t *testing.T) {
		for _, tc := range viewers {
			t.Run(tc.name, func(t *testing.T) {
				if got := listEvals(t, s, "acme", vault.EvaluationFilter{Viewer: tc.viewer}); !slices.Equal(got, tc.want) {
					t.Errorf("Evaluations = %q, want %q", got, tc.want)
				}
			})
		}
		if got := listEvals(t, s, "acme", vault.EvaluationFilter{Agent: "Agent1", Kind: vault.KindEvaluation,
			Viewer: vault.EvaluationViewer{Access: john}}); !slices.Equal(got, []string{"e11", "e10", "e04", "e01"}) {
			t.Errorf("Agent1's evaluations as John's supervisor = %q", got)
		}
		if got := listEvals(t, s, "globex", vault.EvaluationFilter{Viewer: vault.EvaluationViewer{Self: "ann"}}); !slices.Equal(got, []string{"e01"}) {
			t.Errorf("ann's evaluations in globex = %q, want its e01", got)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		for _, tc := range viewers {
			for _, size := range []int{1, 3, 4} {
				var got []string
				f := vault.EvaluationFilter{Viewer: tc.viewer, Limit: size}
				for pages := 0; ; pages++ {
					if pages > len(allIDs) {
						t.Fatalf("%s by %d: paging does not end", tc.name, size)
					}
					page, err := s.Evaluations(ctx, "acme", f)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > size {
						t.Fatalf("%s by %d: a page of %d", tc.name, size, len(page))
					}
					got = append(got, evalIDs(page)...)
					if len(page) < size {
						break
					}
					last := page[len(page)-1]
					f.After = &vault.Cursor{StartTime: last.CreatedAt, ID: last.ID}
				}
				if !slices.Equal(append([]string{}, got...), tc.want) {
					t.Errorf("%s paged by %d = %q, want %q", tc.name, size, got, tc.want)
				}
			}
		}
	})

	t.Run("Counts", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			f    vault.EvaluationFilter
			want map[string]int64
		}{
			{"everyone", vault.EvaluationFilter{Viewer: everyone}, map[string]int64{vault.EvalSubmitted: 5, vault.EvalDraft: 2,
				vault.EvalSignedOff: 1, vault.EvalAssigned: 1, vault.EvalDisputed: 1, vault.EvalRetracted: 1}},
			{"limit and cursor ignored", vault.EvaluationFilter{Viewer: everyone, Limit: 1, After: &vault.Cursor{StartTime: at(2), ID: "e02"}},
				map[string]int64{vault.EvalSubmitted: 5, vault.EvalDraft: 2, vault.EvalSignedOff: 1, vault.EvalAssigned: 1,
					vault.EvalDisputed: 1, vault.EvalRetracted: 1}},
			{"John's supervisor", vault.EvaluationFilter{Viewer: vault.EvaluationViewer{Access: john}},
				map[string]int64{vault.EvalSubmitted: 4, vault.EvalDraft: 2, vault.EvalAssigned: 1, vault.EvalDisputed: 1}},
			{"John's team's evaluations", vault.EvaluationFilter{Kind: vault.KindEvaluation, Viewer: vault.EvaluationViewer{Access: john}},
				map[string]int64{vault.EvalSubmitted: 3, vault.EvalDraft: 1, vault.EvalAssigned: 1, vault.EvalDisputed: 1}},
			{"Agent1 alone", vault.EvaluationFilter{Viewer: vault.EvaluationViewer{Self: "Agent1"}}, map[string]int64{vault.EvalSubmitted: 3}},
			{"ann, states", vault.EvaluationFilter{States: []string{vault.EvalSubmitted, vault.EvalRetracted},
				Viewer: vault.EvaluationViewer{Self: "ann"}}, map[string]int64{vault.EvalSubmitted: 2, vault.EvalRetracted: 1}},
			{"nobody", vault.EvaluationFilter{}, map[string]int64{}},
		} {
			got, err := s.EvaluationCounts(ctx, "acme", tc.f)
			if err != nil {
				t.Fatalf("EvaluationCounts %s: %v", tc.name, err)
			}
			if got == nil || !maps.Equal(got, tc.want) {
				t.Errorf("EvaluationCounts %s = %v, want %v", tc.name, got, tc.want)
			}
		}
		if got, err := s.EvaluationCounts(ctx, "globex", vault.EvaluationFilter{Viewer: everyone}); err != nil ||
			!maps.Equal(got, map[string]int64{vault.EvalSubmitted: 1, vault.EvalAssigned: 1}) {
			t.Errorf("EvaluationCounts(globex) = %v, %v", got, err)
		}
	})
}

func testQMScoreBuckets(t *testing.T, s vault.Store) {
	ctx := t.Context()
	qmRecordings(t, s)
	day1 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	day2, day3 := day1.AddDate(0, 0, 1), day1.AddDate(0, 0, 2)
	// scored is an evaluation submitted at submitted with a score.
	scored := func(tenant, id, recording, agent, evaluator, state string, submitted time.Time, sc *vault.Score) vault.Evaluation {
		e := qmEval(tenant, id, recording, agent, evaluator, state, submitted.Add(-time.Hour))
		e.SubmittedAt, e.Score = submitted, sc
		return e
	}
	moved := scored("acme", "s13", "r1", "Agent1", "bob", vault.EvalSubmitted, day1.Add(16*time.Hour), score(pct(40), nil, false))
	moved.Team = "/Anthony/Paul" // Agent1, in Paul's team when this was assigned
	calibration := scored("acme", "s06", "r1", "Agent1", "bob", vault.EvalSubmitted, day1.Add(11*time.Hour), score(pct(99), pct(99), false))
	calibration.Kind, calibration.CalibrationID = vault.KindCalibration, "c1"
	draft := qmEval("acme", "s04", "r4", "Agent1", "bob", vault.EvalDraft, day1.Add(time.Hour))
	draft.Score = score(pct(10), pct(10), false)
	createEvals(t, s,
		scored("acme", "s01", "r1", "Agent1", "bob", vault.EvalSubmitted, day1.Add(10*time.Hour), score(pct(80), pct(100), false)),
		scored("acme", "s02", "r4", "Agent1", "bob", vault.EvalSignedOff, day1.Add(15*time.Hour), score(pct(60), nil, false)),
		scored("acme", "s03", "r1", "Agent1", "bob", vault.EvalDisputed, day2.Add(9*time.Hour), score(pct(0), pct(50), true)),
		draft,
		scored("acme", "s05", "r1", "Agent1", "bob", vault.EvalRetracted, day1.Add(11*time.Hour), score(pct(10), pct(10), false)),
		calibration,
		scored("acme", "s07", "r2", "Agent2", "ann", vault.EvalSubmitted, day1.Add(12*time.Hour), score(pct(90), pct(90), false)),
		scored("acme", "s08", "r3", "Agent3", "ann", vault.EvalSubmitted, day1.Add(13*time.Hour), score(pct(70), pct(70), false)),
		scored("acme", "s09", "r3", "Agent3", "bob", vault.EvalSubmitted, day3.Add(time.Hour), score(pct(70), pct(70), false)),
		scored("acme", "s10", "r2", "Agent2", "bob", vault.EvalSubmitted, day3, score(pct(5), pct(5), false)),
		scored("acme", "s11", "r2", "Agent2", "bob", vault.EvalSubmitted, day1, score(pct(50), nil, false)),
		scored("acme", "s12", "r2", "Agent2", "bob", vault.EvalSubmitted, day2.Add(23*time.Hour), nil),
		moved,
		scored("acme", "s14", "r1", "Agent1", "bob", vault.EvalSubmitted, day1.Add(-time.Millisecond), score(pct(1), pct(1), false)),
		scored("globex", "s01", "r1", "Agent1", "bob", vault.EvalSubmitted, day1.Add(10*time.Hour), score(pct(20), pct(20), true)),
	)
	type bucket = vault.ScoreBucket
	agent1Day1 := bucket{Agent: "Agent1", Team: "/Anthony/John", Start: day1, Count: 2, Totals: 2, TotalSum: 140, Criticals: 1, CriticalSum: 100}
	agent1Moved := bucket{Agent: "Agent1", Team: "/Anthony/Paul", Start: day1, Count: 1, Totals: 1, TotalSum: 40}
	agent1Day2 := bucket{Agent: "Agent1", Team: "/Anthony/John", Start: day2, Count: 1, Totals: 1, TotalSum: 0, Criticals: 1, CriticalSum: 50, Fatal: 1}
	agent2Day1 := bucket{Agent: "Agent2", Team: "/Anthony/John", Start: day1, Count: 2, Totals: 2, TotalSum: 140, Criticals: 1, CriticalSum: 90}
	agent2Day2 := bucket{Agent: "Agent2", Team: "/Anthony/John", Start: day2, Count: 1}
	agent3Day1 := bucket{Agent: "Agent3", Team: "/Anthony/Paul", Start: day1, Count: 1, Totals: 1, TotalSum: 70, Criticals: 1, CriticalSum: 70}
	for _, tc := range []struct {
		name   string
		viewer vault.EvaluationViewer
		want   []bucket
	}{
		{"everyone", vault.EvaluationViewer{Access: all}, []bucket{agent1Day1, agent1Moved, agent1Day2, agent2Day1, agent2Day2, agent3Day1}},
		{"John's supervisor", vault.EvaluationViewer{Access: vault.Access{Groups: []string{"/Anthony/John"}}},
			[]bucket{agent1Day1, agent1Moved, agent1Day2, agent2Day1, agent2Day2}},
		{"Paul's supervisor", vault.EvaluationViewer{Access: vault.Access{Groups: []string{"/Anthony/Paul"}}}, []bucket{agent3Day1}},
		{"Agent1 alone", vault.EvaluationViewer{Self: "Agent1"}, []bucket{agent1Day1, agent1Moved, agent1Day2}},
		{"the evaluator ann", vault.EvaluationViewer{Self: "ann"}, []bucket{
			{Agent: "Agent2", Team: "/Anthony/John", Start: day1, Count: 1, Totals: 1, TotalSum: 90, Criticals: 1, CriticalSum: 90},
			agent3Day1}},
		{"nobody", vault.EvaluationViewer{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ScoreBuckets(ctx, "acme", day1, day3, vault.IntervalDay, tc.viewer)
			if err != nil {
				t.Fatalf("ScoreBuckets: %v", err)
			}
			if asJSON(t, got) != asJSON(t, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("ScoreBuckets:\n got %+v\nwant %+v", got, tc.want)
			}
			for _, b := range got {
				if b.Start.Location() != time.UTC {
					t.Errorf("bucket start %v is not in UTC", b.Start)
				}
			}
		})
	}
	got, err := s.ScoreBuckets(ctx, "acme", day2, day2.Add(time.Hour), vault.IntervalDay, vault.EvaluationViewer{Access: all})
	if err != nil || len(got) != 0 {
		t.Errorf("ScoreBuckets of an hour with nothing submitted = %+v, %v", got, err)
	}
	got, err = s.ScoreBuckets(ctx, "globex", day1, day3, vault.IntervalDay, vault.EvaluationViewer{Access: all})
	if err != nil || len(got) != 1 || got[0].Count != 1 || got[0].TotalSum != 20 || got[0].Fatal != 1 {
		t.Errorf("ScoreBuckets(globex) = %+v, %v; want its one evaluation", got, err)
	}
	// By week (from Monday, Feb 26) and by month (March): the same
	// evaluations in one interval each.
	week := time.Date(2024, 2, 26, 0, 0, 0, 0, time.UTC)
	for interval, start := range map[string]time.Time{vault.IntervalWeek: week, vault.IntervalMonth: day1} {
		got, err := s.ScoreBuckets(ctx, "acme", day1, day3, interval, vault.EvaluationViewer{Access: all})
		want := []bucket{
			{Agent: "Agent1", Team: "/Anthony/John", Start: start, Count: 3, Totals: 3, TotalSum: 140, Criticals: 2, CriticalSum: 150, Fatal: 1},
			{Agent: "Agent1", Team: "/Anthony/Paul", Start: start, Count: 1, Totals: 1, TotalSum: 40},
			{Agent: "Agent2", Team: "/Anthony/John", Start: start, Count: 3, Totals: 2, TotalSum: 140, Criticals: 1, CriticalSum: 90},
			{Agent: "Agent3", Team: "/Anthony/Paul", Start: start, Count: 1, Totals: 1, TotalSum: 70, Criticals: 1, CriticalSum: 70},
		}
		if err != nil || asJSON(t, got) != asJSON(t, want) {
			t.Errorf("ScoreBuckets by %s:\n got %+v, %v\nwant %+v", interval, got, err, want)
		}
	}
}

func testQMCalibrations(t *testing.T, s vault.Store) {
	ctx := t.Context()
	qmRecordings(t, s)
	c1 := vault.Calibration{Tenant: "acme", ID: "c1", Name: "March", RecordingID: "r1", FormID: "f1", Version: 2,
		Expert: "exp", Evaluators: []string{"ann", "bob"}, CreatedBy: "sup", CreatedAt: base}
	part := func(tenant, id, calibration, evaluator string) vault.Evaluation {
		e := qmEval(tenant, id, "r1", "Agent1", evaluator, vault.EvalAssigned, base)
		e.Kind, e.CalibrationID = vault.KindCalibration, calibration
		return e
	}
	if err := s.CreateCalibration(ctx, c1, []vault.Evaluation{part("acme", "c1x", "c1", "exp"), part("acme", "c1a", "c1", "ann"),
		part("acme", "c1b", "c1", "bob")}, vault.Effects{}.Add(entry("acme", "sup", "qm.calibration.create", "c1", 0))); err != nil {
		t.Fatalf("CreateCalibration: %v", err)
	}
	got, err := s.Calibration(ctx, "acme", "c1")
	if err != nil {
		t.Fatalf("Calibration: %v", err)
	}
	checkDoc(t, "c1", got.Tenant, "acme", got, c1)
	if got := listEvals(t, s, "acme", vault.EvaluationFilter{CalibrationID: "c1", Viewer: vault.EvaluationViewer{Access: all}}); len(got) != 3 {
		t.Errorf("the evaluations of c1 = %q, want three", got)
	}
	c2 := vault.Calibration{Tenant: "acme", ID: "c2", RecordingID: "r2", FormID: "f1", Version: 1, Expert: "exp",
		Evaluators: []string{"ann"}, CreatedBy: "sup", CreatedAt: base.Add(time.Hour)}
	if err := s.CreateCalibration(ctx, c2, nil, vault.Effects{}); err != nil {
		t.Fatalf("CreateCalibration of no evaluations: %v", err)
	}

	failing := []struct {
		what  string
		c     vault.Calibration
		list  []vault.Evaluation
		check func(t *testing.T, what string, err error)
	}{
		{"an id taken", c1, []vault.Evaluation{part("acme", "c3a", "c1", "ann")}, checkConflict},
		{"a missing recording", vault.Calibration{Tenant: "acme", ID: "c3", RecordingID: "r9"},
			[]vault.Evaluation{part("acme", "c3a", "c3", "ann")}, checkNotFound},
		{"another tenant's recording", vault.Calibration{Tenant: "globex", ID: "c3", RecordingID: "r2"}, nil, checkNotFound},
		{"an evaluation id taken", vault.Calibration{Tenant: "acme", ID: "c3", RecordingID: "r1"},
			[]vault.Evaluation{part("acme", "c3a", "c3", "ann"), part("acme", "c1a", "c3", "bob")}, checkConflict},
	}
	for _, tc := range failing {
		tc.check(t, "CreateCalibration with "+tc.what, s.CreateCalibration(ctx, tc.c, tc.list,
			vault.Effects{}.Add(entry("acme", "sup", "qm.calibration.create", "c3", 1))))
		_, err := s.Calibration(ctx, "acme", "c3")
		checkNotFound(t, "c3 after CreateCalibration with "+tc.what, err)
		_, err = s.Evaluation(ctx, "acme", "c3a")
		checkNotFound(t, "c3a after CreateCalibration with "+tc.what, err)
	}
	checkActions(t, s, "after calibrations", "qm.calibration.create c1")

	list, err := s.Calibrations(ctx, "acme")
	if err != nil {
		t.Fatalf("Calibrations: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("Calibrations(acme) = %+v, want c2 and c1", list)
	}
	checkDoc(t, "Calibrations[0]", list[0].Tenant, "acme", list[0], c2)
	checkDoc(t, "Calibrations[1]", list[1].Tenant, "acme", list[1], c1)
	_, err = s.Calibration(ctx, "globex", "c1")
	checkNotFound(t, "Calibration of another tenant", err)
	if list, err := s.Calibrations(ctx, "globex"); err != nil || len(list) != 0 {
		t.Errorf("Calibrations(globex) = %+v, %v; want none", list, err)
	}

	// A zero CreatedAt is stamped.
	before := time.Now().Add(-time.Second)
	if err := s.CreateCalibration(ctx, vault.Calibration{Tenant: "acme", ID: "c4", RecordingID: "r3"}, nil, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Calibration(ctx, "acme", "c4"); err != nil || c.CreatedAt.Before(before) || c.CreatedAt.Location() != time.UTC {
		t.Errorf("a calibration created without a time = %+v, %v", c, err)
	}
}

func testQMPlans(t *testing.T, s vault.Store) {
	ctx := t.Context()
	qmRecordings(t, s)
	p1 := vault.Plan{Tenant: "acme", ID: "p1", Name: "Weekly", FormID: "f1", Evaluators: []string{"ann", "bob"},
		Agents: []string{"/Anthony/John", "Agent3"}, PerAgent: 2, Every: vault.EveryWeek,
		Filter:      vault.PlanFilter{StartFrom: base.AddDate(0, -1, 0), Partition: "sales", MinDurationSec: 30, Category: "churn"},
		FirstPeriod: time.Date(2024, 2, 26, 0, 0, 0, 0, time.UTC), Active: true, CreatedBy: "sup", CreatedAt: base, UpdatedAt: base}
	if err := s.CreatePlan(ctx, p1, vault.Effects{}.Add(entry("acme", "sup", "qm.plan.create", "p1", 0))); err != nil {
		t.Fatalf("CreatePlan: %v", err)
	}
	checkConflict(t, "CreatePlan of an id taken", s.CreatePlan(ctx, p1, vault.Effects{}.Add(entry("acme", "sup", "qm.plan.create", "p1", 1))))
	checkNotFound(t, "CreatePlan of an unknown tenant", s.CreatePlan(ctx, vault.Plan{Tenant: "nobody", ID: "p1"}, vault.Effects{}))
	got, err := s.Plan(ctx, "acme", "p1")
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	checkDoc(t, "p1", got.Tenant, "acme", got, p1)
	p0 := vault.Plan{Tenant: "acme", ID: "p0", Name: "Monthly", FormID: "f1", FormVersion: 3, Every: vault.EveryMonth, CreatedAt: base}
	if err := s.CreatePlan(ctx, p0, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePlan(ctx, vault.Plan{Tenant: "globex", ID: "p9", CreatedAt: base}, vault.Effects{}); err != nil {
		t.Fatal(err)
	}

	// A period's run: the plan and its evaluations together.
	periodEnd := p1.FirstPeriod.AddDate(0, 0, 7)
	picked := func(id, recording, agent, evaluator string) vault.Evaluation {
		e := qmEval("globex", id, recording, agent, evaluator, vault.EvalAssigned, periodEnd) // made in acme
		e.PlanID, e.PeriodStart = "p1", p1.FirstPeriod
		return e
	}
	run := &vault.PlanRun{PeriodStart: p1.FirstPeriod, PeriodEnd: periodEnd, Created: 2, Short: map[string]int{"Agent3": 2, "Agent2": 1}, At: periodEnd}
	saved, err := s.UpdatePlan(ctx, "acme", "p1", func(p *vault.Plan) ([]vault.Evaluation, vault.Effects, error) {
		p.DoneThrough, p.LastRun, p.UpdatedAt = periodEnd, run, periodEnd
		p.ID = "elsewhere" // ignored
		return []vault.Evaluation{picked("pe1", "r1", "Agent1", "ann"), picked("pe2", "r4", "Agent1", "bob")},
			vault.Effects{}.Add(entry("acme", "", "qm.plan.run", "p1", 2)), nil
	})
	if err != nil {
		t.Fatalf("UpdatePlan: %v", err)
	}
	wantP1 := p1
	wantP1.DoneThrough, wantP1.LastRun, wantP1.UpdatedAt = periodEnd, run, periodEnd
	checkDoc(t, "UpdatePlan's answer", saved.Tenant, "acme", saved, wantP1)
	got, err = s.Plan(ctx, "acme", "p1")
	if err != nil {
		t.Fatal(err)
	}
	checkDoc(t, "p1 after a run", got.Tenant, "acme", got, wantP1)
	planRecordings := func(tenant, plan string) []string {
		t.Helper()
		ids, err := s.PlanRecordings(ctx, tenant, plan)
		if err != nil {
			t.Fatalf("PlanRecordings(%q, %q): %v", tenant, plan, err)
		}
		return append([]string{}, ids...)
	}
	if got := planRecordings("acme", "p1"); !slices.Equal(got, []string{"r1", "r4"}) {
		t.Errorf("PlanRecordings(p1) = %q, want r1 r4", got)
	}
	if e := getEval(t, s, "acme", "pe1"); e.PlanID != "p1" || e.Tenant != "acme" {
		t.Errorf("pe1 = %+v", e)
	}

	// A run that fails leaves the plan and its evaluations as they were.
	later := periodEnd.AddDate(0, 0, 7)
	failing := []struct {
		what  string
		list  []vault.Evaluation
		fnErr error
		check func(t *testing.T, err error)
	}{
		{"a recording picked twice", []vault.Evaluation{picked("pe3", "r2", "Agent2", "ann"), picked("pe4", "r1", "Agent1", "bob")}, nil,
			func(t *testing.T, err error) { checkConflict(t, "UpdatePlan picking r1 again", err) }},
		{"a missing recording", []vault.Evaluation{picked("pe3", "r2", "Agent2", "ann"), picked("pe4", "r9", "Agent1", "bob")}, nil,
			func(t *testing.T, err error) { checkNotFound(t, "UpdatePlan picking a missing recording", err) }},
		{"fn failing", []vault.Evaluation{picked("pe3", "r2", "Agent2", "ann")}, errQMTest, func(t *testing.T, err error) {
			if !errors.Is(err, errQMTest) {
				t.Errorf("UpdatePlan with a failing fn: err = %v, want fn's", err)
			}
		}},
	}
	for _, tc := range failing {
		_, err := s.UpdatePlan(ctx, "acme", "p1", func(p *vault.Plan) ([]vault.Evaluation, vault.Effects, error) {
			p.DoneThrough = later
			return tc.list, vault.Effects{}.Add(entry("acme", "", "qm.plan.run", "p1", 3)), tc.fnErr
		})
		tc.check(t, err)
		if got, err := s.Plan(ctx, "acme", "p1"); err != nil || !got.DoneThrough.Equal(periodEnd) {
			t.Errorf("p1 after a run with %s: DoneThrough %v, %v; want %v", tc.what, got.DoneThrough, err, periodEnd)
		}
		for _, id := range []string{"pe3", "pe4"} {
			_, err := s.Evaluation(ctx, "acme", id)
			checkNotFound(t, id+" after a run with "+tc.what, err)
		}
	}
	for _, tc := range []struct{ tenant, id string }{{"acme", "p9"}, {"globex", "p1"}} {
		called := false
		_, err := s.UpdatePlan(ctx, tc.tenant, tc.id, func(*vault.Plan) ([]vault.Evaluation, vault.Effects, error) {
			called = true
			return nil, vault.Effects{}, nil
		})
		checkNotFound(t, fmt.Sprintf("UpdatePlan(%q, %q)", tc.tenant, tc.id), err)
		if called {
			t.Errorf("UpdatePlan(%q, %q) called fn", tc.tenant, tc.id)
		}
	}

	// Concurrent changes of one plan are none of them lost.
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdatePlan(ctx, "acme", "p0", func(p *vault.Plan) ([]vault.Evaluation, vault.Effects, error) {
				p.PerAgent++
				return nil, vault.Effects{}, nil
			})
			if err != nil {
				t.Errorf("UpdatePlan %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if got, err := s.Plan(ctx, "acme", "p0"); err != nil || got.PerAgent != n {
		t.Errorf("p0 after %d concurrent increments: PerAgent %d, %v", n, got.PerAgent, err)
	}

	plans, err := s.Plans(ctx, "acme")
	if err != nil {
		t.Fatalf("Plans: %v", err)
	}
	if len(plans) != 2 || plans[0].ID != "p0" || plans[1].ID != "p1" || plans[0].Tenant != "acme" {
		t.Fatalf("Plans(acme) = %+v, want p0 p1", plans)
	}
	checkDoc(t, "Plans[1]", plans[1].Tenant, "acme", plans[1], wantP1)
	if plans, err := s.Plans(ctx, "globex"); err != nil || len(plans) != 1 || plans[0].ID != "p9" {
		t.Errorf("Plans(globex) = %+v, %v; want p9", plans, err)
	}
	_, err = s.Plan(ctx, "globex", "p1")
	checkNotFound(t, "Plan of another tenant", err)
	if got := planRecordings("globex", "p1"); len(got) != 0 {
		t.Errorf("PlanRecordings(globex, p1) = %q, want none", got)
	}

	// A rescore in the plan names its recording once.
	rescore := picked("pe1r", "r1", "Agent1", "ann")
	rescore.Tenant, rescore.Supersedes = "acme", "pe1"
	createEvals(t, s, rescore)
	if got := planRecordings("acme", "p1"); !slices.Equal(got, []string{"r1", "r4"}) {
		t.Errorf("PlanRecordings(p1) after a rescore = %q, want r1 r4", got)
	}

	checkNotFound(t, "DeletePlan of another tenant's", s.DeletePlan(ctx, "globex", "p1", vault.Effects{}))
	if err := s.DeletePlan(ctx, "acme", "p1", vault.Effects{}.Add(entry("acme", "sup", "qm.plan.delete", "p1", 9))); err != nil {
		t.Fatalf("DeletePlan: %v", err)
	}
	_, err = s.Plan(ctx, "acme", "p1")
	checkNotFound(t, "Plan deleted", err)
	checkNotFound(t, "DeletePlan again", s.DeletePlan(ctx, "acme", "p1", vault.Effects{}.Add(entry("acme", "sup", "qm.plan.delete", "p1", 10))))
	getEval(t, s, "acme", "pe1") // its evaluations stay
	if got := planRecordings("acme", "p1"); !slices.Equal(got, []string{"r1", "r4"}) {
		t.Errorf("PlanRecordings of a deleted plan = %q, want r1 r4 (its evaluations stay)", got)
	}
	checkActions(t, s, "after the plan's life", "qm.plan.create p1", "qm.plan.run p1", "qm.plan.delete p1")
}

// testQMDeleteRecording deletes an evaluated recording: its evaluations
// and calibrations go with it, from every list.
func testQMDeleteRecording(t *testing.T, s vault.Store) {
	ctx := t.Context()
	qmRecordings(t, s)
	inPlan := func(e vault.Evaluation) vault.Evaluation { e.PlanID = "p1"; return e }
	createEvals(t, s,
		inPlan(qmEval("acme", "e1", "r1", "Agent1", "ann", vault.EvalSubmitted, base)),
		qmEval("acme", "e2", "r1", "Agent1", "bob", vault.EvalDraft, base.Add(time.Minute)),
		inPlan(qmEval("acme", "e3", "r2", "Agent2", "ann", vault.EvalSubmitted, base.Add(2*time.Minute))),
		qmEval("globex", "e1", "r1", "Agent1", "ann", vault.EvalSubmitted, base),
	)
	cal := qmEval("acme", "c1a", "r1", "Agent1", "ann", vault.EvalSubmitted, base)
	cal.Kind, cal.CalibrationID = vault.KindCalibration, "c1"
	if err := s.CreateCalibration(ctx, vault.Calibration{Tenant: "acme", ID: "c1", RecordingID: "r1", CreatedAt: base},
		[]vault.Evaluation{cal}, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCalibration(ctx, vault.Calibration{Tenant: "acme", ID: "c2", RecordingID: "r2", CreatedAt: base}, nil, vault.Effects{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteRecording(ctx, "acme", "r1"); err != nil {
		t.Fatalf("DeleteRecording: %v", err)
	}
	check := func(when string) {
		t.Helper()
		for _, id := range []string{"e1", "e2", "c1a"} {
			_, err := s.Evaluation(ctx, "acme", id)
			checkNotFound(t, id+" "+when, err)
		}
		_, err := s.Calibration(ctx, "acme", "c1")
		checkNotFound(t, "c1 "+when, err)
		if list, err := s.Calibrations(ctx, "acme"); err != nil || len(list) != 1 || list[0].ID != "c2" {
			t.Errorf("Calibrations %s = %+v, %v; want c2", when, list, err)
		}
		everyone := vault.EvaluationViewer{Access: all}
		if got := listEvals(t, s, "acme", vault.EvaluationFilter{Viewer: everyone}); !slices.Equal(got, []string{"e3"}) {
			t.Errorf("Evaluations %s = %q, want e3", when, got)
		}
		if got := listEvals(t, s, "acme", vault.EvaluationFilter{RecordingID: "r1", Viewer: everyone}); len(got) != 0 {
			t.Errorf("Evaluations of r1 %s = %q, want none", when, got)
		}
		if counts, err := s.EvaluationCounts(ctx, "acme", vault.EvaluationFilter{Viewer: everyone}); err != nil ||
			!maps.Equal(counts, map[string]int64{vault.EvalSubmitted: 1}) {
			t.Errorf("EvaluationCounts %s = %v, %v", when, counts, err)
		}
		if buckets, err := s.ScoreBuckets(ctx, "acme", base, base.AddDate(0, 0, 1), vault.IntervalDay, everyone); err != nil ||
			len(buckets) != 1 || buckets[0].Agent != "Agent2" {
			t.Errorf("ScoreBuckets %s = %+v, %v; want Agent2's alone", when, buckets, err)
		}
		if ids, err := s.PlanRecordings(ctx, "acme", "p1"); err != nil || !slices.Equal(ids, []string{"r2"}) {
			t.Errorf("PlanRecordings %s = %q, %v; want r2", when, ids, err)
		}
		if e := getEval(t, s, "globex", "e1"); e.RecordingID != "r1" {
			t.Errorf("globex's e1 %s = %+v", when, e)
		}
	}
	check("after DeleteRecording")
	checkNotFound(t, "CreateEvaluations of a deleted recording",
		s.CreateEvaluations(ctx, []vault.Evaluation{qmEval("acme", "e4", "r1", "Agent1", "ann", vault.EvalAssigned, base)}, vault.Effects{}))
	put(t, s, vault.Recording{Tenant: "acme", ID: "r1", Agents: []string{"Agent1"}, Groups: []string{"/Anthony/John"}})
	check("once the id is used again")
}
