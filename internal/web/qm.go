package web

// Quality management pages: the form designer (qm.js edits the draft
// through the API; without scripts the draft's JSON is edited in a text
// box), the evaluations list, one evaluation (the call's player beside
// the form: the evaluator answers, the agent signs off or disputes, the
// evaluator rescores or declines), calibrations and the agents' report.
// The service decides who may do what and checks every value; these
// handlers turn forms into its types and its answers into pages.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"callvault/internal/httpx"
	"callvault/internal/qm"
	"callvault/internal/service"
	"callvault/internal/vault"
)

func (u *UI) qmRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /qm", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/qm/evaluations", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /qm/forms", u.authed(u.qmForms))
	mux.HandleFunc("POST /qm/forms", u.authed(u.createQMForm))
	mux.HandleFunc("GET /qm/forms/{id}", u.authed(u.qmForm))
	mux.HandleFunc("POST /qm/forms/{id}", u.authed(u.saveQMFormJSON))
	mux.HandleFunc("POST /qm/forms/{id}/publish", u.authed(u.publishQMForm))
	mux.HandleFunc("GET /qm/evaluations", u.authed(u.qmEvaluations))
	mux.HandleFunc("POST /qm/evaluations", u.authed(u.assignEvaluation))
	mux.HandleFunc("GET /qm/evaluations/new", u.authed(u.assignPage))
	mux.HandleFunc("GET /qm/evaluations/{id}", u.authed(u.qmEvaluation))
	mux.HandleFunc("POST /qm/evaluations/{id}", u.authed(u.saveQMEvaluation))
	mux.HandleFunc("POST /qm/evaluations/{id}/signoff", u.authed(u.evaluationNote(u.svc.SignOff, "signedoff")))
	mux.HandleFunc("POST /qm/evaluations/{id}/dispute", u.authed(u.evaluationNote(u.svc.Dispute, "disputed")))
	mux.HandleFunc("POST /qm/evaluations/{id}/decline", u.authed(u.evaluationNote(u.svc.Decline, "declined")))
	mux.HandleFunc("POST /qm/evaluations/{id}/rescore", u.authed(u.rescoreEvaluation))
	mux.HandleFunc("GET /qm/calibrations", u.authed(u.qmCalibrations))
	mux.HandleFunc("POST /qm/calibrations", u.authed(u.createQMCalibration))
	mux.HandleFunc("GET /qm/calibrations/{id}", u.authed(u.qmCalibration))
	mux.HandleFunc("GET /qm/plans", u.authed(u.qmPlans))
	mux.HandleFunc("POST /qm/plans", u.authed(u.createQMPlan))
	mux.HandleFunc("GET /qm/plans/{id}", u.authed(u.qmPlan))
	mux.HandleFunc("POST /qm/plans/{id}", u.authed(u.updateQMPlan))
	mux.HandleFunc("GET /qm/plans/{id}/delete", u.authed(u.confirmDeleteQMPlan))
	mux.HandleFunc("POST /qm/plans/{id}/delete", u.authed(u.deleteQMPlan))
	mux.HandleFunc("GET /qm/reports", u.authed(u.qmReport))
}

// qmManager: admins and supervisors design forms, assign evaluations and
// run calibrations (the service refuses the others; the pages only choose
// what to offer).
func qmManager(user *vault.User) bool {
	return user.HasRole(vault.RoleAdmin) || user.HasRole(vault.RoleSupervisor)
}

// naValue is the radio value of an N/A answer: answer ids start with a
// letter or digit, so it is none of them.
const naValue = "_na"

// Pct formats a score (0–100) in the language; "—" when none.
func (l *Lang) Pct(v *float64) string {
	if v == nil {
		return "—"
	}
	return l.T("qm_percent", l.printer.Sprintf("%.1f", *v))
}

// Dev formats a deviation in points of percent, signed; "—" when none.
func (l *Lang) Dev(v *float64) string {
	if v == nil {
		return "—"
	}
	return l.printer.Sprintf("%+.1f", *v)
}

// Dec formats a number with one decimal; "—" when none.
func (l *Lang) Dec(v *float64) string {
	if v == nil {
		return "—"
	}
	return l.printer.Sprintf("%.1f", *v)
}

// --- forms ---

type qmFormsData struct {
	Forms []vault.FormInfo
	Name  string // the new form's name as typed
}

func (u *UI) qmForms(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderQMForms(w, r, p, "", http.StatusOK)
}

