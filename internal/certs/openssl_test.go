package certs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests use the real openssl binary: the files users upload are made
// with it, so it is the reference for every format accepted here.

// openssl runs the openssl binary in dir and returns its standard output.
func openssl(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func writeFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// guideSubject is the example subject from the guide.
const guideSubject = "/CN=Genesys Recording/C=US/ST=California/O=Genesys"

// tenantFiles holds the guide's example files made in one directory.
type tenantFiles struct {
	dir       string
	key       []byte // tenant.key: `openssl genrsa` (PKCS#8 with OpenSSL 3)
	cert      []byte // tenant.pem: `openssl req -new -x509`
	pkcs8Key  []byte // private.pem: `openssl pkcs8 -topk8 -nocrypt`
	keyPath   string
	certPath  string
	pkcs8Path string
}

// makeTenant runs exactly the commands the guide gives.
func makeTenant(tb testing.TB) tenantFiles {
	tb.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		tb.Fatalf("these tests need the openssl binary: %v", err)
	}
	dir := tb.TempDir()
	openssl(tb, dir, "genrsa", "-out", "tenant.key", "2048")
	openssl(tb, dir, "req", "-new", "-x509", "-key", "tenant.key", "-out", "tenant.pem", "-days", "3650", "-subj", guideSubject)
	openssl(tb, dir, "pkcs8", "-topk8", "-inform", "pem", "-in", "tenant.key", "-outform", "pem", "-nocrypt", "-out", "private.pem")
	f := tenantFiles{
		dir:       dir,
		keyPath:   filepath.Join(dir, "tenant.key"),
		certPath:  filepath.Join(dir, "tenant.pem"),
		pkcs8Path: filepath.Join(dir, "private.pem"),
	}
	f.key = readFile(tb, f.keyPath)
	f.cert = readFile(tb, f.certPath)
	f.pkcs8Key = readFile(tb, f.pkcs8Path)
	return f
}
