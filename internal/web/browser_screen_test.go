package web_test

import (
	"context"
	"math"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"callvault/internal/vault"
)

// TestBrowserScreenRecording: a muxed screen recording's page draws its
// masked period where it falls on the bar, a click there seeks the video,
// the call audio keeps its own player; recordingWhen is saved from the
// Screen Recording Certificates page.
func TestBrowserScreenRecording(t *testing.T) {
	e := newEnv(t).withVoiceCert()
	// A real 6 s MP4 with sound, fragmented as srs and the muxing write it.
	mp4, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=5", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000",
		"-t", "6", "-c:v", "libx264", "-c:a", "aac", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", "pipe:1").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	t0 := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	e.ingestScreen("screen-call", t0, t0.Add(6*time.Second), map[string][]byte{"muxed.mp4": mp4},
		map[string]any{"mediaId": "muxed.mp4", "type": "video/mp4",
			"startTime": t0.Format(time.RFC3339Nano), "stopTime": t0.Add(6 * time.Second).Format(time.RFC3339Nano),
			"parameters": map[string]any{"muxed_mediaIds": []string{"screen.mp4", "a.mp3"}},
			"masks":      masks(t0, 2*time.Second, "pause", 3*time.Second, "resume")})

	ctx := newBrowser(t)
	base := e.http.URL
	run(t, ctx, "log in and open the recording",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("user")),
		chromedp.SendKeys(chromedp.ID("user"), "admin@acme"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("login-form")),
		chromedp.WaitVisible(chromedp.ID("search-form")),
		chromedp.Navigate(base+"/recordings/screen-call"),
		chromedp.WaitVisible(chromedp.CSS(".screen-timeline .mask")),
	)
	type drawn struct{ Left, Width, Audios float64 }
	d := get(t, ctx, "the masked period", chromedp.Evaluate[drawn](`(() => {
		const bar = document.querySelector(".screen-timeline .bar").getBoundingClientRect();
		const m = document.querySelector(".screen-timeline .mask").getBoundingClientRect();
		return {Left: (m.left - bar.left) / bar.width, Width: m.width / bar.width,
			Audios: document.querySelectorAll('audio.call-audio[src$="/play/a.mp3"]').length};
	})()`))
	if math.Abs(d.Left-2.0/6) > 0.02 || math.Abs(d.Width-1.0/6) > 0.02 || d.Audios != 1 {
		t.Fatalf("masked period drawn at %.3f, %.3f wide (want 0.333, 0.167); %v call audio players", d.Left, d.Width, d.Audios)
	}
	get(t, ctx, "video metadata", chromedp.Poll[bool](`document.querySelector("video").readyState >= 1`, chromedp.WithPollingTimeout(20*time.Second)))
	run(t, ctx, "click the masked period", chromedp.Click(chromedp.CSS(".screen-timeline .mask")))
	at := get(t, ctx, "seeked", chromedp.Poll[float64](`(() => { const v = document.querySelector("video"); return !v.seeking && v.currentTime > 0 ? v.currentTime : 0; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	head := get(t, ctx, "playhead", chromedp.Evaluate[float64](`(() => {
		const bar = document.querySelector(".screen-timeline .bar").getBoundingClientRect();
		return (document.querySelector(".screen-timeline .playhead").getBoundingClientRect().left + 1 - bar.left) / bar.width;
	})()`))
	if math.Abs(at-2) > 0.1 || math.Abs(head-2.0/6) > 0.02 {
		t.Fatalf("after the click: currentTime %.2f s (want 2), playhead at %.3f of the bar", at, head)
	}
	screenshot(t, ctx, "recording-screen")

	// recordingWhen: Off, saved with Save, kept on reload.
	run(t, ctx, "turn screen recording off",
		chromedp.Navigate(base+"/admin/screen-certificates"),
		chromedp.WaitVisible(chromedp.ID("recording-when")),
		chromedp.Click(chromedp.ID("recordingWhen-off")),
		chromedp.Click(chromedp.ID("screen-save")),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("recording-when")),
	)
	if off := get(t, ctx, "recordingWhen", chromedp.Evaluate[bool](`document.getElementById("recordingWhen-off").checked`)); !off {
		t.Fatal("recordingWhen off not kept after a reload")
	}
	if ss, err := e.srv.Svc.ScreenSettings(context.Background(), e.admin); err != nil || ss.RecordingWhen != vault.ScreenWhenOff {
		t.Fatalf("stored: %+v %v", ss, err)
	}
}
