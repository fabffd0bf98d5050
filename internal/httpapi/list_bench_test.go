package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"callvault/internal/server"
	"callvault/internal/testenv"
	"callvault/internal/vault"
)

// benchServer opens a server with a tenant "bench" and its admin
// admin@bench (password bench-password), closed when b ends.
func benchServer(b *testing.B) (*server.Server, *vault.User) {
	b.Helper()
	srv, err := server.Open(context.Background(), server.Config{DataDir: b.TempDir(), Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	admin, err := srv.Svc.InitTenant(context.Background(), "bench", "admin", "bench-password")
	if err != nil {
		b.Fatal(err)
	}
	return srv, admin
}

// BenchmarkListPage renders 1,000-record search pages through the API.
func BenchmarkListPage(b *testing.B) {
	srv, _ := benchServer(b)
	ctx := context.Background()
	for i := 0; i < 2000; i++ {
		r := testenv.BenchRecording("bench", i)
		srv.Svc.Store.UpdateRecording(ctx, "bench", r.ID, func(x *vault.Recording, _ []vault.Media) error { *x = r; return nil })
	}
	h := srv.Handler()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/v2/recordings?limit=1000", nil)
		req.SetBasicAuth("admin@bench", "bench-password")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
}