func (u *UI) renderQMForms(w http.ResponseWriter, r *http.Request, p *page, name string, status int) {
	p.Nav, p.Title = "qm", p.L.T("qm_forms_title")
	list, err := u.svc.Forms(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Data = &qmFormsData{Forms: list, Name: name}
	u.render(w, status, "qm-forms", p)
}

// newForm is the draft a new form starts as: a valid one (a draft is
// always valid), one group with one yes/no question, for the designer to
// change.
func newForm(l *Lang, name string) vault.Form {
	return vault.Form{Name: name, QuestionGroups: []vault.QuestionGroup{{Name: l.T("qm_default_group"), Weight: 1,
		Questions: []vault.Question{newQuestion(l, "q1")}}}}
}

func newQuestion(l *Lang, id string) vault.Question {
	return vault.Question{ID: id, Text: l.T("qm_default_question"), Type: vault.QuestionYesNo, Required: true,
		Answers: []vault.Choice{{ID: "yes", Text: l.T("yes"), Points: 1}, {ID: "no", Text: l.T("no"), Points: 0}}}
}

func (u *UI) createQMForm(w http.ResponseWriter, r *http.Request, p *page) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	body, err := json.Marshal(newForm(p.L, name))
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	f, err := u.svc.CreateForm(r.Context(), p.User, body)
	if err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
		u.renderQMForms(w, r, p, name, statusFor(err))
		return
	}
	http.Redirect(w, r, "/qm/forms/"+url.PathEscape(f.ID)+"?done=created", http.StatusSeeOther)
}

type qmFormData struct {
	Form *vault.Form
	Info *vault.FormInfo
	// JSON is the draft as the editor without scripts shows it, or as
	// typed when refused.
	JSON string
	// API is the draft's API URL (qm.js saves and publishes through it).
	API   string
	Types []string
	// NewGroup, NewQuestion and NewAnswer are what the designer's "add"
	// buttons insert (rendered into <template> elements).
	NewGroup    vault.QuestionGroup
	NewQuestion vault.Question
	NewAnswer   vault.Choice
}

var questionTypes = []string{vault.QuestionYesNo, vault.QuestionChoice, vault.QuestionText}

func (u *UI) qmForm(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderQMForm(w, r, p, "", http.StatusOK)
}

// renderQMForm shows the designer of a form's draft; typed is the JSON
// of a refused save (the editor without scripts).
func (u *UI) renderQMForm(w http.ResponseWriter, r *http.Request, p *page, typed string, status int) {
	id := r.PathValue("id")
	p.Nav = "qm"
	f, info, err := u.svc.Form(r.Context(), p.User, id)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("qm_form_title", f.Name)
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		switch q.Get("done") {
		case "created":
			p.Flash = p.L.T("qm_form_created")
		case "saved":
			p.Flash = p.L.T("qm_draft_saved")
		case "published":
			if v, err := strconv.Atoi(q.Get("version")); err == nil && v > 0 {
				p.Flash = p.L.T("qm_published", strconv.Itoa(v))
			}
		}
	}
	data := &qmFormData{Form: f, Info: info, API: "/api/v2/qm/forms/" + url.PathEscape(f.ID), Types: questionTypes,
		NewGroup: vault.QuestionGroup{Weight: 1}, NewQuestion: newQuestion(p.L, ""), NewAnswer: vault.Choice{}}
	data.NewQuestion.Text = ""
	slices.Reverse(data.Info.Versions) // newest first
	if typed != "" {
		data.JSON = typed
	} else {
		// What PUT takes: the server owns the id, version and stamps.
		raw, _ := json.MarshalIndent(struct {
			Name           string                `json:"name"`
			Description    string                `json:"description,omitempty"`
			QuestionGroups []vault.QuestionGroup `json:"questionGroups"`
		}{f.Name, f.Description, f.QuestionGroups}, "", "  ")
		data.JSON = string(raw)
	}
	p.Data = data
	u.render(w, status, "qm-form", p)
}

// saveQMFormJSON saves the draft from the JSON text box (the designer
// without scripts; with them, qm.js saves through the API).
func (u *UI) saveQMFormJSON(w http.ResponseWriter, r *http.Request, p *page) {
	id := r.PathValue("id")
	typed := r.PostFormValue("form")
	if _, err := u.svc.UpdateForm(r.Context(), p.User, id, []byte(typed)); err != nil {
		u.qmFormRefused(w, r, p, typed, err)
		return
	}
	http.Redirect(w, r, "/qm/forms/"+url.PathEscape(id)+"?done=saved", http.StatusSeeOther)
}

func (u *UI) publishQMForm(w http.ResponseWriter, r *http.Request, p *page) {
	id := r.PathValue("id")
	v, err := u.svc.PublishForm(r.Context(), p.User, id)
	if err != nil {
		u.qmFormRefused(w, r, p, "", err)
		return
	}
	http.Redirect(w, r, "/qm/forms/"+url.PathEscape(id)+"?done=published&version="+strconv.Itoa(v.Version), http.StatusSeeOther)
}

func (u *UI) qmFormRefused(w http.ResponseWriter, r *http.Request, p *page, typed string, err error) {
	switch vault.ErrorCode(err) {
	case vault.EINVALID, vault.ECONFLICT, vault.ETOOLARGE:
		p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
		u.renderQMForm(w, r, p, typed, statusFor(err))
	default:
		u.renderError(w, r, p, err)
	}
}

// formChoice is one published form version to pick; Value is "id:version".
type formChoice struct {
	Value, Label string
}

