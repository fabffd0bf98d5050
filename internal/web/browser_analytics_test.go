package web_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callvault/internal/vault"
)

// TestBrowserAnalytics: a recording with a stored stereo analysis draws
// its waveform from the peaks with a marker per event (the player's
// shadow DOM styled, so the CSP nonce works); a click on the topic's
// marker, or on an event of the list, seeks the audio to the event's
// start; the topics page names an unknown word while one types.
func TestBrowserAnalytics(t *testing.T) {
	e := newEnv(t).withVoiceCert()
	ctx0 := context.Background()
	if _, err := e.srv.Svc.PutTopic(ctx0, e.admin, "", vault.Topic{Name: "Billing", Phrases: []vault.Phrase{{Text: "my invoice"}, {Text: "billing problem"}},
		Speaker: vault.SpeakerAny}, false, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Svc.PutCategory(ctx0, e.admin, "", vault.Category{Name: "Complaint", All: []string{"Billing"}, MinOccurrences: 1}, true); err != nil {
		t.Fatal(err)
	}
	start := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute)
	e.ingestAudio("an-call", start, "+15550100")
	e.putAnalysis(stereoAnalysis("an-call"))
	// More calls for the trends chart.
	for i, day := range []int{-6, -5, -5, -3, -1} {
		id := "trend-" + string(rune('a'+i))
		e.putRecording(id, time.Now().UTC().AddDate(0, 0, day))
		e.putAnalysis(vault.Analysis{RecordingID: id, Events: topicEvents("Billing", 1+i%2), Categories: []string{"Complaint"}[:i%2]})
	}

	ctx := newBrowser(t)
	base := e.http.URL
	run(t, ctx, "log in and open the recording",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin@acme"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("login-form")),
		chromedp.WaitVisible(chromedp.ID("search-form")),
		chromedp.Navigate(base+"/recordings/an-call"),
		chromedp.WaitVisible(chromedp.ID("analysis-events")),
	)
	get(t, ctx, "waveform ready", chromedp.Poll[bool](`document.getElementById("waveform").dataset.ready === "1" &&
		document.querySelector("#waveform .wave > div").shadowRoot.querySelectorAll('[part~="region"]').length === 3`,
		chromedp.WithPollingTimeout(20*time.Second)))
	type drawn struct {
		Canvases, Progress string
		Types              []string
		TopicLeft, Width   float64
		TopicTop, Lane     float64
		Label              string
	}
	d := get(t, ctx, "the waveform", chromedp.Evaluate[drawn](`(() => {
		const root = document.querySelector("#waveform .wave > div").shadowRoot;
		const wrapper = root.querySelector('[part="wrapper"]').getBoundingClientRect();
		const topic = root.querySelector('[part~="ev-0"]').getBoundingClientRect();
		return {
			Canvases: String(root.querySelectorAll("canvas").length),
			// Set by wavesurfer's <style>: without the nonce the CSP blocks it.
			Progress: getComputedStyle(root.querySelector('[part="progress"]')).position,
			Types: [...root.querySelectorAll('[part~="region"]')].map(r => r.dataset.type),
			TopicLeft: (topic.left - wrapper.left) / wrapper.width, Width: topic.width / wrapper.width,
			TopicTop: (topic.top - wrapper.top) / wrapper.height, Lane: topic.height / wrapper.height,
			Label: root.querySelector('[part~="ev-0"] [part="region-content"]').textContent,
		};
	})()`))
	if d.Progress != "absolute" || d.Canvases == "0" || strings.Join(d.Types, ",") != "topic,silence,crosstalk" || d.Label != "Billing" {
		t.Fatalf("waveform: %+v", d)
	}
	// The topic (4.0–5.2 s of 23.688 s) on the agent's lane, the upper half.
	if math.Abs(d.TopicLeft-4.0/23.688) > 0.02 || math.Abs(d.Width-1.2/23.688) > 0.02 || d.TopicTop > 0.05 || math.Abs(d.Lane-0.5) > 0.05 {
		t.Fatalf("topic marker at %.3f, %.3f wide, top %.2f, %.2f high", d.TopicLeft, d.Width, d.TopicTop, d.Lane)
	}
	if legend := get(t, ctx, "legend", chromedp.Text(chromedp.ID("waveform-legend"))); !strings.Contains(legend, "Agent (Left channel)") ||
		!strings.Contains(legend, "Cross-talk") {
		t.Fatalf("legend %q", legend)
	}
	screenshot(t, ctx, "recording-analytics")

	get(t, ctx, "audio metadata", chromedp.Poll[bool](`document.getElementById("audio-0").readyState >= 1`, chromedp.WithPollingTimeout(20*time.Second)))
	type point struct{ X, Y float64 }
	at := get(t, ctx, "topic marker position", chromedp.Evaluate[point](`(() => {
		const r = document.querySelector("#waveform .wave > div").shadowRoot.querySelector('[part~="ev-0"]').getBoundingClientRect();
		return {X: r.left + r.width / 2, Y: r.top + r.height - 4};
	})()`))
	seeked := func(what string, want float64) {
		t.Helper()
		got := get(t, ctx, what, chromedp.Poll[float64](`(() => { const a = document.getElementById("audio-0"); return !a.seeking && a.currentTime > 0 ? a.currentTime : 0; })()`,
			chromedp.WithPollingTimeout(20*time.Second)))
		if math.Abs(got-want) > 0.3 {
			t.Fatalf("%s: currentTime %.2f s, want %.1f", what, got, want)
		}
	}
	run(t, ctx, "click the topic marker", chromedp.MouseClickXY(at.X, at.Y))
	seeked("after the marker's click", 4.0)
	run(t, ctx, "click the silence in the list",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("audio-0").currentTime = 0`),
		chromedp.Click(chromedp.CSS(`#analysis-events a[data-event="1"]`)))
	seeked("after the list's click", 10.0)
	if path := get(t, ctx, "still on the page", chromedp.Evaluate[string](`location.pathname`)); path != "/recordings/an-call" {
		t.Fatalf("the event link navigated to %s", path)
	}

	// The topics page checks the phrases while one types.
	run(t, ctx, "type an unknown word",
		chromedp.Navigate(base+"/analytics/topics"),
		chromedp.WaitVisible(chromedp.ID("topic-form")),
		chromedp.SendKeys(chromedp.ID("t-name"), "Refunds"),
		chromedp.SendKeys(chromedp.ID("t-phrases"), "give me a refund\nmy qwzxv back"),
		chromedp.WaitVisible(chromedp.ID("topic-check-error")),
	)
	if msg := get(t, ctx, "check error", chromedp.Text(chromedp.ID("topic-check-error"))); !strings.Contains(msg, `the word "qwzxv" is not in the recogniser's dictionary`) {
		t.Fatalf("as-you-type check: %q", msg)
	}
	screenshot(t, ctx, "topics")
	// Fixed, the check passes, and the topic saves.
	run(t, ctx, "fix the word",
		chromedp.SetValue(chromedp.ID("t-phrases"), "give me a refund\nmy money back"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("t-phrases").dispatchEvent(new Event("input"))`),
		chromedp.WaitVisible(chromedp.CSS("#topic-check .ok")),
		chromedp.Click(chromedp.ID("topic-save")),
		chromedp.WaitVisible(chromedp.ID("reanalysis-link")),
	)
	if n := len(e.analyticsConfig().Topics); n != 2 {
		t.Fatalf("%d topics after the save", n)
	}

	run(t, ctx, "categories", chromedp.Navigate(base+"/analytics/categories"), chromedp.WaitVisible(chromedp.ID("categories")))
	screenshot(t, ctx, "categories")
	run(t, ctx, "trends", chromedp.Navigate(base+"/analytics/trends"), chromedp.WaitVisible(chromedp.CSS("#trends-chart canvas")))
	if n := get(t, ctx, "chart legend", chromedp.Evaluate[int](`document.querySelectorAll("#trends-chart .u-legend .u-series").length`)); n != 3 {
		t.Fatalf("chart legend has %d series, want the x axis, Billing and Complaint", n)
	}
	screenshot(t, ctx, "trends")
}
