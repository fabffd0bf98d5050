package cli

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// builtCallvault is the callvault binary, built once for all the tests
// that run it (TestMain removes it).
var (
	buildOnce      sync.Once
	builtCallvault string
	buildErr       error
	buildDir       string
)

// buildCallvault returns the binary, building it on first use.
func buildCallvault(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "callvault-bin-"); buildErr != nil {
			return
		}
		builtCallvault = filepath.Join(buildDir, "callvault")
		if out, err := exec.Command("go", "build", "-o", builtCallvault, "callvault/cmd/callvault").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtCallvault
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// startServe starts `callvault serve` on a free port and returns its URL.
func startServe(t *testing.T, bin, dataDir string) (*exec.Cmd, string) {
	t.Helper()
	return startServeArgs(t, bin, dataDir)
}

// TestKilledMidUploadLeavesNothing kills the server with SIGKILL in the
// middle of an upload: after a restart nothing serves a half file and no
// metadata claims it, and uploads work again.
func TestKilledMidUploadLeavesNothing(t *testing.T) {
	bin := buildCallvault(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	init := exec.Command(bin, "init", "-data", data, "-tenant", "acme", "-admin", "admin@acme")
	init.Env = append(os.Environ(), "CALLVAULT_ADMIN_PASSWORD=kill-test-password")
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	certPath, keyPath := filepath.Join(dir, "t.pem"), filepath.Join(dir, "t.key")
	if out, err := exec.Command(bin, "certgen", "-subj", "/CN=Kill Test/O=callvault", "-out", certPath, "-keyout", keyPath).CombinedOutput(); err != nil {
		t.Fatalf("certgen: %v: %s", err, out)
	}
	cmd, base := startServe(t, bin, data)
	do := func(req *http.Request) (*http.Response, error) {
		req.SetBasicAuth("admin@acme", "kill-test-password")
		return http.DefaultClient.Do(req)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for field, path := range map[string]string{"certificate": certPath, "key": keyPath} {
		w, _ := mw.CreateFormFile(field, filepath.Base(path))
		b, _ := os.ReadFile(path)
		w.Write(b)
	}
	mw.WriteField("assign", "voice")
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/api/v2/certificates", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("certificate upload: %v %v", err, res)
	}
	res.Body.Close()

	// An upload that sends half its body, then the server dies.
	pr, pw := io.Pipe()
	sent, killed := make(chan struct{}), make(chan struct{})
	go func() {
		pw.Write(make([]byte, 2<<20))
		close(sent)
		<-killed // the rest never comes
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	req, _ = http.NewRequest("PUT", base+"/api/v2/recordings/K1/media/half.mp3", pr)
	req.Header.Set("Content-Type", "audio/mp3")
	req.ContentLength = 4 << 20
	done := make(chan struct{})
	go func() {
		if res, err := do(req); err == nil {
			res.Body.Close()
		}
		close(done)
	}()
	<-sent
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	close(killed)
	<-done

	_, base = startServe(t, bin, data)
	get := func(path string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		res, err := do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := get("/api/v2/recordings/K1"); code != 404 {
		t.Fatalf("after the kill, recording K1: %d, want 404", code)
	}
	if code := get("/api/v2/recordings/K1/media/half.mp3"); code != 404 {
		t.Fatalf("after the kill, the half media: %d, want 404", code)
	}
	// No object under a final name: only a temporary file may remain.
	filepath.WalkDir(filepath.Join(data, "media"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".tmp") {
			t.Errorf("a file under a final name survived the kill: %s", path)
		}
		return nil
	})
	// And the server takes the upload again.
	body := bytes.Repeat([]byte("x"), 1<<20)
	req, _ = http.NewRequest("PUT", base+"/api/v2/recordings/K1/media/half.mp3", bytes.NewReader(body))
	req.Header.Set("Content-Type", "audio/mp3")
	res, err = do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("upload after restart: %v %v", err, res)
	}
	res.Body.Close()
	if code := get("/api/v2/recordings/K1/play/half.mp3"); code != 200 {
		t.Fatalf("play after restart: %d", code)
	}
}
