package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI in-process, as main would, with an empty stdin.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return runApp(t, &App{Name: "callvault", commands: callvaultCommands, Stdin: strings.NewReader(""), Now: time.Now, LookupEnv: os.LookupEnv}, args...)
}

func runApp(t *testing.T, app *App, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app.Stdout, app.Stderr = &stdout, &stderr
	code := app.Run(context.Background(), args)
	return result{code, stdout.String(), stderr.String()}
}

// wantFailure checks the CLI's failure contract: the exit code and exactly
// one line on stderr that names the command and contains want.
func wantFailure(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d; stderr: %q", r.code, code, r.stderr)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line: %q", r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "callvault") || !strings.Contains(r.stderr, want) {
		t.Errorf("stderr = %q, want it to contain %q", r.stderr, want)
	}
}

func wantSuccess(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %q", r.code, r.stderr)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		r := run(t, args...)
		wantSuccess(t, r)
		for _, name := range []string{"certgen", "encrypt", "decrypt"} {
			if !strings.Contains(r.stdout, name) {
				t.Errorf("%v: usage does not list %s:\n%s", args, name, r.stdout)
			}
		}
	}
	r := run(t)
	if r.code != 2 || !strings.Contains(r.stderr, "Usage") {
		t.Errorf("no arguments: exit %d, stderr %q; want 2 and usage", r.code, r.stderr)
	}
	wantFailure(t, run(t, "frobnicate"), 2, `unknown command "frobnicate"`)

	r = run(t, "encrypt", "-h")
	wantSuccess(t, r)
	if !strings.Contains(r.stdout, "-recip") {
		t.Errorf("encrypt -h does not list -recip:\n%s", r.stdout)
	}
	r = run(t, "help", "decrypt")
	wantSuccess(t, r)
	if !strings.Contains(r.stdout, "-inkey") {
		t.Errorf("help decrypt does not list -inkey:\n%s", r.stdout)
	}
}

func TestWrongArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"encrypt", "-out", "x.bin", "-recip", "c.pem"}, "callvault encrypt: -in is required"},
		{[]string{"encrypt", "-in", "x", "-recip", "c.pem"}, "callvault encrypt: -out is required"},
		{[]string{"encrypt", "-in", "x", "-out", "x.bin"}, "callvault encrypt: -recip is required"},
		{[]string{"encrypt", "-in", "x", "-out", "x.bin", "-recip", "c.pem", "-aes128", "-aes256"}, "not both"},
		{[]string{"encrypt", "-in", "x", "-out", "x.bin", "-recip", "c.pem", "-outform", "PEM"}, "only DER"},
		{[]string{"encrypt", "--bogus"}, "callvault encrypt: flag provided but not defined: -bogus"},
		{[]string{"decrypt", "-in", "x.bin", "-out", "x"}, "callvault decrypt: -inkey is required"},
		{[]string{"decrypt", "-in", "x.bin", "-inkey", "k.pem"}, "callvault decrypt: -out is required"},
		{[]string{"decrypt", "-in", "x.bin", "-inkey", "k.pem", "-out", "x", "-inform", "SMIME"}, "only DER"},
		{[]string{"decrypt", "-in", "x.bin", "-inkey", "k.pem", "-out", "x", "stray"}, "unexpected argument"},
		{[]string{"decrypt", "-in", "-", "-inkey", "k.pem", "-out", "x", "-passin", "stdin"}, "cannot both read stdin"},
		{[]string{"decrypt", "-in"}, "flag needs an argument: -in"},
		{[]string{"certgen", "-out", "c.pem", "-keyout", "k.pem"}, "callvault certgen: -subj is required"},
		{[]string{"certgen", "-subj", "/CN=x", "-keyout", "k.pem"}, "callvault certgen: -out is required"},
		{[]string{"certgen", "-subj", "/CN=x", "-out", "c.pem"}, "callvault certgen: -keyout is required"},
		{[]string{"certgen", "-subj", "/CN=x", "-out", "c.pem", "-keyout", "k.pem", "-bits", "1024"}, "-bits"},
		{[]string{"certgen", "-subj", "/CN=x", "-out", "c.pem", "-keyout", "c.pem"}, "different files"},
		{[]string{"certgen", "-subj", "/CN=x", "-out", "c.pem", "-keyout", "k.pem", "-days", "x"}, "-days"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			wantFailure(t, run(t, tc.args...), 2, tc.want)
		})
	}
}

