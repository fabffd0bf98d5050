package web

// Speech analytics pages: the trends of topics and categories, the
// tenant's topics and categories (administrators change them, supervisors
// read them) with its analytics settings, and the as-you-type check of a
// topic against the recogniser's dictionary. The service decides who may
// do what; these handlers only turn forms into its types and back.

import (
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"callvault/internal/service"
	"callvault/internal/vault"
)

func (u *UI) analyticsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /analytics/trends", u.authed(u.trends))
	mux.HandleFunc("GET /analytics/topics", u.authed(u.topics))
	mux.HandleFunc("POST /analytics/topics", u.authed(u.createTopic))
	mux.HandleFunc("GET /analytics/topics/{name}", u.authed(u.topic))
	mux.HandleFunc("POST /analytics/topics/{name}", u.authed(u.updateTopic))
	mux.HandleFunc("GET /analytics/topics/{name}/delete", u.authed(u.confirmDeleteTopic))
	mux.HandleFunc("POST /analytics/topics/{name}/delete", u.authed(u.deleteTopic))
	// Not under /analytics/topics/, where it would shadow a topic's name.
	mux.HandleFunc("POST /analytics/check-topic", u.authed(u.checkTopic))
	mux.HandleFunc("POST /analytics/settings", u.authed(u.setAnalyticsSettings))
	mux.HandleFunc("GET /analytics/categories", u.authed(u.categories))
	mux.HandleFunc("POST /analytics/categories", u.authed(u.createCategory))
	mux.HandleFunc("GET /analytics/categories/{name}", u.authed(u.category))
	mux.HandleFunc("POST /analytics/categories/{name}", u.authed(u.updateCategory))
	mux.HandleFunc("GET /analytics/categories/{name}/delete", u.authed(u.confirmDeleteCategory))
	mux.HandleFunc("POST /analytics/categories/{name}/delete", u.authed(u.deleteCategory))
}

// speakers are the choices of a topic's or a category's speaker.
var speakers = []string{vault.SpeakerAny, vault.SpeakerAgent, vault.SpeakerCustomer}

// changeQuery is the query a change redirects with: what was done and the
// re-analysis job it started, which the page links to.
func changeQuery(done string, change *service.TopicChange) string {
	q := url.Values{"done": {done}}
	if change != nil && change.JobID > 0 {
		q.Set("job", strconv.FormatInt(change.JobID, 10))
	}
	return q.Encode()
}

// jobParam reads the job a change started from the page's query.
func jobParam(q url.Values) int64 {
	id, err := strconv.ParseInt(q.Get("job"), 10, 64)
	if err != nil || id < 1 {
		return 0
	}
	return id
}

// topicForm is the topic form as typed.
type topicForm struct {
	Name, Phrases, Strictness, Speaker string
}

// phraseLine writes a phrase as the form takes it: "text" or
// "text | strictness".
func phraseLine(ph vault.Phrase) string {
	if ph.Strictness == nil {
		return ph.Text
	}
	return ph.Text + " | " + strconv.Itoa(*ph.Strictness)
}

func topicFormOf(t vault.Topic) topicForm {
	lines := make([]string, len(t.Phrases))
	for i, ph := range t.Phrases {
		lines[i] = phraseLine(ph)
	}
	return topicForm{Name: t.Name, Phrases: strings.Join(lines, "\n"), Strictness: strconv.Itoa(t.Strictness), Speaker: t.Speaker}
}

// readTopicForm reads a posted topic form, urlencoded or multipart (the
// as-you-type check posts FormData).
func readTopicForm(r *http.Request) topicForm {
	return topicForm{Name: strings.TrimSpace(r.PostFormValue("name")), Phrases: r.PostFormValue("phrases"),
		Strictness: strings.TrimSpace(r.PostFormValue("strictness")), Speaker: r.PostFormValue("speaker")}
}

