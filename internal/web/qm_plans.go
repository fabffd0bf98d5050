package web

// Quality plans: the tenant's plans with their last run, a form that
// creates one, the same form to change one, and deleting one (its
// evaluations stay). The service checks every value and who may do it
// (admins and supervisors); these handlers turn the form into a
// vault.Plan and show a refusal with what was typed.

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"callvault/internal/vault"
)

// planEveries are the periods a plan may have.
var planEveries = []string{vault.EveryWeek, vault.EveryMonth}

// planForm is the plan form as typed (shown again when refused).
type planForm struct {
	Name, Form, Version, Evaluators, Agents, PerAgent, Every, FirstPeriod string
	Partition, MinDuration, Category, StartFrom, StartTo                  string
	Active                                                                bool
}

// planFormOf fills the form with a stored plan.
func planFormOf(pl *vault.Plan) planForm {
	f := planForm{Name: pl.Name, Form: pl.FormID, Version: strconv.Itoa(pl.FormVersion), Evaluators: strings.Join(pl.Evaluators, "\n"),
		Agents: strings.Join(pl.Agents, "\n"), PerAgent: strconv.Itoa(pl.PerAgent), Every: pl.Every, Partition: pl.Filter.Partition,
		Category: pl.Filter.Category, StartFrom: localTime(pl.Filter.StartFrom), StartTo: localTime(pl.Filter.StartTo), Active: pl.Active}
	if !pl.FirstPeriod.IsZero() {
		f.FirstPeriod = pl.FirstPeriod.UTC().Format(time.DateOnly)
	}
	if pl.Filter.MinDurationSec != 0 {
		f.MinDuration = strconv.Itoa(pl.Filter.MinDurationSec)
	}
	return f
}

// localTime is a time as a datetime-local value (UTC, to the second).
func localTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

func readPlanForm(r *http.Request) planForm {
	v := func(name string) string { return strings.TrimSpace(r.PostFormValue(name)) }
	return planForm{Name: v("name"), Form: v("form"), Version: v("version"), Evaluators: r.PostFormValue("evaluators"),
		Agents: r.PostFormValue("agents"), PerAgent: v("perAgent"), Every: v("every"), FirstPeriod: v("firstPeriod"),
		Partition: v("partition"), MinDuration: v("minDurationSec"), Category: v("category"), StartFrom: v("startFrom"),
		StartTo: v("startTo"), Active: r.PostFormValue("active") != ""}
}

// splitList reads names separated by commas, semicolons or lines (not
// spaces: a hierarchy group's name may have them).
func splitList(s string) []string {
	var out []string
	for _, v := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' || r == '\r' }) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// plan turns the form into the service's plan; the service checks the
// values, this only reads numbers and times.
func (f planForm) plan(l *Lang) (vault.Plan, error) {
	pl := vault.Plan{Name: f.Name, FormID: f.Form, Evaluators: splitList(f.Evaluators), Agents: splitList(f.Agents), Every: f.Every,
		Active: f.Active, Filter: vault.PlanFilter{Partition: f.Partition, Category: f.Category}}
	if pl.Filter.Partition != "" && !strings.HasPrefix(pl.Filter.Partition, "/") {
		pl.Filter.Partition = "/" + pl.Filter.Partition // partitions are stored as paths
	}
	number := func(label, v string) (int, error) {
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, vault.Errorf(vault.EINVALID, "%s", l.T("err_whole_number", label))
		}
		return n, nil
	}
	var err error
	if pl.FormVersion, err = number(l.T("qm_version"), f.Version); err != nil {
		return pl, err
	}
	if pl.PerAgent, err = number(l.T("qm_per_agent"), f.PerAgent); err != nil {
		return pl, err
	}
	if pl.Filter.MinDurationSec, err = number(l.T("qm_plan_min_duration"), f.MinDuration); err != nil {
		return pl, err
	}
	if pl.Filter.StartFrom, err = formTime(l.T("start_from"), f.StartFrom); err != nil {
		return pl, err
	}
	if pl.Filter.StartTo, err = formTime(l.T("start_to"), f.StartTo); err != nil {
		return pl, err
	}
	if pl.FirstPeriod, err = formTime(l.T("qm_plan_first_period"), f.FirstPeriod); err != nil {
		return pl, err
	}
	return pl, nil
}

// planShort is an agent the last run found too few calls for.
type planShort struct {
	Agent   string
	Missing int
}

// planRow is a plan as the list shows it.
type planRow struct {
	vault.Plan
	FormName string
	// Filter is the filter in words; empty: every call.
	Filter []string
	// LastDay is the last day of the last run's period.
	LastDay time.Time
	Short   []planShort
}

