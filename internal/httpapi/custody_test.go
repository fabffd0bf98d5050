package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"callvault/internal/samples"
)

// mediaEntry returns the mediaFiles entry of mediaID in the record of id.
func (e *env) mediaEntry(id, mediaID string) map[string]any {
	e.t.Helper()
	r := e.admin("GET", "/api/v2/recordings/"+id, "", nil)
	if r.status != 200 {
		e.t.Fatalf("GET recording %s: %d %s", id, r.status, r.body)
	}
	var rec struct{ MediaFiles []map[string]any }
	if err := json.Unmarshal(r.body, &rec); err != nil {
		e.t.Fatal(err)
	}
	for _, m := range rec.MediaFiles {
		if m["mediaId"] == mediaID {
			return m
		}
	}
	e.t.Fatalf("recording %s has no media %s: %s", id, mediaID, r.body)
	return nil
}

func (e *env) play(id, mediaID string) []byte {
	e.t.Helper()
	r := e.admin("GET", "/api/v2/recordings/"+id+"/play/"+url.PathEscape(mediaID), "", nil)
	if r.status != 200 {
		e.t.Fatalf("play %s/%s: %d %s", id, mediaID, r.status, r.body)
	}
	return r.body
}

// TestStoredMediaAreImmutable: a second PUT of the same file is a no-op
// 200, of other bytes a 409 that leaves the stored file as it was; every
// media file carries the SHA-256 of its plaintext.
func TestStoredMediaAreImmutable(t *testing.T) {
	e := newEnv(t, 0)
	certPath, _ := e.setUpVoice()
	audio := samples.Recordings()[0].Media[0].Data
	const id = "R1"
	put := func(mediaID, contentType string, body []byte, header ...string) resp {
		return e.admin("PUT", "/api/v2/recordings/"+id+"/media/"+mediaID, contentType, bytes.NewReader(body), header...)
	}

	r := put("call.mp3", "audio/mp3", audio)
	if r.status != 201 {
		t.Fatalf("first upload: %d %s", r.status, r.body)
	}
	first := r.json(t)
	if first["contentSha256"] != sha(audio) {
		t.Fatalf("contentSha256 = %v, want the plaintext's %s", first["contentSha256"], sha(audio))
	}
	// A recorder's retry: the same bytes, nothing changes.
	r = put("call.mp3", "audio/mp3", audio)
	if r.status != 200 || r.json(t)["sha256"] != first["sha256"] {
		t.Fatalf("same bytes again: %d %s; want 200 and the stored sha256 %v", r.status, r.body, first["sha256"])
	}
	// Other bytes for the stored media id: refused, the stored file stays.
	forged := bytes.Clone(audio)
	forged[len(forged)/2] ^= 0xff
	wantError(t, put("call.mp3", "audio/mp3", forged), 409, "conflict")
	entry := e.mediaEntry(id, "call.mp3")
	if entry["sha256"] != first["sha256"] || entry["contentSha256"] != sha(audio) {
		t.Fatalf("after the refused replace the record says %v", entry)
	}
	if !bytes.Equal(e.play(id, "call.mp3"), audio) {
		t.Fatal("the stored file changed after a refused replace")
	}

	// Pre-encrypted uploads get their content hash by a decrypting pass.
	dir := t.TempDir()
	plainPath, cmsPath := filepath.Join(dir, "plain.mp3"), filepath.Join(dir, "pre.bin")
	os.WriteFile(plainPath, audio, 0o600)
	openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-stream", "-in", plainPath, "-out", cmsPath, certPath)
	pre, _ := os.ReadFile(cmsPath)
	r = put("pre.mp3", "application/pkcs7-mime", pre)
	if r.status != 201 || r.json(t)["sha256"] != sha(pre) || r.json(t)["contentSha256"] != sha(audio) {
		t.Fatalf("pre-encrypted: %d %s; want sha256 %s and contentSha256 %s", r.status, r.body, sha(pre), sha(audio))
	}
	if r = put("pre.mp3", "application/pkcs7-mime", pre); r.status != 200 {
		t.Fatalf("the same CMS file again: %d %s", r.status, r.body)
	}
	// The same plaintext wrapped anew is other bytes: refused.
	openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", plainPath, "-out", cmsPath, certPath)
	again, _ := os.ReadFile(cmsPath)
	wantError(t, put("pre.mp3", "application/pkcs7-mime", again), 409, "conflict")
	if e.mediaEntry(id, "pre.mp3")["sha256"] != sha(pre) {
		t.Fatal("the stored CMS file changed after a refused replace")
	}
	// A CMS file for the tenant's key that does not decrypt is refused
	// whole: nothing is stored under its id.
	wantError(t, put("cut.mp3", "application/pkcs7-mime", pre[:len(pre)-40]), 400, "invalid")
	r = e.admin("GET", "/api/v2/recordings/"+id, "", nil)
	if strings.Contains(string(r.body), "cut.mp3") {
		t.Fatalf("a refused upload left a media entry: %s", r.body)
	}
}

