package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// auditPageSize is the number of entries of one audit page.
const auditPageSize = 50

type auditForm struct {
	From, To, User, Action, Target string
}

type auditRow struct {
	Seq                                     int64
	Time                                    time.Time
	User, Role, IP, Action, Target, Outcome string
	OutcomeClass, Details                   string
	System                                  bool
}

type auditData struct {
	Form    auditForm
	Actions []string // suggestions for the action field
	Rows    []auditRow
	Next    string // URL of the next page, or ""
	First   string // URL of the first page when not on it
}

// auditActions are the actions offered as suggestions, with the prefixes
// that select a family (the field takes any action).
var auditActions = []string{"login", "recording.", "recording.search", "recording.view", "recording.delete",
	"media.", "media.play", "media.fetch", "legalhold.", "legalhold.create", "legalhold.release",
	"certificate.", "certificate.upload", "certificate.delete", "certificate.rewrap", "user.", "settings.retention",
	"backup.receipt", "job.start"}

// auditFilter reads the audit page's query: the API's parameters (from,
// to, user, action, target, cursor: the seq the API's next link carries)
// with from and to as the form's date and time fields (UTC).
func auditFilter(l *Lang, q url.Values) (auditForm, vault.AuditFilter, error) {
	form := auditForm{From: q.Get("from"), To: q.Get("to"), User: strings.TrimSpace(q.Get("user")),
		Action: strings.TrimSpace(q.Get("action")), Target: strings.TrimSpace(q.Get("target"))}
	f := vault.AuditFilter{User: form.User, Action: form.Action, Target: form.Target, Limit: auditPageSize}
	var err error
	if f.From, err = formTime(l.T("from"), form.From); err != nil {
		return form, f, err
	}
	if f.To, err = formTime(l.T("to"), form.To); err != nil {
		return form, f, err
	}
	if v := q.Get("cursor"); v != "" {
		if f.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || f.AfterSeq < 0 {
			return form, f, vault.Errorf(vault.EINVALID, "cursor must be the next link's cursor")
		}
	}
	return form, f, nil
}

// audit is the administrators' view of the audit trail: entries in
// sequence order, filtered and paged as GET /api/v2/audit pages them.
func (u *UI) audit(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "audit", p.L.T("audit_title")
	if !p.IsAdmin {
		u.renderError(w, r, p, vault.Errorf(vault.EFORBIDDEN, "administrators only"))
		return
	}
	q := r.URL.Query()
	form, f, err := auditFilter(p.L, q)
	data := &auditData{Form: form, Actions: auditActions}
	p.Data = data
	if err != nil {
		p.Error = p.L.T("err_invalid") + " " + vault.ErrorMessage(err)
		u.render(w, http.StatusBadRequest, "audit", p)
		return
	}
	res, err := u.svc.Audit(r.Context(), p.User, f)
	if err != nil {
		if vault.ErrorCode(err) == vault.EINVALID {
			p.Error = p.L.T("err_invalid") + " " + vault.ErrorMessage(err)
			u.render(w, http.StatusBadRequest, "audit", p)
			return
		}
		u.renderError(w, r, p, err)
		return
	}
	for _, e := range res.Entries {
		row := auditRow{Seq: e.Seq, Time: e.Time, User: e.User, IP: e.IP, Action: e.Action, Target: e.Target,
			Outcome: p.L.Label("outcome_", e.Outcome), OutcomeClass: "outcome-" + e.Outcome, System: e.User == ""}
		var roles []string
		for _, role := range strings.Split(e.Role, ",") {
			if role != "" {
				roles = append(roles, p.L.Label("role_", role))
			}
		}
		row.Role = strings.Join(roles, ", ")
		if d := string(e.Details); d != "null" && d != "{}" {
			row.Details = d
		}
		data.Rows = append(data.Rows, row)
	}
	cursor := ""
	if res.Next > 0 {
		cursor = strconv.FormatInt(res.Next, 10)
	}
	data.Next, data.First = pageLinks("/admin/audit", q, cursor)
	u.render(w, http.StatusOK, "audit", p)
}

// holdForm is the new-hold form as typed.
type holdForm struct {
	Name, Reason, IDs                           string
	Caller, Dialed, Agent, Partition, MediaType string
	StartFrom, StartTo, EndFrom, EndTo          string
}

type holdRow struct {
	vault.LegalHold
	Conditions []field // the filter, as the API's search parameters
}

type holdsData struct {
	Holds      []holdRow
	Form       holdForm
	MediaTypes []string
}

