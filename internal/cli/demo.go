package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"callvault/internal/certs"
	"callvault/internal/samples"
	"callvault/internal/server"
	"callvault/internal/service"
	"callvault/internal/vault"
)

const demoTenant = "demo"

// demoMain is "callvault demo": on the first run it creates the demo
// tenant (admin password printed once), generates a recording certificate
// and assigns it for voice and screen, and ingests the guide's two sample
// recordings with synthetic media; then it serves.
type demoMain struct {
	serveMain
}

func (m *demoMain) ParseFlags(args []string) error {
	fs := newFlagSet("demo")
	m.register(fs)
	positional, err := m.app.parseFlags(fs, "-data DIR [-addr HOST:PORT]", args)
	if err != nil {
		return err
	}
	if err := m.check(); err != nil {
		return err
	}
	return noPositional(positional)
}

func (m *demoMain) Run(ctx context.Context) error {
	srv, err := m.open(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := m.setUp(ctx, srv); err != nil {
		return err
	}
	return serve(ctx, m.app, srv)
}

func (m *demoMain) setUp(ctx context.Context, srv *server.Server) error {
	if _, err := srv.Svc.Store.Tenant(ctx, demoTenant); err == nil {
		fmt.Fprintf(m.app.Stdout, "demo tenant exists in %s; log in as admin@%s with the password printed at the first run\n", m.flags.dataDir, demoTenant)
		return nil
	} else if !errors.Is(err, vault.ErrNotFound) {
		return err
	}
	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	password := base64.RawURLEncoding.EncodeToString(raw)
	admin, err := srv.Svc.InitTenant(ctx, demoTenant, "admin", password)
	if err != nil {
		return err
	}
	pair, err := certs.Generate(certs.GenerateOptions{Subject: "/CN=Genesys Recording/C=US/ST=California/O=Genesys", Days: 3650, Now: m.app.Now()})
	if err != nil {
		return err
	}
	keyPEM, err := certs.EncodePrivateKeyPEM(pair.Key, false)
	if err != nil {
		return err
	}
	cert, err := srv.Svc.UploadCertificate(ctx, admin, certs.EncodeCertificatePEM(pair.Cert), keyPEM, nil,
		[]vault.Usage{vault.UsageVoice, vault.UsageScreen})
	if err != nil {
		return fmt.Errorf("cannot upload the demo certificate: %w", err)
	}
	for _, rec := range samples.Recordings() {
		for _, media := range rec.Media {
			_, err := srv.Svc.PutMedia(ctx, admin, service.PutMediaInput{
				RecordingID: rec.ID, MediaID: media.MediaID, ContentType: media.Type,
				Size: int64(len(media.Data)), Body: bytes.NewReader(media.Data),
			})
			if err != nil {
				return fmt.Errorf("cannot ingest sample media %s: %w", media.MediaID, err)
			}
		}
		if _, _, err := srv.Svc.PutMetadata(ctx, admin, rec.ID, rec.Metadata); err != nil {
			return fmt.Errorf("cannot ingest sample metadata %s: %w", rec.ID, err)
		}
	}
	// Custody on show: a legal hold on the first sample, and retention
	// settings that wait for the backup (a period long enough that the
	// 2015 samples stay: a demo should not delete its own data).
	first := samples.Recordings()[0].ID
	hold, err := srv.Svc.CreateLegalHold(ctx, admin, service.LegalHoldInput{Name: "Demo: complaint 2015-09",
		Reason: "shows a legal hold; release it on the Legal holds page", RecordingIDs: []string{first}})
	if err != nil {
		return fmt.Errorf("cannot create the demo legal hold: %w", err)
	}
	if err := srv.Svc.SetRetention(ctx, admin, vault.RetentionSettings{RetentionDays: 36500, RequireBackup: true, MaxBackupWaitDays: 0}); err != nil {
		return err
	}
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	agentPassword := base64.RawURLEncoding.EncodeToString(raw)
	if err := demoScreen(ctx, srv, admin, agentPassword); err != nil {
		return err
	}
	speech, err := demoAnalytics(ctx, srv.Svc, admin)
	if err != nil {
		return err
	}
	quality, err := demoQM(ctx, srv.Svc, admin)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.app.Stdout, "demo tenant created in %s\n  login:    admin@%s\n  password: %s   (shown once; keep it)\n  certificate %s assigned for voice and screen; %d sample recordings ingested\n"+
		"  legal hold %q keeps %s; retention 36500 days, waiting for a backup receipt (Admin > Retention, Legal holds, Audit)\n"+
		"  agent agent1@%s (password %s) had a call with a screen recording: %s, muxed with its call audio by a job (needs ffmpeg)\n"+
		"  speech analytics: %s\n  quality management: %s\n",
		m.flags.dataDir, demoTenant, password, cert.Alias, len(samples.Recordings()), hold.Name, first, demoTenant, agentPassword, demoScreenID, speech, quality)
	return nil
}