// TestMediaTypes: MP3 is stored as audio/mp3 however it is named, and a
// type a browser would run is never accepted, in clear or encrypted.
func TestMediaTypes(t *testing.T) {
	e := newEnv(t, 0)
	certPath, _ := e.setUpVoice()
	audio := samples.Recordings()[0].Media[0].Data
	r := e.admin("PUT", "/api/v2/recordings/R1/media/a.mp3", "audio/mpeg", bytes.NewReader(audio))
	if r.status != 201 || r.json(t)["type"] != "audio/mp3" {
		t.Fatalf("audio/mpeg upload: %d %s; want type audio/mp3", r.status, r.body)
	}
	// The recorder's metadata names it audio/mpeg too: the record and
	// search say audio/mp3, so rcbs's default pattern does not skip it.
	meta := `{"id":"R1","mediaFiles":[{"mediaId":"a.mp3","type":"audio/mpeg"},{"mediaId":"later.mp3","type":"audio/mpeg"}]}`
	if r := e.admin("PUT", "/api/v2/recordings/R1", "application/json", strings.NewReader(meta)); r.status != 200 {
		t.Fatalf("metadata: %d %s", r.status, r.body)
	}
	if got := e.mediaEntry("R1", "a.mp3")["type"]; got != "audio/mp3" {
		t.Errorf("stored media type in the record = %v, want audio/mp3", got)
	}
	if got := e.mediaEntry("R1", "later.mp3")["type"]; got != "audio/mp3" {
		t.Errorf("pending media type in the record = %v, want audio/mp3", got)
	}
	r = e.admin("GET", "/api/v2/recordings?mediaType=audio/mp3", "", nil)
	if !strings.Contains(string(r.body), `"R1"`) {
		t.Errorf("search mediaType=audio/mp3 misses R1: %s", r.body)
	}

	dir := t.TempDir()
	plainPath, cmsPath := filepath.Join(dir, "page.html"), filepath.Join(dir, "page.bin")
	os.WriteFile(plainPath, []byte("<script>alert(document.cookie)</script>"), 0o600)
	openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-in", plainPath, "-out", cmsPath, certPath)
	page, _ := os.ReadFile(cmsPath)
	for _, c := range []struct {
		name, contentType, mediaType string
		body                         []byte
	}{
		{"text/html in clear", "text/html", "", []byte("<script>1</script>")},
		{"image/svg+xml in clear", "image/svg+xml", "", []byte("<svg/>")},
		{"CMS saying text/html", "application/pkcs7-mime", "text/html", page},
		{"CMS saying application/xhtml+xml", "application/pkcs7-mime", "application/xhtml+xml; charset=utf-8", page},
		{"CMS of no known type", "application/pkcs7-mime", "", page},
	} {
		t.Run(c.name, func(t *testing.T) {
			var header []string
			if c.mediaType != "" {
				header = []string{"X-Media-Type", c.mediaType}
			}
			wantError(t, e.admin("PUT", "/api/v2/recordings/R2/media/page", c.contentType, bytes.NewReader(c.body), header...), 415, "unsupported")
		})
	}
	if r := e.admin("GET", "/api/v2/recordings/R2", "", nil); r.status != 404 {
		t.Fatalf("refused uploads left recording R2: %d %s", r.status, r.body)
	}
}

