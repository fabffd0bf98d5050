package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"callvault/internal/samples"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// ingestScreen stores a recording of the call audio (the guide sample's
// MP3, a.mp3) and the given videos, with metadata whose mediaFiles are
// the audio's entry and extra (video entries); times are RFC 3339.
func (e *env) ingestScreen(id string, start, stop time.Time, videos map[string][]byte, extra ...map[string]any) {
	e.t.Helper()
	ctx := context.Background()
	audio := samples.Recordings()[0].Media[0]
	put := func(mediaID, typ string, data []byte) {
		if _, err := e.srv.Svc.PutMedia(ctx, e.admin, service.PutMediaInput{RecordingID: id, MediaID: mediaID,
			ContentType: typ, Size: int64(len(data)), Body: bytes.NewReader(data)}); err != nil {
			e.t.Fatal(err)
		}
	}
	put("a.mp3", audio.Type, audio.Data)
	for mediaID, data := range videos {
		put(mediaID, "video/mp4", data)
	}
	media := append([]map[string]any{{"mediaId": "a.mp3", "type": "audio/mp3", "startTime": start.Format(time.RFC3339Nano), "stopTime": stop.Format(time.RFC3339Nano)}}, extra...)
	doc, _ := json.Marshal(map[string]any{"id": id, "callerPhoneNumber": "+15550001", "dialedPhoneNumber": "+15550002",
		"startTime": start.Format(time.RFC3339Nano), "stopTime": stop.Format(time.RFC3339Nano), "mediaFiles": media})
	if _, _, err := e.srv.Svc.PutMetadata(ctx, e.admin, id, doc); err != nil {
		e.t.Fatal(err)
	}
}

// masks builds the guide's masks list from offsets after start.
func masks(start time.Time, marks ...any) []map[string]string {
	var out []map[string]string
	for i := 0; i+1 < len(marks); i += 2 {
		out = append(out, map[string]string{"time": start.Add(marks[i].(time.Duration)).Format(time.RFC3339Nano), "type": marks[i+1].(string)})
	}
	return out
}

func TestScreenRecordingPage(t *testing.T) {
	e := newEnv(t).withVoiceCert()
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	screenStart := t0.Add(10 * time.Second) // the video: 40 s, from 0:10 of the call
	mp4 := samples.Recordings()[0].Media[1].Data
	e.ingestScreen("scr-call", t0, t0.Add(time.Minute), map[string][]byte{"muxed": mp4, "pending": mp4},
		map[string]any{"mediaId": "muxed", "type": "video/mp4",
			"startTime": screenStart.Format(time.RFC3339Nano), "stopTime": screenStart.Add(40 * time.Second).Format(time.RFC3339Nano),
			"parameters": map[string]any{"muxed_mediaIds": []string{"screen-1", "a.mp3"}},
			"masks": masks(screenStart,
				-5*time.Second, "pause", 2*time.Second, "resume", // began before the video: from 0:00
				12*time.Second, "pause", 20*time.Second, "resume",
				35*time.Second, "pause", 70*time.Second, "resume"), // ends after it: clamped
		},
		map[string]any{"mediaId": "pending", "type": "video/mp4",
			"startTime": t0.Format(time.RFC3339Nano), "stopTime": t0.Add(time.Minute).Format(time.RFC3339Nano),
			"masks": masks(t0,
				3*time.Second, "resume", // no pause before it: nothing
				50*time.Second, "pause", 55*time.Second, "pause"), // never resumed: to the end
		})
	c := e.login("admin@acme", adminPassword)
	r := c.get("/recordings/scr-call")
	wantStatus(t, r, 200,
		"Screen recording with the call&#39;s sound", "This video includes the call audio (muxed from screen-1, a.mp3).",
		"Muxing pending: the call audio will be added to this video.", "Call audio", `class="player call-audio"`)
	// Offsets from the entry's startTime, clamped to its duration.
	for _, want := range []string{
		`data-duration="40.000"`, `data-start="0.000" data-end="2.000" title="masked 0:00–0:02"`,
		`data-start="12.000" data-end="20.000" title="masked 0:12–0:20"`, `data-start="35.000" data-end="40.000" title="masked 0:35–0:40"`,
		`href="` + playURL("scr-call", "muxed") + `#t=12.000,20.000" data-start="12.000">masked 0:12–0:20</a>`,
		// The pending video: one mask, from the first pause to the end.
		`data-duration="60.000"`, `data-start="50.000" data-end="60.000" data-to-end title="masked 0:50–1:00"`,
		`href="` + playURL("scr-call", "pending") + `#t=50.000" data-start="50.000">masked 0:50–1:00</a>`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if n := strings.Count(r.body, `class="mask"`); n != 4 {
		t.Errorf("%d masked periods drawn, want 4", n)
	}
	if t.Failed() {
		i := strings.Index(r.body, `id="media-h`)
		t.Fatalf("media section: %s", r.body[max(i, 0):min(len(r.body), max(i, 0)+6000)])
	}
}

func TestScreenRecordingWhen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.login("admin@acme", adminPassword)
	when := func() string {
		ss, err := e.srv.Svc.ScreenSettings(ctx, e.admin)
		if err != nil {
			t.Fatal(err)
		}
		return ss.RecordingWhen
	}
	wantStatus(t, c.get("/admin/screen-certificates"), 200, `value="voice" id="recordingWhen-voice" checked`,
		"When the recordingWhen parameter is not set to off, the screens will also be recorded when the Screen Recording Service is running")
	// Add or Remove keeps the choice unsaved; Cancel drops it.
	r := c.post("/admin/screen-certificates", url.Values{"op": {"remove"}, "recordingWhen": {"off"}}, true)
	wantStatus(t, r, 200, `id="unsaved"`, `value="off" id="recordingWhen-off" checked`)
	if r := c.post("/admin/screen-certificates", url.Values{"op": {"cancel"}, "recordingWhen": {"off"}}, true); r.status != http.StatusSeeOther || when() != vault.ScreenWhenVoice {
		t.Fatalf("Cancel: %d, recordingWhen %s", r.status, when())
	}
	wantStatus(t, c.post("/admin/screen-certificates", url.Values{"op": {"save"}, "recordingWhen": {"always"}}, true), 400, "recordingWhen: always")
	if r := c.post("/admin/screen-certificates", url.Values{"op": {"save"}, "recordingWhen": {"off"}}, true); r.status != http.StatusSeeOther {
		t.Fatalf("Save: %d %s", r.status, r.body)
	}
	if got := when(); got != vault.ScreenWhenOff {
		t.Fatalf("recordingWhen %q after Save, want off", got)
	}
	wantStatus(t, c.get("/admin/screen-certificates?done=saved"), 200, "Saved.", `value="off" id="recordingWhen-off" checked`)
	page, err := e.srv.Svc.Audit(ctx, e.admin, vault.AuditFilter{Action: "settings.screen"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 {
		t.Fatalf("%d settings.screen audit entries, want 1 (the refused and cancelled saves change nothing)", len(page.Entries))
	}
	a := page.Entries[0]
	var details struct{ From, To vault.ScreenSettings }
	if err := json.Unmarshal(a.Details, &details); err != nil || a.User != "admin" || a.Outcome != vault.OutcomeOK ||
		details.From.RecordingWhen != "voice" || details.To.RecordingWhen != "off" {
		t.Fatalf("audit entry: %+v (%s) %v", a, a.Details, err)
	}
}