// formVersions lists the published versions to assign (forms by name,
// each one's newest version first) and the names of the forms' versions ("id:version" → name).
// Only admins and supervisors read forms: others get none.
func (u *UI) formVersions(r *http.Request, p *page) ([]formChoice, map[string]string) {
	names := map[string]string{}
	if !qmManager(p.User) {
		return nil, names
	}
	list, err := u.svc.Forms(r.Context(), p.User)
	if err != nil {
		u.log.Warn("cannot list forms", "tenant", p.User.Tenant, "err", err)
		return nil, names
	}
	slices.SortStableFunc(list, func(a, b vault.FormInfo) int { return strings.Compare(a.Name, b.Name) })
	var out []formChoice
	for _, f := range list {
		versions := slices.Clone(f.Versions)
		slices.SortFunc(versions, func(a, b vault.FormVersion) int { return b.Version - a.Version })
		for _, v := range versions {
			key := formKey(f.ID, v.Version)
			names[key] = v.Name
			out = append(out, formChoice{Value: key, Label: p.L.T("qm_form_version", v.Name, strconv.Itoa(v.Version))})
		}
	}
	return out, names
}

func formKey(id string, version int) string { return id + ":" + strconv.Itoa(version) }

// parseFormChoice reads "id:version" (or a bare id: the latest version).
func parseFormChoice(v string) (id string, version int, err error) {
	id, ver, ok := strings.Cut(strings.TrimSpace(v), ":")
	if ok {
		if version, err = strconv.Atoi(ver); err != nil || version < 1 {
			return "", 0, vault.Errorf(vault.EINVALID, "form version %q is not a version number", ver)
		}
	}
	if id == "" {
		return "", 0, vault.Errorf(vault.EINVALID, "choose a form")
	}
	return id, version, nil
}

// evaluatorChoices are the names offered as evaluators: for an admin,
// the enabled admins and supervisors; for a supervisor (who may not list
// users), themselves. The service checks whatever is typed.
func (u *UI) evaluatorChoices(r *http.Request, p *page) []string {
	if !p.User.HasRole(vault.RoleAdmin) {
		return []string{p.User.Name}
	}
	users, err := u.svc.Users(r.Context(), p.User)
	if err != nil {
		u.log.Warn("cannot list users", "tenant", p.User.Tenant, "err", err)
		return []string{p.User.Name}
	}
	var out []string
	for _, x := range users {
		if !x.Disabled && qmManager(&x) {
			out = append(out, x.Name)
		}
	}
	return out
}

// --- evaluations ---

type qmEvalRow struct {
	vault.Evaluation
	FormName string
}

type qmEvalsData struct {
	Rows                               []qmEvalRow
	State, Agent, Evaluator, Recording string
	Plan                               string // the plan whose evaluations these are ("": any)
	States                             []string
	Manager                            bool
	Next, First                        string
}

// formNames names the form versions of evaluations: from the forms list
// for admins and supervisors, else from one evaluation of each version
// (an agent's list uses few).
func (u *UI) formNames(r *http.Request, p *page, list []vault.Evaluation) map[string]string {
	_, names := u.formVersions(r, p)
	for _, e := range list {
		key := formKey(e.FormID, e.Version)
		if _, ok := names[key]; ok {
			continue
		}
		names[key] = e.FormID
		if v, err := u.svc.Evaluation(r.Context(), p.User, e.ID); err == nil && v.Form != nil {
			names[key] = v.Form.Name
		}
	}
	return names
}

func (u *UI) evalRows(r *http.Request, p *page, list []vault.Evaluation) []qmEvalRow {
	names := u.formNames(r, p, list)
	rows := make([]qmEvalRow, 0, len(list))
	for _, e := range list {
		rows = append(rows, qmEvalRow{Evaluation: e, FormName: names[formKey(e.FormID, e.Version)]})
	}
	return rows
}

// qmEvaluations lists the evaluations the user may see (the service's
// rule: an agent's own once submitted; a supervisor's of the calls their
// access groups see and their own as evaluator), newest first, paged.
func (u *UI) qmEvaluations(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "qm"
	q := r.URL.Query()
	data := &qmEvalsData{State: q.Get("state"), Agent: strings.TrimSpace(q.Get("agent")), Evaluator: strings.TrimSpace(q.Get("evaluator")),
		Recording: strings.TrimSpace(q.Get("recording")), Plan: strings.TrimSpace(q.Get("plan")), States: vault.EvalStates, Manager: qmManager(p.User)}
	p.Title = p.L.T("qm_my_evaluations")
	if data.Manager {
		p.Title = p.L.T("qm_evaluations_title")
		if data.Plan != "" {
			name := data.Plan
			if pl, err := u.svc.Plan(r.Context(), p.User, data.Plan); err == nil {
				name = pl.Name
			}
			p.Title = p.L.T("qm_plan_evaluations_title", name)
		}
	}
	p.Data = data
	f := vault.EvaluationFilter{Agent: data.Agent, Evaluator: data.Evaluator, RecordingID: data.Recording, PlanID: data.Plan, Limit: pageSize + 1}
	if data.State != "" {
		if !slices.Contains(vault.EvalStates, data.State) {
			p.Error = p.L.T("err_invalid") + " " + p.L.T("qm_state")
			u.render(w, http.StatusBadRequest, "qm-evaluations", p)
			return
		}
		f.States = []string{data.State}
	}
	if c := q.Get("cursor"); c != "" {
		var err error
		if f.After, err = httpx.DecodeCursor(c); err != nil {
			p.Error = p.L.T("err_invalid") + " " + vault.ErrorMessage(err)
			u.render(w, http.StatusBadRequest, "qm-evaluations", p)
			return
		}
	}
	list, err := u.svc.Evaluations(r.Context(), p.User, f)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	more := len(list) > pageSize
	if more {
		list = list[:pageSize]
	}
	data.Rows = u.evalRows(r, p, list)
	cursor := ""
	if more {
		last := list[len(list)-1]
		cursor = httpx.EncodeCursor(vault.Cursor{StartTime: last.CreatedAt, ID: last.ID})
	}
	data.Next, data.First = pageLinks("/qm/evaluations", q, cursor)
	u.render(w, http.StatusOK, "qm-evaluations", p)
}

