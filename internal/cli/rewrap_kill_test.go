package cli

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
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

// startServeArgs starts `callvault serve` on a free port with more flags
// and returns its URL (its first line: "callvault serving on URL …").
func startServeArgs(t *testing.T, bin, dataDir string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "-data", dataDir, "-addr", "127.0.0.1:0", "-metrics-addr", ""}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("serve did not start: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) < 4 {
		t.Fatalf("unexpected start line %q", line)
	}
	return cmd, fields[3]
}

// TestRewrapSurvivesSIGKILL re-wraps 200 files, kills the server with
// SIGKILL halfway, restarts it, and checks that the job resumes and that
// every file opens with the new key in openssl: nothing lost, nothing left
// on the old certificate.
func TestRewrapSurvivesSIGKILL(t *testing.T) {
	requireOpenSSL(t)
	bin := buildCallvault(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	init := exec.Command(bin, "init", "-data", data, "-tenant", "acme", "-admin", "admin@acme")
	init.Env = append(os.Environ(), "CALLVAULT_ADMIN_PASSWORD=rewrap-test-password")
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	old, fresh := certgen(t, dir, "old"), certgen(t, dir, "new")
	flags := []string{"-job-slice", "1s", "-job-rescue-after", "3s"}
	cmd, base := startServeArgs(t, bin, data, flags...)
	call := func(method, path, contentType string, body io.Reader) (int, []byte) {
		req, _ := http.NewRequest(method, base+path, body)
		req.SetBasicAuth("admin@acme", "rewrap-test-password")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	upload := func(pair keyPair, assign string) string {
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		for field, path := range map[string]string{"certificate": pair.cert, "key": pair.key} {
			w, _ := mw.CreateFormFile(field, filepath.Base(path))
			b, _ := os.ReadFile(path)
			w.Write(b)
		}
		if assign != "" {
			mw.WriteField("assign", assign)
		}
		mw.Close()
		code, body := call("POST", "/api/v2/certificates", mw.FormDataContentType(), &form)
		if code != 201 {
			t.Fatalf("certificate upload: %d %s", code, body)
		}
		var c struct{ Alias string }
		json.Unmarshal(body, &c)
		return c.Alias
	}
	oldAlias := upload(old, "voice")
	const n = 200
	plain := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		id := fmt.Sprintf("K%03d", i)
		body := make([]byte, 256<<10)
		rand.Read(body)
		plain[id] = body
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if code, b := call("PUT", "/api/v2/recordings/"+id+"/media/a.mp3", "audio/mp3", bytes.NewReader(body)); code != 201 {
				mu.Lock()
				t.Errorf("upload %s: %d %s", id, code, b)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	newAlias := upload(fresh, "")
	code, body := call("POST", "/api/v2/certificates/"+oldAlias+"/rewrap", "application/json", strings.NewReader(`{"to":"`+newAlias+`"}`))
	if code != 202 {
		t.Fatalf("rewrap: %d %s", code, body)
	}
	var job struct {
		ID    int64
		State string
		Done  int
		Total int
	}
	json.Unmarshal(body, &job)
	jobPath := fmt.Sprintf("/api/v2/jobs/%d", job.ID)
	poll := func() {
		_, b := call("GET", jobPath, "", nil)
		json.Unmarshal(b, &job)
	}
	for deadline := time.Now().Add(time.Minute); job.Done < 20 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		poll()
	}
	if job.Done >= n {
		t.Fatalf("the job finished before the kill (done %d): make the files bigger", job.Done)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killedAt := job.Done
	_, base = startServeArgs(t, bin, data, flags...)
	for deadline := time.Now().Add(2 * time.Minute); job.State != "completed" && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		poll()
	}
	if job.State != "completed" {
		t.Fatalf("after the restart the job is %s (done %d of %d)", job.State, job.Done, job.Total)
	}
	t.Logf("killed after %d files; the job completed after the restart", killedAt)
	if job.Done != n || job.Total != n {
		t.Fatalf("the job reports %d of %d done, want %d of %d", job.Done, job.Total, n, n)
	}

	code, body = call("GET", "/api/v2/certificates/"+oldAlias, "", nil)
	if code != 200 || !strings.Contains(string(body), `"deployedCount":0`) {
		t.Fatalf("old certificate: %d %s", code, body)
	}
	out := filepath.Join(dir, "out.mp3")
	for id, want := range plain {
		code, stored := call("GET", "/api/v2/recordings/"+id+"/media/a.mp3", "", nil)
		if code != 200 {
			t.Fatalf("fetch %s: %d", id, code)
		}
		in := filepath.Join(dir, "in.p7m")
		os.WriteFile(in, stored, 0o600)
		os.Remove(out)
		if msg, err := exec.Command("openssl", "cms", "-decrypt", "-inform", "DER", "-binary", "-in", in, "-inkey", fresh.key, "-out", out).CombinedOutput(); err != nil {
			t.Fatalf("openssl cannot open %s with the new key: %v %s", id, err, msg)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
			t.Fatalf("%s decrypts to other bytes", id)
		}
	}
	if code, body := call("DELETE", "/api/v2/certificates/"+oldAlias, "", nil); code != 204 {
		t.Fatalf("delete the old certificate: %d %s", code, body)
	}
}
