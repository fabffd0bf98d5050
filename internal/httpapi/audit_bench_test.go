package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"callvault/internal/certs"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/testenv"
	"callvault/internal/vault"
)

// The audit benchmarks measure what the audit trail costs a play and a
// search: the same request with the trail on (each play or search appends
// one entry, in a transaction of its own, before anything is served) and
// off (Service.DisableAudit), as sub-benchmarks audit=on and audit=off. On
// the backends CALLVAULT_TEST_BACKEND names (default SQLite and files).
// Run the two alternately, one process per run, not one after the other
// with -count, so that the machine's drift hits both alike:
//
//	bash bench/custodybench/auditcost.sh    # 12 rounds, then benchstat -col /audit

// BenchmarkAuditPlay is BenchmarkPlayRange (a 64 KiB range of an
// encrypted 150 KB recording, in parallel) with the trail on and off.
func BenchmarkAuditPlay(b *testing.B) {
	for _, on := range []bool{true, false} {
		b.Run("audit="+onOff(on), func(b *testing.B) {
			srv, admin := auditBenchServer(b, on)
			body := bytes.Repeat([]byte{7}, 150000)
			if _, err := srv.Svc.PutMedia(context.Background(), admin, service.PutMediaInput{RecordingID: "R1", MediaID: "m.mp3",
				ContentType: "audio/mp3", Size: int64(len(body)), Body: bytes.NewReader(body)}); err != nil {
				b.Fatal(err)
			}
			h := srv.Handler()
			play := func() {
				req := httptest.NewRequest("GET", "/api/v2/recordings/R1/play/m.mp3", nil)
				req.SetBasicAuth("admin@bench", "bench-password")
				req.Header.Set("Range", "bytes=40000-105535")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusPartialContent {
					b.Fatal(w.Code, w.Body.String())
				}
			}
			play() // the one password check (argon2) and the first read, untimed
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					play()
				}
			})
			b.StopTimer()
			checkAuditCount(b, srv, admin, wantEntries(b, on), "media.play")
		})
	}
}

// BenchmarkAuditSearch is a search of 2,000 stored recordings with the
// trail on and off: page=1000 is BenchmarkListPage's 1,000-record page,
// page=10 a first page of ten (where the entry weighs most).
func BenchmarkAuditSearch(b *testing.B) {
	for _, page := range []string{"1000", "10"} {
		b.Run("page="+page, func(b *testing.B) {
			for _, on := range []bool{true, false} {
				b.Run("audit="+onOff(on), func(b *testing.B) {
					srv, admin := auditBenchServer(b, on)
					ctx := context.Background()
					for i := 0; i < 2000; i++ {
						r := testenv.BenchRecording("bench", i)
						if err := srv.Svc.Store.UpdateRecording(ctx, "bench", r.ID, func(x *vault.Recording, _ []vault.Media) error { *x = r; return nil }); err != nil {
							b.Fatal(err)
						}
					}
					h := srv.Handler()
					search := func() {
						req := httptest.NewRequest("GET", "/api/v2/recordings?limit="+page, nil)
						req.SetBasicAuth("admin@bench", "bench-password")
						w := httptest.NewRecorder()
						h.ServeHTTP(w, req)
						if w.Code != http.StatusOK {
							b.Fatal(w.Code, w.Body.String())
						}
					}
					search() // the one password check (argon2), untimed
					b.ResetTimer()
					for b.Loop() {
						search()
					}
					b.StopTimer()
					checkAuditCount(b, srv, admin, wantEntries(b, on), "recording.search")
				})
			}
		})
	}
}

// BenchmarkAuditAppend is the audit's part of a play alone: the entry
// RecordMediaAccess writes, in its own transaction, one after another.
func BenchmarkAuditAppend(b *testing.B) {
	srv, admin := auditBenchServer(b, true)
	ctx := service.WithClient(context.Background(), "192.0.2.10")
	b.ResetTimer()
	for b.Loop() {
		if err := srv.Svc.RecordMediaAccess(ctx, admin, true, "R1", "m.mp3", "bytes=40000-105535"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	checkAuditCount(b, srv, admin, b.N, "media.play")
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// auditBenchServer is benchVoiceServer on the backends the environment
// names, with the audit trail on or off.
func auditBenchServer(b *testing.B, audit bool) (*server.Server, *vault.User) {
	b.Helper()
	be := testenv.Backend(b)
	srv, err := server.Open(context.Background(), server.Config{DataDir: b.TempDir(), DB: be.DB, Blob: be.Blob,
		NoJobs: true, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	admin, err := srv.Svc.InitTenant(ctx, "bench", "admin", "bench-password")
	if err != nil {
		b.Fatal(err)
	}
	pair, err := certs.Generate(certs.GenerateOptions{Subject: "/CN=bench", Days: 30})
	if err != nil {
		b.Fatal(err)
	}
	keyPEM, _ := certs.EncodePrivateKeyPEM(pair.Key, false)
	if _, err := srv.Svc.UploadCertificate(ctx, admin, certs.EncodeCertificatePEM(pair.Cert), keyPEM, nil, []vault.Usage{vault.UsageVoice}); err != nil {
		b.Fatal(err)
	}
	srv.Svc.DisableAudit = !audit
	return srv, admin
}

// wantEntries is how many entries a benchmark's requests write: b.N and
// the untimed first when the trail is on, none when it is off.
func wantEntries(b *testing.B, on bool) int {
	if on {
		return b.N + 1
	}
	return 0
}

// checkAuditCount checks that the trail holds want entries of action: the
// benchmark measured what it says.
func checkAuditCount(b *testing.B, srv *server.Server, admin *vault.User, want int, action string) {
	b.Helper()
	n := 0
	err := srv.Svc.Store.ScanAudit(context.Background(), admin.Tenant, func(e vault.AuditEntry) error {
		if e.Action == action {
			n++
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if n != want {
		b.Fatalf("%d %s entries after %d requests, want %d", n, action, b.N, want)
	}
}
