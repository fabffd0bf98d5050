package cms

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	rotationOnce sync.Once
	carol, dave  party // the new keys
	aliceRenewed party // alice's key under a new certificate (another serial)
	rotationErr  error
)

// rotationFixtures adds, to alice and bob, the parties a rotation moves
// to, made by the real openssl too.
func rotationFixtures(t testing.TB) {
	t.Helper()
	fixtures(t)
	rotationOnce.Do(func() {
		if carol, rotationErr = makeParty(fixtureDir, "carol", "/CN=New Recording Key/O=Genesys"); rotationErr != nil {
			return
		}
		if dave, rotationErr = makeParty(fixtureDir, "dave", "/CN=Another New Key/O=Example", "-traditional"); rotationErr != nil {
			return
		}
		aliceRenewed = party{keyFile: alice.keyFile, certFile: filepath.Join(fixtureDir, "alice-renewed.pem"), key: alice.key}
		if _, rotationErr = runOpenSSL("req", "-new", "-x509", "-key", alice.keyFile, "-out", aliceRenewed.certFile, "-days", "3650",
			"-set_serial", "4242", "-subj", "/CN=Genesys Recording/C=US/ST=California/O=Genesys"); rotationErr != nil {
			return
		}
		aliceRenewed.cert, rotationErr = readCert(aliceRenewed.certFile)
	})
	if rotationErr != nil {
		t.Fatal(rotationErr)
	}
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

// opensslEncrypt is `openssl cms -encrypt` of plain for the certificate
// files, with -stream or not.
func opensslEncrypt(t testing.TB, dir string, plain []byte, stream bool, extra []string, certFiles ...string) []byte {
	t.Helper()
	in := filepath.Join(dir, "plain")
	out := filepath.Join(dir, "enc")
	if err := os.WriteFile(in, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"cms", "-encrypt", "-binary", "-outform", "DER", "-in", in, "-out", out}
	if stream {
		args = append(args, "-stream")
	}
	args = append(args, extra...)
	for _, f := range certFiles {
		args = append(args, "-recip", f)
	}
	openssl(t, args...)
	return mustRead(t, out)
}

// opensslDecrypt writes msg to a file and runs `openssl cms -decrypt` on it
// with the extra arguments.
func opensslDecrypt(t testing.TB, dir string, msg []byte, args ...string) ([]byte, error) {
	t.Helper()
	in := filepath.Join(dir, "rewrapped")
	out := filepath.Join(dir, "decrypted")
	os.Remove(out)
	if err := os.WriteFile(in, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runOpenSSL(append([]string{"cms", "-decrypt", "-binary", "-inform", "DER", "-in", in, "-out", out}, args...)...); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

var derData = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01}

// ciphertextOf finds the encrypted content of a message laid out as we and
// openssl write it, without the package's parser: the offset of the
// EncryptedContentInfo's content type and the ciphertext bytes.
func ciphertextOf(t testing.TB, msg []byte) (int, []byte) {
	t.Helper()
	at := bytes.Index(msg, derData)
	if at < 0 {
		t.Fatal("no id-data in the message")
	}
	length := func(p int) (int, int) {
		b := int(msg[p])
		if b < 0x80 {
			return b, p + 1
		}
		n, l := b&0x7f, 0
		for i := 1; i <= n; i++ {
			l = l<<8 | int(msg[p+i])
		}
		return l, p + 1 + n
	}
	p := at + len(derData)
	if msg[p] != 0x30 {
		t.Fatal("no content encryption algorithm")
	}
	l, p := length(p + 1)
	p += l
	var ct []byte
	switch msg[p] {
	case 0x80:
		l, p = length(p + 1)
		ct = msg[p : p+l]
	case 0xa0:
		if msg[p+1] != 0x80 {
			t.Fatal("constructed content of definite length")
		}
		for p += 2; msg[p] != 0; p += l {
			if msg[p] != 0x04 {
				t.Fatalf("segment tag %#x", msg[p])
			}
			l, p = length(p + 1)
			ct = append(ct, msg[p:p+l]...)
		}
	default:
		t.Fatalf("content tag %#x", msg[p])
	}
	return at, ct
}

// outerLength is the length the outermost header declares, -1 for the
// indefinite form.
func outerLength(msg []byte) int {
	if msg[1] == 0x80 {
		return -1
	}
	if msg[1] < 0x80 {
		return 2 + int(msg[1])
	}
	n, l := int(msg[1]&0x7f), 0
	for i := 0; i < n; i++ {
		l = l<<8 | int(msg[2+i])
	}
	return 2 + n + l
}

func rewrapBytes(t testing.TB, msg []byte, old party, oldCert *x509.Certificate, add ...*x509.Certificate) ([]byte, *RewrapResult) {
	t.Helper()
	var out bytes.Buffer
	res, err := Rewrap(&out, bytes.NewReader(msg), old.key, oldCert, add)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if res.Written != int64(out.Len()) {
		t.Fatalf("Written %d, wrote %d", res.Written, out.Len())
	}
	return out.Bytes(), res
}

func decryptWith(msg []byte, p party, cert *x509.Certificate) ([]byte, error) {
	var out bytes.Buffer
	_, err := Decrypt(&out, bytes.NewReader(msg), p.key, cert)
	return out.Bytes(), err
}

// TestRewrap rotates alice out and carol in, on messages written by
// NewWriter, NewStreamWriter and `openssl cms -encrypt` with and without
// -stream, for one and two recipients, and checks with openssl and with the
// package that the right keys open the result and the ciphertext is the
// same bytes.
func TestRewrap(t *testing.T) {
	rotationFixtures(t)
	dir := t.TempDir()
	producers := []struct {
		name               string
		stream, viaOpenSSL bool
	}{
		{"NewWriter", false, false},
		{"NewStreamWriter", true, false},
		{"openssl", false, true},
		{"openssl-stream", true, true},
	}
	for _, p := range producers {
		for _, recipients := range []int{1, 2} {
			for si, size := range []int{0, 1, 15, 16, 17, 3<<20 + 5} {
				t.Run(fmt.Sprintf("%s/recipients=%d/%d", p.name, recipients, size), func(t *testing.T) {
					plain := randomBytes(size, uint64(size)+99)
					certs := []*x509.Certificate{alice.cert, bob.cert}[:recipients]
					var msg []byte
					if p.viaOpenSSL {
						msg = opensslEncrypt(t, dir, plain, p.stream, []string{"-aes256"}, []string{alice.certFile, bob.certFile}[:recipients]...)
					} else {
						msg = encryptBytes(t, plain, p.stream, AES128CBC, certs...)
					}
					var oldCert *x509.Certificate
					if si%2 == 1 {
						oldCert = alice.cert
					}
					out, res := rewrapBytes(t, msg, alice, oldCert, carol.cert)

					// The result describes what happened.
					if res.Read != int64(len(msg)) || len(res.Removed) != 1 || !res.Removed[0].Matches(alice.cert) ||
						res.Kept != recipients-1 || len(res.Added) != 1 || !res.Added[0].Matches(carol.cert) || res.Skipped != 0 {
						t.Fatalf("result: %v", res)
					}
					// Indefinite stays indefinite; definite is definite
					// and its outer length is the message's.
					if indefinite := msg[1] == 0x80; res.Indefinite != indefinite || (out[1] == 0x80) != indefinite {
						t.Fatalf("length form changed: input indefinite %v, output %#x, result %v", indefinite, out[1], res.Indefinite)
					}
					if n := outerLength(out); n != -1 && n != len(out) {
						t.Fatalf("outer length %d, message %d bytes", n, len(out))
					}
					// The EncryptedContentInfo and all that follows are
					// the same bytes.
					oldAt, oldCT := ciphertextOf(t, msg)
					newAt, newCT := ciphertextOf(t, out)
					if !bytes.Equal(msg[oldAt:], out[newAt:]) {
						t.Fatal("the encrypted content info differs")
					}
					if sha256.Sum256(oldCT) != res.CiphertextSHA256 || sha256.Sum256(newCT) != res.CiphertextSHA256 || int64(len(newCT)) != res.CiphertextSize {
						t.Fatal("ciphertext hash or size differs from the result's")
					}

					// openssl opens it with the new key, by key alone and
					// with the certificate.
					for _, args := range [][]string{{"-inkey", carol.keyFile}, {"-inkey", carol.keyFile, "-recip", carol.certFile}} {
						got, err := opensslDecrypt(t, dir, out, args...)
						if err != nil || !bytes.Equal(got, plain) {
							t.Fatalf("openssl %v: %v (plaintext equal: %v)", args, err, bytes.Equal(got, plain))
						}
					}
					if got, err := decryptWith(out, carol, nil); err != nil || !bytes.Equal(got, plain) {
						t.Fatalf("Decrypt with the new key: %v", err)
					}
					// The kept recipient still opens it.
					if recipients == 2 {
						got, err := opensslDecrypt(t, dir, out, "-inkey", bob.keyFile, "-recip", bob.certFile)
						if err != nil || !bytes.Equal(got, plain) {
							t.Fatalf("openssl with the kept key: %v", err)
						}
						if got, err := decryptWith(out, bob, bob.cert); err != nil || !bytes.Equal(got, plain) {
							t.Fatalf("Decrypt with the kept key: %v", err)
						}
					}
					// The old key opens nothing.
					for _, cert := range []*x509.Certificate{nil, alice.cert} {
						if _, err := decryptWith(out, alice, cert); !errors.Is(err, ErrNoRecipient) {
							t.Fatalf("Decrypt with the old key (cert %v): %v, want ErrNoRecipient", cert != nil, err)
						}
					}
					if _, err := opensslDecrypt(t, dir, out, "-inkey", alice.keyFile, "-recip", alice.certFile); err == nil {
						t.Fatal("openssl opens the rewrapped message with the old key and certificate")
					}
					if got, err := opensslDecrypt(t, dir, out, "-inkey", alice.keyFile); err == nil && bytes.Equal(got, plain) {
						t.Fatal("openssl opens the rewrapped message with the old key")
					}
					// Definite output of DER input is DER: openssl
					// re-encodes it to the same bytes.
					if !p.stream {
						in := filepath.Join(dir, "der")
						os.WriteFile(in, out, 0o600)
						if reenc := openssl(t, "cms", "-cmsout", "-inform", "DER", "-in", in, "-outform", "DER"); !bytes.Equal(reenc, out) {
							t.Fatal("definite output is not DER: openssl re-encodes it differently")
						}
					}

					// The fast check passes for the new and the kept key,
					// and fails for the old one.
					for _, v := range []struct {
						p    party
						cert *x509.Certificate
					}{{carol, nil}, {carol, carol.cert}, {bob, bob.cert}}[:1+recipients] {
						if err := VerifyRewrap(bytes.NewReader(out), v.p.key, v.cert, res); err != nil {
							t.Fatalf("VerifyRewrap: %v", err)
						}
					}
					if err := VerifyRewrap(bytes.NewReader(out), alice.key, nil, res); !errors.Is(err, ErrNoRecipient) {
						t.Fatalf("VerifyRewrap with the old key: %v", err)
					}
				})
			}
		}
	}
}

// TestRewrapKeepsOtherRecipientsByteForByte: every recipient info but the
// removed one is in the output unchanged, whatever its kind (key
// identifier, OAEP), and only one is added.
func TestRewrapKeepsOtherRecipientsByteForByte(t *testing.T) {
	rotationFixtures(t)
	dir := t.TempDir()
	plain := randomBytes(5000, 8)
	cases := map[string][]byte{
		"keyid":        opensslEncrypt(t, dir, plain, false, []string{"-keyid"}, alice.certFile, bob.certFile, dave.certFile),
		"keyid-stream": opensslEncrypt(t, dir, plain, true, []string{"-keyid"}, bob.certFile, alice.certFile, dave.certFile),
		"oaep": opensslEncrypt(t, dir, plain, false, []string{"-recip", alice.certFile, "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"},
			bob.certFile, dave.certFile),
	}
	for name, msg := range cases {
		out, res := rewrapBytes(t, msg, alice, nil, carol.cert)
		before, after := recipientInfosOf(t, msg), recipientInfosOf(t, out)
		if len(after) != len(before) || len(res.Removed) != 1 || res.Kept != 2 {
			t.Fatalf("%s: %d recipient infos before, %d after: %v", name, len(before), len(after), res)
		}
		for ri := range before {
			keptNow := after[ri]
			if keptNow == removedIs(t, []byte(ri), alice) {
				t.Fatalf("%s: a recipient info was %s", name, map[bool]string{true: "kept but should be gone", false: "changed or lost"}[keptNow])
			}
		}
		for _, p := range []party{bob, dave, carol} {
			if got, err := opensslDecrypt(t, dir, out, "-inkey", p.keyFile, "-recip", p.certFile); err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s: openssl with %s: %v", name, p.cert.Subject.CommonName, err)
			}
		}
		if _, err := decryptWith(out, alice, nil); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("%s: old key: %v", name, err)
		}
	}
}

