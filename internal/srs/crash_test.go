package srs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"callvault/internal/cms"
)

// TestKilledDuringRecording kills the srs program (SIGKILL, as a crash or
// a power cut would end it) during a call, starts it again, and checks
// that the cut-short file is reported stopped, uploaded with
// X-Media-Truncated, and that what it holds decrypts (cms.Salvage) to a
// video ffprobe reads.
func TestKilledDuringRecording(t *testing.T) {
	display := testDisplay(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "srs")
	if out, err := exec.Command("go", "build", "-o", bin, "callvault/cmd/srs").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	certPEM, _, keyPath := testCert(t, dir, "screen1")
	api := newAPIServer(t)
	api.setSettings(ScreenSettings{RecordingWhen: "voice", Certificates: []ScreenCertificate{{Alias: "screen1", Certificate: certPEM}}})
	config := filepath.Join(dir, "config.json")
	_ = os.WriteFile(config, []byte(fmt.Sprintf(`[{"name":"server","value":%q},{"name":"authenticationPort","value":0},{"name":"display","value":%q}]`,
		api.URL(), display)), 0o600)
	logPath := filepath.Join(dir, "GSR.log")
	start := func(run int) (*exec.Cmd, string) {
		cmd := exec.Command(bin, "-config", config)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		var url string
		waitFor(t, 10*time.Second, "srs to listen", func() bool {
			b, _ := os.ReadFile(logPath)
			m := regexp.MustCompile(`ServiceHandler: listening on (http\S+)`).FindAllStringSubmatch(string(b), -1)
			if len(m) >= run {
				url = m[run-1][1]
			}
			return url != ""
		})
		req, _ := http.NewRequest("GET", url+"/api/v2/me", nil)
		req.SetBasicAuth("agent1@acme", "pw-agent1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("login: %v %v", resp, err)
		}
		resp.Body.Close()
		return cmd, url
	}
	logText := func() string { b, _ := os.ReadFile(logPath); return string(b) }

	first, _ := start(1)
	api.issue("start", "rec-K9", "media-K9")
	part := filepath.Join(dir, "upload", "media-K9.cms.part")
	waitFor(t, 20*time.Second, "video in the .part file", func() bool {
		info, err := os.Stat(part)
		return err == nil && info.Size() > 8000
	})
	time.Sleep(1500 * time.Millisecond)
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	// The call ended while srs was down: the restarted srs has nothing to record.
	api.mu.Lock()
	api.active = map[string]Command{}
	api.mu.Unlock()

	start(2)
	waitFor(t, 20*time.Second, "the upload", func() bool { return strings.Contains(logText(), "Uploader: Upload of file was successful.") })
	if !strings.Contains(logText(), "WARN  Recorder: media-K9 was being recorded when srs stopped: queued for upload as cut short") {
		t.Errorf("log:\n%s", logText())
	}
	if stops := api.stopReports(); len(stops) != 1 || stops[0]["reason"] != ReasonCrash {
		t.Errorf("stop reports %v", stops)
	}
	m := api.storedMedia("media-K9")
	if m == nil || m.header.Get("X-Media-Truncated") != "true" {
		t.Fatalf("media %v", m)
	}
	keyPEM, _ := os.ReadFile(keyPath)
	block, _ := pem.Decode(keyPEM)
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := parseCertificate(certPEM)
	var plain bytes.Buffer
	res, err := cms.Salvage(&plain, bytes.NewReader(m.body), key, cert)
	if err != nil && !errors.Is(err, cms.ErrTruncated) {
		t.Fatalf("salvage: %v (%+v)", err, res)
	}
	video := filepath.Join(dir, "salvaged.mp4")
	_ = os.WriteFile(video, plain.Bytes(), 0o600)
	checkVideo(t, video)
}