// recordingQM is what a recording's page shows of quality management: the
// evaluations of the call the user may see and, for admins and
// supervisors, the form that assigns a new one.
type recordingQM struct {
	RecordingID string
	Evaluations []qmEvalRow
	Manager     bool
	Assign      assignForm
}

// assignForm is the assign form: its choices and values.
type assignForm struct {
	RecordingID string
	Forms       []formChoice
	Form        string // the chosen "id:version"
	Evaluators  []string
	Evaluator   string
	Agents      []string // the call's agents, to choose when there are several
	Agent       string
}

// qmOfRecording reads a recording's part of quality management for its
// page; a failure is logged and the page shows the rest.
func (u *UI) qmOfRecording(r *http.Request, p *page, rec *vault.Recording) *recordingQM {
	list, err := u.svc.Evaluations(r.Context(), p.User, vault.EvaluationFilter{RecordingID: rec.ID, Limit: pageSize})
	if err != nil {
		if vault.ErrorCode(err) != vault.EFORBIDDEN {
			u.log.Warn("cannot list the evaluations of a recording", "tenant", p.User.Tenant, "recording", rec.ID, "err", err)
		}
		return nil
	}
	v := &recordingQM{RecordingID: rec.ID, Evaluations: u.evalRows(r, p, list), Manager: qmManager(p.User)}
	if v.Manager {
		v.Assign = u.assignFormOf(r, p, rec.ID, rec.Agents)
	}
	return v
}

func (u *UI) assignFormOf(r *http.Request, p *page, recordingID string, agents []string) assignForm {
	forms, _ := u.formVersions(r, p)
	a := assignForm{RecordingID: recordingID, Forms: forms, Evaluators: u.evaluatorChoices(r, p), Evaluator: p.User.Name, Agents: agents}
	if len(forms) > 0 {
		a.Form = forms[0].Value
	}
	if len(agents) > 0 {
		a.Agent = agents[0]
	}
	return a
}

// assignPage is the assign form on its own (linked from nowhere but
// shown again, with the refusal, when an assignment from the recording
// page is refused).
func (u *UI) assignPage(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderAssign(w, r, p, nil, http.StatusOK)
}

func (u *UI) renderAssign(w http.ResponseWriter, r *http.Request, p *page, typed *assignForm, status int) {
	p.Nav = "qm"
	id := r.URL.Query().Get("recording")
	if typed != nil {
		id = typed.RecordingID
	}
	if !qmManager(p.User) {
		u.renderError(w, r, p, vault.Errorf(vault.EFORBIDDEN, "admins and supervisors assign evaluations"))
		return
	}
	rec, _, err := u.svc.Recording(r.Context(), p.User, id)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	form := u.assignFormOf(r, p, rec.ID, rec.Agents)
	if typed != nil {
		form.Form, form.Evaluator, form.Agent = typed.Form, typed.Evaluator, typed.Agent
	}
	p.Title = p.L.T("qm_assign_title", rec.ID)
	p.Data = &form
	u.render(w, status, "qm-assign", p)
}

func (u *UI) assignEvaluation(w http.ResponseWriter, r *http.Request, p *page) {
	typed := assignForm{RecordingID: strings.TrimSpace(r.PostFormValue("recordingId")), Form: r.PostFormValue("form"),
		Evaluator: strings.TrimSpace(r.PostFormValue("evaluator")), Agent: strings.TrimSpace(r.PostFormValue("agent"))}
	formID, version, err := parseFormChoice(typed.Form)
	var list []vault.Evaluation
	if err == nil {
		list, err = u.svc.Assign(r.Context(), p.User, []service.AssignRequest{{RecordingID: typed.RecordingID, FormID: formID,
			Version: version, Evaluator: typed.Evaluator, Agent: typed.Agent}})
	}
	if err != nil {
		// A manager's refusal (a bad or unfit evaluator: 400, 403, 409)
		// keeps the form; anyone else's is an error page.
		manager := p.User.HasRole(vault.RoleAdmin) || p.User.HasRole(vault.RoleSupervisor)
		if code := vault.ErrorCode(err); !manager || code != vault.EINVALID && code != vault.ECONFLICT && code != vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
		u.renderAssign(w, r, p, &typed, statusFor(err))
		return
	}
	http.Redirect(w, r, "/qm/evaluations/"+url.PathEscape(list[0].ID)+"?done=assigned", http.StatusSeeOther)
}