// recipientInfosOf returns the encodings of the message's recipient infos
// (DER in these tests), as a set.
func recipientInfosOf(t testing.TB, msg []byte) map[string]bool {
	t.Helper()
	c := newRewrapper(bytes.NewReader(msg))
	if err := c.readHead(); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, r := range c.recipients {
		set[string(r.raw)] = true
	}
	return set
}

// removedIs reports whether the recipient info is one that p's key opens.
func removedIs(t testing.TB, ri []byte, p party) bool {
	recs, _, err := parseRecipients(appendElement(nil, header{constructed: true, tag: tagSet}, ri))
	if err != nil || len(recs) != 1 {
		t.Fatalf("recipient info: %v", err)
	}
	_, err = decryptKey(recs[0], p.key)
	return err == nil
}

// TestRewrapVersion: a message whose version is 2 only because of key
// identifier recipients drops to 0 when they are all gone (definite form,
// where the absence of unprotectedAttrs is known); otherwise it stays.
func TestRewrapVersion(t *testing.T) {
	rotationFixtures(t)
	dir := t.TempDir()
	plain := randomBytes(100, 4)
	version := func(msg []byte) int64 {
		c := newRewrapper(bytes.NewReader(msg))
		if err := c.readHead(); err != nil {
			t.Fatal(err)
		}
		return c.versionVal
	}
	for _, c := range []struct {
		name   string
		msg    []byte
		before int64
		after  int64
	}{
		{"keyid alone", opensslEncrypt(t, dir, plain, false, []string{"-keyid"}, alice.certFile), 2, 0},
		{"keyid kept", opensslEncrypt(t, dir, plain, false, []string{"-keyid"}, alice.certFile, bob.certFile), 2, 2},
		{"keyid stream", opensslEncrypt(t, dir, plain, true, []string{"-keyid"}, alice.certFile), 2, 2},
		{"issuer and serial", opensslEncrypt(t, dir, plain, false, nil, alice.certFile), 0, 0},
	} {
		if v := version(c.msg); v != c.before {
			t.Fatalf("%s: openssl wrote version %d, want %d", c.name, v, c.before)
		}
		out, _ := rewrapBytes(t, c.msg, alice, nil, carol.cert)
		if v := version(out); v != c.after {
			t.Errorf("%s: version %d after the rewrap, want %d", c.name, v, c.after)
		}
		if got, err := opensslDecrypt(t, dir, out, "-inkey", carol.keyFile); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s: openssl: %v", c.name, err)
		}
		if out[1] != 0x80 {
			in := filepath.Join(dir, "der")
			os.WriteFile(in, out, 0o600)
			if !bytes.Equal(openssl(t, "cms", "-cmsout", "-inform", "DER", "-in", in, "-outform", "DER"), out) {
				t.Fatalf("%s: not DER", c.name)
			}
		}
	}
}

