package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"callvault/internal/analytics/synth"
	"callvault/internal/service"
)

var (
	sampleCallOnce sync.Once
	sampleCallMP3  []byte
	sampleCallErr  error
)

// sampleCall is synth.SampleCall at 16 kHz as a 96 kbit/s stereo MP3,
// rendered once per test binary.
func sampleCall(t *testing.T) []byte {
	t.Helper()
	sampleCallOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), "callvault-httpapi-analytics")
		if sampleCallErr = os.MkdirAll(dir, 0o755); sampleCallErr != nil {
			return
		}
		wav, _, err := synth.Render(context.Background(), dir, "sample-16000", synth.SampleCall(16000))
		if err != nil {
			sampleCallErr = err
			return
		}
		mp3, err := synth.MP3(context.Background(), wav, 96)
		if err != nil {
			sampleCallErr = err
			return
		}
		sampleCallMP3, sampleCallErr = os.ReadFile(mp3)
	})
	if sampleCallErr != nil {
		t.Fatalf("cannot render the sample call: %v", sampleCallErr)
	}
	return sampleCallMP3
}

// analysisJSON is GET /recordings/{id}/analytics.
type analysisJSON struct {
	Status, Error, Engine, Language, MediaID string
	ConfigVersion                            int64
	Channels                                 int
	Events                                   []struct {
		Type, Name, Phrase, Speaker string
		StartMs, EndMs              int64
		Confidence                  float64
	}
	Categories   []string
	Metrics      map[string]int64
	Peaks        [][]int
	PeakWindowMs int
}

func (e *env) analysis(id, query string) (analysisJSON, resp) {
	e.t.Helper()
	r := e.admin("GET", "/api/v2/recordings/"+id+"/analytics"+query, "", nil)
	var a analysisJSON
	if r.status == 200 {
		if err := json.Unmarshal(r.body, &a); err != nil {
			e.t.Fatalf("analysis: %v: %s", err, r.body)
		}
	}
	return a, r
}