// topic turns the form into a topic: one phrase per line, each
// optionally ending in "| N", its own strictness; the topic's strictness
// when typed (strictnessGiven), else the service's default. Ranges and
// words are the service's to check.
func (f topicForm) topic(l *Lang) (t vault.Topic, strictnessGiven bool, err error) {
	t = vault.Topic{Name: f.Name, Speaker: f.Speaker, Phrases: []vault.Phrase{}}
	if f.Strictness != "" {
		if t.Strictness, err = strconv.Atoi(f.Strictness); err != nil {
			return t, false, vault.Errorf(vault.EINVALID, "%s", l.T("err_strictness", l.T("topic_strictness")))
		}
		strictnessGiven = true
	}
	for i, line := range strings.Split(f.Phrases, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		ph := vault.Phrase{Text: line}
		if at := strings.LastIndexByte(line, '|'); at >= 0 {
			n, err := strconv.Atoi(strings.TrimSpace(line[at+1:]))
			if err != nil {
				return t, false, vault.Errorf(vault.EINVALID, "%s", l.T("err_phrase_strictness", strconv.Itoa(i+1)))
			}
			ph.Text, ph.Strictness = strings.TrimSpace(line[:at]), &n
		}
		t.Phrases = append(t.Phrases, ph)
	}
	return t, strictnessGiven, nil
}

// settingsForm is the analytics settings form as typed; the silence is in
// seconds there.
type settingsForm struct {
	Language, AgentChannel, SilenceSec, ReanalyzeDays string
}

func settingsFormOf(st vault.AnalyticsSettings) settingsForm {
	return settingsForm{Language: st.Language, AgentChannel: st.AgentChannel,
		SilenceSec: strconv.FormatFloat(float64(st.SilenceMs)/1000, 'f', -1, 64), ReanalyzeDays: strconv.Itoa(st.ReanalyzeDays)}
}

func (f settingsForm) settings(l *Lang) (vault.AnalyticsSettings, error) {
	st := vault.AnalyticsSettings{Language: f.Language, AgentChannel: f.AgentChannel}
	sec, err := strconv.ParseFloat(f.SilenceSec, 64)
	if err != nil || math.IsNaN(sec) || math.IsInf(sec, 0) || sec < 0 || sec > 86400 {
		return st, vault.Errorf(vault.EINVALID, "%s", l.T("err_seconds", l.T("silence_sec")))
	}
	st.SilenceMs = int(math.Round(sec * 1000))
	if st.ReanalyzeDays, err = strconv.Atoi(f.ReanalyzeDays); err != nil {
		return st, vault.Errorf(vault.EINVALID, "%s", l.T("err_whole_number", l.T("reanalyze_days")))
	}
	return st, nil
}

type topicRow struct {
	vault.Topic
	Lines    []string // the phrases as the form writes them
	Warnings []string // what the dictionary check says of it now
}

type topicsData struct {
	Topics []topicRow
	// Form is the new-topic form, or the edit form of Edit.
	Form     topicForm
	Edit     string
	Warnings []string // of a refused form
	Settings settingsForm
	Job      int64 // the re-analysis the last change started
	Speakers []string
}

func (u *UI) topics(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderTopics(w, r, p, "", nil, nil, http.StatusOK)
}

func (u *UI) topic(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderTopics(w, r, p, r.PathValue("name"), nil, nil, http.StatusOK)
}

// renderTopics shows the topics, the edit form of edit (or the new-topic
// form) with form's values when given (a refused save), and the settings
// form with settings' values when given.
func (u *UI) renderTopics(w http.ResponseWriter, r *http.Request, p *page, edit string, form *topicForm, settings *settingsForm, status int) {
	p.Nav, p.Title = "topics", p.L.T("topics_title")
	cfg, err := u.svc.AnalyticsConfig(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodGet {
		switch q.Get("done") {
		case "saved":
			p.Flash = p.L.T("topic_saved")
		case "deleted":
			p.Flash = p.L.T("topic_deleted")
		case "settings":
			p.Flash = p.L.T("settings_saved")
		}
	}
	data := &topicsData{Edit: edit, Job: jobParam(q), Speakers: speakers, Settings: settingsFormOf(cfg.Settings)}
	if settings != nil {
		data.Settings = *settings
	}
	for _, t := range cfg.Topics {
		row := topicRow{Topic: t}
		for _, ph := range t.Phrases {
			row.Lines = append(row.Lines, phraseLine(ph))
		}
		check := t
		check.Phrases = slices.Clone(t.Phrases)
		row.Warnings, _ = u.svc.CheckTopic(&check, true)
		data.Topics = append(data.Topics, row)
	}
	switch {
	case form != nil:
		data.Form = *form
	case edit != "":
		i := slices.IndexFunc(cfg.Topics, func(t vault.Topic) bool { return t.Name == edit })
		if i < 0 {
			u.renderError(w, r, p, vault.Errorf(vault.ENOTFOUND, "no topic %q", edit))
			return
		}
		data.Form = topicFormOf(cfg.Topics[i])
	default:
		data.Form = topicForm{Strictness: "50", Speaker: vault.SpeakerAny}
	}
	if edit != "" {
		p.Title = edit // read only
		if p.IsAdmin {
			p.Title = p.L.T("topic_edit", edit)
		}
	}
	p.Data = data
	u.render(w, status, "topics", p)
}

func (u *UI) createTopic(w http.ResponseWriter, r *http.Request, p *page) {
	u.saveTopic(w, r, p, "", true)
}

func (u *UI) updateTopic(w http.ResponseWriter, r *http.Request, p *page) {
	u.saveTopic(w, r, p, r.PathValue("name"), false)
}

// saveTopic creates or replaces a topic. The service checks it against
// the dictionary again (the as-you-type check is a convenience); a
// refusal is shown above the form, which keeps what was typed, and
// nothing is saved.
func (u *UI) saveTopic(w http.ResponseWriter, r *http.Request, p *page, name string, create bool) {
	form := readTopicForm(r)
	if !create {
		form.Name = name // the name is not editable: a topic is renamed by a new one
	}
	t, given, err := form.topic(p.L)
	var change *service.TopicChange
	if err == nil {
		change, err = u.svc.PutTopic(r.Context(), p.User, name, t, given, create)
	}
	if err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
		u.renderTopics(w, r, p, name, &form, nil, statusFor(err))
		return
	}
	http.Redirect(w, r, "/analytics/topics?"+changeQuery("saved", change), http.StatusSeeOther)
}