// evalQuestion is one question of an evaluation's page with its answer.
type evalQuestion struct {
	Q *vault.Question
	// Selected is the chosen answer's id, naValue, or "".
	Selected string
	NA       bool
	Text     string
	Comment  string
	// At is the playback time the answer refers to (HasAt: one is set).
	At    time.Duration
	AtMs  int64
	HasAt bool
	// Shown: visible with these answers (a read-only page lists only
	// these; the evaluator's form hides the others with its script).
	Shown bool
	// When names the condition's question and answer, for the hint.
	WhenQuestion, WhenAnswer string
	// AnswerText is the chosen answer's text (read-only pages).
	AnswerText string
}

type evalGroup struct {
	Name      string
	Weight    float64
	Questions []evalQuestion
}

// evalMedia is the call's player on the evaluation page.
type evalMedia struct {
	PlayURL string
	Video   bool
}

type qmEvalData struct {
	E         *service.EvaluationView
	Recording *vault.Recording // nil when the user may not see it
	Media     *evalMedia
	Groups    []evalGroup
	Comment   string
	API       string // the evaluation's API URL (qm.js saves and submits through it)
	NA        string // naValue
	// Editable: the user is the evaluator and it is not submitted yet.
	Editable bool
	// AgentActions: the evaluated agent may sign off (and, unless a
	// dispute was declined, dispute).
	AgentActions, CanDispute bool
	// EvaluatorActions: a dispute the evaluator (or an admin) answers.
	EvaluatorActions bool
	// Note is a refused sign-off's, dispute's or decline's comment, shown
	// again in NoteFor's form.
	Note, NoteFor string
	Manager       bool
}

// evalInput is what a refused save typed (shown again) or a refused
// note's comment.
type evalInput struct {
	Save          *service.SaveInput
	Note, NoteFor string
}

func (u *UI) qmEvaluation(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderEvaluation(w, r, p, evalInput{}, http.StatusOK)
}

func (u *UI) renderEvaluation(w http.ResponseWriter, r *http.Request, p *page, typed evalInput, status int) {
	p.Nav = "qm"
	ev, err := u.svc.Evaluation(r.Context(), p.User, r.PathValue("id"))
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("qm_evaluation_title", ev.Agent)
	if r.Method == http.MethodGet {
		switch r.URL.Query().Get("done") {
		case "assigned":
			p.Flash = p.L.T("qm_assigned")
		case "saved":
			p.Flash = p.L.T("qm_saved")
		case "submitted":
			p.Flash = p.L.T("qm_submitted")
		case "signedoff":
			p.Flash = p.L.T("qm_signed_off")
		case "disputed":
			p.Flash = p.L.T("qm_disputed")
		case "declined":
			p.Flash = p.L.T("qm_declined")
		case "rescore":
			p.Flash = p.L.T("qm_rescore_started")
		}
	}
	p.Data = u.evaluationData(r, p, ev, typed)
	u.render(w, status, "qm-evaluation", p)
}

func (u *UI) evaluationData(r *http.Request, p *page, ev *service.EvaluationView, typed evalInput) *qmEvalData {
	me := p.User.Name
	d := &qmEvalData{E: ev, API: "/api/v2/qm/evaluations/" + url.PathEscape(ev.ID), NA: naValue, Comment: ev.Comment,
		Note: typed.Note, NoteFor: typed.NoteFor, Manager: qmManager(p.User)}
	d.Editable = ev.Evaluator == me && (ev.State == vault.EvalAssigned || ev.State == vault.EvalDraft)
	d.AgentActions = ev.Agent == me && ev.Kind == vault.KindEvaluation && ev.State == vault.EvalSubmitted
	d.CanDispute = d.AgentActions && ev.Declined == nil
	d.EvaluatorActions = ev.State == vault.EvalDisputed && ev.SupersededBy == "" && (ev.Evaluator == me || p.User.HasRole(vault.RoleAdmin))
	answers := ev.Answers
	if typed.Save != nil {
		answers = typed.Save.Answers
		if typed.Save.Comment != nil {
			d.Comment = *typed.Save.Comment
		}
	}
	if rec, media, err := u.svc.Recording(r.Context(), p.User, ev.RecordingID); err == nil {
		d.Recording = rec
		d.Media = playerOf(rec.ID, media)
	}
	f := ev.Form
	if f == nil {
		return d
	}
	by := qm.ByQuestion(answers)
	shown := qm.Visible(f, by)
	questions := map[string]*vault.Question{}
	for _, q := range qm.Questions(f) {
		questions[q.ID] = q
	}
	for gi := range f.QuestionGroups {
		g := &f.QuestionGroups[gi]
		eg := evalGroup{Name: g.Name, Weight: g.Weight}
		for qi := range g.Questions {
			q := &g.Questions[qi]
			a := by[q.ID]
			eq := evalQuestion{Q: q, NA: a.NA, Text: a.Text, Comment: a.Comment, Shown: shown[q.ID]}
			switch {
			case a.NA:
				eq.Selected, eq.AnswerText = naValue, p.L.T("qm_na")
			case a.Answer != nil:
				eq.Selected = *a.Answer
				for _, c := range q.Answers {
					if c.ID == *a.Answer {
						eq.AnswerText = c.Text
					}
				}
			}
			if a.AtMs != nil {
				eq.At, eq.AtMs, eq.HasAt = time.Duration(*a.AtMs)*time.Millisecond, *a.AtMs, true
			}
			if c := q.VisibleWhen; c != nil && questions[c.Question] != nil {
				cond := questions[c.Question]
				eq.WhenQuestion, eq.WhenAnswer = cond.Text, c.Answer
				for _, ch := range cond.Answers {
					if ch.ID == c.Answer {
						eq.WhenAnswer = ch.Text
					}
				}
			}
			eg.Questions = append(eg.Questions, eq)
		}
		d.Groups = append(d.Groups, eg)
	}
	return d
}