// waitAnalysis waits until the recording's analysis is made with at least
// the given configuration version and is not pending.
func (e *env) waitAnalysis(id string, version int64) analysisJSON {
	e.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		a, r := e.analysis(id, "")
		if r.status != 200 {
			e.t.Fatalf("analysis of %s: %d %s", id, r.status, r.body)
		}
		if a.Status != "pending" && a.ConfigVersion >= version {
			return a
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("analysis of %s still %s at version %d (want %d)", id, a.Status, a.ConfigVersion, version)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (e *env) postJSON(method, path, body string) resp {
	e.t.Helper()
	return e.admin(method, path, "application/json", strings.NewReader(body))
}

// ingestCall stores a call's audio (plain MP3: the server encrypts it) and
// its metadata with a stop time and agent ann.
func (e *env) ingestCall(id string, audio []byte, start time.Time) {
	e.t.Helper()
	mediaID := id + "_voice.mp3"
	if r := e.admin("PUT", "/api/v2/recordings/"+id+"/media/"+url.PathEscape(mediaID), "audio/mp3", bytes.NewReader(audio)); r.status != 201 {
		e.t.Fatalf("audio of %s: %d %s", id, r.status, r.body)
	}
	doc := map[string]any{"id": id, "startTime": start.Format(time.RFC3339Nano), "stopTime": start.Add(32 * time.Second).Format(time.RFC3339Nano),
		"callerPhoneNumber": "+15551230000",
		"eventHistory": []any{map[string]any{"occurredAt": start.Format(time.RFC3339Nano), "event": "Joined", "calluuid": id,
			"contact": map[string]any{"type": "User", "userName": "ann", "firstName": "Ann", "lastName": "Agent"}}},
		"mediaFiles": []any{map[string]any{"mediaId": mediaID, "type": "audio/mp3", "startTime": start.Format(time.RFC3339Nano),
			"stopTime": start.Add(32 * time.Second).Format(time.RFC3339Nano)}}}
	body, _ := json.Marshal(doc)
	if r := e.admin("PUT", "/api/v2/recordings/"+id, "application/json", bytes.NewReader(body)); r.status != 200 {
		e.t.Fatalf("metadata of %s: %d %s", id, r.status, r.body)
	}
}

func (e *env) searchIDs(query string) []string {
	e.t.Helper()
	r := e.admin("GET", "/api/v2/recordings?"+query, "", nil)
	if r.status != 200 {
		e.t.Fatalf("search %s: %d %s", query, r.status, r.body)
	}
	var page struct{ Recordings []struct{ ID string } }
	if err := json.Unmarshal(r.body, &page); err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, rec := range page.Recordings {
		ids = append(ids, rec.ID)
	}
	return ids
}

// TestSpeechAnalytics: topics checked against the recogniser's dictionary;
// a call ingested (encrypted on the way in) is analysed by the job with
// pocketsphinx: topics on the right speaker, silence, cross-talk,
// categories; search filters and trends under the access rule; a change
// re-analyses; an unsupported language and an undecodable file give their
// statuses; the analysis goes with the recording.
func TestSpeechAnalytics(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	e.createUser(`{"userName":"ann","password":"` + agentPassword + `","roles":["agent"],"firstName":"Ann","lastName":"Agent","agentHierarchy":"/Team1/ann"}`)
	e.createUser(`{"userName":"sue","password":"` + agentPassword + `","roles":["supervisor"],"accessGroups":["/Team2"]}`)
	e.runJobs()

	// Settings: defaults, then a bad value refused.
	if st := e.admin("GET", "/api/v2/settings/analytics", "", nil).json(t); st["language"] != "en-US" || st["agentChannel"] != "left" || st["silenceMs"] != float64(3000) {
		t.Fatalf("default settings: %v", st)
	}
	wantError(t, e.postJSON("PUT", "/api/v2/settings/analytics", `{"agentChannel":"middle"}`), 400, "invalid")
	wantError(t, e.postJSON("PUT", "/api/v2/settings/analytics", `{"silenceMs":"3s"}`), 400, "invalid")

	// Topics: a word the recogniser does not know is refused, naming it;
	// a short phrase is accepted with a warning.
	r := e.postJSON("POST", "/api/v2/analytics/topics", `{"name":"billing","phrases":[{"text":"my invoize"}]}`)
	wantError(t, r, 400, "invalid")
	if !strings.Contains(string(r.body), `\"invoize\"`) {
		t.Errorf("the error does not name the word: %s", r.body)
	}
	r = e.postJSON("POST", "/api/v2/analytics/topics/check", `{"phrases":[{"text":"no"}]}`)
	if r.status != 200 || !strings.Contains(string(r.body), "short") {
		t.Errorf("check of a short phrase: %d %s", r.status, r.body)
	}
	wantError(t, e.postJSON("POST", "/api/v2/analytics/topics", `{"name":"x","phrases":[{"text":"refund"}],"colour":"red"}`), 400, "invalid")
	wantError(t, e.do("POST", "/api/v2/analytics/topics", "sue@acme", agentPassword, "application/json", strings.NewReader(`{"name":"x","phrases":[{"text":"refund"}]}`)), 403, "forbidden")
	for _, body := range []string{
		`{"name":"cancellation","phrases":[{"text":"cancel my subscription"},{"text":"close my account","strictness":70}],"speaker":"customer"}`,
		`{"name":"escalation","phrases":[{"text":"speak to a manager"}]}`,
		`{"name":"greeting","phrases":[{"text":"Thank you for calling!"}],"speaker":"agent","strictness":50}`,
		`{"name":"moving","phrases":[{"text":"change my address"}],"speaker":"customer"}`,
	} {
		r := e.postJSON("POST", "/api/v2/analytics/topics", body)
		if r.status != 201 {
			t.Fatalf("topic %s: %d %s", body, r.status, r.body)
		}
		if m := r.json(t); m["jobId"] == nil || m["strictness"] != float64(50) {
			t.Errorf("topic answer without its re-analysis job or default strictness: %s", r.body)
		}
	}
	wantError(t, e.postJSON("POST", "/api/v2/analytics/topics", `{"name":"greeting","phrases":[{"text":"hello"}]}`), 409, "conflict")
	if g := e.admin("GET", "/api/v2/analytics/topics/greeting", "", nil).json(t); g["phrases"].([]any)[0].(map[string]any)["text"] != "thank you for calling" {
		t.Errorf("phrase not normalised: %v", g)
	}
	// Categories over them.
	wantError(t, e.postJSON("POST", "/api/v2/analytics/categories", `{"name":"bad","all":["nosuch"]}`), 400, "invalid")
	for _, body := range []string{
		`{"name":"angry churn","all":["cancellation","escalation"]}`,
		`{"name":"escalated at the end","any":["escalation"],"within":{"fromSec":0,"toSec":20,"fromEnd":true}}`,
		`{"name":"greeted late","none":["greeting"],"within":{"fromSec":0,"toSec":10}}`,
		`{"name":"moved","all":["moving"]}`,
	} {
		if r := e.postJSON("POST", "/api/v2/analytics/categories", body); r.status != 201 {
			t.Fatalf("category %s: %d %s", body, r.status, r.body)
		}
	}
	wantError(t, e.admin("DELETE", "/api/v2/analytics/topics/escalation", "", nil), 409, "conflict")
	version := int64(e.admin("GET", "/api/v2/analytics/topics", "", nil).json(t)["version"].(float64))

	// A call is analysed once stored with its stop time.
	start := e.clock().Add(-time.Hour)
	e.ingestCall("call1", sampleCall(t), start)
	a := e.waitAnalysis("call1", version)
	if a.Status != "done" || a.Engine != "pocketsphinx-kws" || a.Channels != 2 || a.MediaID != "call1_voice.mp3" {
		t.Fatalf("analysis: %+v", a)
	}
	type hit struct{ name, speaker string }
	var hits []hit
	for _, ev := range a.Events {
		if ev.Type == "topic" {
			hits = append(hits, hit{ev.Name, ev.Speaker})
		}
	}
	for _, want := range []hit{{"greeting", "agent"}, {"cancellation", "customer"}, {"escalation", "customer"}} {
		if !slices.Contains(hits, want) {
			t.Errorf("topic %v not found: %+v", want, a.Events)
		}
	}
	if slices.ContainsFunc(hits, func(h hit) bool { return h.name == "moving" }) {
		t.Errorf("a phrase never said was found: %+v", a.Events)
	}
	if want := []string{"angry churn", "escalated at the end"}; !slices.Equal(a.Categories, want) {
		t.Errorf("categories %q, want %q", a.Categories, want)
	}
	if a.Metrics["longestSilenceMs"] < 4000 || a.Metrics["crosstalkMs"] < 500 || a.Metrics["agentTalkMs"] == 0 || a.Metrics["customerTalkMs"] == 0 {
		t.Errorf("metrics %v", a.Metrics)
	}
	if len(a.Peaks) != 0 {
		t.Error("peaks given without ?peaks=true")
	}
	withPeaks, _ := e.analysis("call1", "?peaks=true")
	if len(withPeaks.Peaks) != 2 || withPeaks.PeakWindowMs != 100 || len(withPeaks.Peaks[0]) < 300 || len(withPeaks.Peaks[0]) > 330 {
		t.Errorf("peaks: %d channels, window %d, %d values", len(withPeaks.Peaks), withPeaks.PeakWindowMs, len(withPeaks.Peaks[0]))
	}
	wantError(t, e.admin("GET", "/api/v2/recordings/call1/analytics?peaks=maybe", "", nil), 400, "invalid")

	// Search and trends, under the access rule.
	e.ingestCall("call2", []byte(strings.Repeat("this is not audio ", 400)), start.Add(time.Minute))
	if failed := e.waitAnalysis("call2", version); failed.Status != "failed" || !strings.Contains(failed.Error, "cannot be decoded") {
		t.Errorf("undecodable file: %+v", failed)
	}
	for query, want := range map[string][]string{
		"topic=cancellation": {"call1"},
		"topic=moving":       nil,
		"category=" + url.QueryEscape("angry churn"): {"call1"},
		"category=moved":                nil,
		"minSilenceMs=4000":             {"call1"},
		"minSilenceMs=60000":            nil,
		"topic=escalation&userName=ann": {"call1"},
	} {
		if got := e.searchIDs(query); !slices.Equal(got, want) {
			t.Errorf("search %s: %q, want %q", query, got, want)
		}
	}
	wantError(t, e.admin("GET", "/api/v2/recordings?minSilenceMs=-1", "", nil), 400, "invalid")
	day := start.UTC().Truncate(24 * time.Hour)
	trendQuery := fmt.Sprintf("/api/v2/analytics/trends?from=%d&to=%d&interval=day", day.UnixMilli(), day.Add(48*time.Hour).UnixMilli())
	tr := e.admin("GET", trendQuery, "", nil)
	if tr.status != 200 || !strings.Contains(string(tr.body), `"name":"cancellation","recordings":1`) || !strings.Contains(string(tr.body), `"kind":"category","name":"angry churn"`) {
		t.Errorf("trends: %d %s", tr.status, tr.body)
	}
	// Sue supervises /Team2: she sees neither call1 nor its analysis, and
	// her trends count nothing.
	sue := func(path string) resp {
		return e.do("GET", path, "sue@acme", agentPassword, "", nil)
	}
	wantError(t, sue("/api/v2/recordings/call1/analytics"), 404, "not_found")
	if r := sue("/api/v2/recordings?topic=cancellation"); r.status != 200 || strings.Contains(string(r.body), "call1") {
		t.Errorf("sue's search: %d %s", r.status, r.body)
	}
	if r := sue(trendQuery); r.status != 200 || strings.Contains(string(r.body), "cancellation") {
		t.Errorf("sue's trends: %d %s", r.status, r.body)
	}
	wantError(t, e.admin("GET", "/api/v2/analytics/trends?interval=year", "", nil), 400, "invalid")
	wantError(t, e.admin("GET", "/api/v2/analytics/trends?from=2026-01-01T00:00:00Z&to=2020-01-01T00:00:00Z", "", nil), 400, "invalid")

	// A new category: the calls are categorised again from their events,
	// not recognised again.
	if r := e.postJSON("POST", "/api/v2/analytics/categories", `{"name":"customer escalated","all":["escalation"],"speaker":"customer"}`); r.status != 201 {
		t.Fatalf("category: %d %s", r.status, r.body)
	}
	recategorised := e.waitAnalysis("call1", version+1)
	if want := []string{"angry churn", "escalated at the end", "customer escalated"}; !slices.Equal(recategorised.Categories, want) || len(recategorised.Events) != len(a.Events) {
		t.Errorf("after a new category: %q (events %d, were %d)", recategorised.Categories, len(recategorised.Events), len(a.Events))
	}
	if jobs := e.admin("GET", "/api/v2/jobs?limit=100", "", nil); !strings.Contains(string(jobs.body), `"summary":"categorised again"`) {
		t.Errorf("no analyze job categorised again: %s", jobs.body)
	}
	version++

	// A language without a model: unsupported, never a wrong answer;
	// back to en-US: analysed again. Each change queues a re-analysis
	// whose progress the jobs API shows.
	r = e.postJSON("PUT", "/api/v2/settings/analytics", `{"language":"de-DE"}`)
	if r.status != 200 || r.json(t)["jobId"] == nil {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
	unsupported := e.waitAnalysis("call1", version+1)
	if unsupported.Status != "unsupported" || len(unsupported.Events) != 0 {
		t.Errorf("de-DE: %+v", unsupported)
	}
	job := e.admin("GET", fmt.Sprintf("/api/v2/jobs/%d", int64(r.json(t)["jobId"].(float64))), "", nil)
	if job.status != 200 || !strings.Contains(string(job.body), `"kind":"reanalyze"`) {
		t.Errorf("re-analysis job: %d %s", job.status, job.body)
	}
	r = e.postJSON("PUT", "/api/v2/settings/analytics", `{"language":"en-US"}`)
	if again := e.waitAnalysis("call1", version+2); again.Status != "done" || !slices.Equal(again.Categories, []string{"angry churn", "escalated at the end", "customer escalated"}) {
		t.Errorf("back to en-US: %+v", again)
	}
	waitJobDone(t, e, int64(r.json(t)["jobId"].(float64)))

	// Every change is in the audit trail.
	for _, action := range []string{"analytics.topic.put", "analytics.category.put", "settings.analytics"} {
		if len(e.auditOf(action)) == 0 {
			t.Errorf("no audit entry %s", action)
		}
	}

	// The analysis goes with the recording.
	if r := e.admin("DELETE", "/api/v2/recordings/call1", "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, e.admin("GET", "/api/v2/recordings/call1/analytics", "", nil), 404, "not_found")
	if got := e.searchIDs("topic=cancellation"); len(got) != 0 {
		t.Errorf("a deleted recording's topics still found: %q", got)
	}
}

// waitJobDone waits for a job to complete, with its progress full.
func waitJobDone(t *testing.T, e *env, id int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.admin("GET", fmt.Sprintf("/api/v2/jobs/%d", id), "", nil)
		m := r.json(t)
		if m["state"] == "completed" {
			if m["total"] == float64(0) || m["done"] != m["total"] || !strings.Contains(fmt.Sprint(m["summary"]), "recordings analysed") {
				t.Errorf("job %d completed with progress %v of %v (%v)", id, m["done"], m["total"], m["summary"])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d: %s", id, r.body)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestAnalysisGivesUp: a voice file the server cannot open (encrypted for
// a certificate it has no key of) fails each attempt; after the last one
// the recording's analysis says failed, not pending for ever.
func TestAnalysisGivesUp(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	foreign, _ := guideCert(t, t.TempDir(), "foreign", 2048)
	enc := encryptStream(t, foreign, sampleCall(t)[:20000])
	if r := e.admin("PUT", "/api/v2/recordings/lost/media/lost.mp3", "application/pkcs7-mime", bytes.NewReader(enc), "X-Media-Type", "audio/mp3"); r.status != 201 {
		t.Fatalf("pre-encrypted upload: %d %s", r.status, r.body)
	}
	start := e.clock().Add(-time.Hour)
	doc := fmt.Sprintf(`{"id":"lost","startTime":%q,"stopTime":%q}`, start.Format(time.RFC3339), start.Add(time.Minute).Format(time.RFC3339))
	if r := e.postJSON("PUT", "/api/v2/recordings/lost", doc); r.status != 200 {
		t.Fatalf("metadata: %d %s", r.status, r.body)
	}
	args, _ := json.Marshal(service.AnalyzeArgs{Tenant: "acme", RecordingID: "lost"})
	for attempt := 1; attempt <= 5; attempt++ {
		err := e.srv.Svc.Work(context.Background(), service.JobRun{ID: 1, Kind: service.KindAnalyze, Args: args, Attempt: attempt})
		if err == nil {
			t.Fatalf("attempt %d succeeded on a file the server cannot open", attempt)
		}
		a, _ := e.analysis("lost", "")
		if want := map[bool]string{true: "failed", false: "pending"}[attempt == 5]; a.Status != want {
			t.Errorf("after attempt %d: %q, want %q", attempt, a.Status, want)
		}
	}
	a, _ := e.analysis("lost", "")
	if !strings.Contains(a.Error, "failed 5 times") {
		t.Errorf("error %q", a.Error)
	}
}