// checkTopic is the topic form's as-you-type check: the service's
// dictionary check without saving. It answers {"warnings": […]} or, with
// the refusal's status, {"error": "…"} naming the unknown word.
func (u *UI) checkTopic(w http.ResponseWriter, r *http.Request, p *page) {
	if !p.IsAdmin {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": p.L.T("err_forbidden")})
		return
	}
	t, given, err := readTopicForm(r).topic(p.L)
	if t.Name == "" {
		t.Name = p.L.T("topic_unnamed") // the phrases can be checked before the name is typed
	}
	var warnings []string
	if err == nil {
		warnings, err = u.svc.CheckTopic(&t, given)
	}
	if err != nil {
		writeJSON(w, statusFor(err), map[string]string{"error": p.L.T("not_accepted") + " " + vault.ErrorMessage(err)})
		return
	}
	if warnings == nil {
		warnings = []string{}
	}
	writeJSON(w, http.StatusOK, map[string][]string{"warnings": warnings})
}

// deleteData is the confirmation page of a topic's or a category's
// deletion.
type deleteData struct {
	Name, Action, Back, Warning, Button string
}

func (u *UI) confirmDeleteTopic(w http.ResponseWriter, r *http.Request, p *page) {
	u.confirmDeleteAnalytics(w, r, p, "topic", http.StatusOK)
}

func (u *UI) confirmDeleteCategory(w http.ResponseWriter, r *http.Request, p *page) {
	u.confirmDeleteAnalytics(w, r, p, "category", http.StatusOK)
}

// confirmDeleteAnalytics asks before deleting a topic or a category
// (kind), or shows why the deletion was refused (p.Error).
func (u *UI) confirmDeleteAnalytics(w http.ResponseWriter, r *http.Request, p *page, kind string, status int) {
	name := r.PathValue("name")
	cfg, err := u.svc.AnalyticsConfig(r.Context(), p.User)
	if err == nil && !p.IsAdmin {
		err = vault.Errorf(vault.EFORBIDDEN, "administrators only")
	}
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	base := "/analytics/topics/"
	p.Nav = "topics"
	found := slices.ContainsFunc(cfg.Topics, func(t vault.Topic) bool { return t.Name == name })
	if kind == "category" {
		p.Nav, base = "categories", "/analytics/categories/"
		found = slices.ContainsFunc(cfg.Categories, func(c vault.Category) bool { return c.Name == name })
	}
	if !found {
		u.renderError(w, r, p, vault.Errorf(vault.ENOTFOUND, "no %s %q", kind, name))
		return
	}
	p.Title = p.L.T("delete_"+kind+"_title", name)
	p.Data = &deleteData{Name: name, Action: base + url.PathEscape(name) + "/delete", Back: base + url.PathEscape(name),
		Warning: p.L.T("delete_" + kind + "_warning"), Button: p.L.T("delete_" + kind)}
	u.render(w, status, "analytics-delete", p)
}

