package certs

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGenerateLoadsWithOpenSSL(t *testing.T) {
	now := time.Date(2025, 3, 1, 10, 30, 15, 999, time.UTC)
	pair, err := Generate(GenerateOptions{Subject: guideSubject, Days: 3650, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPEM, err := EncodePrivateKeyPEM(pair.Key, false)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "tenant.key"), keyPEM)
	writeFile(t, filepath.Join(dir, "tenant.pem"), EncodeCertificatePEM(pair.Cert))

	if got := openssl(t, dir, "x509", "-in", "tenant.pem", "-noout", "-subject", "-nameopt", "compat"); got != "subject="+guideSubject+"\n" {
		t.Errorf("openssl subject = %q", got)
	}
	if got := openssl(t, dir, "x509", "-in", "tenant.pem", "-noout", "-issuer", "-nameopt", "compat"); got != "issuer="+guideSubject+"\n" {
		t.Errorf("openssl issuer = %q", got)
	}
	if got := openssl(t, dir, "rsa", "-in", "tenant.key", "-check", "-noout"); !strings.Contains(got, "RSA key ok") {
		t.Errorf("openssl rsa -check: %q", got)
	}
	if got := openssl(t, dir, "verify", "-CAfile", "tenant.pem", "-attime", "1741000000", "tenant.pem"); !strings.Contains(got, "OK") {
		t.Errorf("openssl verify: %q", got)
	}
	text := openssl(t, dir, "x509", "-in", "tenant.pem", "-noout", "-text")
	for _, want := range []string{"sha256WithRSAEncryption", "CA:TRUE", "critical", "Public-Key: (2048 bit)",
		"Not Before: Mar  1 10:30:15 2025 GMT", "Not After : Feb 27 10:30:15 2035 GMT"} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl x509 -text lacks %q:\n%s", want, text)
		}
	}

	// Key identifiers must be the ones openssl computes for the same key.
	openssl(t, dir, "req", "-new", "-x509", "-key", "tenant.key", "-out", "ref.pem", "-days", "1", "-subj", guideSubject)
	ref, err := ParseCertificatePEM(readFile(t, filepath.Join(dir, "ref.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pair.Cert.SubjectKeyId, ref.SubjectKeyId) || !bytes.Equal(pair.Cert.AuthorityKeyId, ref.AuthorityKeyId) {
		t.Errorf("key ids %x/%x, openssl %x/%x", pair.Cert.SubjectKeyId, pair.Cert.AuthorityKeyId, ref.SubjectKeyId, ref.AuthorityKeyId)
	}
	if !bytes.Equal(pair.Cert.RawSubject, ref.RawSubject) {
		t.Errorf("subject DER %x, openssl %x", pair.Cert.RawSubject, ref.RawSubject)
	}

	loaded, err := LoadPair(readFile(t, filepath.Join(dir, "tenant.pem")), keyPEM, nil)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Info != pair.Info {
		t.Errorf("Info after reload = %+v, want %+v", loaded.Info, pair.Info)
	}
	if pair.Info.SubjectDN != "CN=Genesys Recording,C=US,ST=California,O=Genesys" || pair.Info.IssuerDN != pair.Info.SubjectDN {
		t.Errorf("DNs = %q / %q", pair.Info.SubjectDN, pair.Info.IssuerDN)
	}
	if !pair.Info.NotBefore.Equal(now.Truncate(time.Second)) || !pair.Info.Expires.Equal(now.Truncate(time.Second).AddDate(0, 0, 3650)) {
		t.Errorf("validity %v..%v", pair.Info.NotBefore, pair.Info.Expires)
	}
	if pair.Cert.SerialNumber.Sign() <= 0 || pair.Cert.SerialNumber.BitLen() > 64 {
		t.Errorf("serial %v not a positive 64-bit number", pair.Cert.SerialNumber)
	}
}

func TestGenerateRefuses(t *testing.T) {
	tests := []struct {
		name string
		opts GenerateOptions
		want error
	}{
		{"small key", GenerateOptions{Subject: "/CN=x", Days: 1, Bits: 1024}, ErrKeyTooSmall},
		{"bad subject", GenerateOptions{Subject: "CN=x", Days: 1}, ErrBadSubject},
		{"empty subject", GenerateOptions{Days: 1}, ErrBadSubject},
		{"no days", GenerateOptions{Subject: "/CN=x"}, nil},
		{"huge key", GenerateOptions{Subject: "/CN=x", Days: 1, Bits: 1 << 20}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(tt.opts)
			if err == nil {
				t.Fatal("Generate succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