// playerOf picks the media the evaluation page plays: the first audio
// file, else the first video (a muxed screen recording has the call's
// sound); nil when there is none. The types are those the recording page
// gives a player.
func playerOf(id string, media []vault.Media) *evalMedia {
	var video *evalMedia
	for _, m := range media {
		if m.Type != "" && !service.AcceptedMediaType(m.Type) {
			continue
		}
		play := "/api/v2/recordings/" + url.PathEscape(id) + "/play/" + url.PathEscape(m.MediaID)
		switch {
		case m.Type == "" || strings.HasPrefix(m.Type, "audio/"):
			return &evalMedia{PlayURL: play}
		case strings.HasPrefix(m.Type, "video/") && video == nil:
			video = &evalMedia{PlayURL: play, Video: true}
		}
	}
	return video
}

// readAnswers reads the evaluation form as posted without scripts (qm.js
// sends the same as JSON): per question "answer.<id>" (an answer id or
// naValue), "text.<id>" and "na.<id>" for a text question, "comment.<id>",
// "at.<id>" (milliseconds). Questions with nothing typed are left out.
func readAnswers(f *vault.Form, form url.Values) (service.SaveInput, error) {
	in := service.SaveInput{Answers: []vault.AnswerValue{}}
	comment := strings.TrimSpace(form.Get("comment"))
	in.Comment = &comment
	for _, q := range qm.Questions(f) {
		a := vault.AnswerValue{Question: q.ID, Comment: strings.TrimSpace(form.Get("comment." + q.ID))}
		if q.Type == vault.QuestionText {
			a.Text = strings.TrimSpace(form.Get("text." + q.ID))
			a.NA = form.Get("na."+q.ID) != ""
		} else {
			switch v := form.Get("answer." + q.ID); v {
			case "":
			case naValue:
				a.NA = true
			default:
				a.Answer = &v
			}
		}
		if at := strings.TrimSpace(form.Get("at." + q.ID)); at != "" {
			ms, err := strconv.ParseInt(at, 10, 64)
			if err != nil {
				return in, vault.Errorf(vault.EINVALID, "question %q: the marked time %q is not a number of milliseconds", q.ID, at)
			}
			a.AtMs = &ms
		}
		if a.Answer != nil || a.NA || a.Text != "" || a.Comment != "" || a.AtMs != nil {
			in.Answers = append(in.Answers, a)
		}
	}
	return in, nil
}