// TestPassinNeverEchoed: a malformed or misplaced password must not reach
// the terminal.
func TestPassinNeverEchoed(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	for _, args := range [][]string{
		{"decrypt", "-in", "x.bin", "-inkey", "k.pem", "-out", "x", "-passin", secret},
		{"decrypt", "-in", "x.bin", "-inkey", "k.pem", "-out", "x", "-passin", "pass:", secret},
	} {
		r := run(t, args...)
		wantFailure(t, r, 2, "callvault decrypt:")
		if strings.Contains(r.stderr+r.stdout, secret) {
			t.Errorf("password echoed: %q", r.stderr)
		}
	}
}

// keyPair is a key and certificate on disk.
type keyPair struct{ cert, key string }

func certgen(t *testing.T, dir, name string, extra ...string) keyPair {
	t.Helper()
	p := keyPair{filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")}
	args := append([]string{"certgen", "-subj", "/CN=Genesys Recording/C=US/ST=California/O=Genesys",
		"-days", "3650", "-out", p.cert, "-keyout", p.key}, extra...)
	wantSuccess(t, run(t, args...))
	return p
}

func writeRandom(t *testing.T, path string, size int) []byte {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

func wantFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d expected", path, len(got), len(want))
	}
}

// wantNoOutput checks that a failed command left neither its output nor a
// temporary file behind.
func wantNoOutput(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Lstat(out); err == nil {
		t.Errorf("%s exists after a failure", out)
	}
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*.partial"))
	if len(matches) > 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestCertgen(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "certgen", "-subj", "/CN=Genesys Recording/C=US/ST=California/O=Genesys", "-days", "3650",
		"-out", filepath.Join(dir, "tenant.pem"), "-keyout", filepath.Join(dir, "tenant.key"))
	wantSuccess(t, r)
	for _, field := range []string{"Alias:", "Subject Name:", "Serial Number:", "Subject DN:", "Issuer DN:", "Expires:", "CN=Genesys Recording"} {
		if !strings.Contains(r.stdout, field) {
			t.Errorf("certgen output lacks %q:\n%s", field, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "PRIVATE KEY") {
		t.Error("certgen printed key material")
	}
	st, err := os.Stat(filepath.Join(dir, "tenant.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	keyPEM, _ := os.ReadFile(filepath.Join(dir, "tenant.key"))
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "RSA PRIVATE KEY" {
		t.Errorf("default key is not PKCS#1 (RSA PRIVATE KEY)")
	}

	// Refuses to overwrite, and leaves the old files alone.
	before, _ := os.ReadFile(filepath.Join(dir, "tenant.pem"))
	r = run(t, "certgen", "-subj", "/CN=Other", "-out", filepath.Join(dir, "tenant.pem"), "-keyout", filepath.Join(dir, "other.key"))
	wantFailure(t, r, 1, "already exists; use -force")
	wantFile(t, filepath.Join(dir, "tenant.pem"), before)
	if _, err := os.Stat(filepath.Join(dir, "other.key")); err == nil {
		t.Error("other.key written although certgen refused")
	}
	r = run(t, "certgen", "-subj", "/CN=Other", "-out", filepath.Join(dir, "tenant.pem"), "-keyout", filepath.Join(dir, "tenant.key"), "-force", "-pkcs8")
	wantSuccess(t, r)
	keyPEM, _ = os.ReadFile(filepath.Join(dir, "tenant.key"))
	if b, _ := pem.Decode(keyPEM); b == nil || b.Type != "PRIVATE KEY" {
		t.Errorf("-pkcs8 key is not PKCS#8 (PRIVATE KEY)")
	}
	if st, _ := os.Stat(filepath.Join(dir, "tenant.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("overwritten key file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := certgen(t, dir, "tenant")
	second := certgen(t, dir, "second", "-pkcs8")
	in := filepath.Join(dir, "call.mp3")
	plain := writeRandom(t, in, 3<<20+12345) // several buffers, not block aligned

	for _, tc := range []struct {
		name      string
		args      []string
		twoRecips bool
	}{
		{"default", nil, false},
		{"aes256", []string{"-aes256"}, false},
		{"aes128", []string{"-aes128"}, false},
		{"stream", []string{"-stream"}, false},
		{"two recipients", []string{"-recip", second.cert}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := filepath.Join(dir, tc.name+".bin")
			out := filepath.Join(dir, tc.name+".out")
			args := append([]string{"encrypt", "-in", in, "-out", enc, "-recip", p.cert}, tc.args...)
			wantSuccess(t, run(t, args...))
			wantSuccess(t, run(t, "decrypt", "-in", enc, "-inkey", p.key, "-out", out))
			wantFile(t, out, plain)
			if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
				t.Errorf("decrypted file mode %v, want 0600", st.Mode().Perm())
			}
			if tc.twoRecips {
				out2 := out + "2"
				wantSuccess(t, run(t, "decrypt", "-in", enc, "-inkey", second.key, "-recip", second.cert, "-out", out2))
				wantFile(t, out2, plain)
			}
		})
	}

	// stdin to stdout, and the guide's openssl-style command line.
	var encrypted bytes.Buffer
	app := &App{Name: "callvault", commands: callvaultCommands, Stdin: bytes.NewReader(plain), Now: time.Now, LookupEnv: os.LookupEnv}
	r := runApp(t, app, "encrypt", "-in", "-", "-out", "-", p.cert)
	wantSuccess(t, r)
	encrypted.WriteString(r.stdout)
	enc := filepath.Join(dir, "stdin.bin")
	os.WriteFile(enc, encrypted.Bytes(), 0o644)
	out := filepath.Join(dir, "stdin.out")
	wantSuccess(t, run(t, "-decrypt", "-inform", "DER", "-in", enc, "-binary", "-inkey", p.key, "-out", out))
	wantFile(t, out, plain)
	r = run(t, "decrypt", "--in", enc, "--inkey", p.key, "--out", "-")
	wantSuccess(t, r)
	if r.stdout != string(plain) {
		t.Error("decrypt -out - did not write the plaintext to stdout")
	}
}

func TestEncryptRefusesExpiredCertificate(t *testing.T) {
	dir := t.TempDir()
	p := certgen(t, dir, "short", "-days", "1")
	in := filepath.Join(dir, "call.mp3")
	writeRandom(t, in, 1000)
	out := filepath.Join(dir, "call.bin")
	app := &App{Name: "callvault", commands: callvaultCommands, Stdin: strings.NewReader(""), Now: func() time.Time { return time.Now().Add(72 * time.Hour) }, LookupEnv: os.LookupEnv}
	r := runApp(t, app, "encrypt", "-in", in, "-out", out, "-recip", p.cert)
	wantFailure(t, r, 1, "cannot encrypt for "+p.cert)
	wantNoOutput(t, out)
}

func TestDecryptFailuresLeaveNoOutput(t *testing.T) {
	dir := t.TempDir()
	p := certgen(t, dir, "tenant")
	wrong := certgen(t, dir, "wrong")
	in := filepath.Join(dir, "call.mp3")
	writeRandom(t, in, 2<<20)
	enc := filepath.Join(dir, "call.bin")
	wantSuccess(t, run(t, "encrypt", "-in", in, "-out", enc, "-recip", p.cert))
	data, _ := os.ReadFile(enc)
	truncated := filepath.Join(dir, "truncated.bin")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	garbage := filepath.Join(dir, "garbage.bin")
	writeRandom(t, garbage, 5000)

	for _, tc := range []struct {
		name, in, key, want string
	}{
		{"wrong key", enc, wrong.key, "callvault decrypt: cannot decrypt " + enc + ": "},
		{"truncated", truncated, p.key, "callvault decrypt: cannot decrypt " + truncated + ": "},
		{"not cms", garbage, p.key, "callvault decrypt: cannot decrypt " + garbage + ": "},
		{"missing input", filepath.Join(dir, "nope.bin"), p.key, "no such file"},
		{"missing key", enc, filepath.Join(dir, "nope.key"), "cannot read key"},
		{"key is a certificate", enc, p.cert, "cannot read key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "out", strings.ReplaceAll(tc.name, " ", "_"))
			os.MkdirAll(filepath.Dir(out), 0o755)
			wantFailure(t, run(t, "decrypt", "-in", tc.in, "-inkey", tc.key, "-out", out), 1, tc.want)
			wantNoOutput(t, out)
		})
	}
}

func requireOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (apt-get install -y openssl)")
	}
}

func openssl(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestOpenSSLDecryptsOurs runs the guide's decrypt command on our output.
func TestOpenSSLDecryptsOurs(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	p := certgen(t, dir, "tenant")
	in := filepath.Join(dir, "call.mp3")
	plain := writeRandom(t, in, 1<<20+17)
	for _, cipher := range []string{"-aes128", "-aes256"} {
		for _, mode := range []string{"", "-stream"} {
			enc := filepath.Join(dir, "call"+cipher+mode+".bin")
			out := enc + ".out"
			args := []string{"encrypt", "-in", in, "-out", enc, "-recip", p.cert, cipher}
			if mode != "" {
				args = append(args, mode)
			}
			wantSuccess(t, run(t, args...))
			openssl(t, "cms", "-decrypt", "-inform", "DER", "-in", enc, "-binary", "-inkey", p.key, "-out", out)
			wantFile(t, out, plain)
		}
	}
}

// TestWeDecryptOpenSSL decrypts what openssl encrypts, with a key and
// certificate made by the guide's openssl commands.
func TestWeDecryptOpenSSL(t *testing.T) {
	requireOpenSSL(t)
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "tenant.key"), filepath.Join(dir, "tenant.pem")
	openssl(t, "genrsa", "-out", key, "2048")
	openssl(t, "req", "-new", "-x509", "-key", key, "-out", cert, "-days", "3650",
		"-subj", "/CN=Genesys Recording/C=US/ST=California/O=Genesys")
	in := filepath.Join(dir, "call.mp3")
	plain := writeRandom(t, in, 1<<20+5)
	enc := filepath.Join(dir, "call.bin")
	openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", in, "-out", enc, cert)

	out := filepath.Join(dir, "call.out")
	wantSuccess(t, run(t, "decrypt", "-inform", "DER", "-in", enc, "-binary", "-inkey", key, "-out", out))
	wantFile(t, out, plain)

	// The same with the Azure step's PKCS#8 key, and with an encrypted key.
	pkcs8 := filepath.Join(dir, "private.pem")
	openssl(t, "pkcs8", "-topk8", "-inform", "pem", "-in", key, "-outform", "pem", "-nocrypt", "-out", pkcs8)
	wantSuccess(t, run(t, "decrypt", "-in", enc, "-inkey", pkcs8, "-out", out+"8"))
	wantFile(t, out+"8", plain)

	const password = "correct horse"
	locked := filepath.Join(dir, "locked.key")
	openssl(t, "pkcs8", "-topk8", "-in", key, "-out", locked, "-passout", "pass:"+password)
	passFile := filepath.Join(dir, "pass.txt")
	os.WriteFile(passFile, []byte(password+"\n"), 0o600)
	t.Setenv("CALLVAULT_TEST_PASS", password)
	for _, passin := range []string{"pass:" + password, "file:" + passFile, "env:CALLVAULT_TEST_PASS"} {
		out := filepath.Join(dir, "locked.out")
		wantSuccess(t, run(t, "decrypt", "-in", enc, "-inkey", locked, "-passin", passin, "-out", out))
		wantFile(t, out, plain)
	}
	app := &App{Name: "callvault", commands: callvaultCommands, Stdin: strings.NewReader(password + "\n"), Now: time.Now, LookupEnv: os.LookupEnv}
	wantSuccess(t, runApp(t, app, "decrypt", "-in", enc, "-inkey", locked, "-passin", "stdin", "-out", out+"s"))
	wantFile(t, out+"s", plain)

	for _, passin := range []string{"", "pass:wrong horse"} {
		out := filepath.Join(dir, "nopass.out")
		r := run(t, "decrypt", "-in", enc, "-inkey", locked, "-passin", passin, "-out", out)
		wantFailure(t, r, 1, "cannot read key "+locked)
		if strings.Contains(r.stderr, "horse") {
			t.Errorf("password echoed: %q", r.stderr)
		}
		wantNoOutput(t, out)
	}
}
