package srs

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRealScreenCapture records an X screen (two monitors side by side)
// with the real ffmpeg capturer: masks switch ffmpeg's black-out, the
// upload decrypts with openssl into H.264 of the planned size, and the
// entry tells the layout.
func TestRealScreenCapture(t *testing.T) {
	dir := t.TempDir()
	certPEM, certPath, keyPath := testCert(t, dir, "screen1")
	ts := startSRS(t, srsSetup{
		configJSON: `{"name":"maxWidth","value":320},{"name":"preLoadVlc","value":true}`,
	})
	ts.api.setSettings(ScreenSettings{RecordingWhen: "voice", FrameRate: 5, MaxWidth: 1920, Certificates: []ScreenCertificate{{Alias: "screen1", Certificate: certPEM}}})
	ck := ts.loginAgent()
	ts.waitLog(20*time.Second, "Recorder: preLoadVlc: ready to capture 2 monitors at 320x90")
	ts.api.issue("start", "rec-real", "media-real")
	ts.waitState(20*time.Second, "recording")
	// At once: ffmpeg would drop a mask sent before its filter graph is
	// up, so srs waits for the capture's first bytes.
	if a := ts.call("POST", "/api/v2/me/recording/pause", "", "Cookie", ck); a.status != 200 {
		t.Fatalf("pause: %d %s", a.status, a.body)
	}
	time.Sleep(1500 * time.Millisecond)
	if a := ts.call("POST", "/api/v2/me/recording/resume", "", "Cookie", ck); a.status != 200 {
		t.Fatalf("resume: %d %s", a.status, a.body)
	}
	time.Sleep(1500 * time.Millisecond)
	ts.api.issue("stop", "rec-real", "media-real")
	ts.waitLog(30*time.Second, "Uploader: Upload of file was successful.")
	m := ts.api.storedMedia("media-real")
	cmsPath := filepath.Join(dir, "real.cms")
	if err := os.WriteFile(cmsPath, m.body, 0o600); err != nil {
		t.Fatal(err)
	}
	plain := decryptCMS(t, cmsPath, certPath, keyPath)
	checkVideo(t, plain)
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", plain).Output()
	if err != nil || strings.TrimSpace(string(out)) != "320,90" {
		t.Errorf("video size %q %v", out, err)
	}
	// The pause blacked the picture out for about 1.5 s.
	black, _ := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", plain, "-vf", "blackdetect=d=0.8:pix_th=0.05", "-an", "-f", "null", "-").CombinedOutput()
	if n := strings.Count(string(black), "black_start:"); n != 1 {
		t.Errorf("%d black periods, want 1:\n%s", n, black)
	}
	puts := ts.api.recordPuts("rec-real")
	if len(puts) != 1 {
		t.Fatalf("%d metadata puts", len(puts))
	}
	var rec struct {
		MediaFiles []MediaEntry `json:"mediaFiles"`
	}
	if err := json.Unmarshal(puts[0], &rec); err != nil {
		t.Fatal(err)
	}
	p := rec.MediaFiles[0].Parameters
	if p.VirtualWidth != "320" || p.VirtualHeight != "90" || p.OriginalVirtualWidth != "640" || p.OriginalVirtualHeight != "180" ||
		len(p.Monitors) != 2 || p.Monitors[0].OriginalPositions != "[0, 0, 320, 180]" || p.Monitors[1].ActualPositions != "[160, 0, 320, 90]" ||
		!p.Monitors[0].Primary || p.Monitors[1].Primary {
		t.Errorf("parameters %+v", p)
	}
	if masks := rec.MediaFiles[0].Masks; len(masks) != 2 || masks[0].Type != "pause" || masks[1].Type != "resume" {
		t.Errorf("masks %v", masks)
	}
}

// killableCapturer is the real capturer, keeping its captures so that a
// test can kill ffmpeg as a crash of it would.
type killableCapturer struct {
	Capturer
	mu    sync.Mutex
	procs []ffmpegProcess
}

