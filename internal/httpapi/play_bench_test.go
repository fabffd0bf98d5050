package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"callvault/internal/certs"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// BenchmarkPlayRange is the server side of one playback request: a 64 KiB
// range of an encrypted 150 KB recording, many requests in parallel.
func BenchmarkPlayRange(b *testing.B) {
	srv, admin := benchVoiceServer(b)
	ctx := context.Background()
	body := bytes.Repeat([]byte{7}, 150000)
	if _, err := srv.Svc.PutMedia(ctx, admin, service.PutMediaInput{RecordingID: "R1", MediaID: "m.mp3", ContentType: "audio/mp3", Size: int64(len(body)), Body: bytes.NewReader(body)}); err != nil {
		b.Fatal(err)
	}
	h := srv.Handler()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/api/v2/recordings/R1/play/m.mp3", nil)
			req.SetBasicAuth("admin@bench", "bench-password")
			req.Header.Set("Range", "bytes=40000-105535")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusPartialContent {
				b.Fatal(w.Code)
			}
		}
	})
}

// benchVoiceServer is benchServer with a voice certificate assigned.
func benchVoiceServer(b *testing.B) (*server.Server, *vault.User) {
	b.Helper()
	srv, admin := benchServer(b)
	pair, _ := certs.Generate(certs.GenerateOptions{Subject: "/CN=bench", Days: 30})
	keyPEM, _ := certs.EncodePrivateKeyPEM(pair.Key, false)
	if _, err := srv.Svc.UploadCertificate(context.Background(), admin, certs.EncodeCertificatePEM(pair.Cert), keyPEM, nil, []vault.Usage{vault.UsageVoice}); err != nil {
		b.Fatal(err)
	}
	return srv, admin
}
