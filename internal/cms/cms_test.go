package cms

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// party is a key pair made by the real openssl, as the guide's commands do.
type party struct {
	keyFile, certFile string
	key               *rsa.PrivateKey
	cert              *x509.Certificate
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	alice, bob  party // alice: OpenSSL 3 genrsa (PKCS#8); bob: -traditional (PKCS#1)
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

func openssl(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := runOpenSSL(args...)
	if err != nil {
		t.Fatalf("openssl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func runOpenSSL(args ...string) ([]byte, error) {
	cmd := exec.Command("openssl", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// fixtures makes the two parties once per test binary. A missing openssl
// is a failure, never a skip: these tests are the interoperability proof.
func fixtures(t testing.TB) {
	t.Helper()
	fixtureOnce.Do(func() {
		if _, err := exec.LookPath("openssl"); err != nil {
			fixtureErr = fmt.Errorf("the openssl binary is required: %v", err)
			return
		}
		fixtureDir, fixtureErr = os.MkdirTemp("", "cms-fixtures")
		if fixtureErr != nil {
			return
		}
		alice, fixtureErr = makeParty(fixtureDir, "alice", "/CN=Genesys Recording/C=US/ST=California/O=Genesys")
		if fixtureErr != nil {
			return
		}
		bob, fixtureErr = makeParty(fixtureDir, "bob", "/CN=Second Recipient/O=Example", "-traditional")
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
}

func makeParty(dir, name, subj string, genrsaFlags ...string) (party, error) {
	p := party{keyFile: filepath.Join(dir, name+".key"), certFile: filepath.Join(dir, name+".pem")}
	args := append([]string{"genrsa", "-out", p.keyFile}, genrsaFlags...)
	if _, err := runOpenSSL(append(args, "2048")...); err != nil {
		return p, err
	}
	if _, err := runOpenSSL("req", "-new", "-x509", "-key", p.keyFile, "-out", p.certFile, "-days", "3650", "-subj", subj); err != nil {
		return p, err
	}
	keyPEM, err := os.ReadFile(p.keyFile)
	if err != nil {
		return p, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return p, fmt.Errorf("%s: no PEM", p.keyFile)
	}
	var k any
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return p, err
	}
	p.key = k.(*rsa.PrivateKey)
	certPEM, err := os.ReadFile(p.certFile)
	if err != nil {
		return p, err
	}
	block, _ = pem.Decode(certPEM)
	p.cert, err = x509.ParseCertificate(block.Bytes)
	return p, err
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

var testSizes = []int{0, 1, 15, 16, 17, 1<<20 + 3}

func encryptBytes(t testing.TB, plain []byte, stream bool, c Cipher, recips ...*x509.Certificate) []byte {
	t.Helper()
	var buf bytes.Buffer
	size := int64(len(plain))
	if stream {
		size = -1
	}
	if err := Encrypt(&buf, bytes.NewReader(plain), size, recips, Options{Cipher: c}); err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return buf.Bytes()
}

func TestRoundTripInGo(t *testing.T) {
	fixtures(t)
	for _, stream := range []bool{false, true} {
		for size := 0; size <= 70; size++ {
			plain := randomBytes(size, uint64(size))
			msg := encryptBytes(t, plain, stream, AES256CBC, alice.cert, bob.cert)
			for _, p := range []party{alice, bob} {
				for _, cert := range []*x509.Certificate{nil, p.cert} {
					var out bytes.Buffer
					n, err := Decrypt(&out, bytes.NewReader(msg), p.key, cert)
					if err != nil {
						t.Fatalf("stream=%v size=%d: %v", stream, size, err)
					}
					if n != int64(size) || !bytes.Equal(out.Bytes(), plain) {
						t.Fatalf("stream=%v size=%d: plaintext differs", stream, size)
					}
				}
			}
		}
	}
}

func TestEncryptedSizeIsExact(t *testing.T) {
	fixtures(t)
	for _, c := range []Cipher{AES128CBC, AES256CBC} {
		for _, size := range []int{0, 1, 15, 16, 17, 127, 128, 65535, 1 << 20} {
			for _, recips := range [][]*x509.Certificate{{alice.cert}, {alice.cert, bob.cert}} {
				msg := encryptBytes(t, make([]byte, size), false, c, recips...)
				want, err := EncryptedSize(int64(size), recips, Options{Cipher: c})
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(msg)) != want {
					t.Errorf("%s size %d, %d recipients: EncryptedSize %d, wrote %d", c, size, len(recips), want, len(msg))
				}
			}
		}
	}
}

// TestOpenSSLDecryptsOurs is the guide's promise: every file we write opens
// with `openssl cms -decrypt` and with `openssl smime -decrypt`, with either
// key format.
func TestOpenSSLDecryptsOurs(t *testing.T) {
	fixtures(t)
	dir := t.TempDir()
	for _, c := range []Cipher{AES128CBC, AES256CBC} {
		for _, stream := range []bool{false, true} {
			for _, size := range testSizes {
				name := fmt.Sprintf("%s/stream=%v/%d", c, stream, size)
				t.Run(name, func(t *testing.T) {
					plain := randomBytes(size, uint64(size)+7)
					in := filepath.Join(dir, "in.bin")
					if err := os.WriteFile(in, encryptBytes(t, plain, stream, c, alice.cert, bob.cert), 0o600); err != nil {
						t.Fatal(err)
					}
					out := filepath.Join(dir, "out")
					checks := [][]string{
						{"cms", "-decrypt", "-inform", "DER", "-in", in, "-binary", "-inkey", alice.keyFile, "-out", out},
						{"cms", "-decrypt", "-inform", "DER", "-in", in, "-binary", "-inkey", bob.keyFile, "-recip", bob.certFile, "-out", out},
						{"smime", "-decrypt", "-binary", "-inform", "DER", "-in", in, "-inkey", bob.keyFile, "-out", out},
					}
					for _, args := range checks {
						os.Remove(out)
						openssl(t, args...)
						got, err := os.ReadFile(out)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, plain) {
							t.Fatalf("openssl %s: plaintext differs (%d bytes, want %d)", args[0], len(got), len(plain))
						}
					}
					if !stream {
						// Definite-length output must be strict DER:
						// openssl's own DER re-encoding of it is
						// byte for byte the same.
						reenc := openssl(t, "cms", "-cmsout", "-inform", "DER", "-in", in, "-outform", "DER")
						if !bytes.Equal(reenc, mustRead(t, in)) {
							t.Fatal("our definite-length output is not DER: openssl re-encodes it differently")
						}
					}
				})
			}
		}
	}
}

// TestWeDecryptOpenSSLs opens what `openssl cms -encrypt` writes in every
// form the issue names.
func TestWeDecryptOpenSSLs(t *testing.T) {
	fixtures(t)
	dir := t.TempDir()
	variants := []struct {
		name string
		args []string
	}{
		{"aes128", []string{"-aes128", alice.certFile}},
		{"aes256", []string{"-aes256", alice.certFile}},
		{"aes192", []string{"-aes192", alice.certFile}},
		{"des3", []string{"-des3", alice.certFile}},
		{"two-recipients", []string{"-aes128", bob.certFile, alice.certFile}},
		{"keyid", []string{"-aes256", "-keyid", alice.certFile}},
		{"oaep-sha1", []string{"-aes128", "-recip", alice.certFile, "-keyopt", "rsa_padding_mode:oaep"}},
		{"oaep-sha256", []string{"-aes256", "-recip", alice.certFile, "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"}},
		{"oaep-sha256-mgf1-sha1", []string{"-aes256", "-recip", alice.certFile, "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha1"}},
		{"oaep-sha512-label", []string{"-aes256", "-recip", alice.certFile, "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha512", "-keyopt", "rsa_oaep_label:0011"}},
	}
	for _, v := range variants {
		for _, stream := range []bool{false, true} {
			for _, size := range testSizes {
				t.Run(fmt.Sprintf("%s/stream=%v/%d", v.name, stream, size), func(t *testing.T) {
					plain := randomBytes(size, uint64(size)+11)
					in := filepath.Join(dir, "plain")
					msg := filepath.Join(dir, "msg")
					if err := os.WriteFile(in, plain, 0o600); err != nil {
						t.Fatal(err)
					}
					args := []string{"cms", "-encrypt", "-binary", "-outform", "DER", "-in", in, "-out", msg}
					if stream {
						args = append(args, "-stream")
					}
					openssl(t, append(args, v.args...)...)
					f, err := os.Open(msg)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					var out bytes.Buffer
					if _, err := Decrypt(&out, f, alice.key, nil); err != nil {
						t.Fatalf("Decrypt: %v", err)
					}
					if !bytes.Equal(out.Bytes(), plain) {
						t.Fatalf("plaintext differs: %d bytes, want %d", out.Len(), len(plain))
					}
				})
			}
		}
	}
}

// TestLargeFileBothWays streams a file far larger than any buffer through
// us and openssl in both directions, comparing SHA-256 digests rather than
// holding it.
func TestLargeFileBothWays(t *testing.T) {
	fixtures(t)
	const size = 96<<20 + 5
	dir := t.TempDir()
	plainPath := filepath.Join(dir, "plain")
	f, err := os.Create(plainPath)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	src := io.LimitReader(rand.NewChaCha8([32]byte{42}), size)
	if _, err := io.Copy(io.MultiWriter(f, h), src); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := h.Sum(nil)

	ours := filepath.Join(dir, "ours.bin")
	encryptFile(t, plainPath, ours, size)
	out := filepath.Join(dir, "openssl.out")
	openssl(t, "cms", "-decrypt", "-inform", "DER", "-in", ours, "-binary", "-inkey", alice.keyFile, "-out", out)
	if got := fileSHA256(t, out); !bytes.Equal(got, want) {
		t.Fatal("openssl's decryption of our large file differs")
	}
	os.Remove(out)

	theirs := filepath.Join(dir, "theirs.bin")
	openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-stream", "-aes256", "-in", plainPath, "-out", theirs, alice.certFile)
	for _, path := range []string{ours, theirs} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := Decrypt(h, f, alice.key, nil)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(path), err)
		}
		if n != size || !bytes.Equal(h.Sum(nil), want) {
			t.Fatalf("%s: plaintext differs", filepath.Base(path))
		}
	}
}

func encryptFile(t testing.TB, in, out string, size int64) {
	t.Helper()
	src, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := Encrypt(dst, src, size, []*x509.Certificate{alice.cert}, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSHA256(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

func TestWriterSizeChecks(t *testing.T) {
	fixtures(t)
	recips := []*x509.Certificate{alice.cert}
	w, err := NewWriter(io.Discard, 10, recips, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 11)); !errors.Is(err, ErrSize) {
		t.Errorf("writing 11 of 10 bytes: %v, want ErrSize", err)
	}
	w, _ = NewWriter(io.Discard, 10, recips, Options{})
	w.Write(make([]byte, 9))
	if err := w.Close(); !errors.Is(err, ErrSize) {
		t.Errorf("closing after 9 of 10 bytes: %v, want ErrSize", err)
	}
	if err := Encrypt(io.Discard, bytes.NewReader(make([]byte, 11)), 10, recips, Options{}); !errors.Is(err, ErrSize) {
		t.Errorf("Encrypt of a longer source: %v, want ErrSize", err)
	}
	if err := Encrypt(io.Discard, bytes.NewReader(make([]byte, 9)), 10, recips, Options{}); !errors.Is(err, ErrSize) {
		t.Errorf("Encrypt of a shorter source: %v, want ErrSize", err)
	}
	if err := Encrypt(io.Discard, bytes.NewReader(nil), 0, nil, Options{}); !errors.Is(err, ErrRecipient) {
		t.Errorf("Encrypt with no recipients: %v, want ErrRecipient", err)
	}
	if err := Encrypt(io.Discard, bytes.NewReader(nil), 0, recips, Options{Cipher: 99}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Encrypt with cipher 99: %v, want ErrUnsupported", err)
	}
}

func decryptErr(msg []byte, key *rsa.PrivateKey) (int64, error) {
	return Decrypt(io.Discard, bytes.NewReader(msg), key, nil)
}

func TestDecryptRejects(t *testing.T) {
	fixtures(t)
	plain := randomBytes(1000, 3)
	definite := encryptBytes(t, plain, false, AES128CBC, alice.cert)
	stream := encryptBytes(t, plain, true, AES128CBC, alice.cert)
	dir := t.TempDir()
	plainPath := filepath.Join(dir, "plain")
	os.WriteFile(plainPath, plain, 0o600)
	signed := openssl(t, "cms", "-sign", "-binary", "-outform", "DER", "-in", plainPath, "-signer", alice.certFile, "-inkey", alice.keyFile)
	gcm := openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-gcm", "-in", plainPath, bob.certFile)

	cases := []struct {
		name string
		msg  []byte
		key  *rsa.PrivateKey
		want error
	}{
		{"empty", nil, alice.key, ErrNotCMS},
		{"text", []byte("hello, this is not CMS"), alice.key, ErrNotCMS},
		{"PEM certificate", mustRead(t, alice.certFile), alice.key, ErrNotCMS},
		{"DER certificate", alice.cert.Raw, alice.key, ErrNotCMS},
		{"wrong key", definite, bob.key, ErrNoRecipient},
		{"wrong key, stream", stream, bob.key, ErrNoRecipient},
		{"signedData", signed, alice.key, ErrUnsupported},
		{"authEnvelopedData (GCM)", gcm, bob.key, ErrUnsupported},
		{"truncated content", definite[:len(definite)-20], alice.key, ErrCorrupt},
		{"truncated by one byte", definite[:len(definite)-1], alice.key, ErrCorrupt},
		{"stream without end markers", stream[:len(stream)-10], alice.key, ErrCorrupt},
		{"stream missing last marker", stream[:len(stream)-1], alice.key, ErrCorrupt},
		// The last byte of the block before the last XORs into the pad
		// byte: flipped, the padding is bad whatever the random key (a
		// flip in the last block passes about one time in 256).
		{"bad padding", flip(definite, len(definite)-17), alice.key, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := decryptErr(c.msg, c.key)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if n != 0 && n >= int64(len(plain)) {
				t.Fatalf("returned %d plaintext bytes with an error", n)
			}
		})
	}
}

// TestTruncationNeverYieldsPlaintext cuts a message at every length: each
// cut must fail, and none may hand out the full plaintext length.
func TestTruncationNeverYieldsPlaintext(t *testing.T) {
	fixtures(t)
	plain := randomBytes(100, 5)
	for _, stream := range []bool{false, true} {
		msg := encryptBytes(t, plain, stream, AES128CBC, alice.cert)
		for cut := 0; cut < len(msg); cut++ {
			n, err := decryptErr(msg[:cut], alice.key)
			if err == nil {
				t.Fatalf("stream=%v: cut at %d of %d decrypted without error", stream, cut, len(msg))
			}
			if n >= int64(len(plain)) {
				t.Fatalf("stream=%v: cut at %d yielded %d bytes", stream, cut, n)
			}
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x5a
	return c
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