// saveQMEvaluation saves or submits the evaluation form posted without
// scripts; a refusal shows the form again with what was typed.
func (u *UI) saveQMEvaluation(w http.ResponseWriter, r *http.Request, p *page) {
	id := r.PathValue("id")
	ev, err := u.svc.Evaluation(r.Context(), p.User, id)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	submit := r.PostFormValue("action") == "submit"
	in, err := readAnswers(ev.Form, r.PostForm)
	if err == nil {
		if submit {
			_, err = u.svc.SubmitEvaluation(r.Context(), p.User, id, in)
		} else {
			_, err = u.svc.SaveEvaluation(r.Context(), p.User, id, in)
		}
	}
	if err != nil {
		u.evaluationRefused(w, r, p, evalInput{Save: &in}, err)
		return
	}
	done := "saved"
	if submit {
		done = "submitted"
	}
	http.Redirect(w, r, "/qm/evaluations/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
}

// evaluationRefused shows the evaluation again with the refusal (a bad
// value, or a step its state does not allow); other errors get the error
// page.
func (u *UI) evaluationRefused(w http.ResponseWriter, r *http.Request, p *page, typed evalInput, err error) {
	switch vault.ErrorCode(err) {
	case vault.EINVALID, vault.ECONFLICT:
		p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
		u.renderEvaluation(w, r, p, typed, statusFor(err))
	default:
		u.renderError(w, r, p, err)
	}
}

type noteStep func(ctx context.Context, caller *vault.User, id, comment string) (*service.EvaluationView, error)

// evaluationNote is the agent's sign-off or dispute, or the evaluator's
// decline: a comment and a step of the service.
func (u *UI) evaluationNote(step noteStep, done string) pageHandler {
	return func(w http.ResponseWriter, r *http.Request, p *page) {
		id := r.PathValue("id")
		comment := strings.TrimSpace(r.PostFormValue("comment"))
		if _, err := step(r.Context(), p.User, id, comment); err != nil {
			u.evaluationRefused(w, r, p, evalInput{Note: comment, NoteFor: done}, err)
			return
		}
		http.Redirect(w, r, "/qm/evaluations/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
	}
}

// rescoreEvaluation answers a dispute with a new draft of the
// evaluation, which the evaluator then changes and submits.
func (u *UI) rescoreEvaluation(w http.ResponseWriter, r *http.Request, p *page) {
	ev, err := u.svc.Rescore(r.Context(), p.User, r.PathValue("id"))
	if err != nil {
		u.evaluationRefused(w, r, p, evalInput{}, err)
		return
	}
	http.Redirect(w, r, "/qm/evaluations/"+url.PathEscape(ev.ID)+"?done=rescore", http.StatusSeeOther)
}

// --- calibrations ---

type calibrationForm struct {
	Name, RecordingID, Form, Expert, Evaluators string
}

type calibrationRow struct {
	vault.Calibration
	FormName string
}

type qmCalibrationsData struct {
	List       []calibrationRow
	Form       calibrationForm
	Forms      []formChoice
	Evaluators []string
}

func (u *UI) qmCalibrations(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderCalibrations(w, r, p, calibrationForm{RecordingID: r.URL.Query().Get("recording")}, http.StatusOK)
}

func (u *UI) renderCalibrations(w http.ResponseWriter, r *http.Request, p *page, form calibrationForm, status int) {
	p.Nav, p.Title = "qm", p.L.T("qm_calibrations_title")
	list, err := u.svc.Calibrations(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	forms, names := u.formVersions(r, p)
	data := &qmCalibrationsData{Form: form, Forms: forms, Evaluators: u.evaluatorChoices(r, p)}
	if data.Form.Form == "" && len(forms) > 0 {
		data.Form.Form = forms[0].Value
	}
	for _, c := range list {
		data.List = append(data.List, calibrationRow{Calibration: c, FormName: names[formKey(c.FormID, c.Version)]})
	}
	p.Data = data
	u.render(w, status, "qm-calibrations", p)
}

// splitNames reads user names separated by commas, spaces or lines.
func splitNames(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' || r == ';' })
}

func (u *UI) createQMCalibration(w http.ResponseWriter, r *http.Request, p *page) {
	form := calibrationForm{Name: strings.TrimSpace(r.PostFormValue("name")), RecordingID: strings.TrimSpace(r.PostFormValue("recordingId")),
		Form: r.PostFormValue("form"), Expert: strings.TrimSpace(r.PostFormValue("expert")), Evaluators: r.PostFormValue("evaluators")}
	formID, version, err := parseFormChoice(form.Form)
	var c *service.CalibrationView
	if err == nil {
		c, err = u.svc.CreateCalibration(r.Context(), p.User, service.CalibrationRequest{Name: form.Name, RecordingID: form.RecordingID,
			FormID: formID, Version: version, Expert: form.Expert, Evaluators: splitNames(form.Evaluators)})
	}
	if err != nil {
		switch vault.ErrorCode(err) {
		case vault.EINVALID, vault.ECONFLICT, vault.ENOTFOUND:
			// A recording one may not see is "not found", as anywhere.
			p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
			u.renderCalibrations(w, r, p, form, statusFor(err))
		default:
			u.renderError(w, r, p, err)
		}
		return
	}
	http.Redirect(w, r, "/qm/calibrations/"+url.PathEscape(c.ID)+"?done=created", http.StatusSeeOther)
}

// calCell is one evaluator's answer to one question beside the expert's.
type calCell struct {
	Compared  bool // either answered it
	Same      bool
	Deviation *float64
	Answer    string // the answer's text, N/A, or —
	Expert    string
}

type calRow struct {
	qm.EvaluatorResult
	Cells []calCell // in the order of the report's questions
}

type qmCalibrationData struct {
	C        *service.CalibrationView
	FormName string
	Rows     []calRow
}

func (u *UI) qmCalibration(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "qm"
	c, err := u.svc.Calibration(r.Context(), p.User, r.PathValue("id"))
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("qm_calibration_title", c.ID)
	if c.Name != "" {
		p.Title = p.L.T("qm_calibration_title", c.Name)
	}
	if r.URL.Query().Get("done") == "created" {
		p.Flash = p.L.T("qm_calibration_created")
	}
	data := &qmCalibrationData{C: c, FormName: c.FormID}
	answerText := func(q, key string) string { return key }
	if f, err := u.svc.FormVersion(r.Context(), p.User, c.FormID, c.Version); err == nil {
		data.FormName = f.Name
		byQuestion := map[string]*vault.Question{}
		for _, q := range qm.Questions(f) {
			byQuestion[q.ID] = q
		}
		answerText = func(q, key string) string {
			switch key {
			case "":
				return "—"
			case "na":
				return p.L.T("qm_na")
			case "text":
				return p.L.T("qm_text_answer")
			}
			if qq := byQuestion[q]; qq != nil {
				for _, a := range qq.Answers {
					if a.ID == key {
						return a.Text
					}
				}
			}
			return key
		}
	}
	for _, e := range c.Report.Evaluators {
		row := calRow{EvaluatorResult: e}
		got := map[string]qm.QuestionDeviation{}
		for _, d := range e.Questions {
			got[d.Question] = d
		}
		for _, q := range c.Report.Questions {
			d, ok := got[q.Question]
			cell := calCell{Compared: ok}
			if ok {
				cell.Same, cell.Deviation = d.Same, d.Deviation
				cell.Answer, cell.Expert = answerText(q.Question, d.Answer), answerText(q.Question, d.Expert)
			}
			row.Cells = append(row.Cells, cell)
		}
		data.Rows = append(data.Rows, row)
	}
	p.Data = data
	u.render(w, http.StatusOK, "qm-calibration", p)
}

// --- report ---

// reportIntervals are the report's intervals.
var reportIntervals = []string{qm.IntervalDay, qm.IntervalWeek, qm.IntervalMonth}

// reportSeries is one agent's line: the average total per interval, null
// where they have none.
type reportSeries struct {
	Label  string     `json:"label"`
	Values []*float64 `json:"values"`
}

// reportChart is what qm.js draws (uPlot): the intervals' starts (Unix
// seconds) and a line per agent.
type reportChart struct {
	X      []int64        `json:"x"`
	Series []reportSeries `json:"series"`
	XLabel string         `json:"xLabel"`
	YLabel string         `json:"yLabel"`
}

type stateCount struct {
	State string
	Count int64
}

type qmReportData struct {
	From, To, Interval string // the form's values (dates, inclusive)
	Intervals          []string
	Report             *qm.Report
	Chart              *reportChart
	States             []stateCount
}

// qmReport averages the scores per agent and team over the evaluations
// the user may see (an agent: their own), per day, week or month.
func (u *UI) qmReport(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "qm", p.L.T("qm_report_title")
	q := r.URL.Query()
	data := &qmReportData{From: q.Get("from"), To: q.Get("to"), Interval: q.Get("interval"), Intervals: reportIntervals}
	if data.Interval == "" {
		data.Interval = qm.IntervalWeek
	}
	p.Data = data
	from, to := u.dayRange(p, &data.From, &data.To)
	if !slices.Contains(reportIntervals, data.Interval) {
		p.Error = p.L.T("err_invalid") + " " + p.L.T("trends_interval")
	}
	if p.Error != "" {
		u.render(w, http.StatusBadRequest, "qm-report", p)
		return
	}
	rep, err := u.svc.AgentReport(r.Context(), p.User, from, to, data.Interval)
	if err != nil {
		if vault.ErrorCode(err) == vault.EINVALID {
			p.Error = p.L.T("err_invalid") + " " + vault.ErrorMessage(err)
			u.render(w, http.StatusBadRequest, "qm-report", p)
			return
		}
		u.renderError(w, r, p, err)
		return
	}
	data.Report = rep
	for _, s := range vault.EvalStates {
		data.States = append(data.States, stateCount{State: s, Count: rep.States[s]})
	}
	if len(rep.Agents) > 0 {
		data.Chart = reportChartOf(p.L, rep, from, to)
	}
	u.render(w, http.StatusOK, "qm-report", p)
}

// reportChartOf lays the agents' averages on the report's intervals.
func reportChartOf(l *Lang, rep *qm.Report, from, to time.Time) *reportChart {
	chart := &reportChart{XLabel: l.T("trends_interval"), YLabel: l.T("qm_avg_total")}
	index := map[int64]int{}
	for at := qm.IntervalStart(rep.Interval, from); at.Before(to); at = nextInterval(rep.Interval, at) {
		index[at.Unix()] = len(chart.X)
		chart.X = append(chart.X, at.Unix())
	}
	for _, a := range rep.Agents {
		s := reportSeries{Label: a.Agent, Values: make([]*float64, len(chart.X))}
		for _, pt := range a.Points {
			if i, ok := index[pt.Start.Unix()]; ok {
				s.Values[i] = pt.Total
			}
		}
		chart.Series = append(chart.Series, s)
	}
	return chart
}

func nextInterval(interval string, t time.Time) time.Time {
	switch interval {
	case qm.IntervalWeek:
		return t.AddDate(0, 0, 7)
	case qm.IntervalMonth:
		return t.AddDate(0, 1, 0)
	}
	return t.AddDate(0, 0, 1)
}
