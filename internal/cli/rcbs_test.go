package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"callvault/internal/backup"
	"callvault/internal/backup/config"
	"callvault/internal/samples"
	"callvault/internal/server"
	"callvault/internal/testenv"
)

// End-to-end tests of rcbs against a real callvault (SQLite and media
// files in a temporary directory) on 127.0.0.1, with recordings ingested
// through the API and encrypted by the server for a certificate made by
// the real openssl, as the guide does it.

const (
	rcbsTenant   = "acme"
	rcbsLogin    = "admin@acme"
	rcbsPassword = "backup-test-password"
)

// vaultEnv is a running callvault with one tenant and what was ingested.
type vaultEnv struct {
	t        *testing.T
	url      string // root URL, without /api/v2
	certPath string // the recording certificate (PEM) the server encrypts for
	keyPath  string // its private key
	recs     map[string]*ingested
}

// ingested is one recording as the test sent it.
type ingested struct {
	id    string
	stop  time.Time
	media map[string]*ingestedMedia // by media id
}

// ingestedMedia is one media file: its plaintext and what the server
// stored (size and SHA-256 of the stored, usually encrypted, bytes).
type ingestedMedia struct {
	mediaType string
	plain     []byte
	size      int64
	sha256    string
	encrypted bool
}

// newVaultEnv starts a server and uploads a certificate made with the
// guide's openssl commands, assigned for voice and, when screen is true,
// for screen recordings too.
func newVaultEnv(t *testing.T, screen bool) *vaultEnv {
	t.Helper()
	return newVaultEnvAt(t, screen, "")
}