// TestRewrapRecipientRules: who is removed, who is added, and when a
// rewrap is refused.
func TestRewrapRecipientRules(t *testing.T) {
	rotationFixtures(t)
	dir := t.TempDir()
	plain := randomBytes(333, 6)
	both := encryptBytes(t, plain, false, AES128CBC, alice.cert, bob.cert)
	aliceOnly := encryptBytes(t, plain, true, AES128CBC, alice.cert)
	bobOnly := encryptBytes(t, plain, false, AES128CBC, bob.cert)

	t.Run("not a recipient", func(t *testing.T) {
		var out bytes.Buffer
		if _, err := Rewrap(&out, bytes.NewReader(bobOnly), alice.key, nil, []*x509.Certificate{carol.cert}); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("%v, want ErrNoRecipient", err)
		}
		if _, err := Rewrap(&out, bytes.NewReader(bobOnly), alice.key, alice.cert, []*x509.Certificate{carol.cert}); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("with the certificate: %v, want ErrNoRecipient", err)
		}
		if _, err := Rewrap(&out, bytes.NewReader(both), alice.key, bob.cert, []*x509.Certificate{carol.cert}); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("certificate of another key: %v, want ErrNoRecipient", err)
		}
		if _, err := Rewrap(&out, bytes.NewReader(both), nil, nil, []*x509.Certificate{carol.cert}); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("no key: %v, want ErrNoRecipient", err)
		}
		if out.Len() != 0 {
			t.Fatalf("%d bytes written by refused rewraps", out.Len())
		}
	})
	t.Run("already a recipient", func(t *testing.T) {
		out, res := rewrapBytes(t, both, alice, nil, bob.cert, carol.cert, carol.cert, dave.cert)
		if res.Skipped != 2 || len(res.Added) != 2 || res.Kept != 1 {
			t.Fatalf("result: %v", res)
		}
		ids, err := Inspect(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, id := range ids {
			for _, p := range []party{alice, bob, carol, dave} {
				if id.Matches(p.cert) {
					count[p.cert.Subject.CommonName]++
				}
			}
		}
		if len(ids) != 3 || count[bob.cert.Subject.CommonName] != 1 || count[carol.cert.Subject.CommonName] != 1 || count[dave.cert.Subject.CommonName] != 1 {
			t.Fatalf("recipients after the rewrap: %v", count)
		}
		// Nothing to add: the message keeps bob alone.
		out, res = rewrapBytes(t, both, alice, alice.cert, bob.cert)
		if res.Skipped != 1 || len(res.Added) != 0 {
			t.Fatalf("result: %v", res)
		}
		if got, err := decryptWith(out, bob, nil); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("bob: %v", err)
		}
	})
	t.Run("remove only", func(t *testing.T) {
		out, res := rewrapBytes(t, both, alice, nil)
		if len(res.Removed) != 1 || res.Kept != 1 || len(res.Added) != 0 {
			t.Fatalf("result: %v", res)
		}
		if got, err := opensslDecrypt(t, dir, out, "-inkey", bob.keyFile); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("openssl with bob: %v", err)
		}
		if _, err := decryptWith(out, alice, nil); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("alice: %v", err)
		}
		for _, add := range [][]*x509.Certificate{nil, {}} {
			if _, err := Rewrap(io.Discard, bytes.NewReader(aliceOnly), alice.key, nil, add); !errors.Is(err, ErrRecipient) {
				t.Fatalf("removing the only recipient: %v, want ErrRecipient", err)
			}
		}
	})
	t.Run("old key named twice", func(t *testing.T) {
		twice := encryptBytes(t, plain, false, AES128CBC, alice.cert, bob.cert, aliceRenewed.cert)
		out, res := rewrapBytes(t, twice, alice, alice.cert, carol.cert)
		if len(res.Removed) != 2 || res.Kept != 1 {
			t.Fatalf("result: %v", res)
		}
		for _, cert := range []*x509.Certificate{nil, alice.cert, aliceRenewed.cert} {
			if _, err := decryptWith(out, alice, cert); !errors.Is(err, ErrNoRecipient) {
				t.Fatalf("old key: %v", err)
			}
		}
	})
	t.Run("renewed certificate of the same key", func(t *testing.T) {
		out, res := rewrapBytes(t, aliceOnly, alice, alice.cert, aliceRenewed.cert)
		if len(res.Removed) != 1 || len(res.Added) != 1 || !res.Added[0].Matches(aliceRenewed.cert) {
			t.Fatalf("result: %v", res)
		}
		if got, err := opensslDecrypt(t, dir, out, "-inkey", alice.keyFile, "-recip", aliceRenewed.certFile); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("openssl with the renewed certificate: %v", err)
		}
		if _, err := opensslDecrypt(t, dir, out, "-inkey", alice.keyFile, "-recip", alice.certFile); err == nil {
			t.Fatal("openssl still finds the old certificate")
		}
		if err := VerifyRewrap(bytes.NewReader(out), alice.key, aliceRenewed.cert, res); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unusable certificates", func(t *testing.T) {
		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(5), Subject: pkix.Name{CommonName: "ec"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
		if err != nil {
			t.Fatal(err)
		}
		ecCert, _ := x509.ParseCertificate(der)
		for _, add := range [][]*x509.Certificate{{nil}, {carol.cert, ecCert}} {
			var out bytes.Buffer
			if _, err := Rewrap(&out, bytes.NewReader(both), alice.key, nil, add); !errors.Is(err, ErrRecipient) || out.Len() != 0 {
				t.Fatalf("%v (%d bytes written), want ErrRecipient", err, out.Len())
			}
		}
	})
}