func planRowOf(l *Lang, pl vault.Plan, formNames map[string]string) planRow {
	row := planRow{Plan: pl, FormName: formNames[pl.FormID]}
	if row.FormName == "" {
		row.FormName = pl.FormID
	}
	f := pl.Filter
	if f.Partition != "" {
		row.Filter = append(row.Filter, l.T("qm_plan_partition_is", f.Partition))
	}
	if f.MinDurationSec > 0 {
		row.Filter = append(row.Filter, l.T("qm_plan_at_least", l.Num(f.MinDurationSec)))
	}
	if f.Category != "" {
		row.Filter = append(row.Filter, l.T("qm_plan_category_is", f.Category))
	}
	if !f.StartFrom.IsZero() {
		row.Filter = append(row.Filter, l.T("qm_plan_started_from", l.Time(f.StartFrom)))
	}
	if !f.StartTo.IsZero() {
		row.Filter = append(row.Filter, l.T("qm_plan_started_before", l.Time(f.StartTo)))
	}
	if run := pl.LastRun; run != nil {
		row.LastDay = run.PeriodEnd.AddDate(0, 0, -1)
		for agent, n := range run.Short {
			row.Short = append(row.Short, planShort{Agent: agent, Missing: n})
		}
		slices.SortFunc(row.Short, func(a, b planShort) int { return strings.Compare(a.Agent, b.Agent) })
	}
	return row
}

// planFormChoice is a form with a published version to pick.
type planFormChoice struct {
	ID, Label string
}

// planChoices is what the plan form offers: the forms with a published
// version, the evaluators (see evaluatorChoices) and the tenant's
// speech analytics categories.
type planChoices struct {
	Forms      []planFormChoice
	Evaluators []string
	Categories []string
	Everies    []string
}