// newVaultEnvAt is newVaultEnv with a public URL (-public-url): the base
// of the mediaUri and next links it answers, such as a proxy in front.
func newVaultEnvAt(t *testing.T, screen bool, publicURL string) *vaultEnv {
	t.Helper()
	dir := t.TempDir()
	backends := testenv.Backend(t)
	srv, err := server.Open(context.Background(), server.Config{
		DataDir: filepath.Join(dir, "data"), DB: backends.DB, Blob: backends.Blob, PublicURL: publicURL,
		Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	if _, err := srv.Svc.InitTenant(context.Background(), rcbsTenant, "admin", rcbsPassword); err != nil {
		t.Fatal(err)
	}
	e := &vaultEnv{t: t, url: hs.URL, recs: map[string]*ingested{}}
	e.certPath, e.keyPath = opensslCert(t, dir, "tenant")
	assign := "voice"
	if screen {
		assign = "voice,screen"
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for field, path := range map[string]string{"certificate": e.certPath, "key": e.keyPath} {
		w, _ := mw.CreateFormFile(field, filepath.Base(path))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	mw.WriteField("assign", assign)
	mw.Close()
	if status, body := e.call("POST", "/api/v2/certificates", mw.FormDataContentType(), &form); status != http.StatusCreated {
		t.Fatalf("certificate upload: %d %s", status, body)
	}
	return e
}

// opensslCert makes a key and a self-signed certificate with the guide's
// commands: openssl genrsa, then openssl req -x509.
func opensslCert(t testing.TB, dir, name string) (certPath, keyPath string) {
	t.Helper()
	keyPath, certPath = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pem")
	runOpenSSL(t, "genrsa", "-out", keyPath, "2048")
	runOpenSSL(t, "req", "-new", "-x509", "-key", keyPath, "-out", certPath, "-days", "3650",
		"-subj", "/CN=Genesys Recording/C=US/ST=California/O=Genesys")
	return certPath, keyPath
}

// runOpenSSL runs the real openssl; its absence is a failure, not a skip.
func runOpenSSL(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// opensslDecrypt decrypts a downloaded file as the guide says and returns
// the plaintext.
func opensslDecrypt(t *testing.T, in, keyPath string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plain")
	runOpenSSL(t, "cms", "-decrypt", "-inform", "DER", "-in", in, "-binary", "-inkey", keyPath, "-out", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// call sends one request to the server as the tenant's administrator.
func (e *vaultEnv) call(method, path, contentType string, body io.Reader) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.SetBasicAuth(rcbsLogin, rcbsPassword)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.StatusCode, b
}

func (e *vaultEnv) rec(id string) *ingested {
	r := e.recs[id]
	if r == nil {
		r = &ingested{id: id, media: map[string]*ingestedMedia{}}
		e.recs[id] = r
	}
	return r
}

// putMedia uploads plaintext media; the server encrypts it for the
// certificates assigned for its kind.
func (e *vaultEnv) putMedia(recID, mediaID, mediaType string, plain []byte) *ingestedMedia {
	e.t.Helper()
	status, body := e.call("PUT", "/api/v2/recordings/"+url.PathEscape(recID)+"/media/"+url.PathEscape(mediaID), mediaType, bytes.NewReader(plain))
	if status != http.StatusCreated {
		e.t.Fatalf("media %s/%s: %d %s", recID, mediaID, status, body)
	}
	var stored struct {
		Size      int64  `json:"size"`
		SHA256    string `json:"sha256"`
		Encrypted bool   `json:"encrypted"`
	}
	if err := json.Unmarshal(body, &stored); err != nil {
		e.t.Fatal(err)
	}
	m := &ingestedMedia{mediaType: mediaType, plain: plain, size: stored.Size, sha256: stored.SHA256, encrypted: stored.Encrypted}
	e.rec(recID).media[mediaID] = m
	return m
}

// putMetadata stores a record in the guide's format.
func (e *vaultEnv) putMetadata(recID string, doc []byte) {
	e.t.Helper()
	if status, body := e.call("PUT", "/api/v2/recordings/"+url.PathEscape(recID), "application/json", bytes.NewReader(doc)); status != http.StatusOK {
		e.t.Fatalf("metadata %s: %d %s", recID, status, body)
	}
	var rec struct {
		StopTime string `json:"stopTime"`
	}
	json.Unmarshal(doc, &rec)
	stop, err := time.Parse("2006-01-02T15:04:05.000-0700", rec.StopTime)
	if err != nil {
		e.t.Fatalf("metadata %s: stopTime %q: %v", recID, rec.StopTime, err)
	}
	e.rec(recID).stop = stop.UTC()
}

// testMedia is a media file of a synthetic recording; nil data leaves it
// described by the metadata but not uploaded (pending).
type testMedia struct {
	id, mediaType string
	data          []byte
}

// putRecording uploads media, then metadata naming them, for a recording
// that stopped at stop.
func (e *vaultEnv) putRecording(id string, stop time.Time, media ...testMedia) {
	e.t.Helper()
	const layout = "2006-01-02T15:04:05.000-0700"
	var files []map[string]any
	for _, m := range media {
		if m.data != nil {
			e.putMedia(id, m.id, m.mediaType, m.data)
		}
		files = append(files, map[string]any{"mediaId": m.id, "type": m.mediaType,
			"startTime": stop.Add(-time.Minute).UTC().Format(layout), "stopTime": stop.UTC().Format(layout)})
	}
	doc, _ := json.Marshal(map[string]any{"id": id, "callerPhoneNumber": "+19059683343", "dialedPhoneNumber": "+15126401290",
		"startTime": stop.Add(-time.Minute).UTC().Format(layout), "stopTime": stop.UTC().Format(layout), "mediaFiles": files})
	e.putMetadata(id, doc)
}

// plaintext is deterministic pseudo-random content.
func plaintext(seed uint64, size int) []byte {
	var key [32]byte
	copy(key[:], strconv.FormatUint(seed, 10))
	b := make([]byte, size)
	rand.NewChaCha8(key).Read(b)
	return b
}

// rcbsConfig writes a config.properties into its own directory (rcbs.log
// goes beside it) from key=value pairs.
func rcbsConfig(t *testing.T, pairs ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# written by the test\n")
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, "%s=%s\n", pairs[i], pairs[i+1])
	}
	path := filepath.Join(t.TempDir(), "config.properties")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// baseConfig is the part every test's config.properties holds.
func (e *vaultEnv) baseConfig(prefix, target string, more ...string) []string {
	if prefix == "" {
		prefix = e.url
	}
	base := []string{"gwsUriPrefix", prefix + "/api/v2", "targetDir", filepath.ToSlash(target)}
	return append(append(base, trustedS3()...), more...)
}

// trustedS3 is the awsEndpoint line of a server whose media are in the
// test's MinIO (the postgres-minio backends): its backup settings name
// that endpoint, and rcbs reads from it only when awsEndpoint says so.
func trustedS3() []string {
	if os.Getenv(testenv.BackendEnv) != "postgres-minio" {
		return nil
	}
	return []string{"awsEndpoint", os.Getenv("CALLVAULT_TEST_S3_ENDPOINT")}
}

// mediaThroughAPI keeps AWS credentials from rcbs, so that media come
// through the API (and any fault proxy in front of it) even when the
// server keeps them in S3. Tests here do not run in parallel.
var mediaThroughAPI bool

// throughAPI sets mediaThroughAPI for the rest of a test.
func throughAPI(t *testing.T) {
	mediaThroughAPI = true
	t.Cleanup(func() { mediaThroughAPI = false })
}

// runRCBS runs rcbs in-process as the cron line would, with the
// credentials in an injected environment and the clock now (nil: the real
// one). Args starting with a flag run the backup, as RunRCBS does.
func runRCBS(t *testing.T, password string, now func() time.Time, args ...string) result {
	t.Helper()
	if now == nil {
		now = time.Now
	}
	env := map[string]string{"GWS_USERNAME": rcbsLogin, "GWS_PASSWORD": password}
	// With AWS credentials, rcbs reads media straight from S3 when the
	// server keeps them there (the postgres-minio backends); tests of the
	// API download path set mediaThroughAPI.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} {
		if v, ok := os.LookupEnv(k); ok && !mediaThroughAPI {
			env[k] = v
		}
	}
	app := &App{Name: "rcbs", commands: rcbsCommands, Stdin: strings.NewReader(""), Now: now,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		args = append([]string{"backup"}, args...)
	}
	return runApp(t, app, args...)
}

// backupOK runs a backup that must succeed and returns its closing line.
func backupOK(t *testing.T, cfg string, now func() time.Time) (batch, result) {
	t.Helper()
	r := runRCBS(t, rcbsPassword, now, "-config", cfg)
	if r.code != 0 {
		t.Fatalf("rcbs exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("a successful run wrote to stderr: %q", r.stderr)
	}
	return parseBatch(t, r.stdout), r
}

// batch is the guide's closing line.
type batch struct{ downloaded, skipped, failed, total int }

var closingLine = regexp.MustCompile(`(?m)^Finished handling current batch: \(number downloaded files: (\d+) \+ number of skipped files: (\d+) \+ number of failed download: (\d+)\) out of total: (\d+)$`)

func parseBatch(t *testing.T, stdout string) batch {
	t.Helper()
	all := closingLine.FindAllStringSubmatch(stdout, -1)
	if len(all) != 1 {
		t.Fatalf("want one closing line, found %d in:\n%s", len(all), stdout)
	}
	n := func(i int) int { v, _ := strconv.Atoi(all[0][i]); return v }
	b := batch{n(1), n(2), n(3), n(4)}
	if b.downloaded+b.skipped+b.failed != b.total {
		t.Errorf("closing line does not add up: %+v", b)
	}
	return b
}

var windowLine = regexp.MustCompile(`(?m)^Starting download recordings <from (\d\d/\d\d/\d{4} \d\d:\d\d:\d\d) to (\d\d/\d\d/\d{4} \d\d:\d\d:\d\d) UTC> Overall: (\d+)%$`)

// consoleWindow is one "Starting download recordings" line.
type consoleWindow struct {
	from, to time.Time
	overall  int
}

func parseWindows(t *testing.T, stdout string) []consoleWindow {
	t.Helper()
	var out []consoleWindow
	for _, m := range windowLine.FindAllStringSubmatch(stdout, -1) {
		from, err1 := time.Parse("01/02/2006 15:04:05", m[1])
		to, err2 := time.Parse("01/02/2006 15:04:05", m[2])
		overall, err3 := strconv.Atoi(m[3])
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatalf("window line %q: %v", m[0], err)
		}
		out = append(out, consoleWindow{from, to, overall})
	}
	return out
}

// readState reads last_recording_endtime.txt; the zero time when absent.
func readState(t *testing.T, target string) time.Time {
	t.Helper()
	st, err := backup.ReadState(target)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		return time.Time{}
	}
	return *st
}

// recordDir is where rcbs puts a recording with the default
// recordingFolderFormat yyyy/MM/dd/HH of its stop time, in UTC.
func recordDir(target string, rec *ingested) string {
	return filepath.Join(target, rcbsTenant, rec.stop.UTC().Format("2006/01/02/15"), rec.id)
}

// expectedFiles lists what a backup of the recordings ids must hold:
// relative path → its media (nil for <id>.json). keep says which media
// are fetched (nil: all).
func (e *vaultEnv) expectedFiles(ids []string, keep func(*ingestedMedia) bool) map[string]*ingestedMedia {
	want := map[string]*ingestedMedia{}
	for _, id := range ids {
		rec := e.recs[id]
		dir := recordDir("", rec)
		want[filepath.Join(dir, id+".json")] = nil
		for mediaID, m := range rec.media {
			if keep == nil || keep(m) {
				want[filepath.Join(dir, mediaID)] = m
			}
		}
	}
	return want
}

func (e *vaultEnv) ids() []string {
	var ids []string
	for id := range e.recs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// targetFiles lists the files rcbs left in target, relative, without its
// lock and state files, manifests and receipts, and the temporary
// (.partial) ones apart.
func targetFiles(t *testing.T, target string) (final, partial []string) {
	t.Helper()
	err := filepath.WalkDir(target, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(target, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		switch {
		case rel == backup.LockFile || rel == backup.StateFile || d.Name() == backup.VerifiedFile:
		case len(parts) == 3 && (parts[1] == backup.ManifestDir || parts[1] == backup.ReceiptsFile):
		case len(parts) == 2 && parts[1] == backup.ReceiptsFile:
		case strings.HasSuffix(d.Name(), ".partial"):
			partial = append(partial, rel)
		default:
			final = append(final, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return final, partial
}

// checkTarget compares target with want: the same files, no temporary
// ones, every media file with the stored size and SHA-256, every record a
// JSON object with its id.
func checkTarget(t *testing.T, target string, want map[string]*ingestedMedia) {
	t.Helper()
	final, partial := targetFiles(t, target)
	if len(partial) > 0 {
		t.Errorf("temporary files left: %v", partial)
	}
	checkWhole(t, target, final, want)
	for rel := range want {
		if !slices.Contains(final, rel) {
			t.Errorf("missing %s", rel)
		}
	}
}

// checkWhole checks that each of the files is one of want and whole.
func checkWhole(t *testing.T, target string, files []string, want map[string]*ingestedMedia) {
	t.Helper()
	for _, rel := range files {
		m, ok := want[rel]
		if !ok {
			t.Errorf("unexpected file %s", rel)
			continue
		}
		b, err := os.ReadFile(filepath.Join(target, rel))
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			var rec struct{ ID string }
			if err := json.Unmarshal(b, &rec); err != nil || rec.ID+".json" != filepath.Base(rel) {
				t.Errorf("%s is not its record: %v", rel, err)
			}
			continue
		}
		if sum := sha256.Sum256(b); int64(len(b)) != m.size || hex.EncodeToString(sum[:]) != m.sha256 {
			t.Errorf("%s: %d bytes, SHA-256 %x; the server stored %d bytes, %s", rel, len(b), sum, m.size, m.sha256)
		}
	}
}

// TestRCBSGuideExamples backs up the guide's two metadata examples and
// opens every media file with the real openssl, rcbs decrypt and rcbs check.
func TestRCBSGuideExamples(t *testing.T) {
	e := newVaultEnv(t, true)
	for _, s := range samples.Recordings() {
		for _, m := range s.Media {
			if stored := e.putMedia(s.ID, m.MediaID, m.Type, m.Data); !stored.encrypted {
				t.Fatalf("%s was stored unencrypted", m.MediaID)
			}
		}
		e.putMetadata(s.ID, s.Metadata)
	}
	target := t.TempDir()
	cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2015-09-01", "minDate", "2021-07-22", "shardBy", "3650")...)
	got, r := backupOK(t, cfg, nil)
	if want := (batch{downloaded: 6, total: 6}); got != want {
		t.Errorf("closing line %+v, want %+v", got, want)
	}
	checkTarget(t, target, e.expectedFiles(e.ids(), nil))
	if !strings.Contains(r.stdout, "Done") {
		t.Errorf("no Done line:\n%s", r.stdout)
	}

	// The folders of the guide: tenant, then the stop time's hour.
	for id, folder := range map[string]string{
		"021L6BI58K8FH7R5USI402LAES00000A": "acme/2021/07/21/16",
		"011AP643CSAPR4FKQGQE31TAES0001TH": "acme/2015/09/01/16",
	} {
		if _, err := os.Stat(filepath.Join(target, filepath.FromSlash(folder), id, id+".json")); err != nil {
			t.Errorf("record %s not in %s: %v", id, folder, err)
		}
	}

	// The record on disk is the server's record.
	for _, id := range e.ids() {
		status, body := e.call("GET", "/api/v2/recordings/"+id, "", nil)
		if status != 200 {
			t.Fatalf("GET %s: %d", id, status)
		}
		onDisk, err := os.ReadFile(filepath.Join(recordDir(target, e.recs[id]), id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		// Without what it says of its backup receipts, which rcbs leaves
		// out.
		var a map[string]any
		var b any
		json.Unmarshal(body, &a)
		for _, k := range backup.BackupStateKeys {
			delete(a, k)
		}
		if err := json.Unmarshal(onDisk, &b); err != nil || !reflect.DeepEqual(any(a), b) {
			t.Errorf("%s.json differs from the server's record (%v)", id, err)
		}
	}

	// Every media file opens with openssl and with rcbs decrypt, giving
	// back what was ingested.
	for _, id := range e.ids() {
		rec := e.recs[id]
		for mediaID, m := range rec.media {
			file := filepath.Join(recordDir(target, rec), mediaID)
			if plain := opensslDecrypt(t, file, e.keyPath); !bytes.Equal(plain, m.plain) {
				t.Errorf("openssl's decryption of %s differs from the ingested plaintext", mediaID)
			}
			out := filepath.Join(t.TempDir(), "out")
			wantSuccess(t, runRCBS(t, rcbsPassword, nil, "decrypt", "-inform", "DER", "-in", file, "-binary", "-inkey", e.keyPath, "-out", out))
			if plain, _ := os.ReadFile(out); !bytes.Equal(plain, m.plain) {
				t.Errorf("rcbs decrypt of %s differs from the ingested plaintext", mediaID)
			}
		}
	}
	example1 := e.recs["021L6BI58K8FH7R5USI402LAES00000A"]
	someFile := filepath.Join(recordDir(target, example1),
		"W6x+Vq8fR2m3ngFfj9Um2g_021L6BI58K8FH7R5USI402LAES000000A_1d9439c7990141e3ad64a92eb43f4da4_2021_07_21_16_49_01")

	// The openssl spelling through RunRCBS, as the binary runs it.
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	if code := RunRCBS(context.Background(), []string{"-decrypt", "-inform", "DER", "-in", someFile, "-binary", "-inkey", e.keyPath, "-out", out},
		strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Errorf("rcbs -decrypt: exit %d: %s", code, stderr.String())
	}
	for mediaID, m := range example1.media {
		if m.mediaType == "video/mp4" {
			if plain, _ := os.ReadFile(out); !bytes.Equal(plain, m.plain) {
				t.Errorf("rcbs -decrypt of %s differs from the ingested plaintext", mediaID)
			}
		}
	}

	r = runRCBS(t, rcbsPassword, nil, "check", "-inkey", e.keyPath, "-target", target)
	wantSuccess(t, r)
	// Four media files and two records.
	if r.stdout != "6 files verified, 0 missing, 0 altered, 0 undecryptable\n" {
		t.Errorf("check output:\n%s", r.stdout)
	}
	// One flipped byte: check fails and names the file.
	b, _ := os.ReadFile(someFile)
	b[len(b)/2] ^= 0x01
	os.WriteFile(someFile, b, 0o644)
	r = runRCBS(t, rcbsPassword, nil, "check", "-inkey", e.keyPath, "-target", target)
	if r.code != 1 || !strings.Contains(r.stdout, "ALTERED       "+someFile+": SHA-256 ") ||
		!strings.HasSuffix(r.stdout, "\n5 files verified, 0 missing, 1 altered, 0 undecryptable\n") {
		t.Errorf("check after corrupting %s: exit %d\n%s%s", someFile, r.code, r.stdout, r.stderr)
	}
	if strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("check names other files than the corrupted one:\n%s", r.stdout)
	}

	// The next backup fetches the corrupt file again, and a truncated one,
	// and nothing else.
	truncated := filepath.Join(recordDir(target, e.recs["011AP643CSAPR4FKQGQE31TAES0001TH"]),
		"011AP643CSAPR4FKQGQE31TAES0001TH_2015-09-01_16-43-11-006B015E-10003E57-00000001.mp3")
	if err := os.Truncate(truncated, 1000); err != nil {
		t.Fatal(err)
	}
	if got, r := backupOK(t, cfg, nil); got != (batch{downloaded: 2, skipped: 4, total: 6}) {
		t.Errorf("after corrupting two files: %+v\n%s", got, r.stdout)
	}
	checkTarget(t, target, e.expectedFiles(e.ids(), nil))
	wantSuccess(t, runRCBS(t, rcbsPassword, nil, "check", "-inkey", e.keyPath, "-config", cfg))
}

// faultProxy is a reverse proxy in front of the server that misbehaves on
// purpose: a seeded share of requests gets 503, a few response bodies are
// cut short, and one media response may stall halfway until released. The
// server behind it has the proxy's address as its public URL, so the
// mediaUri and next links it writes point back at the proxy and media reads
// pass through it too.
type faultProxy struct {
	url string
	ln  net.Listener

	mu        sync.Mutex
	rng       *rand.Rand
	failRate  float64
	cutMedia  int             // media bodies still to cut short, each path once
	cutLists  int             // listing bodies still to cut short
	cutPaths  map[string]bool // media paths cut already
	stallAt   int             // the stallAt-th media answer stalls halfway; 0: none
	media     int             // media answers so far
	ranges    []string        // Range headers of media requests
	failed    int             // 503s given
	cut       int             // bodies cut short
	stalled   chan struct{}   // closed when the stall begins
	release   chan struct{}   // closed to end the stall
	stallOnce sync.Once
}

// newFaultProxy takes the proxy's address; start puts it in front of the
// server, which is started in between with that address as public URL.
func newFaultProxy(t *testing.T, seed uint64) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &faultProxy{url: "http://" + ln.Addr().String(), ln: ln, rng: rand.New(rand.NewPCG(seed, seed)), cutPaths: map[string]bool{},
		stalled: make(chan struct{}), release: make(chan struct{})}
}

func (p *faultProxy) start(t *testing.T, backend string) {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		ModifyResponse: p.modify,
		FlushInterval:  -1, // what the stalled answer wrote reaches the client
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	hs := &httptest.Server{Listener: p.ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		fail := p.rng.Float64() < p.failRate
		if fail {
			p.failed++
		}
		p.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"code":"unavailable","message":"injected fault"}`)
			return
		}
		rp.ServeHTTP(w, r)
	})}}
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.Start()
	t.Cleanup(func() { close(p.release); hs.Close() })
}

func (p *faultProxy) modify(res *http.Response) error {
	if res.StatusCode/100 != 2 {
		return nil
	}
	path := res.Request.URL.Path
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case strings.Contains(path, "/media/"):
		p.media++
		if rg := res.Request.Header.Get("Range"); rg != "" {
			p.ranges = append(p.ranges, rg)
		}
		switch {
		case p.media == p.stallAt:
			res.Body = &stallBody{ReadCloser: res.Body, left: res.ContentLength / 2, p: p, ctx: res.Request.Context()}
		case p.cutMedia > 0 && !p.cutPaths[path] && res.ContentLength > 1:
			p.cutMedia--
			p.cutPaths[path] = true
			p.cut++
			res.Body = &cutBody{ReadCloser: res.Body, left: res.ContentLength / 2}
		}
	case strings.HasSuffix(path, "/recordings") && p.cutLists > 0:
		p.cutLists--
		p.cut++
		res.Body = &cutBody{ReadCloser: res.Body, left: 20}
	}
	return nil
}

func (p *faultProxy) counts() (media, failed, cut int, ranges []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.media, p.failed, p.cut, slices.Clone(p.ranges)
}

// cutBody ends a body early: the client sees fewer bytes than announced.
type cutBody struct {
	io.ReadCloser
	left int64
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.ReadCloser.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	return n, err
}

// stallBody passes half a body, then blocks until released or the client
// is gone.
type stallBody struct {
	io.ReadCloser
	left int64
	p    *faultProxy
	ctx  context.Context
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.p.stallOnce.Do(func() { close(b.p.stalled) })
		select {
		case <-b.p.release:
		case <-b.ctx.Done():
		}
		return 0, errors.New("stalled on purpose")
	}
	n, err := b.ReadCloser.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	return n, err
}

// TestRCBSWindows backs up five days in windows of one day: every
// recording once (one stops exactly on a window boundary), the guide's
// console lines with the right numbers, the state file, and a second run
// that finds everything on disk.
func TestRCBSWindows(t *testing.T) {
	e := newVaultEnv(t, false)
	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	perWindow := make([]int, 5)
	n := 0
	for day := range 5 {
		for i := range day + 1 {
			stop := day0.Add(time.Duration(day)*24*time.Hour + time.Duration(3+5*i)*time.Hour + 17*time.Minute)
			id := fmt.Sprintf("W%02d", n)
			e.putRecording(id, stop, testMedia{id + ".mp3", "audio/mp3", plaintext(uint64(n), 3000+n)})
			perWindow[day]++
			n++
		}
	}
	// On the boundary between the second and third windows: the third only.
	e.putRecording("W-boundary", day0.Add(48*time.Hour), testMedia{"boundary.mp3", "audio/mp3", plaintext(99, 2048)})
	perWindow[2]++
	// Outside the period on both sides.
	e.putRecording("W-before", day0.Add(-time.Millisecond), testMedia{"before.mp3", "audio/mp3", plaintext(100, 100)})
	e.putRecording("W-after", day0.Add(5*24*time.Hour), testMedia{"after.mp3", "audio/mp3", plaintext(101, 100)})
	inPeriod := slices.DeleteFunc(e.ids(), func(id string) bool { return id == "W-before" || id == "W-after" })

	target := t.TempDir()
	cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-01-01", "minDate", "2026-01-06", "shardBy", "1", "numThreads", "3")...)
	got, r := backupOK(t, cfg, nil)
	files := 2 * len(inPeriod)
	if want := (batch{downloaded: files, total: files}); got != want {
		t.Errorf("first run: %+v, want %+v\n%s", got, want, r.stdout)
	}
	checkTarget(t, target, e.expectedFiles(inPeriod, nil))

	windows := parseWindows(t, r.stdout)
	if len(windows) != 5 {
		t.Fatalf("%d window lines, want 5:\n%s", len(windows), r.stdout)
	}
	for i, w := range windows {
		from := day0.Add(time.Duration(i) * 24 * time.Hour)
		if !w.from.Equal(from) || !w.to.Equal(from.Add(24*time.Hour)) || w.overall != 20*(i+1) {
			t.Errorf("window %d: %+v, want from %v to %v Overall %d%%", i, w, from, from.Add(24*time.Hour), 20*(i+1))
		}
	}
	done := regexp.MustCompile(`Done \((\d+) files\)`).FindAllStringSubmatch(r.stdout, -1)
	if len(done) != 5 {
		t.Fatalf("%d Done lines, want 5:\n%s", len(done), r.stdout)
	}
	for i, d := range done {
		if d[1] != strconv.Itoa(2*perWindow[i]) {
			t.Errorf("window %d: %s, want %d files", i, d[0], 2*perWindow[i])
		}
	}
	if st := readState(t, target); !st.Equal(day0.Add(5 * 24 * time.Hour)) {
		t.Errorf("state %v, want the end of the period", st)
	}

	got, r = backupOK(t, cfg, nil)
	if want := (batch{skipped: files, total: files}); got != want {
		t.Errorf("second run: %+v, want %+v\n%s", got, want, r.stdout)
	}
	checkTarget(t, target, e.expectedFiles(inPeriod, nil))
}

// TestRCBSResumeAfterKill kills a real rcbs process with SIGKILL in the
// middle of a media file. No file under a final name may be incomplete,
// and the next run completes the half file by range and fetches nothing
// that was already complete.
func TestRCBSResumeAfterKill(t *testing.T) {
	throughAPI(t)
	bin := filepath.Join(t.TempDir(), "rcbs")
	if out, err := exec.Command("go", "build", "-o", bin, "callvault/cmd/rcbs").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	// The sixth media answer stops halfway until the process is killed.
	proxy := newFaultProxy(t, 1)
	proxy.stallAt = 6
	e := newVaultEnvAt(t, false, proxy.url)
	proxy.start(t, e.url)
	const recordings = 40
	stop0 := time.Date(2026, 2, 10, 8, 0, 0, 0, time.UTC)
	for i := range recordings {
		id := fmt.Sprintf("K%02d", i)
		e.putRecording(id, stop0.Add(time.Duration(i)*time.Minute), testMedia{id + ".mp3", "audio/mp3", plaintext(uint64(1000+i), 1<<20)})
	}
	target := t.TempDir()
	cfg := rcbsConfig(t, e.baseConfig(proxy.url, target, "maxDate", "2026-02-10", "minDate", "2026-02-11",
		"downloadMode", "multithread", "numThreads", "1")...)

	cmd := exec.Command(bin, "-config", cfg)
	// Without AWS credentials media come through the API (and so through
	// the stalling proxy) even when the server keeps them in S3.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_ACCESS_KEY_ID=") && !strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GWS_USERNAME="+rcbsLogin, "GWS_PASSWORD="+rcbsPassword)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-proxy.stalled:
	case err := <-exited:
		t.Fatalf("rcbs ended before the stall: %v\n%s%s", err, stdout.String(), stderr.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the stall never came")
	}
	// Kill once the half file is on disk.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, partial := targetFiles(t, target)
		if len(partial) == 1 {
			if st, err := os.Stat(filepath.Join(target, partial[0])); err == nil && st.Size() >= 256<<10 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no half-downloaded file appeared: %v", partial)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited

	// Every file under a final name is whole; the half one is temporary.
	all := e.expectedFiles(e.ids(), nil)
	final, partial := targetFiles(t, target)
	checkWhole(t, target, final, all)
	if len(partial) != 1 || len(final) != 10 {
		t.Errorf("before the kill: %d whole files (want 5 media + 5 records), partial %v", len(final), partial)
	}
	if st := readState(t, target); !st.IsZero() {
		t.Fatalf("the state file was written by a killed run: %v", st)
	}
	mediaBefore, _, _, _ := proxy.counts()
	// The killed run's manifest is unfinished, and lists every file it
	// renamed into place.
	mdir := filepath.Join(target, rcbsTenant, backup.ManifestDir)
	partials, _ := filepath.Glob(filepath.Join(mdir, "*.jsonl.partial"))
	if len(partials) != 1 {
		t.Fatalf("unfinished manifests %v", partials)
	}
	if b, _ := os.ReadFile(partials[0]); strings.Count(string(b), "\n") != len(final) {
		t.Errorf("the killed run's manifest lists %d files, want the %d it wrote:\n%s", strings.Count(string(b), "\n"), len(final), b)
	}

	got, r := backupOK(t, cfg, nil)
	if want := (batch{downloaded: 2*recordings - len(final), skipped: len(final), total: 2 * recordings}); got != want {
		t.Errorf("rerun: %+v, want %+v\n%s", got, want, r.stdout)
	}
	checkTarget(t, target, all)
	if st := readState(t, target); !st.Equal(time.Date(2026, 2, 11, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("state after the complete run: %v", st)
	}
	// Only the missing media were fetched, the half one from where it
	// stopped.
	mediaAfter, _, _, ranges := proxy.counts()
	if fetched := mediaAfter - mediaBefore; fetched != recordings-5 {
		t.Errorf("the rerun fetched %d media files, want %d", fetched, recordings-5)
	}
	if len(ranges) != 1 || ranges[0] == "bytes=0-" {
		t.Errorf("the half file was not resumed by range: %v", ranges)
	}
	// The rerun sealed the killed run's manifest first, then wrote its
	// own after it: between them every file is listed once, and the
	// chain holds.
	names := manifestsOf(t, target)
	if len(names) != 2 {
		t.Fatalf("manifests %v", names)
	}
	sealed, own := readManifest(t, target, names[0]), readManifest(t, target, names[1])
	if !sealed.seal.Recovered || sealed.seal.Files != len(final) || sealed.seal.PrevManifest != "" {
		t.Errorf("the sealed manifest: %+v", sealed.seal)
	}
	if own.seal.Recovered || own.seal.PrevManifest != names[0] || own.seal.Files != 2*recordings-len(final) {
		t.Errorf("the rerun's manifest: %+v", own.seal)
	}
	if left, _ := filepath.Glob(filepath.Join(mdir, "*.partial")); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
	wantCheck(t, 0, 2*recordings, 0, 0, 0, "-target", target)
}

// TestRCBSInstances runs four instances (totalRcbsInstances=4) into four
// directories: together they take every recording exactly once, each the
// share the documented hash gives it.
func TestRCBSInstances(t *testing.T) {
	e := newVaultEnv(t, false)
	stop0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for i := range 24 {
		id := fmt.Sprintf("I%02d-%d", i, i*7919)
		e.putRecording(id, stop0.Add(time.Duration(i)*7*time.Minute), testMedia{"m" + strconv.Itoa(i) + ".mp3", "audio/mp3", plaintext(uint64(i), 500)})
	}
	seen := map[string]int{}
	for instance := range 4 {
		target := t.TempDir()
		cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-03-02", "minDate", "2026-03-03",
			"totalRcbsInstances", "4", "rcbsInstanceId", strconv.Itoa(instance))...)
		got, _ := backupOK(t, cfg, nil)
		var mine []string
		for _, id := range e.ids() {
			if config.InstanceOf(id, 4) == instance {
				mine = append(mine, id)
			}
		}
		if len(mine) == 0 {
			t.Fatalf("instance %d has no share of the test recordings; change the ids", instance)
		}
		if want := (batch{downloaded: 2 * len(mine), total: 2 * len(mine)}); got != want {
			t.Errorf("instance %d: %+v, want %+v", instance, got, want)
		}
		checkTarget(t, target, e.expectedFiles(mine, nil))
		final, _ := targetFiles(t, target)
		for _, rel := range final {
			if strings.HasSuffix(rel, ".json") {
				seen[strings.TrimSuffix(filepath.Base(rel), ".json")]++
			}
		}
	}
	for _, id := range e.ids() {
		if seen[id] != 1 {
			t.Errorf("%s taken by %d instances, want 1", id, seen[id])
		}
	}
}

// TestRCBSFaultyServer puts a proxy in front of the server that answers
// 503 to a tenth of the requests and cuts a few bodies short, listings
// included: retries bring every file home, whole, and the run succeeds.
func TestRCBSFaultyServer(t *testing.T) {
	throughAPI(t)
	proxy := newFaultProxy(t, 10)
	e := newVaultEnvAt(t, false, proxy.url)
	proxy.start(t, e.url)
	stop0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range 30 {
		id := fmt.Sprintf("F%02d", i)
		e.putRecording(id, stop0.Add(time.Duration(i)*3*time.Hour), testMedia{id + ".mp3", "audio/mp3", plaintext(uint64(2000+i), 40<<10+i)})
	}
	proxy.failRate = 0.1
	proxy.cutMedia = 4
	proxy.cutLists = 2
	target := t.TempDir()
	cfg := rcbsConfig(t, e.baseConfig(proxy.url, target, "maxDate", "2026-04-01", "minDate", "2026-04-05", "numThreads", "4")...)
	got, r := backupOK(t, cfg, nil)
	if want := (batch{downloaded: 60, total: 60}); got != want {
		t.Errorf("%+v, want %+v\n%s", got, want, r.stdout)
	}
	checkTarget(t, target, e.expectedFiles(e.ids(), nil))
	media, failed, cut, _ := proxy.counts()
	if failed == 0 || cut != 6 || media < 30 {
		t.Errorf("the proxy gave %d 503s and cut %d bodies in %d media answers: the faults did not happen", failed, cut, media)
	}
	if st := readState(t, target); !st.Equal(time.Date(2026, 4, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("state %v", st)
	}
}

// TestRCBSLock: a second rcbs on a targetDir in use stops at once,
// non-zero, naming the holder; once the lock is free it runs.
func TestRCBSLock(t *testing.T) {
	e := newVaultEnv(t, false)
	e.putRecording("L1", time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), testMedia{"l1.mp3", "audio/mp3", plaintext(1, 100)})
	target := t.TempDir()
	cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-05-01", "minDate", "2026-05-02")...)
	lock, err := backup.Acquire(target, time.Date(2026, 5, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := runRCBS(t, rcbsPassword, nil, "-config", cfg)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("the second instance took %v to give up", elapsed)
	}
	holder := fmt.Sprintf("pid %d", os.Getpid())
	if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, holder) || !strings.Contains(r.stderr, "2026-05-02T03:04:05Z") {
		t.Errorf("exit %d, stderr %q; want non-zero and one line naming %s", r.code, r.stderr, holder)
	}
	if final, _ := targetFiles(t, target); len(final) > 0 || !readState(t, target).IsZero() {
		t.Errorf("the locked-out run wrote %v", final)
	}
	lock.Release()
	backupOK(t, cfg, nil)
	checkTarget(t, target, e.expectedFiles(e.ids(), nil))
}

// TestRCBSWhatIsFetched: metadataOnly fetches only records;
// mediaTypePattern only the media it matches.
func TestRCBSWhatIsFetched(t *testing.T) {
	e := newVaultEnv(t, true)
	stop0 := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	for i := range 4 {
		id := fmt.Sprintf("P%d", i)
		e.putRecording(id, stop0.Add(time.Duration(i)*time.Hour),
			testMedia{id + ".mp3", "audio/mp3", plaintext(uint64(3000+i), 700)},
			testMedia{id + ".mp4", "video/mp4", plaintext(uint64(4000+i), 900)})
	}
	for _, tc := range []struct {
		name, key, value string
		keep             func(*ingestedMedia) bool
	}{
		{"metadataOnly", "metadataOnly", "true", func(*ingestedMedia) bool { return false }},
		{"video only", "mediaTypePattern", "video/mp4", func(m *ingestedMedia) bool { return m.mediaType == "video/mp4" }},
		{"audio only", "mediaTypePattern", `audio\/mp3`, func(m *ingestedMedia) bool { return m.mediaType == "audio/mp3" }},
		{"default: both", "mediaTypePattern", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := t.TempDir()
			cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-06-01", "minDate", "2026-06-02", tc.key, tc.value)...)
			got, _ := backupOK(t, cfg, nil)
			want := e.expectedFiles(e.ids(), tc.keep)
			if got != (batch{downloaded: len(want), total: len(want)}) {
				t.Errorf("%+v, want %d files", got, len(want))
			}
			checkTarget(t, target, want)
		})
	}
}

// TestRCBSAges: each ISO 8601 example of the issue, as minAge or maxAge,
// gives the period it means for the injected clock. The clock stands on
// 31 March, so that six months back lands on a shorter month.
func TestRCBSAges(t *testing.T) {
	e := newVaultEnv(t, false)
	now := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		minAge, maxAge string
		from, to       time.Time
	}{
		{"PT30M", "P30D", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 31, 11, 30, 0, 0, time.UTC)},
		{"P7DT1H", "P6MT12H", time.Date(2025, 9, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 24, 11, 0, 0, 0, time.UTC)},
		{"P6MT12H", "P1Y2DT4H30M", time.Date(2025, 3, 29, 7, 30, 0, 0, time.UTC), time.Date(2025, 9, 30, 0, 0, 0, 0, time.UTC)},
		{"0", "P1Y2DT4H30M", time.Date(2025, 3, 29, 7, 30, 0, 0, time.UTC), now},
	} {
		t.Run(tc.minAge+"_"+tc.maxAge, func(t *testing.T) {
			target := t.TempDir()
			cfg := rcbsConfig(t, e.baseConfig("", target, "minAge", tc.minAge, "maxAge", tc.maxAge, "shardBy", "1000")...)
			_, r := backupOK(t, cfg, clock)
			windows := parseWindows(t, r.stdout)
			if len(windows) != 1 || !windows[0].from.Equal(tc.from) || !windows[0].to.Equal(tc.to) {
				t.Errorf("windows %+v, want one from %v to %v", windows, tc.from, tc.to)
			}
			if st := readState(t, target); !st.Equal(tc.to) {
				t.Errorf("state %v, want %v", st, tc.to)
			}
		})
	}
}

// TestRCBSBadInput: a wrong password and contradictory configurations stop
// rcbs with one clear line and nothing written.
func TestRCBSBadInput(t *testing.T) {
	e := newVaultEnv(t, false)
	e.putRecording("B1", time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), testMedia{"b1.mp3", "audio/mp3", plaintext(1, 100)})

	t.Run("wrong password", func(t *testing.T) {
		target := t.TempDir()
		cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-07-01", "minDate", "2026-07-02")...)
		const wrong = "not-the-Password-42"
		r := runRCBS(t, wrong, nil, "-config", cfg)
		if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "rcbs backup: ") ||
			!strings.Contains(r.stderr, "refused the credentials") {
			t.Errorf("exit %d, stderr %q; want non-zero and one line saying the credentials were refused", r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, wrong) {
			t.Error("the password was printed")
		}
		if final, partial := targetFiles(t, target); len(final)+len(partial) > 0 || !readState(t, target).IsZero() {
			t.Errorf("a refused run wrote %v %v", final, partial)
		}
	})

	for _, tc := range []struct {
		name  string
		pairs []string
		key   string
	}{
		{"minAge equal to maxAge", []string{"minAge", "P7D", "maxAge", "P7D"}, "minAge"},
		{"minAge over maxAge", []string{"minAge", "P30D", "maxAge", "PT30M"}, "minAge"},
		{"instance id outside the range", []string{"totalRcbsInstances", "4", "rcbsInstanceId", "4"}, "rcbsInstanceId"},
		{"instance id without total", []string{"rcbsInstanceId", "1"}, "rcbsInstanceId"},
		{"bad regular expression", []string{"mediaTypePattern", "audio/(mp3"}, "mediaTypePattern"},
		{"bad date", []string{"minDate", "2026-02-30"}, "minDate"},
		{"bad age", []string{"maxAge", "P1X"}, "maxAge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "target")
			cfg := rcbsConfig(t, e.baseConfig("", target, tc.pairs...)...)
			r := runRCBS(t, rcbsPassword, nil, "-config", cfg)
			if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "rcbs backup: ") || !strings.Contains(r.stderr, tc.key) {
				t.Errorf("exit %d, stderr %q; want 2 and one line naming %s", r.code, r.stderr, tc.key)
			}
			if _, err := os.Stat(target); err == nil {
				t.Error("a refused configuration created targetDir")
			}
		})
	}
}

// TestRCBSUnencryptedMedia: a screen recording the server stored in clear
// (no screen certificate) fails without encryptionCertificate, leaving
// nothing in clear and the state where it was; with one, rcbs encrypts it
// and openssl opens it.
func TestRCBSUnencryptedMedia(t *testing.T) {
	e := newVaultEnv(t, false)
	video := plaintext(7, 50<<10)
	audio := plaintext(8, 20<<10)
	e.putRecording("S1", time.Date(2026, 8, 3, 14, 30, 0, 0, time.UTC),
		testMedia{"s1.mp3", "audio/mp3", audio}, testMedia{"s1.mp4", "video/mp4", video})
	if e.recs["S1"].media["s1.mp4"].encrypted {
		t.Fatal("the server encrypted a screen recording without a screen certificate")
	}
	target := t.TempDir()
	base := e.baseConfig("", target, "maxDate", "2026-08-03", "minDate", "2026-08-04")

	r := runRCBS(t, rcbsPassword, nil, "-config", rcbsConfig(t, base...))
	if r.code == 0 || !strings.Contains(r.stderr, "s1.mp4") || !strings.Contains(r.stderr, "encryptionCertificate") {
		t.Errorf("exit %d, stderr %q; want a failure naming s1.mp4 and encryptionCertificate", r.code, r.stderr)
	}
	if got := parseBatch(t, r.stdout); got != (batch{downloaded: 2, failed: 1, total: 3}) {
		t.Errorf("closing line %+v", got)
	}
	if !readState(t, target).IsZero() {
		t.Error("the state advanced although a file failed")
	}
	noClearText := func() {
		t.Helper()
		filepath.WalkDir(target, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if b, _ := os.ReadFile(path); bytes.Contains(b, video[:4096]) || bytes.Contains(b, audio[:4096]) {
					t.Errorf("%s holds media in clear", path)
				}
			}
			return nil
		})
	}
	noClearText()
	want := e.expectedFiles([]string{"S1"}, func(m *ingestedMedia) bool { return m.encrypted })
	checkTarget(t, target, want)

	// With a certificate of the customer's own, in AES-256.
	customerCert, customerKey := opensslCert(t, t.TempDir(), "customer")
	cfg := rcbsConfig(t, append(base, "encryptionCertificate", customerCert, "encryptionFormat", "AES-256")...)
	got, _ := backupOK(t, cfg, nil)
	if got != (batch{downloaded: 1, skipped: 2, total: 3}) {
		t.Errorf("closing line %+v", got)
	}
	noClearText()
	file := filepath.Join(recordDir(target, e.recs["S1"]), "s1.mp4")
	if plain := opensslDecrypt(t, file, customerKey); !bytes.Equal(plain, video) {
		t.Error("openssl's decryption of the file rcbs encrypted differs from the ingested video")
	}
	if info := runOpenSSL(t, "cms", "-cmsout", "-print", "-inform", "DER", "-in", file); !bytes.Contains(info, []byte("aes-256-cbc")) {
		t.Errorf("encryptionFormat=AES-256 not used:\n%s", info)
	}
	if st := readState(t, target); !st.Equal(time.Date(2026, 8, 4, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("state %v", st)
	}
	// A second run leaves it alone.
	if got, _ := backupOK(t, cfg, nil); got != (batch{skipped: 3, total: 3}) {
		t.Errorf("second run %+v", got)
	}
}

// TestRCBSPendingMedia: a record names a media file not stored yet. The
// run succeeds for the rest, says so, and keeps the state at that
// recording's stop time; once the media arrives, the next run fetches it.
func TestRCBSPendingMedia(t *testing.T) {
	e := newVaultEnv(t, false)
	day := time.Date(2026, 9, 9, 0, 0, 0, 0, time.UTC)
	e.putRecording("N1", day.Add(1*time.Hour), testMedia{"n1.mp3", "audio/mp3", plaintext(1, 1000)})
	pendingStop := day.Add(2*time.Hour + 30*time.Minute + 123*time.Millisecond)
	e.putRecording("N2", pendingStop, testMedia{"n2.mp3", "audio/mp3", nil})
	e.putRecording("N3", day.Add(5*time.Hour), testMedia{"n3.mp3", "audio/mp3", plaintext(3, 1000)})
	target := t.TempDir()
	cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-09-09", "minDate", "2026-09-10")...)

	got, r := backupOK(t, cfg, nil)
	if got != (batch{downloaded: 5, total: 5}) {
		t.Errorf("first run %+v", got)
	}
	if !strings.Contains(r.stdout, "1 media file(s) not yet stored on the server") {
		t.Errorf("the pending media is not mentioned:\n%s", r.stdout)
	}
	if st := readState(t, target); !st.Equal(pendingStop) {
		t.Errorf("state %v, want the pending recording's stop time %v", st, pendingStop)
	}
	checkTarget(t, target, e.expectedFiles(e.ids(), nil))

	e.putMedia("N2", "n2.mp3", "audio/mp3", plaintext(2, 1000))
	got, r = backupOK(t, cfg, nil)
	// The media, and N2's record, which now describes it.
	if got != (batch{downloaded: 2, skipped: 4, total: 6}) {
		t.Errorf("second run %+v\n%s", got, r.stdout)
	}
	if strings.Contains(r.stdout, "not yet stored") {
		t.Errorf("still pending:\n%s", r.stdout)
	}
	checkTarget(t, target, e.expectedFiles(e.ids(), nil))
	if st := readState(t, target); !st.Equal(day.Add(24 * time.Hour)) {
		t.Errorf("state %v, want the end of the period", st)
	}
}

// TestRCBSContentHash: against the real server, rcbs keeps each media
// file's contentSha256 (the plaintext's) in .rcbs-verified.json, which is
// what tells a re-wrapped file from other content later, and rcbs check
// decrypts every file to it; a record changed on disk is reported.
func TestRCBSContentHash(t *testing.T) {
	e := newVaultEnv(t, false)
	plain := plaintext(5, 4000)
	e.putRecording("C1", time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC), testMedia{"c1.mp3", "audio/mp3", plain})
	target := t.TempDir()
	cfg := rcbsConfig(t, e.baseConfig("", target, "maxDate", "2026-10-01", "minDate", "2026-10-02")...)
	backupOK(t, cfg, nil)
	sum := sha256.Sum256(plain)
	wantContent := hex.EncodeToString(sum[:])
	dir := recordDir(target, e.recs["C1"])
	var verified map[string]struct {
		SHA256        string `json:"sha256"`
		ContentSHA256 string `json:"contentSha256"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, backup.VerifiedFile)); err != nil || json.Unmarshal(b, &verified) != nil {
		t.Fatalf("%s: %v", backup.VerifiedFile, err)
	}
	if v := verified["c1.mp3"]; v.ContentSHA256 != wantContent || v.SHA256 != e.recs["C1"].media["c1.mp3"].sha256 {
		t.Errorf("verified entry %+v, want sha256 %s and contentSha256 %s", v, e.recs["C1"].media["c1.mp3"].sha256, wantContent)
	}
	wantSuccess(t, runRCBS(t, rcbsPassword, nil, "check", "-inkey", e.keyPath, "-target", target))

	record := filepath.Join(dir, "C1.json")
	b, err := os.ReadFile(record)
	if err != nil || !bytes.Contains(b, []byte(wantContent)) {
		t.Fatalf("C1.json lacks the contentSha256: %v\n%s", err, b)
	}
	other := sha256.Sum256([]byte("other content"))
	if err := os.WriteFile(record, bytes.ReplaceAll(b, []byte(wantContent), []byte(hex.EncodeToString(other[:]))), 0o644); err != nil {
		t.Fatal(err)
	}
	// The record is listed in the run's manifest: changed, it is altered.
	r := runRCBS(t, rcbsPassword, nil, "check", "-inkey", e.keyPath, "-target", target)
	if r.code != 1 || !strings.Contains(r.stdout, "ALTERED       "+record+": SHA-256 ") || !strings.Contains(r.stdout, "1 files verified, 0 missing, 1 altered, 0 undecryptable") {
		t.Errorf("check of a record with another contentSha256: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
