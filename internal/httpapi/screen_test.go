package httpapi_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"callvault/internal/certs"
	"callvault/internal/cms"
	"callvault/internal/ffmpeg"
	"callvault/internal/samples"
)

const agentPassword = "agent ann's password"

// screenVideo makes a fragmented MP4 of seconds of moving test pattern
// (H.264, 5 fps, 1 s fragments), as srs's capture writes it.
func screenVideo(t *testing.T, seconds int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
		fmt.Sprintf("testsrc2=size=320x240:rate=5:duration=%d", seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10",
		"-movflags", "+empty_moov+default_base_moof", "-frag_duration", "1000000", "-f", "mp4", "pipe:1").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	return out
}

// encryptStream encrypts b for the certificate file as srs does: the
// indefinite-length form, flushed as it goes.
func encryptStream(t *testing.T, certPath string, b []byte) []byte {
	t.Helper()
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certs.ParseCertificatePEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := cms.NewStreamWriter(&buf, []*x509.Certificate{cert}, cms.Options{Cipher: cms.AES128CBC})
	if err != nil {
		t.Fatal(err)
	}
	for len(b) > 0 {
		n := min(len(b), 7000)
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type commandsPage struct {
	Commands []struct {
		Seq                                   int64
		Command, RecordingID, MediaID, Issued string
	}
	Seq int64
}

func (e *env) agent(method, path, contentType string, body []byte, header ...string) resp {
	e.t.Helper()
	var r *bytes.Reader
	if body != nil {
		r = bytes.NewReader(body)
	} else {
		r = bytes.NewReader(nil)
	}
	return e.do(method, path, "ann@acme", agentPassword, contentType, r, header...)
}

func (e *env) poll(query string) commandsPage {
	e.t.Helper()
	r := e.agent("GET", "/api/v2/me/screen-recording/commands"+query, "", nil)
	if r.status != 200 {
		e.t.Fatalf("commands%s: %d %s", query, r.status, r.body)
	}
	var page commandsPage
	if err := json.Unmarshal(r.body, &page); err != nil {
		e.t.Fatal(err)
	}
	return page
}

func (e *env) callMetadata(id string, start, stop time.Time, agentJoined bool) {
	e.t.Helper()
	doc := map[string]any{"id": id, "startTime": start.Format(time.RFC3339Nano), "callerPhoneNumber": "+15551230000"}
	if !stop.IsZero() {
		doc["stopTime"] = stop.Format(time.RFC3339Nano)
	}
	if agentJoined {
		doc["eventHistory"] = []any{map[string]any{"occurredAt": start.Format(time.RFC3339Nano), "event": "Joined", "calluuid": id,
			"contact": map[string]any{"type": "User", "userName": "ann", "firstName": "Ann", "lastName": "Agent"}}}
	}
	body, _ := json.Marshal(doc)
	if r := e.admin("PUT", "/api/v2/recordings/"+id, "application/json", bytes.NewReader(body)); r.status != 200 {
		e.t.Fatalf("metadata %s: %d %s", id, r.status, r.body)
	}
}

// TestScreenRecordingServer: the server's side of screen recording with
// the agent's srs played by the test: a call in progress for a present
// agent starts a capture on the command channel; the agent may store only
// that file and its entry; a cut-short upload keeps its complete part
// (and its retry is a no-op); the call's stop stops it; the mux job
// replaces the screen file by one with the call audio; an absent agent
// or recordingWhen off starts nothing; every step is in the audit trail.
func TestScreenRecordingServer(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	screenCert, screenKey := guideCert(t, t.TempDir(), "screen", 2048)
	if r := e.uploadCert(screenCert, screenKey, map[string]string{"assign": "screen"}); r.status != 201 {
		t.Fatalf("screen certificate: %d %s", r.status, r.body)
	}
	e.createUser(`{"userName":"ann","password":"` + agentPassword + `","roles":["agent"],"firstName":"Ann","lastName":"Agent"}`)
	e.runJobs()

	settings := e.agent("GET", "/api/v2/me/settings/screen-recording", "", nil).json(t)
	if settings["recordingWhen"] != "voice" || len(settings["certificates"].([]any)) != 1 || settings["frameRate"] != float64(5) {
		t.Fatalf("settings: %v", settings)
	}
	// srs starts: nothing to do yet; it is now present.
	first := e.poll("")
	if len(first.Commands) != 0 {
		t.Fatalf("first poll: %+v", first)
	}

	start := e.clock().Add(-10 * time.Second)
	e.callMetadata("call1", start, time.Time{}, true)
	page := e.poll(fmt.Sprintf("?after=%d&wait=5", first.Seq))
	if len(page.Commands) != 1 || page.Commands[0].Command != "start" || page.Commands[0].RecordingID != "call1" {
		t.Fatalf("after the call started: %+v", page)
	}
	mediaID := page.Commands[0].MediaID
	if !strings.HasPrefix(mediaID, "call1_") {
		t.Fatalf("screen media id %q", mediaID)
	}
	// srs restarting mid-call answers the state at once: a new capture,
	// the one it lost being closed.
	again := e.poll("")
	if len(again.Commands) != 1 || again.Commands[0].Command != "start" || again.Commands[0].MediaID == mediaID {
		t.Fatalf("state after a restart: %+v (first capture %s)", again, mediaID)
	}
	lost := mediaID
	mediaID = again.Commands[0].MediaID

	// The agent may store only the file asked of it.
	video := screenVideo(t, 6)
	enc := encryptStream(t, screenCert, video)
	wantError(t, e.agent("PUT", "/api/v2/recordings/call1/media/other.mp4", "application/pkcs7-mime", enc, "X-Media-Type", "video/mp4"), 403, "forbidden")
	wantError(t, e.agent("PUT", "/api/v2/recordings/call1", "application/json", []byte(`{"stopTime":"2020-01-01T00:00:00Z"}`)), 403, "forbidden")
	// Nor widen who sees the call through its entry.
	for _, bad := range []string{
		`{"mediaFiles":[{"mediaId":%q,"type":"video/mp4","accessgroups":["/"]}]}`,
		`{"mediaFiles":[{"mediaId":%q,"type":"video/mp4","partitions":["sales"]}]}`,
		`{"mediaFiles":[{"mediaId":%q,"type":"video/mp4","parameters":{"username":"bob"}}]}`,
		`{"mediaFiles":[{"mediaId":%q,"type":"video/mp4","parameters":{"contact":{"userName":"bob"}}}]}`,
		`{"mediaFiles":[{"mediaId":%q,"type":"audio/mp3"}]}`,
	} {
		r := e.agent("PUT", "/api/v2/recordings/call1", "application/json", []byte(fmt.Sprintf(bad, mediaID)))
		if r.status != 403 && r.status != 400 {
			t.Fatalf("agent's entry %s: %d %s", bad, r.status, r.body)
		}
	}

	// The first capture was cut short by the crash: its complete part is kept.
	cut := enc[:len(enc)*6/10]
	r := e.agent("PUT", "/api/v2/recordings/call1/media/"+url.PathEscape(lost), "application/pkcs7-mime", cut, "X-Media-Type", "video/mp4", "X-Media-Truncated", "true")
	if r.status != 201 {
		t.Fatalf("truncated upload: %d %s", r.status, r.body)
	}
	salvaged := e.play("call1", lost)
	if len(salvaged) == 0 || len(salvaged) >= len(video) || !bytes.Equal(salvaged, video[:len(salvaged)]) {
		t.Fatalf("salvaged %d bytes of %d: not a proper prefix", len(salvaged), len(video))
	}
	probe, err := ffmpeg.Probe(context.Background(), bytes.NewReader(salvaged))
	if err != nil || probe.Duration < time.Second {
		t.Fatalf("the salvaged part does not decode: %+v, %v", probe, err)
	}
	if r := e.agent("PUT", "/api/v2/recordings/call1/media/"+url.PathEscape(lost), "application/pkcs7-mime", cut, "X-Media-Type", "video/mp4", "X-Media-Truncated", "true"); r.status != 200 {
		t.Fatalf("retried truncated upload: %d %s", r.status, r.body)
	}

	if r := e.agent("PUT", "/api/v2/recordings/call1/media/"+url.PathEscape(mediaID), "application/pkcs7-mime", enc, "X-Media-Type", "video/mp4"); r.status != 201 {
		t.Fatalf("screen upload: %d %s", r.status, r.body)
	}
	entry := func(id string, from, to time.Time, masks ...any) []byte {
		b, _ := json.Marshal(map[string]any{"id": "call1", "mediaFiles": []any{map[string]any{
			"mediaId": id, "type": "video/mp4", "startTime": from.Format(time.RFC3339Nano), "stopTime": to.Format(time.RFC3339Nano),
			"parameters": map[string]any{"agentID": "ann", "virtualWidth": "320", "virtualHeight": "240", "contact": map[string]any{"userName": "ann"}},
			"masks":      masks,
		}}})
		return b
	}
	if r := e.agent("PUT", "/api/v2/recordings/call1", "application/json", entry(lost, start, start.Add(3*time.Second))); r.status != 200 {
		t.Fatalf("entry of the salvaged part: %d %s", r.status, r.body)
	}
	if r := e.agent("PUT", "/api/v2/recordings/call1", "application/json", entry(mediaID, start.Add(4*time.Second), start.Add(10*time.Second),
		map[string]any{"time": start.Add(5 * time.Second).Format(time.RFC3339Nano), "type": "pause"},
		map[string]any{"time": start.Add(6 * time.Second).Format(time.RFC3339Nano), "type": "resume"})); r.status != 200 {
		t.Fatalf("screen entry: %d %s", r.status, r.body)
	}

	// The call stops: srs is told; the audio comes; the mux job runs.
	e.callMetadata("call1", start, start.Add(10*time.Second), true)
	page = e.poll(fmt.Sprintf("?after=%d&wait=5", again.Seq))
	if len(page.Commands) != 1 || page.Commands[0].Command != "stop" || page.Commands[0].MediaID != mediaID {
		t.Fatalf("after the call stopped: %+v", page)
	}
	audio := samples.Recordings()[0].Media[0].Data
	if r := e.admin("PUT", "/api/v2/recordings/call1/media/call1.mp3", "audio/mp3", bytes.NewReader(audio)); r.status != 201 {
		t.Fatalf("audio: %d %s", r.status, r.body)
	}
	audioEntry, _ := json.Marshal(map[string]any{"mediaFiles": []any{map[string]any{"mediaId": "call1.mp3", "type": "audio/mp3",
		"startTime": start.Format(time.RFC3339Nano), "stopTime": start.Add(10 * time.Second).Format(time.RFC3339Nano), "channels": 2}}})
	if r := e.admin("PUT", "/api/v2/recordings/call1", "application/json", bytes.NewReader(audioEntry)); r.status != 200 {
		t.Fatalf("audio entry: %d %s", r.status, r.body)
	}
	var rec struct {
		MediaFiles []struct {
			MediaID    string
			Type       string
			Parameters map[string]any
			Masks      []map[string]any
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.admin("GET", "/api/v2/recordings/call1", "", nil)
		rec.MediaFiles = nil
		if err := json.Unmarshal(r.body, &rec); err != nil {
			t.Fatal(err)
		}
		muxed := 0
		for _, m := range rec.MediaFiles {
			if m.Parameters["muxed_mediaIds"] != nil {
				muxed++
			}
		}
		if muxed == 2 && len(rec.MediaFiles) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not muxed after 60 s: %s", r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, m := range rec.MediaFiles {
		if m.Type == "audio/mp3" {
			continue
		}
		sources, _ := m.Parameters["muxed_mediaIds"].([]any)
		if len(sources) != 2 || sources[1] != "call1.mp3" || !strings.HasSuffix(m.MediaID, "_"+sources[0].(string)) {
			t.Fatalf("muxed entry %s: sources %v", m.MediaID, sources)
		}
		if sources[0] == mediaID && len(m.Masks) != 2 {
			t.Fatalf("muxed entry lost the masks: %+v", m)
		}
		probe, err := ffmpeg.Probe(context.Background(), bytes.NewReader(e.play("call1", m.MediaID)))
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, s := range probe.Streams {
			kinds = append(kinds, s.CodecName)
		}
		if !strings.Contains(strings.Join(kinds, ","), "h264") || !strings.Contains(strings.Join(kinds, ","), "aac") {
			t.Fatalf("muxed %s has streams %v, want h264 and aac", m.MediaID, kinds)
		}
	}
	// srs retrying the screen upload after the mux: a no-op.
	if r := e.agent("PUT", "/api/v2/recordings/call1/media/"+url.PathEscape(mediaID), "application/pkcs7-mime", enc, "X-Media-Type", "video/mp4"); r.status != 200 {
		t.Fatalf("screen upload after the mux: %d %s", r.status, r.body)
	}

	// An agent whose srs stopped polling gets no capture.
	e.advance(2 * time.Minute)
	e.callMetadata("call2", e.clock(), time.Time{}, true)
	if r := e.admin("GET", "/api/v2/recordings/call2/screen", "", nil).json(t); len(r["captures"].([]any)) != 0 {
		t.Fatalf("capture for an absent agent: %v", r)
	}
	// recordingWhen off: none either, even when present.
	if r := e.admin("PUT", "/api/v2/settings/screen-recording", "application/json", strings.NewReader(`{"recordingWhen":"off"}`)); r.status != 200 {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
	wantError(t, e.admin("PUT", "/api/v2/settings/screen-recording", "application/json", strings.NewReader(`{"recordingWhen":"always"}`)), 400, "invalid")
	e.poll("?after=0&wait=0")
	e.callMetadata("call3", e.clock(), time.Time{}, true)
	if r := e.admin("GET", "/api/v2/recordings/call3/screen", "", nil).json(t); len(r["captures"].([]any)) != 0 {
		t.Fatalf("capture with recordingWhen off: %v", r)
	}
	wantError(t, e.admin("POST", "/api/v2/recordings/call3/screen/start", "", nil), 409, "conflict")

	for _, action := range []string{"screen.start", "media.mux", "settings.screen"} {
		if len(e.auditOf(action)) == 0 {
			t.Errorf("no %s in the audit trail", action)
		}
	}
}