func readHoldForm(form url.Values) holdForm {
	get := func(k string) string { return strings.TrimSpace(form.Get(k)) }
	return holdForm{Name: get("name"), Reason: get("reason"), IDs: form.Get("recordingIds"),
		Caller: get("caller"), Dialed: get("dialed"), Agent: get("agent"), Partition: get("partition"), MediaType: get("mediaType"),
		StartFrom: get("startFrom"), StartTo: get("startTo"), EndFrom: get("endFrom"), EndTo: get("endTo")}
}

// splitIDs reads recording ids one per line or comma-separated.
func splitIDs(text string) []string {
	var ids []string
	for _, id := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// holdInput turns the form into a hold: the ids, and the search filter
// (the search page's fields, plus end-time bounds) with its text as the
// API's search parameters, which is how the hold list shows a filter
// whichever way the hold was made.
func holdInput(l *Lang, hf holdForm) (service.LegalHoldInput, error) {
	in := service.LegalHoldInput{Name: hf.Name, Reason: hf.Reason, RecordingIDs: splitIDs(hf.IDs)}
	f := vault.SearchFilter{Caller: hf.Caller, Dialed: hf.Dialed, UserName: hf.Agent, Partition: hf.Partition, MediaType: hf.MediaType}
	if f.Partition != "" && !strings.HasPrefix(f.Partition, "/") {
		f.Partition = "/" + f.Partition // partitions are stored as paths
	}
	var err error
	for _, t := range []struct {
		name, value string
		dst         *time.Time
	}{{l.T("start_from"), hf.StartFrom, &f.StartFrom}, {l.T("start_to"), hf.StartTo, &f.StartTo},
		{l.T("end_from"), hf.EndFrom, &f.StopFrom}, {l.T("end_to"), hf.EndTo, &f.StopTo}} {
		if *t.dst, err = formTime(t.name, t.value); err != nil {
			return in, err
		}
	}
	if !f.StartFrom.IsZero() && !f.StartTo.IsZero() && !f.StartFrom.Before(f.StartTo) {
		return in, vault.Errorf(vault.EINVALID, "%s", l.T("err_before", l.T("start_from"), l.T("start_to")))
	}
	if !f.StopFrom.IsZero() && !f.StopTo.IsZero() && !f.StopFrom.Before(f.StopTo) {
		return in, vault.Errorf(vault.EINVALID, "%s", l.T("err_before", l.T("end_from"), l.T("end_to")))
	}
	if f.IsZero() {
		return in, nil
	}
	in.Filter, in.FilterQuery = &f, searchQuery(f)
	return in, nil
}

// searchQuery writes a filter as GET /api/v2/recordings parameters:
// startTime / endTime for one bound, startTimeRange / endTimeRange (epoch
// ms, half-open) for two, or for the one bound those names cannot take
// alone (a range from the epoch, or to the end of the year 9999).
func searchQuery(f vault.SearchFilter) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("callerPhoneNumber", f.Caller)
	set("dialedPhoneNumber", f.Dialed)
	set("userName", f.UserName)
	set("partition", f.Partition)
	set("mediaType", f.MediaType)
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	endOfTime := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	switch {
	case !f.StartFrom.IsZero() && !f.StartTo.IsZero():
		q.Set("startTimeRange", ms(f.StartFrom)+","+ms(f.StartTo))
	case !f.StartFrom.IsZero():
		q.Set("startTime", f.StartFrom.UTC().Format(time.RFC3339))
	case !f.StartTo.IsZero():
		q.Set("startTimeRange", "0,"+ms(f.StartTo))
	}
	switch {
	case !f.StopFrom.IsZero() && !f.StopTo.IsZero():
		q.Set("endTimeRange", ms(f.StopFrom)+","+ms(f.StopTo))
	case !f.StopTo.IsZero():
		q.Set("endTime", f.StopTo.UTC().Format(time.RFC3339))
	case !f.StopFrom.IsZero():
		q.Set("endTimeRange", ms(f.StopFrom)+","+ms(endOfTime))
	}
	return q.Encode()
}

// conditions shows a hold's filter query as name = value pairs.
func conditions(query string) []field {
	q, err := url.ParseQuery(query)
	if err != nil {
		return []field{{Name: query}}
	}
	var out []field
	for _, k := range sortedKeys(q) {
		for _, v := range q[k] {
			out = append(out, field{k, v})
		}
	}
	return out
}