func (u *UI) deleteTopic(w http.ResponseWriter, r *http.Request, p *page) {
	change, err := u.svc.DeleteTopic(r.Context(), p.User, r.PathValue("name"))
	u.deleted(w, r, p, "topic", "/analytics/topics?", change, err)
}

func (u *UI) deleteCategory(w http.ResponseWriter, r *http.Request, p *page) {
	change, err := u.svc.DeleteCategory(r.Context(), p.User, r.PathValue("name"))
	u.deleted(w, r, p, "category", "/analytics/categories?", change, err)
}

// deleted finishes a deletion: to the list, or the confirmation page with
// the refusal (a topic a category uses).
func (u *UI) deleted(w http.ResponseWriter, r *http.Request, p *page, kind, list string, change *service.TopicChange, err error) {
	switch {
	case err == nil:
		http.Redirect(w, r, list+changeQuery("deleted", change), http.StatusSeeOther)
	case vault.ErrorCode(err) == vault.ECONFLICT:
		p.Error = p.L.T("delete_refused_"+kind) + " " + vault.ErrorMessage(err)
		u.confirmDeleteAnalytics(w, r, p, kind, statusFor(err))
	default:
		u.renderError(w, r, p, err)
	}
}

// setAnalyticsSettings saves the settings form of the topics page.
func (u *UI) setAnalyticsSettings(w http.ResponseWriter, r *http.Request, p *page) {
	form := settingsForm{Language: strings.TrimSpace(r.PostFormValue("language")), AgentChannel: r.PostFormValue("agentChannel"),
		SilenceSec: strings.TrimSpace(r.PostFormValue("silenceSec")), ReanalyzeDays: strings.TrimSpace(r.PostFormValue("reanalyzeDays"))}
	st, err := form.settings(p.L)
	var change *service.TopicChange
	if err == nil {
		change, err = u.svc.SetAnalyticsSettings(r.Context(), p.User, st)
	}
	if err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
		u.renderTopics(w, r, p, "", nil, &form, statusFor(err))
		return
	}
	http.Redirect(w, r, "/analytics/topics?"+changeQuery("settings", change)+"#settings", http.StatusSeeOther)
}

// categoryForm is the category form as typed.
type categoryForm struct {
	Name           string
	All, Any, None []string
	MinOccurrences string
	Speaker        string
	FromSec, ToSec string
	FromEnd        bool
}

func categoryFormOf(c vault.Category) categoryForm {
	f := categoryForm{Name: c.Name, All: c.All, Any: c.Any, None: c.None, Speaker: c.Speaker}
	if c.MinOccurrences > 0 {
		f.MinOccurrences = strconv.Itoa(c.MinOccurrences)
	}
	if w := c.Within; w != nil {
		f.FromSec, f.ToSec, f.FromEnd = strconv.Itoa(w.FromSec), strconv.Itoa(w.ToSec), w.FromEnd
	}
	return f
}

func readCategoryForm(form url.Values) categoryForm {
	get := func(k string) string { return strings.TrimSpace(form.Get(k)) }
	return categoryForm{Name: get("name"), All: form["all"], Any: form["any"], None: form["none"],
		MinOccurrences: get("minOccurrences"), Speaker: get("speaker"), FromSec: get("fromSec"), ToSec: get("toSec"),
		FromEnd: form.Get("fromEnd") != ""}
}

