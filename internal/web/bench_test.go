package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/testenv"
	"callvault/internal/vault"
	"callvault/internal/web"
)

// BenchmarkSearchPage renders the first search page (50 rows) for an
// administrator and for a supervisor of one team, over a tenant of 100,000
// recordings of testenv.BenchRecording, loaded through the store. The
// figure is server time: handler in-process, no socket.
//
//	go test ./internal/web -run '^$' -bench SearchPage -benchtime 200x
func BenchmarkSearchPage(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: b.TempDir(), Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	svc := srv.Svc
	admin, err := svc.InitTenant(ctx, "acme", "admin", adminPassword)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, admin, service.UserInput{UserName: "lead", Password: ptr("password-lead"),
		Roles: []vault.Role{vault.RoleSupervisor}, AccessGroups: []string{"/Site1/Team7"}}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		rec := testenv.BenchRecording("acme", i)
		if err := svc.Store.UpdateRecording(ctx, "acme", rec.ID, func(r *vault.Recording, _ []vault.Media) error {
			*r = rec
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	logins := service.NewLogins(svc, service.LoginOptions{})
	h := web.New(svc, web.Options{Logins: logins}).Handler()
	for _, c := range []struct{ name, login, password, query string }{
		{"admin", "admin@acme", adminPassword, ""},
		{"admin-filtered", "admin@acme", adminPassword, "?caller=%2B19055551*&from=2024-02-01T00:00"},
		{"team-lead", "lead@acme", "password-lead", ""},
	} {
		token, _, err := logins.Login(ctx, c.login, c.password, "127.0.0.1")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", "/recordings"+c.query, nil)
				req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: token})
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