func (k *killableCapturer) Start(ctx context.Context, req CaptureRequest, layout Layout) (CaptureProcess, error) {
	p, err := k.Capturer.Start(ctx, req, layout)
	if err == nil {
		k.mu.Lock()
		k.procs = append(k.procs, p.(ffmpegProcess))
		k.mu.Unlock()
	}
	return p, err
}

// TestCaptureDiesOnItsOwn: ffmpeg dies mid-call. What it wrote is queued
// and uploaded, and the server is told the capture stopped.
func TestCaptureDiesOnItsOwn(t *testing.T) {
	api := newAPIServer(t)
	capt := &killableCapturer{}
	ts := startSRS(t, srsSetup{api: api, opts: Options{Capturer: capt}, configHook: func(c *Config) { capt.Capturer = NewFFmpegCapturer(c) }})
	ts.loginAgent()
	api.issue("start", "rec-F", "media-F")
	ts.waitState(20*time.Second, "recording")
	waitFor(t, 20*time.Second, "video in the .part file", func() bool {
		info, err := os.Stat(filepath.Join(ts.cfg.UploadFolder, "media-F.mp4.part"))
		return err == nil && info.Size() > 2000
	})
	capt.mu.Lock()
	if err := capt.procs[0].c.Kill(); err != nil {
		t.Fatal(err)
	}
	capt.mu.Unlock()
	ts.waitLog(10*time.Second, "ERROR Recorder: stopped recording media-F: the capture ended on its own")
	ts.waitLog(20*time.Second, "Uploader: Upload of file was successful.")
	if !strings.Contains(ts.log(), "ERROR Recorder: ffmpeg: capture failed: signal: killed") {
		t.Errorf("ffmpeg's end not logged")
	}
	if stops := api.stopReports(); len(stops) != 1 || stops[0]["reason"] != ReasonCapture {
		t.Errorf("stop reports %v", stops)
	}
	if m := api.storedMedia("media-F"); m == nil || len(m.body) < 1000 {
		t.Errorf("media %v", m)
	}
}

func TestDummyRecording(t *testing.T) {
	ts := startSRS(t, srsSetup{configJSON: `{"name":"dummyRecordingDuration","value":2}`})
	ts.waitLog(20*time.Second, "INFO  DummyRecording: a test capture of 2s at 640x180 made ")
	if !strings.Contains(ts.log(), "; nothing was kept or uploaded") {
		t.Errorf("log:\n%s", ts.log())
	}
	entries, _ := os.ReadDir(ts.cfg.UploadFolder)
	if len(entries) != 1 {
		t.Errorf("the upload folder holds %v", entries)
	}
}

// TestCaptureGivesNothing: ffmpeg dies before its first byte. The server
// is told, and there is nothing to upload.
func TestCaptureGivesNothing(t *testing.T) {
	api := newAPIServer(t)
	capt := &killableCapturer{}
	ts := startSRS(t, srsSetup{api: api, opts: Options{Capturer: capt}, configHook: func(c *Config) { capt.Capturer = NewFFmpegCapturer(c) }})
	ts.loginAgent()
	api.issue("start", "rec-E", "media-E")
	ts.waitState(20*time.Second, "recording")
	capt.mu.Lock()
	_ = capt.procs[0].c.Kill()
	capt.mu.Unlock()
	ts.waitLog(20*time.Second, "WARN  Uploader: media-E holds no video (the capture gave nothing): not uploaded")
	if stops := api.stopReports(); len(stops) != 1 || stops[0]["reason"] != ReasonCapture {
		t.Errorf("stop reports %v", stops)
	}
	if _, _, puts := api.counts(); puts != 0 {
		t.Errorf("%d media puts", puts)
	}
	if items, _ := ts.svc.queue.List(); len(items) != 0 {
		t.Errorf("queue %v", items)
	}
}