// category turns the form into a category: no window when neither bound
// is typed nor "from the end" ticked; an empty bound is 0 (the start, or
// for the upper one the end).
func (f categoryForm) category(l *Lang) (vault.Category, error) {
	c := vault.Category{Name: f.Name, All: f.All, Any: f.Any, None: f.None, Speaker: f.Speaker}
	if c.Speaker == vault.SpeakerAny {
		c.Speaker = ""
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
	if c.MinOccurrences, err = number(l.T("cat_min"), f.MinOccurrences); err != nil {
		return c, err
	}
	if f.FromSec != "" || f.ToSec != "" || f.FromEnd {
		w := &vault.Window{FromEnd: f.FromEnd}
		if w.FromSec, err = number(l.T("cat_from_sec"), f.FromSec); err != nil {
			return c, err
		}
		if w.ToSec, err = number(l.T("cat_to_sec"), f.ToSec); err != nil {
			return c, err
		}
		c.Within = w
	}
	return c, nil
}

type categoryRow struct {
	vault.Category
	Within string // the window, in words
}

type categoriesData struct {
	Categories []categoryRow
	Topics     []string
	Form       categoryForm
	Edit       string
	Job        int64
	Speakers   []string
}

// windowText says where in a call a category counts.
func windowText(l *Lang, w *vault.Window) string {
	if w == nil {
		return l.T("within_whole")
	}
	from := clock(time.Duration(w.FromSec) * time.Second)
	to := l.T("within_end_of_call")
	if w.ToSec > 0 {
		to = clock(time.Duration(w.ToSec) * time.Second)
	}
	if w.FromEnd {
		if w.ToSec == 0 {
			to = l.T("within_start_of_call")
		}
		return l.T("within_from_end", from, to)
	}
	return l.T("within_from_start", from, to)
}

func (u *UI) categories(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderCategories(w, r, p, "", nil, http.StatusOK)
}

func (u *UI) category(w http.ResponseWriter, r *http.Request, p *page) {
	u.renderCategories(w, r, p, r.PathValue("name"), nil, http.StatusOK)
}

func (u *UI) renderCategories(w http.ResponseWriter, r *http.Request, p *page, edit string, form *categoryForm, status int) {
	p.Nav, p.Title = "categories", p.L.T("categories_title")
	cfg, err := u.svc.AnalyticsConfig(r.Context(), p.User)
	if err != nil {
		u.renderError(w, r, p, err)
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodGet {
		switch q.Get("done") {
		case "saved":
			p.Flash = p.L.T("category_saved")
		case "deleted":
			p.Flash = p.L.T("category_deleted")
		}
	}
	data := &categoriesData{Edit: edit, Job: jobParam(q), Speakers: speakers}
	for _, t := range cfg.Topics {
		data.Topics = append(data.Topics, t.Name)
	}
	for _, c := range cfg.Categories {
		data.Categories = append(data.Categories, categoryRow{Category: c, Within: windowText(p.L, c.Within)})
	}
	switch {
	case form != nil:
		data.Form = *form
	case edit != "":
		i := slices.IndexFunc(cfg.Categories, func(c vault.Category) bool { return c.Name == edit })
		if i < 0 {
			u.renderError(w, r, p, vault.Errorf(vault.ENOTFOUND, "no category %q", edit))
			return
		}
		data.Form = categoryFormOf(cfg.Categories[i])
	}
	if edit != "" {
		p.Title = edit // read only
		if p.IsAdmin {
			p.Title = p.L.T("category_edit", edit)
		}
	}
	p.Data = data
	u.render(w, status, "categories", p)
}

func (u *UI) createCategory(w http.ResponseWriter, r *http.Request, p *page) {
	u.saveCategory(w, r, p, "", true)
}

func (u *UI) updateCategory(w http.ResponseWriter, r *http.Request, p *page) {
	u.saveCategory(w, r, p, r.PathValue("name"), false)
}

func (u *UI) saveCategory(w http.ResponseWriter, r *http.Request, p *page, name string, create bool) {
	form := readCategoryForm(r.PostForm)
	if !create {
		form.Name = name
	}
	c, err := form.category(p.L)
	var change *service.TopicChange
	if err == nil {
		change, err = u.svc.PutCategory(r.Context(), p.User, name, c, create)
	}
	if err != nil {
		if vault.ErrorCode(err) == vault.EFORBIDDEN {
			u.renderError(w, r, p, err)
			return
		}
		p.Error = p.L.T("not_accepted") + " " + vault.ErrorMessage(err)
		u.renderCategories(w, r, p, name, &form, statusFor(err))
		return
	}
	http.Redirect(w, r, "/analytics/categories?"+changeQuery("saved", change), http.StatusSeeOther)
}

// Trends.

// trendIntervals are the trends page's intervals.
var trendIntervals = map[string]time.Duration{"day": 24 * time.Hour, "week": 7 * 24 * time.Hour}

// trendSeries is one line of the chart: a topic's or a category's
// recordings per interval.
type trendSeries struct {
	Label  string  `json:"label"`
	Kind   string  `json:"kind"`
	Values []int64 `json:"values"`
}

// trendChart is what the page's script draws, as JSON in the page: the
// intervals' starts (Unix seconds) and a series per name.
type trendChart struct {
	X      []int64       `json:"x"`
	Series []trendSeries `json:"series"`
	XLabel string        `json:"xLabel"`
	YLabel string        `json:"yLabel"`
}

type trendRow struct {
	Start                   time.Time
	Kind, Name              string
	Recordings, Occurrences int64
	Search                  string // the search of these recordings
}

type trendsData struct {
	From, To, Interval string // the form's values (dates, inclusive)
	Chart              *trendChart
	Totals             []trendRow
	Rows               []trendRow
}

// trends shows how often each topic and category was found, per day or
// week, in the recordings the user may see (the service limits it).
func (u *UI) trends(w http.ResponseWriter, r *http.Request, p *page) {
	p.Nav, p.Title = "trends", p.L.T("trends_title")
	q := r.URL.Query()
	data := &trendsData{From: q.Get("from"), To: q.Get("to"), Interval: q.Get("interval")}
	if data.Interval == "" {
		data.Interval = "day"
	}
	p.Data = data
	from, to := u.dayRange(p, &data.From, &data.To)
	interval, ok := trendIntervals[data.Interval]
	if !ok {
		p.Error = p.L.T("err_invalid") + " " + p.L.T("trends_interval")
	}
	if p.Error != "" {
		u.render(w, http.StatusBadRequest, "trends", p)
		return
	}
	points, err := u.svc.AnalyticsTrends(r.Context(), p.User, from, to, interval)
	if err != nil {
		if vault.ErrorCode(err) == vault.EINVALID {
			p.Error = p.L.T("err_invalid") + " " + vault.ErrorMessage(err)
			u.render(w, http.StatusBadRequest, "trends", p)
			return
		}
		u.renderError(w, r, p, err)
		return
	}
	if len(points) > 0 {
		data.Chart, data.Totals, data.Rows = trendTables(p.L, points, from, to, interval)
	}
	u.render(w, http.StatusOK, "trends", p)
}

// trendTables turns the service's points into the chart's series (zeros
// where a name was not found), the totals per name and the table rows.
func trendTables(l *Lang, points []vault.TrendPoint, from, to time.Time, interval time.Duration) (*trendChart, []trendRow, []trendRow) {
	chart := &trendChart{XLabel: l.T("trends_interval"), YLabel: l.T("col_recordings")}
	for at := from; at.Before(to); at = at.Add(interval) {
		chart.X = append(chart.X, at.Unix())
	}
	type key struct{ kind, name string }
	index := map[key]int{}
	var totals []trendRow
	var rows []trendRow
	search := func(kind, name string, start, end time.Time) string {
		q := url.Values{"from": {start.Format("2006-01-02T15:04")}, "to": {end.Format("2006-01-02T15:04")}}
		if kind == vault.EventTopic {
			q.Set("topic", name)
		} else {
			q.Set("category", name)
		}
		return "/recordings?" + q.Encode()
	}
	// Topics first, then categories, each by name.
	sorted := slices.Clone(points)
	slices.SortStableFunc(sorted, func(a, b vault.TrendPoint) int {
		if a.Kind != b.Kind {
			if a.Kind == vault.EventTopic {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, pt := range sorted {
		k := key{pt.Kind, pt.Name}
		i, ok := index[k]
		if !ok {
			i = len(chart.Series)
			index[k] = i
			chart.Series = append(chart.Series, trendSeries{Label: pt.Name + " · " + l.T("kind_"+pt.Kind), Kind: pt.Kind, Values: make([]int64, len(chart.X))})
			totals = append(totals, trendRow{Kind: pt.Kind, Name: pt.Name, Search: search(pt.Kind, pt.Name, from, to)})
		}
		if b := int(pt.Start.Sub(from) / interval); b >= 0 && b < len(chart.X) {
			chart.Series[i].Values[b] += pt.Recordings
		}
		totals[i].Recordings += pt.Recordings
		totals[i].Occurrences += pt.Occurrences
	}
	for _, pt := range points {
		end := pt.Start.Add(interval)
		if end.After(to) {
			end = to
		}
		rows = append(rows, trendRow{Start: pt.Start, Kind: pt.Kind, Name: pt.Name, Recordings: pt.Recordings,
			Occurrences: pt.Occurrences, Search: search(pt.Kind, pt.Name, pt.Start, end)})
	}
	slices.SortStableFunc(rows, func(a, b trendRow) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return index[key{a.Kind, a.Name}] - index[key{b.Kind, b.Name}]
	})
	return chart, totals, rows
}