// TestHostileMediaIDs: names rcbs uses itself, Windows device names and
// ':' are refused as media ids, in the URL and in the metadata.
func TestHostileMediaIDs(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	audio := samples.Recordings()[0].Media[0].Data
	for _, mediaID := range []string{"R1.json", "r1.JSON", ".rcbs-verified.json", "call.mp3.partial", "CON", "nul.mp3", "COM1",
		"lpt9.txt", "a:b.mp3", "call.mp3.", "x*y", "a<b"} {
		t.Run(mediaID, func(t *testing.T) {
			wantError(t, e.admin("PUT", "/api/v2/recordings/R1/media/"+url.PathEscape(mediaID), "audio/mp3", bytes.NewReader(audio)), 400, "invalid")
			meta, _ := json.Marshal(map[string]any{"id": "R1", "mediaFiles": []map[string]any{{"mediaId": mediaID}}})
			wantError(t, e.admin("PUT", "/api/v2/recordings/R1", "application/json", bytes.NewReader(meta)), 400, "invalid")
		})
	}
	wantError(t, e.admin("PUT", "/api/v2/recordings/AUX/media/a.mp3", "audio/mp3", bytes.NewReader(audio)), 400, "invalid")
	long := strings.Repeat("x", 201)
	wantError(t, e.admin("PUT", "/api/v2/recordings/R1/media/"+long, "audio/mp3", bytes.NewReader(audio)), 400, "invalid")
	wantError(t, e.admin("PUT", "/api/v2/recordings/"+long+"/media/a.mp3", "audio/mp3", bytes.NewReader(audio)), 400, "invalid")
	if r := e.admin("GET", "/api/v2/recordings", "", nil); !strings.Contains(string(r.body), `"recordings":[]`) {
		t.Fatalf("refused ids left recordings: %s", r.body)
	}
}

// TestMediaIDsDifferingInCase: on Windows and macOS disks rcbs would
// write a.mp3 and A.mp3 to one file, so one recording cannot have both.
func TestMediaIDsDifferingInCase(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	audio := samples.Recordings()[0].Media[0].Data
	if r := e.admin("PUT", "/api/v2/recordings/R1/media/call.mp3", "audio/mp3", bytes.NewReader(audio)); r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	wantError(t, e.admin("PUT", "/api/v2/recordings/R1/media/CALL.mp3", "audio/mp3", bytes.NewReader(audio)), 400, "invalid")
	wantError(t, e.admin("PUT", "/api/v2/recordings/R1", "application/json",
		strings.NewReader(`{"id":"R1","mediaFiles":[{"mediaId":"Call.MP3"}]}`)), 400, "invalid")
	wantError(t, e.admin("PUT", "/api/v2/recordings/R2", "application/json",
		strings.NewReader(`{"id":"R2","mediaFiles":[{"mediaId":"x.mp4"},{"mediaId":"X.mp4"}]}`)), 400, "invalid")
	// Another recording may use the same name.
	if r := e.admin("PUT", "/api/v2/recordings/R3/media/CALL.mp3", "audio/mp3", bytes.NewReader(audio)); r.status != 201 {
		t.Fatalf("the same name in another recording: %d %s", r.status, r.body)
	}
}