// TestRewrapUnprotectedAttrs: unprotectedAttrs after the content are copied
// byte for byte, in both length forms, and the version stays 2.
func TestRewrapUnprotectedAttrs(t *testing.T) {
	rotationFixtures(t)
	dir := t.TempDir()
	plain := randomBytes(4000, 12)
	var ab cryptobyte.Builder
	ab.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier([]int{1, 2, 840, 113549, 1, 9, 2}) // unstructuredName
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte("call 42")) })
			})
		})
	})
	attrs := ab.BytesOrPanic()

	// Stream form: the attributes go after the EncryptedContentInfo's
	// end-of-contents, before the last three.
	stream := encryptBytes(t, plain, true, AES128CBC, alice.cert, bob.cert)
	withAttrs := append(append(bytes.Clone(stream[:len(stream)-6]), attrs...), stream[len(stream)-6:]...)
	// Definite form, rebuilt with version 2 and the attributes.
	definite := opensslEncrypt(t, dir, plain, false, nil, alice.certFile, bob.certFile)
	in := cryptobyte.String(definite)
	var ci, ed cryptobyte.String
	var oid cryptobyte.String
	var version int64
	var ris, eci cryptobyte.String
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1Element(&oid, cbasn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&ed, cbasn1.Tag(0).Constructed().ContextSpecific()) || !ed.ReadASN1(&ed, cbasn1.SEQUENCE) ||
		!ed.ReadASN1Integer(&version) || !ed.ReadASN1Element(&ris, cbasn1.SET) || !ed.ReadASN1Element(&eci, cbasn1.SEQUENCE) {
		t.Fatal("cannot take openssl's message apart")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(oid)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(2)
				b.AddBytes(ris)
				b.AddBytes(eci)
				b.AddBytes(attrs)
			})
		})
	})
	definiteAttrs := b.BytesOrPanic()

	for name, msg := range map[string][]byte{"stream": withAttrs, "definite": definiteAttrs} {
		if got, err := opensslDecrypt(t, dir, msg, "-inkey", alice.keyFile); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s: openssl rejects the test message: %v", name, err)
		}
		out, res := rewrapBytes(t, msg, alice, nil, carol.cert)
		if !bytes.HasSuffix(out, msg[bytes.Index(msg, derData):]) {
			t.Fatalf("%s: the tail of the message changed", name)
		}
		if !bytes.Contains(out, attrs) {
			t.Fatalf("%s: attributes lost", name)
		}
		if got, err := opensslDecrypt(t, dir, out, "-inkey", carol.keyFile); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s: openssl: %v", name, err)
		}
		if err := VerifyRewrap(bytes.NewReader(out), carol.key, nil, res); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if name == "definite" {
			c := newRewrapper(bytes.NewReader(out))
			if err := c.readHead(); err != nil || c.versionVal != 2 {
				t.Fatalf("version %d, %v", c.versionVal, err)
			}
			in := filepath.Join(dir, "der")
			os.WriteFile(in, out, 0o600)
			if !bytes.Equal(openssl(t, "cms", "-cmsout", "-inform", "DER", "-in", in, "-outform", "DER"), out) {
				t.Fatal("not DER")
			}
		}
	}
}

