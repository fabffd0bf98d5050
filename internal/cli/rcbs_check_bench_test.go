package cli

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"callvault/internal/backup"
	"callvault/internal/certs"
	"callvault/internal/cms"
)

// BenchmarkRCBSCheck compares rcbs check -inkey over a backup of 1,000
// media files of 150,000 bytes (a realistic MP3 of a call: about 37 s at
// 32 kbps), each with its record and listed in a manifest, with the
// guide's way of opening them: openssl cms -decrypt once per file, one
// after the other as the shell loop in docs/rcbs.md runs it, and also two
// at a time (this machine's two cores). Each iteration is the whole
// backup; ms/file is per media file. Both read the same files, through
// the page cache after the first iteration. Run:
//
//	go test ./internal/cli -run '^$' -bench RCBSCheck -benchtime 3x
//
// The results are in docs/PERFORMANCE.md, "rcbs check".
func BenchmarkRCBSCheck(b *testing.B) {
	const files, size = 1000, 150_000
	dir := b.TempDir()
	certPath, keyPath := opensslCert(b, dir, "tenant")
	pem, err := os.ReadFile(certPath)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := certs.ParseCertificatePEM(pem)
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(dir, "rcbs")
	if out, err := exec.Command("go", "build", "-o", bin, "callvault/cmd/rcbs").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v: %s", err, out)
	}
	target := filepath.Join(dir, "target")
	tenant := filepath.Join(target, "acme")
	media := writeBenchBackup(b, tenant, cert, files, size)

	run := func(b *testing.B, name string, args ...string) {
		b.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	perFile := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/files, "ms/file")
	}
	b.Run("rcbs_check_inkey", func(b *testing.B) {
		for b.Loop() {
			run(b, bin, "check", "-target", target, "-inkey", keyPath)
		}
		perFile(b)
	})
	b.Run("rcbs_check_inkey_1_worker", func(b *testing.B) {
		for b.Loop() {
			run(b, bin, "check", "-target", target, "-inkey", keyPath, "-workers", "1")
		}
		perFile(b)
	})
	b.Run("rcbs_check_no_key", func(b *testing.B) {
		for b.Loop() {
			run(b, bin, "check", "-target", target)
		}
		perFile(b)
	})
	openssl := func(b *testing.B, parallel int) {
		for b.Loop() {
			var wg sync.WaitGroup
			next := make(chan string)
			for range parallel {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for f := range next {
						run(b, "openssl", "cms", "-decrypt", "-inform", "DER", "-in", f, "-binary", "-inkey", keyPath, "-out", os.DevNull)
					}
				}()
			}
			for _, f := range media {
				next <- f
			}
			close(next)
			wg.Wait()
		}
		perFile(b)
	}
	b.Run("openssl_cms_decrypt_per_file", func(b *testing.B) { openssl(b, 1) })
	b.Run(fmt.Sprintf("openssl_cms_decrypt_per_file_%d_parallel", runtime.GOMAXPROCS(0)), func(b *testing.B) { openssl(b, runtime.GOMAXPROCS(0)) })
}

// writeBenchBackup writes what rcbs leaves for n recordings of one media
// file each (CMS for cert, as the server stores it) and a manifest
// listing them; it returns the media files.
func writeBenchBackup(b *testing.B, tenant string, cert *x509.Certificate, n, size int) []string {
	b.Helper()
	m := backup.NewManifest(tenant, time.Now())
	var media []string
	for i := range n {
		id := fmt.Sprintf("B%04d", i)
		rel := "2026/01/01/00/" + id
		dir := filepath.Join(tenant, filepath.FromSlash(rel))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		plain := plaintext(uint64(i), size)
		var enc bytes.Buffer
		if err := cms.Encrypt(&enc, bytes.NewReader(plain), int64(size), []*x509.Certificate{cert}, cms.Options{}); err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(dir, id+".mp3")
		record := []byte(fmt.Sprintf(`{"id":%q,"mediaFiles":[{"mediaId":%q}]}`+"\n", id, id+".mp3"))
		for _, f := range []struct {
			name    string
			data    []byte
			content []byte
		}{{id + ".mp3", enc.Bytes(), plain}, {id + ".json", record, nil}} {
			if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
				b.Fatal(err)
			}
			l := backup.ManifestLine{Path: rel + "/" + f.name, Size: int64(len(f.data)), SHA256: hexSum(f.data), RecordingID: id}
			if f.content != nil {
				l.ContentSHA256, l.MediaID = hexSum(f.content), f.name
			}
			if err := m.Add(l); err != nil {
				b.Fatal(err)
			}
		}
		media = append(media, path)
	}
	if _, err := m.Close(time.Now()); err != nil {
		b.Fatal(err)
	}
	return media
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
