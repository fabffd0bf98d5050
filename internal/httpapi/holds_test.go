package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"callvault/internal/audit"
	"callvault/internal/samples"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// ingest stores a recording that stopped age ago with one MP3.
func (e *env) ingest(id string, age time.Duration, caller string) map[string]any {
	e.t.Helper()
	stop := e.clock().Add(-age)
	doc := fmt.Sprintf(`{"startTime":%q,"stopTime":%q,"callerPhoneNumber":%q}`,
		stop.Add(-time.Minute).Format(time.RFC3339), stop.Format(time.RFC3339), caller)
	if r := e.admin("PUT", "/api/v2/recordings/"+id, "application/json", strings.NewReader(doc)); r.status != 200 {
		e.t.Fatalf("metadata %s: %d %s", id, r.status, r.body)
	}
	audio := samples.Recordings()[0].Media[0].Data
	r := e.admin("PUT", "/api/v2/recordings/"+id+"/media/a.mp3", "audio/mp3", bytes.NewReader(audio))
	if r.status != 201 {
		e.t.Fatalf("media %s: %d %s", id, r.status, r.body)
	}
	return r.json(e.t)
}

// runJobs runs the server's job queue for the test.
func (e *env) runJobs() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.srv.RunJobs(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
}

func (e *env) sweep() service.SweepResult {
	e.t.Helper()
	res, err := e.srv.Svc.SweepTenant(context.Background(), "acme", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) exists(id string) bool {
	e.t.Helper()
	r := e.admin("GET", "/api/v2/recordings/"+id, "", nil)
	if r.status != 200 && r.status != 404 {
		e.t.Fatalf("GET %s: %d %s", id, r.status, r.body)
	}
	return r.status == 200
}

func (e *env) setRetention(body string) {
	e.t.Helper()
	if r := e.admin("PUT", "/api/v2/settings/retention", "application/json", strings.NewReader(body)); r.status != 200 {
		e.t.Fatalf("retention %s: %d %s", body, r.status, r.body)
	}
}

// auditOf returns the tenant's entries with the action.
func (e *env) auditOf(action string) []vault.AuditEntry {
	e.t.Helper()
	r := e.admin("GET", "/api/v2/audit?limit=1000&action="+action, "", nil)
	if r.status != 200 {
		e.t.Fatalf("audit: %d %s", r.status, r.body)
	}
	var page struct{ Entries []vault.AuditEntry }
	if err := json.Unmarshal(r.body, &page); err != nil {
		e.t.Fatal(err)
	}
	return page.Entries
}

// TestRetentionWaitsForBackup: with requireBackup the sweeper keeps a
// recording past its period until a receipt with the stored hash comes,
// then deletes it (media, metadata, receipts) with one audit entry; after
// maxBackupWaitDays it deletes without one.
func TestRetentionWaitsForBackup(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	old := e.ingest("old", 40*24*time.Hour, "111")
	e.ingest("older", 50*24*time.Hour, "222")
	e.setRetention(`{"retentionDays":30,"requireBackup":true,"maxBackupWaitDays":30}`)
	if r := e.admin("GET", "/api/v2/settings/retention", "", nil).json(t); r["requireBackup"] != true || r["maxBackupWaitDays"] != float64(30) {
		t.Fatalf("settings: %v", r)
	}
	if res := e.sweep(); res.Deleted != 0 || res.HeldForBackup != 2 {
		t.Fatalf("sweep without receipts: %+v; want both held", res)
	}
	if m := e.admin("GET", "/metrics", "", nil); m.status != 200 || !strings.Contains(string(m.body), `callvault_retention_held{tenant="acme"} 2`) {
		t.Fatalf("metrics after holding two: %d %.2000s", m.status, m.body)
	}
	if !e.exists("old") || e.admin("GET", "/api/v2/recordings/old", "", nil).json(t)["backedUp"] != false {
		t.Fatal("an unreceipted recording is gone or shown as backed up")
	}
	// A receipt with another hash is refused; the right one is kept.
	bad := `[{"recordingId":"old","mediaId":"a.mp3","sha256":"` + strings.Repeat("0", 64) + `"}]`
	r := e.admin("POST", "/api/v2/backups/receipts", "application/json", strings.NewReader(bad))
	if r.status != 200 || r.json(t)["accepted"] != float64(0) {
		t.Fatalf("a wrong hash: %d %s", r.status, r.body)
	}
	good := `[{"recordingId":"old","mediaId":"a.mp3","sha256":"` + old["sha256"].(string) + `"},{"recordingId":"nope","mediaId":"a.mp3","sha256":"` + strings.Repeat("a", 64) + `"}]`
	r = e.admin("POST", "/api/v2/backups/receipts", "application/json", strings.NewReader(good))
	if r.status != 200 || r.json(t)["accepted"] != float64(1) || len(r.json(t)["rejected"].([]any)) != 1 {
		t.Fatalf("receipts: %d %s", r.status, r.body)
	}
	rec := e.admin("GET", "/api/v2/recordings/old", "", nil).json(t)
	if rec["backedUp"] != true || rec["backedUpBy"] != "admin" || rec["backedUpAt"] == nil {
		t.Fatalf("after its receipt: backedUp %v by %v at %v", rec["backedUp"], rec["backedUpBy"], rec["backedUpAt"])
	}
	if res := e.sweep(); res.Deleted != 1 || res.HeldForBackup != 1 {
		t.Fatalf("sweep with one receipt: %+v", res)
	}
	if e.exists("old") || !e.exists("older") {
		t.Fatal("the sweep deleted the wrong recording")
	}
	deletes := e.auditOf("recording.delete")
	if len(deletes) != 1 || deletes[0].Target != "old" || deletes[0].User != "" {
		t.Fatalf("audit of the deletion: %+v", deletes)
	}
	// maxBackupWaitDays: "older" fell due 20 days ago; 11 more and it goes.
	e.advance(11 * 24 * time.Hour)
	if res := e.sweep(); res.Deleted != 1 || res.Forced != 1 {
		t.Fatalf("sweep after maxBackupWaitDays: %+v", res)
	}
	if files := e.backends.Objects(t, e.dir); len(files) > 0 {
		t.Fatalf("deletion left media objects: %v", files)
	}
	// The receipts endpoint checks its input.
	wantError(t, e.admin("POST", "/api/v2/backups/receipts", "application/json", strings.NewReader(`{"x":1}`)), 400, "invalid")
}

// TestLegalHold: a hold by id and one by filter keep their recordings,
// present and future, from DELETE and from retention, are shown on the
// recording and in search, and once released let them go.
func TestLegalHold(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	e.ingest("a", 40*24*time.Hour, "5550001")
	e.ingest("b", 40*24*time.Hour, "6660001")
	e.ingest("c", 40*24*time.Hour, "7770001")

	r := e.admin("POST", "/api/v2/legal-holds", "application/json", strings.NewReader(`{"name":"Case 42","reason":"court order","recordingIds":["a"]}`))
	if r.status != 201 || r.json(t)["count"] != float64(1) {
		t.Fatalf("hold by id: %d %s", r.status, r.body)
	}
	byID := r.json(t)["id"].(string)
	r = e.admin("POST", "/api/v2/legal-holds", "application/json", strings.NewReader(`{"name":"Fraud 555","filter":{"callerPhoneNumber":"555*"}}`))
	if r.status != 201 || r.json(t)["count"] != float64(1) {
		t.Fatalf("hold by filter: %d %s", r.status, r.body)
	}
	byFilter := r.json(t)["id"].(string)
	// A future recording matching the filter is held too.
	e.ingest("d", 40*24*time.Hour, "5559999")
	if r := e.admin("GET", "/api/v2/legal-holds/"+byFilter, "", nil); r.json(t)["count"] != float64(2) {
		t.Fatalf("the filter hold does not count the new recording: %s", r.body)
	}
	got := e.admin("GET", "/api/v2/recordings/a", "", nil).json(t)["legalHolds"]
	if fmt.Sprint(got) != "[Case 42 Fraud 555]" {
		t.Fatalf("recording a shows holds %v", got)
	}
	if !strings.Contains(string(e.admin("GET", "/api/v2/recordings?callerPhoneNumber=555*", "", nil).body), `"legalHolds":["Fraud 555"]`) {
		t.Fatal("search results do not show the hold")
	}
	r = e.admin("DELETE", "/api/v2/recordings/d", "", nil)
	wantError(t, r, 409, "conflict")
	if !strings.Contains(string(r.body), "Fraud 555") {
		t.Fatalf("the refusal does not name the hold: %s", r.body)
	}
	e.setRetention(`{"retentionDays":30}`)
	if res := e.sweep(); res.Deleted != 2 || res.HeldByHold != 2 {
		t.Fatalf("sweep: %+v; want b and c deleted, a and d held", res)
	}
	if !e.exists("a") || e.exists("b") || e.exists("c") || !e.exists("d") {
		t.Fatal("retention deleted a held recording, or kept one no hold keeps")
	}
	// Wrong input: no name, no target, an empty filter.
	wantError(t, e.admin("POST", "/api/v2/legal-holds", "application/json", strings.NewReader(`{"recordingIds":["a"]}`)), 400, "invalid")
	wantError(t, e.admin("POST", "/api/v2/legal-holds", "application/json", strings.NewReader(`{"name":"x"}`)), 400, "invalid")
	wantError(t, e.admin("POST", "/api/v2/legal-holds", "application/json", strings.NewReader(`{"name":"x","filter":{}}`)), 400, "invalid")
	wantError(t, e.admin("POST", "/api/v2/legal-holds", "application/json", strings.NewReader(`{"name":"x","filter":{"bogus":"1"}}`)), 400, "invalid")
	wantError(t, e.admin("POST", "/api/v2/legal-holds", "application/json", strings.NewReader(`{"name":"x","recordingIds":["../x"]}`)), 400, "invalid")
	r = e.admin("POST", "/api/v2/legal-holds", "application/json", strings.NewReader(`{"name":"x","recordingIds":["a","ghost"]}`))
	wantError(t, r, 404, "not_found")
	if !strings.Contains(string(r.body), `\"ghost\"`) {
		t.Fatalf("the refusal does not name the missing recording: %s", r.body)
	}

	// Released, they fall back under retention.
	for _, id := range []string{byID, byFilter} {
		if r := e.admin("DELETE", "/api/v2/legal-holds/"+id, "", nil); r.status != 204 {
			t.Fatalf("release: %d %s", r.status, r.body)
		}
	}
	wantError(t, e.admin("DELETE", "/api/v2/legal-holds/"+byID, "", nil), 404, "not_found")
	holds := e.admin("GET", "/api/v2/legal-holds", "", nil).json(t)["legalHolds"].([]any)
	if len(holds) != 2 || holds[0].(map[string]any)["releasedBy"] != "admin" {
		t.Fatalf("released holds are not listed as released: %v", holds)
	}
	if res := e.sweep(); res.Deleted != 2 || res.Held() != 0 {
		t.Fatalf("sweep after release: %+v", res)
	}
	if len(e.auditOf("legalhold.")) != 4 {
		t.Fatalf("legal-hold changes in the audit: %+v", e.auditOf("legalhold."))
	}
}

// TestAuditTrail: reads and changes leave chained entries that admins page
// through; editing a stored entry is reported at that entry.
func TestAuditTrail(t *testing.T) {
	e := newEnv(t, 0)
	e.setUpVoice()
	e.ingest("R1", time.Hour, "123")
	e.admin("GET", "/api/v2/recordings?callerPhoneNumber=12*", "", nil)
	e.admin("GET", "/api/v2/recordings/R1", "", nil)
	e.admin("GET", "/api/v2/recordings/R1/play/a.mp3", "", nil, "Range", "bytes=100-")
	e.admin("GET", "/api/v2/recordings/R1/media/a.mp3", "", nil)
	e.do("GET", "/api/v2/me", "admin@acme", "wrong", "", nil)
	e.admin("DELETE", "/api/v2/recordings/R1", "", nil)

	for action, check := range map[string]func(vault.AuditEntry) bool{
		"recording.search": func(a vault.AuditEntry) bool { return strings.Contains(string(a.Details), `"callerPhoneNumber":"12*"`) },
		"recording.view":   func(a vault.AuditEntry) bool { return a.Target == "R1" },
		"media.play":       func(a vault.AuditEntry) bool { return strings.Contains(string(a.Details), `"rangeStart":100`) },
		"media.fetch":      func(a vault.AuditEntry) bool { return strings.Contains(string(a.Details), `"mediaId":"a.mp3"`) },
		"login": func(a vault.AuditEntry) bool {
			return a.Outcome == vault.OutcomeFailed && a.User == "admin" && a.IP != ""
		},
		"recording.delete":   func(a vault.AuditEntry) bool { return a.Target == "R1" && a.User == "admin" },
		"certificate.upload": func(a vault.AuditEntry) bool { return a.Target != "" },
	} {
		found := false
		for _, a := range e.auditOf(action) {
			found = found || check(a)
		}
		if !found {
			t.Errorf("no fitting %s entry: %+v", action, e.auditOf(action))
		}
	}
	// Filters, paging, admins only.
	r := e.admin("GET", "/api/v2/audit?limit=2", "", nil).json(t)
	if len(r["entries"].([]any)) != 2 || r["next"] == nil {
		t.Fatalf("first page: %v", r)
	}
	next := r["next"].(string)
	r2 := e.admin("GET", strings.TrimPrefix(next, e.http.URL), "", nil).json(t)
	if first := r2["entries"].([]any)[0].(map[string]any)["seq"]; first != float64(3) {
		t.Fatalf("the second page starts at %v", first)
	}
	wantError(t, e.admin("GET", "/api/v2/audit?bogus=1", "", nil), 400, "invalid")
	e.admin("POST", "/api/v2/users", "application/json", strings.NewReader(`{"userName":"sup","password":"supervisor-pw","roles":["supervisor"],"accessGroups":["/"]}`))
	wantError(t, e.do("GET", "/api/v2/audit", "sup@acme", "supervisor-pw", "", nil), 403, "forbidden")

	ctx := context.Background()
	store := e.srv.Svc.Store
	n, err := service.VerifyAudit(ctx, store, "acme")
	if err != nil || n < 10 {
		t.Fatalf("verify: %d entries, %v", n, err)
	}
	// Edit entry 5 in the database itself.
	var db *sql.DB
	if e.backends.DB == "" {
		db, err = sql.Open("sqlite", filepath.Join(e.dir, "callvault.db"))
	} else {
		db, err = sql.Open("pgx", e.backends.DB)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_log SET target = 'someone-else' WHERE tenant = 'acme' AND seq = 5`); err != nil {
		t.Fatal(err)
	}
	_, err = service.VerifyAudit(ctx, store, "acme")
	var broken *audit.BrokenError
	if !errors.As(err, &broken) || broken.Seq != 5 {
		t.Fatalf("after editing entry 5, verify says %v", err)
	}
	if n, err := service.VerifyAudit(ctx, store, "other"); err != nil {
		t.Fatalf("the other tenant's chain: %d, %v", n, err)
	}
}

// TestRewrap: every file encrypted for the old certificate moves to the
// new one without re-encryption; openssl opens each with the new key; the
// old certificate's deployedCount reaches 0 and it can be deleted; a
// receipt for the file before the re-wrap still counts.
func TestRewrap(t *testing.T) {
	e := newEnv(t, 0)
	e.runJobs()
	_, oldKey := e.setUpVoice()
	oldAlias := e.admin("GET", "/api/v2/certificates", "", nil).json(t)["certificates"].([]any)[0].(map[string]any)["alias"].(string)
	const n = 20
	before := map[string]map[string]any{}
	for i := range n {
		id := fmt.Sprintf("rw-%02d", i)
		before[id] = e.ingest(id, time.Hour, "1")
	}
	e.admin("POST", "/api/v2/backups/receipts", "application/json", strings.NewReader(
		`[{"recordingId":"rw-00","mediaId":"a.mp3","sha256":"`+before["rw-00"]["sha256"].(string)+`"}]`))
	dir := t.TempDir()
	newCert, newKey := guideCert(t, dir, "new", 2048)
	r := e.uploadCert(newCert, newKey, nil)
	if r.status != 201 {
		t.Fatalf("new certificate: %d %s", r.status, r.body)
	}
	newAlias := r.json(t)["alias"].(string)
	wantError(t, e.admin("POST", "/api/v2/certificates/"+oldAlias+"/rewrap", "application/json", strings.NewReader(`{"to":"`+oldAlias+`"}`)), 400, "invalid")
	wantError(t, e.admin("POST", "/api/v2/certificates/"+oldAlias+"/rewrap", "application/json", strings.NewReader(`{"to":"nope"}`)), 404, "not_found")
	r = e.admin("POST", "/api/v2/certificates/"+oldAlias+"/rewrap", "application/json", strings.NewReader(`{"to":"`+newAlias+`"}`))
	if r.status != 202 {
		t.Fatalf("rewrap: %d %s", r.status, r.body)
	}
	job := fmt.Sprint(int64(r.json(t)["id"].(float64)))
	deadline := time.Now().Add(time.Minute)
	var state map[string]any
	for time.Now().Before(deadline) {
		state = e.admin("GET", "/api/v2/jobs/"+job, "", nil).json(t)
		if state["state"] == "completed" || state["state"] == "discarded" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if state["state"] != "completed" || state["done"] != float64(n) || state["failed"] != float64(0) {
		t.Fatalf("job: %v", state)
	}
	if c := e.admin("GET", "/api/v2/certificates/"+oldAlias, "", nil).json(t)["deployedCount"]; c != float64(0) {
		t.Fatalf("old certificate still deployed on %v files", c)
	}
	audio := samples.Recordings()[0].Media[0].Data
	for id, b := range before {
		m := e.mediaEntry(id, "a.mp3")
		if m["contentSha256"] != b["contentSha256"] || m["sha256"] == b["sha256"] || fmt.Sprint(m["certAlias"]) != "["+newAlias+"]" {
			t.Fatalf("%s after the re-wrap: %v (before %v)", id, m, b)
		}
		r := e.admin("GET", "/api/v2/recordings/"+id+"/media/a.mp3", "", nil)
		in, out := filepath.Join(dir, id+".p7m"), filepath.Join(dir, id+".mp3")
		os.WriteFile(in, r.body, 0o600)
		if msg, err := exec.Command("openssl", "cms", "-decrypt", "-inform", "DER", "-binary", "-in", in, "-inkey", newKey, "-out", out).CombinedOutput(); err != nil {
			t.Fatalf("openssl with the new key: %v %s", err, msg)
		}
		if plain, _ := os.ReadFile(out); !bytes.Equal(plain, audio) {
			t.Fatalf("%s decrypts to other bytes", id)
		}
		// openssl given a key no recipient matches decrypts with a random
		// key (its countermeasure to padding oracles), which now and then
		// passes the padding check: what counts is the plaintext.
		os.Remove(out)
		exec.Command("openssl", "cms", "-decrypt", "-inform", "DER", "-binary", "-in", in, "-inkey", oldKey, "-out", out).Run()
		if plain, _ := os.ReadFile(out); bytes.Equal(plain, audio) {
			t.Fatalf("the old key still opens %s", id)
		}
	}
	if e.admin("GET", "/api/v2/recordings/rw-00", "", nil).json(t)["backedUp"] != true {
		t.Fatal("the re-wrap undid backedUp")
	}
	// A receipt for the replaced file still counts.
	r = e.admin("POST", "/api/v2/backups/receipts", "application/json", strings.NewReader(
		`[{"recordingId":"rw-01","mediaId":"a.mp3","sha256":"`+before["rw-01"]["sha256"].(string)+`"}]`))
	if r.json(t)["accepted"] != float64(1) {
		t.Fatalf("a receipt for the file the re-wrap replaced: %s", r.body)
	}
	if r := e.admin("DELETE", "/api/v2/certificates/"+oldAlias, "", nil); r.status != 204 {
		t.Fatalf("delete the retired certificate: %d %s", r.status, r.body)
	}
	if jobs := e.admin("GET", "/api/v2/jobs", "", nil).json(t)["jobs"].([]any); len(jobs) == 0 {
		t.Fatal("the job list is empty")
	}
}