// TestRewrapRejects: truncated, damaged and foreign input gives the
// package's errors, never a panic, and never a result.
func TestRewrapRejects(t *testing.T) {
	rotationFixtures(t)
	dir := t.TempDir()
	plain := randomBytes(100, 5)
	messages := map[string][]byte{
		"definite":       encryptBytes(t, plain, false, AES128CBC, alice.cert),
		"stream":         encryptBytes(t, plain, true, AES256CBC, alice.cert, bob.cert),
		"openssl-stream": opensslEncrypt(t, dir, plain[:17], true, nil, bob.certFile, alice.certFile),
	}
	add := []*x509.Certificate{carol.cert}
	for name, msg := range messages {
		typeEnd := bytes.Index(msg, derEnvelopedDataOID) + len(derEnvelopedDataOID)
		for cut := 0; cut < len(msg); cut++ {
			res, err := Rewrap(io.Discard, bytes.NewReader(msg[:cut]), alice.key, nil, add)
			if err == nil || res != nil {
				t.Fatalf("%s: cut at %d of %d: no error", name, cut, len(msg))
			}
			want := ErrCorrupt
			if cut < typeEnd {
				want = ErrNotCMS
			}
			if !errors.Is(err, want) {
				t.Fatalf("%s: cut at %d: %v, want %v", name, cut, err, want)
			}
		}
		// A damaged byte: an error of a known kind or, where
		// the damage is in the ciphertext or a kept recipient, a message
		// that still opens as the damaged input does.
		for i := range msg {
			if i >= 64 && i%4 != 0 && i < len(msg)-40 { // every header byte, a quarter of the keys and ciphertext, the whole tail
				continue
			}
			bad := flip(msg, i)
			var out bytes.Buffer
			res, err := Rewrap(&out, bytes.NewReader(bad), alice.key, nil, add)
			if err != nil {
				if !errors.Is(err, ErrNotCMS) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrNoRecipient) {
					t.Fatalf("%s: byte %d damaged: error of no known kind: %v", name, i, err)
				}
				continue
			}
			want, wantErr := decryptWith(bad[:res.Read], alice, nil)
			got, gotErr := decryptWith(out.Bytes(), carol, nil)
			if wantErr != nil || gotErr != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: byte %d damaged: rewrapped, but the input decrypts with %v and the output with %v", name, i, wantErr, gotErr)
			}
		}
	}
	for _, msg := range [][]byte{nil, []byte("not CMS at all"), alice.cert.Raw} {
		if _, err := Rewrap(io.Discard, bytes.NewReader(msg), alice.key, nil, add); !errors.Is(err, ErrNotCMS) {
			t.Fatalf("%q: %v, want ErrNotCMS", msg, err)
		}
	}
	plainPath := filepath.Join(dir, "p")
	os.WriteFile(plainPath, plain, 0o600)
	signed := openssl(t, "cms", "-sign", "-binary", "-outform", "DER", "-in", plainPath, "-signer", alice.certFile, "-inkey", alice.keyFile)
	gcm := openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-gcm", "-in", plainPath, alice.certFile)
	for name, msg := range map[string][]byte{"signedData": signed, "authEnvelopedData": gcm} {
		if _, err := Rewrap(io.Discard, bytes.NewReader(msg), alice.key, nil, add); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%s: %v, want ErrUnsupported", name, err)
		}
	}
}