// TestRecorderCannotMoveAStoppedCall: once a call's stop time is known, a
// recorder may add to its record but not move its times (which decide
// retention), parties or agents.
func TestRecorderCannotMoveAStoppedCall(t *testing.T) {
	e := newEnv(t, 0)
	r := e.admin("POST", "/api/v2/users", "application/json",
		strings.NewReader(`{"userName":"sip","password":"recorder-pass-1","roles":["recorder"]}`))
	if r.status != 201 {
		t.Fatalf("create recorder: %d %s", r.status, r.body)
	}
	recorder := func(body string) resp {
		return e.do("PUT", "/api/v2/recordings/R1", "sip@acme", "recorder-pass-1", "application/json", strings.NewReader(body))
	}
	// While the call runs, the recorder sends what it learns.
	if r := recorder(`{"id":"R1","startTime":"2024-03-01T10:00:00.000Z","callerPhoneNumber":"+14155550100"}`); r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	if r := recorder(`{"id":"R1","stopTime":"2024-03-01T10:05:00.000Z","dialedPhoneNumber":"+18005550199"}`); r.status != 200 {
		t.Fatalf("stop: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ name, body string }{
		{"stopTime to 1971", `{"id":"R1","stopTime":"1971-01-01T00:00:00.000Z"}`},
		{"startTime", `{"id":"R1","startTime":"2024-03-01T09:00:00.000Z"}`},
		{"caller", `{"id":"R1","callerPhoneNumber":"+10000000000"}`},
		{"dialed", `{"id":"R1","dialedPhoneNumber":"+10000000000"}`},
		{"agents", `{"id":"R1","mediaFiles":[{"mediaId":"m1.mp3","parameters":{"username":"mallory"}}]}`},
		{"accessgroups", `{"id":"R1","mediaFiles":[{"mediaId":"m1.mp3","accessgroups":["/sales"]}]}`},
		{"partitions", `{"id":"R1","mediaFiles":[{"mediaId":"m1.mp3","partitions":["/everyone"]}]}`},
	} {
		t.Run(c.name, func(t *testing.T) { wantError(t, recorder(c.body), 409, "conflict") })
	}
	// Adding what does not change those facts still works.
	if r := recorder(`{"id":"R1","mediaFiles":[{"mediaId":"m2.mp3","type":"audio/mp3"}]}`); r.status != 200 {
		t.Fatalf("adding a media entry after the stop: %d %s", r.status, r.body)
	}
	r = e.admin("GET", "/api/v2/recordings/R1", "", nil)
	var rec struct {
		StopTime, StartTime, CallerPhoneNumber string
	}
	json.Unmarshal(r.body, &rec)
	stop, _ := time.Parse(time.RFC3339, rec.StopTime)
	if !stop.Equal(time.Date(2024, 3, 1, 10, 5, 0, 0, time.UTC)) || rec.CallerPhoneNumber != "+14155550100" {
		t.Fatalf("the stopped call's facts changed: %s", r.body)
	}
}

// TestCertificateDeletedDuringUpload: an upload encrypting for a
// certificate that is deleted before the upload ends is refused, so no
// media file is left encrypted only for a deleted certificate.
func TestCertificateDeletedDuringUpload(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	r := e.admin("GET", "/api/v2/certificates", "", nil)
	var list struct{ Certificates []struct{ Alias string } }
	json.Unmarshal(r.body, &list)
	alias := list.Certificates[0].Alias
	audio := samples.Recordings()[0].Media[0].Data

	pr, pw := io.Pipe()
	done := make(chan resp, 1)
	go func() {
		req, _ := http.NewRequest("PUT", e.http.URL+"/api/v2/recordings/R1/media/call.mp3", pr)
		req.SetBasicAuth("admin@acme", adminPassword)
		req.Header.Set("Content-Type", "audio/mp3")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- resp{status: -1, body: []byte(err.Error())}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- resp{status: res.StatusCode, header: res.Header, body: b}
	}()
	// 24 MiB are on their way, encrypted for the certificate: more than
	// loopback's socket buffers hold, so the server is encrypting ...
	chunk := bytes.Repeat(audio[:1<<10], 1<<10)
	for range 24 {
		if _, err := pw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// ... when the administrator unassigns and deletes it: no stored
	// file uses it yet, so the delete goes through.
	if r := e.admin("POST", "/api/v2/certificates/"+alias+"/unassign?usage=voice", "", nil); r.status != 200 {
		t.Fatalf("unassign: %d %s", r.status, r.body)
	}
	if r := e.admin("DELETE", "/api/v2/certificates/"+alias, "", nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	pw.Write(chunk)
	pw.Close()
	got := <-done
	wantError(t, got, 409, "conflict")
	if !strings.Contains(string(got.body), "deleted during the upload") {
		t.Fatalf("409 for another reason: %s", got.body)
	}
	if r := e.admin("GET", "/api/v2/recordings/R1", "", nil); r.status != 404 && strings.Contains(string(r.body), "call.mp3") {
		t.Fatalf("the refused upload left media: %s", r.body)
	}
	if files := e.backends.Objects(t, e.dir); len(files) > 0 {
		t.Fatalf("the refused upload left media files: %v", files)
	}
}