// planChoicesOf lists the choices and names every form ("id" → name).
// typed is the form as typed: its form and category are offered even if
// the lists lack them.
func (u *UI) planChoicesOf(r *http.Request, p *page, typed planForm) (planChoices, map[string]string) {
	c := planChoices{Evaluators: u.evaluatorChoices(r, p), Everies: planEveries}
	names := map[string]string{}
	list, err := u.svc.Forms(r.Context(), p.User)
	if err != nil {
		u.log.Warn("cannot list forms", "tenant", p.User.Tenant, "err", err)
	}
	slices.SortStableFunc(list, func(a, b vault.FormInfo) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range list {
		names[f.ID] = f.Name
		if f.LatestVersion > 0 {
			c.Forms = append(c.Forms, planFormChoice{ID: f.ID, Label: p.L.T("qm_plan_form_choice", f.Name, p.L.Num(f.LatestVersion))})
		}
	}
	if typed.Form != "" && !slices.ContainsFunc(c.Forms, func(f planFormChoice) bool { return f.ID == typed.Form }) {
		c.Forms = append(c.Forms, planFormChoice{ID: typed.Form, Label: typed.Form})
	}
	if cfg, err := u.svc.AnalyticsConfig(r.Context(), p.User); err == nil {
		for _, cat := range cfg.Categories {
			c.Categories = append(c.Categories, cat.Name)
		}
	} else if vault.ErrorCode(err) != vault.EFORBIDDEN {
		u.log.Warn("cannot read the analytics configuration", "tenant", p.User.Tenant, "err", err)
	}
	if typed.Category != "" && !slices.Contains(c.Categories, typed.Category) {
		c.Categories = append(c.Categories, typed.Category)
	}
	return c, names
}

// notQMManager refuses agents (and recorders) every plan page before
// anything is read from the form.
func (u *UI) notQMManager(w http.ResponseWriter, r *http.Request, p *page) bool {
	if qmManager(p.User) {
		return false
	}
	u.renderError(w, r, p, vault.Errorf(vault.EFORBIDDEN, "admins and supervisors manage plans"))
	return true
}

// planRefused tells whether err is a refusal to show on the form (a bad
// value, a form without a published version, a missing user, an
// evaluator or agent the caller may not name: the caller is a manager,
// so a 403 is about what was typed); other errors get the error page.
func planRefused(err error) bool {
	switch vault.ErrorCode(err) {
	case vault.EINVALID, vault.ECONFLICT, vault.ENOTFOUND, vault.EFORBIDDEN:
		return true
	}
	return false
}

// --- the list and the new plan ---

type qmPlansData struct {
	Rows []planRow
	Form planForm
	planChoices
}

func (u *UI) qmPlans(w http.ResponseWriter, r *http.Request, p *page) {
	if u.notQMManager(w, r, p) {
		return
	}
	switch r.URL.Query().Get("done") {
	case "created":
		p.Flash = p.L.T("qm_plan_created")
	case "deleted":
		p.Flash = p.L.T("qm_plan_deleted")
	}
	u.renderPlans(w, r, p, nil, http.StatusOK)
}

// renderPlans shows the list and the new plan's form: empty, or as typed
// when refused.
func (u *UI) renderPlans(w http.ResponseWriter, r *http.Request, p *page, typed *planForm, status int) {
	p.Nav, p.Title = "qm", p.L.T("qm_plans_title")
	list, err := u.svc.Plans(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	form := planForm{Version: "0", PerAgent: "1", Every: vault.EveryWeek, Evaluators: p.User.Name, Active: true}
	if typed != nil {
		form = *typed
	}
	choices, names := u.planChoicesOf(r, p, form)
	if form.Form == "" && len(choices.Forms) > 0 {
		form.Form = choices.Forms[0].ID
	}
	data := &qmPlansData{Form: form, planChoices: choices}
	slices.SortStableFunc(list, func(a, b vault.Plan) int { return strings.Compare(a.Name, b.Name) })
	for _, pl := range list {
		data.Rows = append(data.Rows, planRowOf(p.L, pl, names))
	}
	p.Data = data
	u.render(w, status, "qm-plans", p)
}

func (u *UI) createQMPlan(w http.ResponseWriter, r *http.Request, p *page) {
	if u.notQMManager(w, r, p) {
		return
	}
	typed := readPlanForm(r)
	in, err := typed.plan(p.L)
	if err == nil {
		_, err = u.svc.CreatePlan(r.Context(), p.User, in)
	}
	if err != nil {
		if !planRefused(err) {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
		u.renderPlans(w, r, p, &typed, statusFor(err))
		return
	}
	http.Redirect(w, r, "/qm/plans?done=created", http.StatusSeeOther)
}

// --- one plan: change, delete ---

type qmPlanData struct {
	Plan planRow
	Form planForm
	planChoices
	// Delete: the page asks to confirm the deletion.
	Delete bool
}

func (u *UI) qmPlan(w http.ResponseWriter, r *http.Request, p *page) {
	if u.notQMManager(w, r, p) {
		return
	}
	if r.URL.Query().Get("done") == "saved" {
		p.Flash = p.L.T("qm_plan_saved")
	}
	u.renderPlan(w, r, p, nil, false, http.StatusOK)
}

func (u *UI) confirmDeleteQMPlan(w http.ResponseWriter, r *http.Request, p *page) {
	if u.notQMManager(w, r, p) {
		return
	}
	u.renderPlan(w, r, p, nil, true, http.StatusOK)
}

// renderPlan shows a plan's form (as stored, or as typed when refused) or
// the confirmation of its deletion.
func (u *UI) renderPlan(w http.ResponseWriter, r *http.Request, p *page, typed *planForm, confirmDelete bool, status int) {
	p.Nav = "qm"
	pl, err := u.svc.Plan(r.Context(), p.User, r.PathValue("id"))
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("qm_plan_title", pl.Name)
	if confirmDelete {
		p.Title = p.L.T("qm_delete_plan_title", pl.Name)
	}
	form := planFormOf(pl)
	if typed != nil {
		form = *typed
		form.FirstPeriod = planFormOf(pl).FirstPeriod // it cannot change
		if form.Every == "" {
			form.Every = pl.Every
		}
	}
	choices, names := u.planChoicesOf(r, p, form)
	p.Data = &qmPlanData{Plan: planRowOf(p.L, *pl, names), Form: form, planChoices: choices, Delete: confirmDelete}
	u.render(w, status, "qm-plan", p)
}

func (u *UI) updateQMPlan(w http.ResponseWriter, r *http.Request, p *page) {
	if u.notQMManager(w, r, p) {
		return
	}
	id := r.PathValue("id")
	typed := readPlanForm(r)
	typed.FirstPeriod = "" // the service keeps the plan's
	in, err := typed.plan(p.L)
	if err == nil && in.Every == "" {
		// The edit form shows the period without sending it: it stays.
		var cur *vault.Plan
		if cur, err = u.svc.Plan(r.Context(), p.User, id); err == nil {
			in.Every = cur.Every
		}
	}
	if err == nil {
		_, err = u.svc.UpdatePlan(r.Context(), p.User, id, in)
	}
	if err != nil {
		if !planRefused(err) {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
		u.renderPlan(w, r, p, &typed, false, statusFor(err))
		return
	}
	http.Redirect(w, r, "/qm/plans/"+url.PathEscape(id)+"?done=saved", http.StatusSeeOther)
}

func (u *UI) deleteQMPlan(w http.ResponseWriter, r *http.Request, p *page) {
	if u.notQMManager(w, r, p) {
		return
	}
	if err := u.svc.DeletePlan(r.Context(), p.User, r.PathValue("id")); err != nil {
		u.renderError(w, r, p, err)
		return
	}
	http.Redirect(w, r, "/qm/plans?done=deleted", http.StatusSeeOther)
}