type failingWriter struct {
	left int
	err  error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, w.err
	}
	w.left -= len(p)
	return len(p), nil
}

type failingReader struct {
	r   io.Reader
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err == io.EOF {
		return n, r.err
	}
	return n, err
}

// TestRewrapIOErrors: failures of src and dst come back as they are, not as
// a corrupt message.
func TestRewrapIOErrors(t *testing.T) {
	rotationFixtures(t)
	msg := encryptBytes(t, randomBytes(1<<20, 2), true, AES128CBC, alice.cert)
	add := []*x509.Certificate{carol.cert}
	errDisk := errors.New("disk full")
	for _, left := range []int{0, 100, 600, 1 << 19} {
		_, err := Rewrap(&failingWriter{left: left, err: errDisk}, bytes.NewReader(msg), alice.key, nil, add)
		if !errors.Is(err, errDisk) {
			t.Fatalf("dst failing after %d bytes: %v", left, err)
		}
	}
	errNet := errors.New("connection reset")
	for _, cut := range []int{5, 700, 1 << 19} {
		_, err := Rewrap(io.Discard, &failingReader{r: bytes.NewReader(msg[:cut]), err: errNet}, alice.key, nil, add)
		if !errors.Is(err, errNet) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("src failing after %d bytes: %v", cut, err)
		}
	}
}