func (u *UI) legalHolds(w http.ResponseWriter, r *http.Request, p *page) {
	switch r.URL.Query().Get("done") {
	case "created":
		p.Flash = p.L.T("hold_saved")
	case "released":
		p.Flash = p.L.T("hold_released")
	}
	u.renderHolds(w, r, p, holdForm{}, http.StatusOK)
}

func (u *UI) renderHolds(w http.ResponseWriter, r *http.Request, p *page, form holdForm, status int) {
	p.Nav, p.Title = "holds", p.L.T("holds_title")
	holds, err := u.svc.LegalHolds(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	data := &holdsData{Form: form, MediaTypes: service.MediaTypes()}
	for _, h := range holds {
		data.Holds = append(data.Holds, holdRow{LegalHold: h, Conditions: conditions(h.FilterQuery)})
	}
	p.Data = data
	u.render(w, status, "legal-holds", p)
}

// createLegalHold holds the recordings the form names, by id, by filter
// or both; a refusal is shown above the form, which keeps what was typed.
func (u *UI) createLegalHold(w http.ResponseWriter, r *http.Request, p *page) {
	form := readHoldForm(r.PostForm)
	in, err := holdInput(p.L, form)
	if err == nil {
		_, err = u.svc.CreateLegalHold(r.Context(), p.User, in)
	}
	if err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = holdErrorText(p.L, err)
		u.renderHolds(w, r, p, form, statusFor(err))
		return
	}
	http.Redirect(w, r, "/admin/legal-holds?done=created", http.StatusSeeOther)
}

// holdErrorText explains a refused hold. The store's not-found names no
// recording in its message, so the page says which kind of thing is
// missing: a recording id of the form.
func holdErrorText(l *Lang, err error) string {
	switch vault.ErrorCode(err) {
	case vault.ENOTFOUND:
		return l.T("hold_unknown_id")
	case vault.EINVALID:
		return l.T("err_invalid") + " " + vault.ErrorMessage(err)
	case vault.ECONFLICT:
		return l.T("hold_refused") + " " + vault.ErrorMessage(err)
	}
	return errorText(l, err)
}

func (u *UI) confirmRelease(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "holds"
	h, err := u.svc.LegalHold(r.Context(), p.User, r.PathValue("id"))
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("release_title", h.Name)
	p.Data = &holdRow{LegalHold: *h, Conditions: conditions(h.FilterQuery)}
	u.render(w, http.StatusOK, "legal-hold-release", p)
}

// releaseLegalHold ends a hold; a refusal (it was released meanwhile) is
// shown on the confirmation page.
func (u *UI) releaseLegalHold(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "holds"
	id := r.PathValue("id")
	err := u.svc.ReleaseLegalHold(r.Context(), p.User, id)
	if err == nil {
		http.Redirect(w, r, "/admin/legal-holds?done=released", http.StatusSeeOther)
		return
	}
	h, herr := u.svc.LegalHold(r.Context(), p.User, id)
	if vault.ErrorCode(err) == vault.EFORBIDDEN || herr != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("release_title", h.Name)
	p.Error = p.L.T("release_refused") + " " + vault.ErrorMessage(err)
	p.Data = &holdRow{LegalHold: *h, Conditions: conditions(h.FilterQuery)}
	u.render(w, statusFor(err), "legal-hold-release", p)
}

// jobsPageSize is the number of jobs of one page of the list.
const jobsPageSize = 50

// jobView is a job with its progress bar's numbers.
type jobView struct {
	vault.JobInfo
	Value, Max int64
	Final      bool
	ArgList    []field
}

// finalStates are the states a job does not leave ("deleted": the queue
// dropped the finished job).
var finalStates = []string{"completed", "cancelled", "discarded", "deleted"}

func viewJob(j vault.JobInfo) jobView {
	v := jobView{JobInfo: j, Value: j.Done + j.Failed, Max: j.Total, Final: slices.Contains(finalStates, j.State)}
	if v.Max <= 0 { // nothing to count (yet): empty while waiting, full when done
		v.Max, v.Value = 1, 0
		if j.State == "completed" {
			v.Value = 1
		}
	}
	v.Value = min(v.Value, v.Max)
	if args, ok := j.Args.(map[string]any); ok {
		for _, k := range sortedKeys(args) {
			v.ArgList = append(v.ArgList, field{k, fmt.Sprint(args[k])})
		}
	}
	return v
}

type jobsData struct {
	Jobs  []jobView
	Next  string
	First string
}

