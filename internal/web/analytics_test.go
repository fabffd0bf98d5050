package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"callvault/internal/samples"
	"callvault/internal/vault"
)

// putRecording stores a recording's metadata only (no media): enough for
// search and trends over a stored analysis.
func (e *env) putRecording(id string, start time.Time) {
	e.t.Helper()
	doc := fmt.Sprintf(`{"id":%q,"callerPhoneNumber":"+15550100","dialedPhoneNumber":"+15550199","startTime":%q,"stopTime":%q}`,
		id, start.Format(time.RFC3339), start.Add(2*time.Minute).Format(time.RFC3339))
	if _, _, err := e.srv.Svc.PutMetadata(context.Background(), e.admin, id, []byte(doc)); err != nil {
		e.t.Fatal(err)
	}
}

// putAnalysis stores a recording's analysis directly, as the analysis job
// would (the recognition pipeline is tested in internal/analytics).
func (e *env) putAnalysis(a vault.Analysis) {
	e.t.Helper()
	a.Tenant = "acme"
	if a.Status == "" {
		a.Status = vault.AnalysisDone
	}
	if a.Events == nil {
		a.Events = []vault.Event{}
	}
	if a.Categories == nil {
		a.Categories = []string{}
	}
	if a.AnalyzedAt.IsZero() {
		a.AnalyzedAt = time.Now()
	}
	if err := e.srv.Svc.Store.PutAnalysis(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
}

// topicEvents are n events of a topic.
func topicEvents(name string, n int) []vault.Event {
	var out []vault.Event
	for i := range n {
		out = append(out, vault.Event{Type: vault.EventTopic, Name: name, Phrase: "my invoice", Speaker: vault.SpeakerCustomer,
			StartMs: int64(1000 + 5000*i), EndMs: int64(2000 + 5000*i), Confidence: 0.8})
	}
	return out
}

// stereoAnalysis is the analysis of a 23.7 s stereo call (the length of
// the sample MP3 that ingestAudio stores as a.mp3): a topic the agent
// said at 4.0 s, a silence at 10 s, cross-talk at 17 s, and peaks.
func stereoAnalysis(id string) vault.Analysis {
	const durationMs, window = 23688, 100
	peaks := []vault.Peaks{make(vault.Peaks, durationMs/window), make(vault.Peaks, durationMs/window)}
	for i := range peaks[0] {
		if i >= 100 && i < 135 { // the silence
			continue
		}
		peaks[0][i] = uint8(10 + i*37%60)
		peaks[1][i] = uint8(5 + i*23%40)
	}
	return vault.Analysis{RecordingID: id, Status: vault.AnalysisDone, Engine: "pocketsphinx", Language: "en-US", MediaID: "a.mp3", Channels: 2,
		Events: []vault.Event{
			{Type: vault.EventTopic, Name: "Billing", Phrase: "my invoice", Speaker: vault.SpeakerAgent, StartMs: 4000, EndMs: 5200, Confidence: 0.9},
			{Type: vault.EventSilence, StartMs: 10000, EndMs: 13500},
			{Type: vault.EventCrosstalk, Speaker: vault.SpeakerUnknown, StartMs: 17000, EndMs: 18200},
		},
		Categories: []string{"Complaint"},
		Metrics: vault.AnalysisMetrics{DurationMs: durationMs, AgentTalkMs: 9000, CustomerTalkMs: 8000, SilenceMs: 4500,
			CrosstalkMs: 1200, LongestSilenceMs: 3500},
		Peaks: peaks, PeakWindowMs: window}
}

func (e *env) analyticsConfig() vault.AnalyticsConfig {
	e.t.Helper()
	c, err := e.srv.Svc.AnalyticsConfig(context.Background(), e.admin)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// The topics, categories and settings pages: an unknown word refuses the
// topic, naming it, and saves nothing; a valid one (with a phrase's own
// strictness) is saved and starts a re-analysis the page links to; a
// category over it; the as-you-type check; deletion refused while a
// category uses the topic; supervisors read, agents are refused.
func TestTopicAndCategoryPages(t *testing.T) {
	e := newEnv(t).withSamples()
	admin := e.login("admin@acme", adminPassword)
	wantStatus(t, admin.get("/analytics/topics"), 200, "No topics yet.", `id="topic-form"`, `id="settings-form"`, "cancel my account | 70")

	r := admin.post("/analytics/topics", url.Values{"name": {"Billing"}, "phrases": {"my invoice\nqwzxv payment | 70"},
		"strictness": {"60"}, "speaker": {"customer"}}, true)
	wantStatus(t, r, 400, "Not accepted:", html.EscapeString(`the word "qwzxv" is not in the recogniser's dictionary`),
		`value="Billing"`, "qwzxv payment | 70") // the form keeps what was typed
	if c := e.analyticsConfig(); len(c.Topics) != 0 {
		t.Fatalf("a refused topic was saved: %+v", c.Topics)
	}
	wantStatus(t, admin.post("/analytics/topics", url.Values{"name": {"Billing"}, "phrases": {"my invoice | x"}}, true), 400,
		"Phrase on line 1: after | give the strictness")

	r = admin.post("/analytics/topics", url.Values{"name": {"Billing"}, "phrases": {"my invoice\n\n  bill | 70 "},
		"strictness": {"60"}, "speaker": {"customer"}}, true)
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/analytics/topics?done=saved") {
		t.Fatalf("save: %d %s %.500s", r.status, r.header.Get("Location"), r.body)
	}
	c := e.analyticsConfig()
	if len(c.Topics) != 1 {
		t.Fatalf("topics: %+v", c.Topics)
	}
	got := c.Topics[0]
	if got.Name != "Billing" || got.Strictness != 60 || got.Speaker != vault.SpeakerCustomer || len(got.Phrases) != 2 ||
		got.Phrases[0].Text != "my invoice" || got.Phrases[0].Strictness != nil || got.Phrases[1].Text != "bill" ||
		got.Phrases[1].Strictness == nil || *got.Phrases[1].Strictness != 70 {
		t.Fatalf("saved topic: %+v", got)
	}
	next, _ := url.Parse(r.header.Get("Location"))
	job := next.Query().Get("job")
	if job == "" {
		t.Fatalf("no re-analysis job in %s", next)
	}
	r = admin.get(next.String())
	wantStatus(t, r, 200, "Topic saved.", `href="/admin/jobs/`+job+`"`, "Recordings are being analysed again (job "+job+").",
		"bill | 70", html.EscapeString(`phrase "bill" is short`))
	wantStatus(t, admin.get("/admin/jobs/"+job), 200, "Re-analysis after an analytics change")

	// Edit: the strictness left empty is the default again.
	wantStatus(t, admin.get("/analytics/topics/Billing"), 200, "Edit topic Billing", `value="Billing" maxlength="64" required readonly`)
	r = admin.post("/analytics/topics/Billing", url.Values{"name": {"Renamed"}, "phrases": {"my invoice\nrefund"}, "speaker": {"any"}}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("update: %d %.500s", r.status, r.body)
	}
	if got := e.analyticsConfig().Topics; len(got) != 1 || got[0].Name != "Billing" || got[0].Strictness != 50 || got[0].Phrases[1].Text != "refund" {
		t.Fatalf("updated topic: %+v", got)
	}

	// The as-you-type check: JSON, CSRF-protected, the word named.
	check := func(phrases string, withCSRF bool) (int, map[string]any) {
		t.Helper()
		r := admin.post("/analytics/check-topic", url.Values{"phrases": {phrases}, "strictness": {"50"}, "speaker": {"any"}}, withCSRF)
		var out map[string]any
		if withCSRF {
			if err := json.Unmarshal([]byte(r.body), &out); err != nil {
				t.Fatalf("check answer: %v: %s", err, r.body)
			}
		}
		return r.status, out
	}
	if status, _ := check("qwzxv", false); status != http.StatusForbidden {
		t.Fatalf("check without the CSRF token: %d", status)
	}
	admin.get("/analytics/topics")
	if status, out := check("please qwzxv now", true); status != 400 || !strings.Contains(fmt.Sprint(out["error"]), `the word "qwzxv" is not in`) {
		t.Fatalf("check of an unknown word: %d %v", status, out)
	}
	if status, out := check("cancel my account\nbill", true); status != 200 || !strings.Contains(fmt.Sprint(out["warnings"]), `"bill" is short`) {
		t.Fatalf("check of a short phrase: %d %v", status, out)
	}

	// A category over the topic.
	wantStatus(t, admin.get("/analytics/categories"), 200, "No categories yet.", `<option>Billing</option>`)
	r = admin.post("/analytics/categories", url.Values{"name": {"Angry billing"}, "all": {"Billing"}, "minOccurrences": {"2"},
		"speaker": {"customer"}, "fromSec": {""}, "toSec": {"60"}}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("category: %d %.800s", r.status, r.body)
	}
	cats := e.analyticsConfig().Categories
	if len(cats) != 1 || cats[0].Name != "Angry billing" || len(cats[0].All) != 1 || cats[0].All[0] != "Billing" || cats[0].MinOccurrences != 2 ||
		cats[0].Speaker != vault.SpeakerCustomer || cats[0].Within == nil || cats[0].Within.ToSec != 60 || cats[0].Within.FromEnd {
		t.Fatalf("saved category: %+v", cats)
	}
	wantStatus(t, admin.get("/analytics/categories"), 200, "Angry billing", "0:00 to 1:00 after the start", "Customer")
	wantStatus(t, admin.get("/analytics/categories/"+url.PathEscape("Angry billing")), 200, "Edit category Angry billing", `<option selected>Billing</option>`)
	wantStatus(t, admin.post("/analytics/categories", url.Values{"name": {"Ghost"}, "any": {"Nope"}}, true), 400, html.EscapeString(`there is no topic "Nope"`))
	r = admin.post("/analytics/categories/"+url.PathEscape("Angry billing"), url.Values{"any": {"Billing"}, "fromSec": {"0"}, "toSec": {"30"}, "fromEnd": {"1"}}, true)
	if r.status != http.StatusSeeOther {
		t.Fatalf("category update: %d %.800s", r.status, r.body)
	}
	wantStatus(t, admin.get("/analytics/categories"), 200, "0:00 to 0:30, counted back from the end")

	// The topic a category uses is not deleted; the refusal says why.
	wantStatus(t, admin.get("/analytics/topics/Billing/delete"), 200, "Delete topic Billing", `id="delete-confirm"`)
	wantStatus(t, admin.post("/analytics/topics/Billing/delete", url.Values{}, true), 409,
		"The server refused to delete the topic:", "Angry billing")
	if r := admin.post("/analytics/categories/"+url.PathEscape("Angry billing")+"/delete", url.Values{}, true); r.status != http.StatusSeeOther {
		t.Fatalf("delete category: %d %.500s", r.status, r.body)
	}
	if r := admin.post("/analytics/topics/Billing/delete", url.Values{}, true); r.status != http.StatusSeeOther {
		t.Fatalf("delete topic: %d %.500s", r.status, r.body)
	}
	if c := e.analyticsConfig(); len(c.Topics)+len(c.Categories) != 0 {
		t.Fatalf("after the deletions: %+v", c)
	}

	// Settings, with the silence in seconds.
	wantStatus(t, admin.post("/analytics/settings", url.Values{"language": {"en-US"}, "agentChannel": {"right"}, "silenceSec": {"abc"},
		"reanalyzeDays": {"7"}}, true), 400, "Shortest silence reported (seconds): give a number of seconds")
	r = admin.post("/analytics/settings", url.Values{"language": {"en-US"}, "agentChannel": {"right"}, "silenceSec": {"2.5"}, "reanalyzeDays": {"7"}}, true)
	if r.status != http.StatusSeeOther || !strings.Contains(r.header.Get("Location"), "done=settings") {
		t.Fatalf("settings: %d %s", r.status, r.header.Get("Location"))
	}
	if st := e.analyticsConfig().Settings; st != (vault.AnalyticsSettings{Language: "en-US", AgentChannel: "right", SilenceMs: 2500, ReanalyzeDays: 7}) {
		t.Fatalf("settings: %+v", st)
	}
	wantStatus(t, admin.get("/analytics/topics?done=settings"), 200, "Analytics settings saved.", `value="2.5"`, `<option value="right" selected>`)

	// A supervisor reads; an agent is refused.
	admin.post("/analytics/topics", url.Values{"name": {"Billing"}, "phrases": {"my invoice"}}, true)
	sup := e.login("sup@acme", "password-sup")
	r = sup.get("/analytics/topics")
	wantStatus(t, r, 200, "You can read the analytics configuration", "my invoice", `id="settings-values"`, `href="/analytics/trends"`)
	if strings.Contains(r.body, `id="topic-form"`) || strings.Contains(r.body, `id="settings-form"`) {
		t.Fatal("a supervisor gets the topic or settings form")
	}
	wantStatus(t, sup.get("/analytics/categories"), 200, "You can read the analytics configuration")
	wantStatus(t, sup.post("/analytics/topics", url.Values{"name": {"X"}, "phrases": {"my invoice"}}, true), 403)
	wantStatus(t, sup.post("/analytics/check-topic", url.Values{"phrases": {"my invoice"}}, true), 403)
	wantStatus(t, sup.get("/analytics/topics/Billing/delete"), 403)

	agent := e.login("agent_103001@acme", "password-agent_103001")
	for _, path := range []string{"/analytics/topics", "/analytics/topics/Billing", "/analytics/categories", "/analytics/topics/Billing/delete"} {
		wantStatus(t, agent.get(path), 403, "You may not open this page")
	}
	wantStatus(t, agent.post("/analytics/topics", url.Values{"name": {"X"}, "phrases": {"my invoice"}}, true), 403)
	wantStatus(t, agent.post("/analytics/settings", url.Values{"language": {"en-US"}, "agentChannel": {"left"}, "silenceSec": {"3"}, "reanalyzeDays": {"1"}}, true), 403)
	wantStatus(t, agent.post("/analytics/check-topic", url.Values{"phrases": {"my invoice"}}, true), 403)
	if r := agent.get("/recordings"); strings.Contains(r.body, `href="/analytics/topics"`) || !strings.Contains(r.body, `href="/analytics/trends"`) {
		t.Fatal("the agent's menu: topics shown or trends missing")
	}
	if len(e.analyticsConfig().Topics) != 1 {
		t.Fatal("a refused change was saved")
	}
}

// Search by topic, category and longest silence: only matching
// recordings, and the next page's link keeps the filters.
func TestAnalyticsSearch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{"Billing", "Greeting"} {
		if _, err := e.srv.Svc.PutTopic(ctx, e.admin, "", vault.Topic{Name: name, Phrases: []vault.Phrase{{Text: "good morning"}}}, false, true); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	e.putRecording("an-hit", base)
	e.putRecording("an-other", base.Add(time.Hour))
	e.putRecording("an-none", base.Add(2*time.Hour))
	e.putAnalysis(vault.Analysis{RecordingID: "an-hit", Events: topicEvents("Billing", 2), Categories: []string{"Complaint"},
		Metrics: vault.AnalysisMetrics{LongestSilenceMs: 5000}})
	e.putAnalysis(vault.Analysis{RecordingID: "an-other", Events: topicEvents("Greeting", 1), Metrics: vault.AnalysisMetrics{LongestSilenceMs: 1500}})
	c := e.login("admin@acme", adminPassword)
	ids := func(body string) []string {
		var out []string
		for _, m := range regexp.MustCompile(`href="/recordings/([^"]+)" class="rec-link"`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	for query, want := range map[string]string{
		"topic=Billing":                 "an-hit",
		"topic=Greeting":                "an-other",
		"category=Complaint":            "an-hit",
		"minSilence=4":                  "an-hit",
		"minSilence=1.5":                "an-hit an-other",
		"minSilence=1.5&topic=Greeting": "an-other",
		"topic=Nothing":                 "",
		"from=2026-02-01T00:00":         "an-hit an-none an-other",
	} {
		r := c.get("/recordings?" + query)
		wantStatus(t, r, 200)
		got := ids(r.body)
		slices.Sort(got)
		if strings.Join(got, " ") != want {
			t.Errorf("%s: %v, want %s", query, got, want)
		}
	}
	wantStatus(t, c.get("/recordings?topic=Billing&category=Complaint&minSilence=4"), 200,
		`<option selected>Billing</option>`, `<option selected>Complaint</option>`, `name="minSilence" type="number" min="0" max="86400" step="0.1" inputmode="decimal" value="4"`)
	wantStatus(t, c.get("/recordings?minSilence=soon"), 400, "Silence of at least (seconds): give a number of seconds")

	// 55 more with another topic: two pages, the link keeps the filter.
	for i := range 55 {
		id := fmt.Sprintf("paged-%02d", i)
		e.putRecording(id, base.Add(time.Duration(3+i)*time.Hour))
		e.putAnalysis(vault.Analysis{RecordingID: id, Events: topicEvents("Greeting", 1), Metrics: vault.AnalysisMetrics{LongestSilenceMs: 9000}})
	}
	r := c.get("/recordings?topic=Greeting&minSilence=8")
	wantStatus(t, r, 200, "50 recordings on this page")
	m := regexp.MustCompile(`href="([^"]+)" id="next-page"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no next page")
	}
	next := html.UnescapeString(m[1])
	if q, _ := url.Parse(next); q.Query().Get("topic") != "Greeting" || q.Query().Get("minSilence") != "8" || q.Query().Get("cursor") == "" {
		t.Fatalf("next page link %s", next)
	}
	r = c.get(next)
	wantStatus(t, r, 200, "5 recordings on this page")
	if got := ids(r.body); len(got) != 5 || !strings.HasPrefix(got[0], "paged-") {
		t.Fatalf("second page: %v", got)
	}
}

// The trends page counts per interval what the user may see, in a table
// as well as the chart's data.
func TestTrendsPage(t *testing.T) {
	e := newEnv(t).withSamples()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	twoDaysAgo, yesterday := today.AddDate(0, 0, -2).Add(10*time.Hour), today.AddDate(0, 0, -1).Add(10*time.Hour)
	e.putRecording("tr-1", twoDaysAgo)
	e.putRecording("tr-2", twoDaysAgo.Add(time.Hour))
	e.putRecording("tr-3", yesterday)
	e.putAnalysis(vault.Analysis{RecordingID: "tr-1", Events: topicEvents("Billing", 2), Categories: []string{"Complaint"}})
	e.putAnalysis(vault.Analysis{RecordingID: "tr-2", Events: topicEvents("Billing", 1)})
	e.putAnalysis(vault.Analysis{RecordingID: "tr-3", Events: topicEvents("Billing", 1)})
	admin := e.login("admin@acme", adminPassword)
	r := admin.get("/analytics/trends")
	wantStatus(t, r, 200, `id="trends-chart"`, `id="trends-data"`, `/static/vendor/uplot/uPlot.iife.min.js`,
		`value="`+today.AddDate(0, 0, -29).Format(time.DateOnly)+`"`, `value="`+today.Format(time.DateOnly)+`"`)
	cell := func(name string, recordings, occurrences int) string {
		return fmt.Sprintf(`%s</a></td><td class="num">%d</td><td class="num">%d</td>`, name, recordings, occurrences)
	}
	totals := r.body[strings.Index(r.body, `id="trends-totals"`):strings.Index(r.body, `id="trends-table"`)]
	for _, want := range []string{cell("Billing", 3, 4), cell("Complaint", 1, 1)} {
		if !strings.Contains(totals, want) {
			t.Errorf("totals lack %s: %s", want, totals)
		}
	}
	table := r.body[strings.Index(r.body, `id="trends-table"`):]
	en := langDate(twoDaysAgo)
	for _, want := range []string{en + "</td>\n<td>Topic</td><td class=\"name\"><a href=\"", cell("Billing", 2, 3), cell("Billing", 1, 1)} {
		if !strings.Contains(table, want) {
			t.Errorf("per-interval table lacks %q", want)
		}
	}
	// The chart's data: a point per day, zeros where nothing was found.
	m := regexp.MustCompile(`(?s)<script type="application/json" id="trends-data">(.*?)</script>`).FindStringSubmatch(r.body)
	var chart struct {
		X      []int64
		Series []struct {
			Label, Kind string
			Values      []int64
		}
	}
	if m == nil || json.Unmarshal([]byte(m[1]), &chart) != nil || len(chart.X) != 30 || len(chart.Series) != 2 {
		t.Fatalf("chart data: %v", m)
	}
	if s := chart.Series[0]; s.Label != "Billing · Topic" || s.Values[27] != 2 || s.Values[28] != 1 || s.Values[29] != 0 || s.Values[0] != 0 {
		t.Fatalf("Billing series: %+v", s)
	}
	// A search link per row, over its interval.
	if !strings.Contains(table, html.EscapeString("/recordings?category=Complaint&from="+url.QueryEscape(today.AddDate(0, 0, -2).Format("2006-01-02T15:04")))) {
		t.Errorf("no search link of the category's day: %.2000s", table)
	}

	wantStatus(t, admin.get("/analytics/trends?interval=week"), 200, "Week from ", cell("Billing", 3, 4))
	wantStatus(t, admin.get("/analytics/trends?interval=hour"), 400, "not valid")
	wantStatus(t, admin.get("/analytics/trends?from=2026-03-02&to=2026-03-01"), 400, "must be before")
	wantStatus(t, admin.get("/analytics/trends?from=2020-01-01&to=2026-01-01"), 400, "intervals")
	// A supervisor of "/" sees them; an agent sees none of these calls.
	wantStatus(t, e.login("sup@acme", "password-sup").get("/analytics/trends"), 200, cell("Billing", 3, 4))
	wantStatus(t, e.login("agent_103001@acme", "password-agent_103001").get("/analytics/trends"), 200, "No topic or category was found")
}

// langDate is a date as the en-US pages write it.
func langDate(t time.Time) string { return t.UTC().Format("01/02/2006") }

// The recording page shows each analysis status; a done analysis gets the
// waveform's data, the events as links into the audio, the metrics and
// the categories, and a style nonce in its Content-Security-Policy.
func TestRecordingAnalysisPage(t *testing.T) {
	e := newEnv(t).withVoiceCert()
	start := time.Date(2026, 2, 3, 9, 0, 0, 0, time.UTC)
	e.ingestAudio("an-call", start, "+15550100")
	c := e.login("admin@acme", adminPassword)
	path := "/recordings/an-call"
	r := c.get(path)
	wantStatus(t, r, 200, `data-status="pending"`, "Analysis pending: the call has not been analysed yet.")
	if strings.Contains(r.body, `id="waveform"`) || strings.Contains(r.header.Get("Content-Security-Policy"), "nonce") {
		t.Fatal("a pending analysis gets a waveform")
	}
	e.putAnalysis(vault.Analysis{RecordingID: "an-call", Status: vault.AnalysisFailed, Error: "the voice file cannot be decoded", MediaID: "a.mp3"})
	wantStatus(t, c.get(path), 200, "The analysis failed.", "(the voice file cannot be decoded)")
	e.putAnalysis(vault.Analysis{RecordingID: "an-call", Status: vault.AnalysisUnsupported, Error: `no recogniser model for "fr-FR"`, MediaID: "a.mp3"})
	wantStatus(t, c.get(path), 200, "Not analysed: the speech recogniser has no model")

	e.putAnalysis(stereoAnalysis("an-call"))
	r = c.get(path)
	wantStatus(t, r, 200, `id="waveform"`, `/static/vendor/wavesurfer/wavesurfer.min.js`, `/static/vendor/wavesurfer/regions.min.js`,
		"Agent (Left channel)", "Customer (Right channel)", `<span class="badge cat">Complaint</span>`,
		`href="/api/v2/recordings/an-call/play/a.mp3#t=4.000,5.200" data-seek="4.000"`, "0:04–0:05", "<strong>Billing</strong>",
		"<strong>Silence</strong>", "<strong>Cross-talk</strong>", `<q dir="ltr">my invoice</q>`,
		"<th scope=\"row\">Longest silence</th><td dir=\"ltr\">0:03</td>", "<th scope=\"row\">Agent talking</th><td dir=\"ltr\">0:09</td>")
	csp := r.header.Get("Content-Security-Policy")
	nonce := regexp.MustCompile(`'nonce-([A-Za-z0-9]+)'`).FindStringSubmatch(csp)
	if nonce == nil || !strings.Contains(r.body, `data-style-nonce="`+nonce[1]+`"`) || !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "http") {
		t.Fatalf("CSP %q and the page's nonce", csp)
	}
	m := regexp.MustCompile(`(?s)<script type="application/json" id="analysis-data">(.*?)</script>`).FindStringSubmatch(r.body)
	var player struct {
		Audio      string
		DurationMs int64
		Peaks      [][]int
		Channels   []struct{ Color, Label string }
		Events     []struct {
			Type, Label    string
			StartMs, EndMs int64
			Channel        int
		}
	}
	if m == nil {
		t.Fatal("no player data")
	}
	if err := json.Unmarshal([]byte(m[1]), &player); err != nil {
		t.Fatalf("player data: %v", err)
	}
	if player.Audio != "audio-0" || player.DurationMs != 23688 || len(player.Peaks) != 2 || len(player.Peaks[0]) != 236 ||
		len(player.Channels) != 2 || player.Channels[0].Color != "agent" || len(player.Events) != 3 ||
		player.Events[0].Label != "Billing" || player.Events[0].Channel != 0 || player.Events[1].Channel != -1 {
		t.Fatalf("player data: %+v", player)
	}
	// Another's page nonce differs.
	if n2 := regexp.MustCompile(`'nonce-([A-Za-z0-9]+)'`).FindStringSubmatch(c.get(path).header.Get("Content-Security-Policy")); n2 == nil || n2[1] == nonce[1] {
		t.Fatal("the style nonce is not fresh per page")
	}

	// The agent channel on the right swaps the lanes.
	if _, err := e.srv.Svc.SetAnalyticsSettings(context.Background(), e.admin, vault.AnalyticsSettings{Language: "en-US", AgentChannel: "right",
		SilenceMs: 3000, ReanalyzeDays: 30}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.get(path), 200, "Customer (Left channel)", "Agent (Right channel)")

	// The vendored libraries are served from here, with their licences.
	for _, f := range []string{"wavesurfer/wavesurfer.min.js", "wavesurfer/regions.min.js", "wavesurfer/LICENSE", "uplot/uPlot.iife.min.js",
		"uplot/uPlot.min.css", "uplot/LICENSE", "README.md"} {
		if r := c.get("/static/vendor/" + f); r.status != 200 || len(r.body) < 100 {
			t.Errorf("/static/vendor/%s: %d, %d bytes", f, r.status, len(r.body))
		}
	}
}

// An agent sees the analysis of their own call, with the channels named
// by side only (the agent channel is in the configuration, which agents
// do not read), and searches by topic with text fields.
func TestAnalysisForAgents(t *testing.T) {
	e := newEnv(t).withSamples()
	s1 := samples.Recordings()[0]
	a := stereoAnalysis(s1.ID)
	a.MediaID = s1.Media[0].MediaID
	e.putAnalysis(a)
	agent := e.login("agent_103001@acme", "password-agent_103001")
	r := agent.get("/recordings/" + url.PathEscape(s1.ID))
	wantStatus(t, r, 200, `id="waveform"`, "Left channel", "Right channel", "<strong>Billing</strong>")
	if strings.Contains(r.body, "Agent (Left channel)") {
		t.Fatal("the agent's legend names speakers it cannot know")
	}
	wantStatus(t, agent.get("/recordings?topic=Billing"), 200, `<input id="topic" name="topic" value="Billing">`, s1.ID)
	wantStatus(t, agent.get("/recordings?topic=Other"), 200, "No recordings match")
}