// TestVerifyRewrapRejects: the fast check notices another object, damaged
// ciphertext, a wrong length and a result of another rewrap.
func TestVerifyRewrapRejects(t *testing.T) {
	rotationFixtures(t)
	plain := randomBytes(70000, 3)
	for _, stream := range []bool{false, true} {
		msg := encryptBytes(t, plain, stream, AES128CBC, alice.cert, bob.cert)
		out, res := rewrapBytes(t, msg, alice, nil, carol.cert)
		_, otherRes := rewrapBytes(t, encryptBytes(t, plain, stream, AES128CBC, alice.cert, bob.cert), alice, nil, carol.cert)
		mustMismatch := func(name string, msg []byte, key party, want *RewrapResult) {
			t.Helper()
			err := VerifyRewrap(bytes.NewReader(msg), key.key, nil, want)
			if !errors.Is(err, ErrMismatch) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("stream=%v %s: %v, want ErrMismatch", stream, name, err)
			}
		}
		at, _ := ciphertextOf(t, out)
		mustMismatch("damaged ciphertext", flip(out, at+(len(out)-at)/2), carol, res)
		mustMismatch("result of another message", out, carol, otherRes)
		mustMismatch("trailing byte", append(bytes.Clone(out), 0), carol, res)
		mustMismatch("the old message, old key", msg, alice, res) // alice is still there
		shorter := *res
		shorter.Written--
		mustMismatch("wrong length", out, carol, &shorter)
		if err := VerifyRewrap(bytes.NewReader(out[:len(out)-1]), carol.key, nil, res); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated: %v", err)
		}
		if err := VerifyRewrap(bytes.NewReader(out), carol.key, nil, nil); !errors.Is(err, ErrMismatch) {
			t.Fatalf("nil result: %v", err)
		}
		if err := VerifyRewrap(bytes.NewReader(msg), carol.key, nil, res); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("the old message, new key: %v", err)
		}
		// Neither errors nor String show the content key or its check.
		key := contentKeyOf(t, out, carol)
		for _, s := range []string{res.String(), fmt.Sprint(VerifyRewrap(bytes.NewReader(out), carol.key, nil, otherRes))} {
			for _, secret := range [][]byte{key, res.KeyCheck[:]} {
				if bytes.Contains([]byte(s), fmt.Appendf(nil, "%x", secret)) || bytes.Contains([]byte(s), secret) {
					t.Fatalf("%q shows key material", s)
				}
			}
		}
	}
}