// jobs lists the tenant's background jobs, newest first.
func (u *UI) jobs(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "jobs", p.L.T("jobs_title")
	q := r.URL.Query()
	var before int64
	if v := q.Get("cursor"); v != "" {
		var err error
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			u.renderError(w, r, p, vault.Errorf(vault.EINVALID, "cursor must be the next link's cursor"))
			return
		}
	}
	list, err := u.svc.Jobs(r.Context(), p.User, before, jobsPageSize+1)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	data := &jobsData{}
	if len(list) > jobsPageSize {
		list = list[:jobsPageSize]
		data.Next = "/admin/jobs?cursor=" + strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	if before > 0 {
		data.First = "/admin/jobs"
	}
	for _, j := range list {
		data.Jobs = append(data.Jobs, viewJob(j))
	}
	p.Data = data
	u.render(w, http.StatusOK, "jobs", p)
}

// job shows one job's progress. Without scripts the page reloads itself
// until the job is over; with them app.js polls GET /api/v2/jobs/{id}
// (the session cookie serves the API's reads too).
func (u *UI) job(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "jobs"
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		u.renderError(w, r, p, vault.Errorf(vault.ENOTFOUND, "no job %q", r.PathValue("id")))
		return
	}
	j, err := u.svc.Job(r.Context(), p.User, id)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	v := viewJob(*j)
	p.Title = p.L.T("job_title", p.L.Label("job_kind_", j.Kind), strconv.FormatInt(j.ID, 10))
	p.Refresh = !v.Final
	p.Data = &v
	u.render(w, http.StatusOK, "job", p)
}

// startRewrap queues the re-wrap of every file encrypted for the page's
// certificate to the chosen one and shows its progress.
func (u *UI) startRewrap(w http.ResponseWriter, r *http.Request, p *page) {
	alias := r.PathValue("alias")
	j, err := u.svc.StartRewrap(r.Context(), p.User, alias, r.PostFormValue("to"), r.PostFormValue("verify"))
	if err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = p.L.T("rewrap_refused") + " " + vault.ErrorMessage(err)
		u.renderCertificate(w, r, p, alias, statusFor(err))
		return
	}
	http.Redirect(w, r, "/admin/jobs/"+strconv.FormatInt(j.ID, 10), http.StatusSeeOther)
}

type deleteRecordingData struct {
	ID       string
	Start    time.Time
	Caller   string
	Dialed   string
	Holds    []string
	Duration time.Duration
}

func (u *UI) deleteRecordingData(r *http.Request, p *page) (*deleteRecordingData, error) {
	rec, _, err := u.svc.Recording(r.Context(), p.User, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	custody, err := u.svc.CustodyOf(r.Context(), p.User.Tenant, []vault.Recording{*rec})
	if err != nil {
		return nil, err
	}
	d := &deleteRecordingData{ID: rec.ID, Start: rec.StartTime, Caller: rec.CallerPhoneNumber, Dialed: rec.DialedPhoneNumber,
		Holds: custody[rec.ID].LegalHolds}
	if !rec.StartTime.IsZero() && rec.StopTime.After(rec.StartTime) {
		d.Duration = rec.StopTime.Sub(rec.StartTime)
	}
	return d, nil
}

// confirmDeleteRecording asks before deleting a recording (admins; the
// service decides: a legal hold refuses it).
func (u *UI) confirmDeleteRecording(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "recordings"
	if !p.IsAdmin {
		u.renderError(w, r, p, vault.Errorf(vault.EFORBIDDEN, "administrators only"))
		return
	}
	d, err := u.deleteRecordingData(r, p)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("delete_recording_title", d.ID)
	p.Data = d
	u.render(w, http.StatusOK, "recording-delete", p)
}

// deleteRecording deletes a recording; the refusal of one under legal
// hold (409, naming the holds) is shown on the confirmation page.
func (u *UI) deleteRecording(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav = "recordings"
	err := u.svc.DeleteRecording(r.Context(), p.User, r.PathValue("id"))
	if err == nil {
		http.Redirect(w, r, "/recordings?done=deleted", http.StatusSeeOther)
		return
	}
	if vault.ErrorCode(err) != vault.ECONFLICT {
		u.renderError(w, r, p, err)
		return
	}
	d, derr := u.deleteRecordingData(r, p)
	if derr != nil {
		u.renderError(w, r, p, err)
		return
	}
	p.Title = p.L.T("delete_recording_title", d.ID)
	p.Error = p.L.T("delete_recording_refused") + " " + vault.ErrorMessage(err)
	p.Data = d
	u.render(w, http.StatusConflict, "recording-delete", p)
}
