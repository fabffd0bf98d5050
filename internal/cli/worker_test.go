package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// TestWorkerRunsJobs: a job queued by a process that runs none (as
// `callvault sweep` is) is run by a separate `callvault worker` process on
// the same SQLite database; `callvault sweep` and `callvault audit verify`
// work on that database too.
func TestWorkerRunsJobs(t *testing.T) {
	requireOpenSSL(t)
	bin := buildCallvault(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: data, NoJobs: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	admin, err := srv.Svc.InitTenant(ctx, "acme", "admin", "worker-test-password")
	if err != nil {
		t.Fatal(err)
	}
	upload := func(p keyPair, usage ...vault.Usage) string {
		certPEM, _ := os.ReadFile(p.cert)
		keyPEM, _ := os.ReadFile(p.key)
		c, err := srv.Svc.UploadCertificate(ctx, admin, certPEM, keyPEM, nil, usage)
		if err != nil {
			t.Fatal(err)
		}
		return c.Alias
	}
	oldAlias := upload(certgen(t, dir, "old"), vault.UsageVoice)
	for i := range 10 {
		body := make([]byte, 32<<10)
		rand.Read(body)
		if _, err := srv.Svc.PutMedia(ctx, admin, service.PutMediaInput{RecordingID: fmt.Sprintf("W%d", i), MediaID: "a.mp3",
			ContentType: "audio/mp3", Size: int64(len(body)), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	newAlias := upload(certgen(t, dir, "new"))
	job, err := srv.Svc.StartRewrap(ctx, admin, oldAlias, newAlias, "")
	if err != nil {
		t.Fatal(err)
	}
	worker := exec.Command(bin, "worker", "-data", data)
	var out bytes.Buffer
	worker.Stdout, worker.Stderr = &out, &out
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { worker.Process.Kill(); worker.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for job.State != "completed" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if job, err = srv.Svc.Job(ctx, admin, job.ID); err != nil {
			t.Fatal(err)
		}
	}
	if job.State != "completed" || job.Done != 10 {
		t.Fatalf("the worker left the job %s with %d done; its output:\n%s", job.State, job.Done, out.String())
	}
	if c, _ := srv.Svc.Certificate(ctx, admin, oldAlias); c.DeployedCount != 0 {
		t.Fatalf("%d files still on the old certificate", c.DeployedCount)
	}
	worker.Process.Signal(os.Interrupt)
	worker.Wait()

	sweep, err := exec.Command(bin, "sweep", "-data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(sweep), "acme: 0 deleted, 0 held") {
		t.Fatalf("sweep: %v: %s", err, sweep)
	}
	verify, err := exec.Command(bin, "audit", "verify", "-data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(verify), "acme: ") || !strings.Contains(string(verify), "chain intact") {
		t.Fatalf("audit verify: %v: %s", err, verify)
	}
	export, err := exec.Command(bin, "audit", "export", "-data", data, "-tenant", "acme").Output()
	if err != nil || !strings.Contains(string(export), `"action":"certificate.rewrap"`) || !strings.Contains(string(export), `"action":"job.start"`) {
		t.Fatalf("audit export: %v: %s", err, export)
	}
	r := run(t, "audit", "verify")
	wantFailure(t, r, 2, "give -data DIR or -db URL")

	// An entry edited in the database: verify exits 1 naming it.
	db, err := sql.Open("sqlite", filepath.Join(data, "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_log SET user_name = 'mallory' WHERE tenant = 'acme' AND seq = 3`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	verify, err = exec.Command(bin, "audit", "verify", "-data", data, "-tenant", "acme").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(verify), "broken at entry 3") {
		t.Fatalf("audit verify of an edited trail: %v: %s", err, verify)
	}
}

// TestPeriodicSweep: serve queues the retention sweep every -sweep-every
// and the per-tenant job deletes what is past retention, keeping what a
// legal hold keeps.
func TestPeriodicSweep(t *testing.T) {
	bin := buildCallvault(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	init := exec.Command(bin, "init", "-data", data, "-tenant", "acme", "-admin", "admin@acme")
	init.Env = append(os.Environ(), "CALLVAULT_ADMIN_PASSWORD=sweep-test-password")
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("init: %v: %s", err, out)
	}
	_, base := startServeArgs(t, bin, data, "-sweep-every", "1s")
	call := func(method, path, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.SetBasicAuth("admin@acme", "sweep-test-password")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for _, id := range []string{"old", "held"} {
		if code := call("PUT", "/api/v2/recordings/"+id, `{"startTime":"2015-09-01T16:42:58.000+0000","stopTime":"2015-09-01T16:43:58.000+0000"}`); code != 200 {
			t.Fatalf("metadata %s: %d", id, code)
		}
	}
	if code := call("POST", "/api/v2/legal-holds", `{"name":"keep","recordingIds":["held"]}`); code != 201 {
		t.Fatalf("hold: %d", code)
	}
	if code := call("PUT", "/api/v2/settings/retention", `{"retentionDays":30}`); code != 200 {
		t.Fatalf("retention: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for call("GET", "/api/v2/recordings/old", "") != 404 {
		if time.Now().After(deadline) {
			t.Fatal("the periodic sweep did not delete the expired recording")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code := call("GET", "/api/v2/recordings/held", ""); code != 200 {
		t.Fatalf("the held recording: %d", code)
	}
}