func contentKeyOf(t testing.TB, msg []byte, p party) []byte {
	c := newRewrapper(bytes.NewReader(msg))
	if err := c.readHead(); err != nil {
		t.Fatal(err)
	}
	_, key, err := c.open(p.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestRewrapConstantMemory streams a 64 MiB message through Rewrap from a
// pipe and checks that it allocates a small fixed amount, not the message.
func TestRewrapConstantMemory(t *testing.T) {
	rotationFixtures(t)
	const size = 64 << 20
	for _, stream := range []bool{false, true} {
		pr, pw := io.Pipe()
		go func() {
			n := int64(size)
			if stream {
				n = -1
			}
			pw.CloseWithError(Encrypt(pw, io.LimitReader(mrand.NewChaCha8([32]byte{7}), size), n, []*x509.Certificate{alice.cert}, Options{}))
		}()
		// Drain the pipe's writer side allocations out of the count by
		// measuring Rewrap's own allocation after a warm-up.
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		h := sha256.New()
		res, err := Rewrap(h, pr, alice.key, nil, []*x509.Certificate{carol.cert})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if res.CiphertextSize != size/16*16+16 {
			t.Fatalf("ciphertext of %d bytes", res.CiphertextSize)
		}
		// Encrypt in the goroutine allocates about 300 KB too.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
			t.Fatalf("stream=%v: %d bytes allocated for a %d-byte message", stream, alloc, res.Written)
		}
	}
}

// TestRewrapSortsRecipientInfos: the recipient infos of a definite
// message stay in DER order whatever the order of add, so that openssl's
// DER re-encoding is the same bytes.
func TestRewrapSortsRecipientInfos(t *testing.T) {
	rotationFixtures(t)
	dir := t.TempDir()
	msg := encryptBytes(t, []byte("x"), false, AES128CBC, alice.cert, bob.cert)
	in := filepath.Join(dir, "der")
	for _, add := range [][]*x509.Certificate{{carol.cert, dave.cert}, {dave.cert, carol.cert}} {
		out, _ := rewrapBytes(t, msg, alice, nil, add...)
		os.WriteFile(in, out, 0o600)
		if !bytes.Equal(openssl(t, "cms", "-cmsout", "-inform", "DER", "-in", in, "-outform", "DER"), out) {
			t.Fatal("not DER: openssl re-encodes it differently")
		}
	}
}
