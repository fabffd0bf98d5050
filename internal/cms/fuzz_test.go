package cms

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"sync"
	"testing"
	"time"
)

var (
	fuzzOnce sync.Once
	fuzzKey  *rsa.PrivateKey
	fuzzCert *x509.Certificate
)

// fuzzParty is made in Go, not by openssl, so the fuzzer needs nothing
// outside the test binary.
func fuzzParty(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	fuzzOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(12092115751924922),
			Subject:      pkix.Name{CommonName: "fuzz"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		fuzzKey = key
		fuzzCert, _ = x509.ParseCertificate(der)
	})
	return fuzzKey, fuzzCert
}

// FuzzDecrypt feeds arbitrary bytes to the parser and decryptor: it must
// never panic, every error must be one of the package's kinds, and a
// success must never return more plaintext than the input could hold.
func FuzzDecrypt(f *testing.F) {
	key, cert := fuzzParty(f)
	for _, size := range []int{0, 1, 16, 100} {
		for _, stream := range []bool{false, true} {
			var buf bytes.Buffer
			n := int64(size)
			if stream {
				n = -1
			}
			if err := Encrypt(&buf, bytes.NewReader(make([]byte, size)), n, []*x509.Certificate{cert}, Options{}); err != nil {
				f.Fatal(err)
			}
			f.Add(buf.Bytes())
		}
	}
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03, 0xa0, 0x80})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, c := range []*x509.Certificate{nil, cert} {
			var out bytes.Buffer
			n, err := Decrypt(&out, bytes.NewReader(msg), key, c)
			if int64(out.Len()) != n {
				t.Fatalf("reported %d bytes, wrote %d", n, out.Len())
			}
			if err != nil {
				if !errors.Is(err, ErrNotCMS) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrNoRecipient) {
					t.Fatalf("error of no known kind: %v", err)
				}
				continue
			}
			if n >= int64(len(msg)) {
				t.Fatalf("%d bytes of plaintext from a %d-byte message", n, len(msg))
			}
			// Random access must agree with the stream reader.
			ra, err := NewReaderAt(bytes.NewReader(msg), int64(len(msg)), key, c)
			if err != nil {
				continue
			}
			got, err := io.ReadAll(io.NewSectionReader(ra, 0, ra.Size()))
			if err != nil || !bytes.Equal(got, out.Bytes()) {
				t.Fatalf("ReaderAt disagrees with Decrypt: %v", err)
			}
		}
	})
}

var (
	fuzzOnce2 sync.Once
	fuzzKey2  *rsa.PrivateKey
	fuzzCert2 *x509.Certificate
)

// fuzzParty2 is a second Go-made party, the one FuzzRewrap rotates to.
func fuzzParty2(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	fuzzOnce2.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(77),
			Subject:      pkix.Name{CommonName: "fuzz rotation"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		fuzzKey2 = key
		fuzzCert2, _ = x509.ParseCertificate(der)
	})
	return fuzzKey2, fuzzCert2
}

// FuzzRewrap feeds arbitrary bytes to Rewrap: it must never panic, every
// error must be one of the package's kinds, the output is bounded by the
// input, and a success must give a message that VerifyRewrap accepts, that
// the new key opens to the plaintext the old key got from the input, and
// that the old key no longer opens.
func FuzzRewrap(f *testing.F) {
	key, cert := fuzzParty(f)
	key2, cert2 := fuzzParty2(f)
	for _, size := range []int{0, 1, 16, 100} {
		for _, stream := range []bool{false, true} {
			for _, recips := range [][]*x509.Certificate{{cert}, {cert2, cert}} {
				var buf bytes.Buffer
				n := int64(size)
				if stream {
					n = -1
				}
				if err := Encrypt(&buf, bytes.NewReader(make([]byte, size)), n, recips, Options{}); err != nil {
					f.Fatal(err)
				}
				f.Add(buf.Bytes())
			}
		}
	}
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03, 0xa0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x00, 0x31, 0x80})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var out bytes.Buffer
		res, err := Rewrap(&out, bytes.NewReader(msg), key, nil, []*x509.Certificate{cert2})
		if err != nil {
			if !errors.Is(err, ErrNotCMS) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrNoRecipient) && !errors.Is(err, ErrRecipient) {
				t.Fatalf("error of no known kind: %v", err)
			}
			if res != nil {
				t.Fatal("a result with an error")
			}
			return
		}
		// One recipient info of a 2048-bit key added, lengths grown by a
		// few octets at most.
		if res.Written != int64(out.Len()) || res.Read > int64(len(msg)) || res.Written > res.Read+400 {
			t.Fatalf("read %d of %d bytes, wrote %d (reported %d)", res.Read, len(msg), out.Len(), res.Written)
		}
		if err := VerifyRewrap(bytes.NewReader(out.Bytes()), key2, nil, res); err != nil {
			t.Fatalf("VerifyRewrap: %v", err)
		}
		var want, got bytes.Buffer
		if _, err := Decrypt(&want, bytes.NewReader(msg), key, nil); err != nil {
			t.Fatalf("rewrapped a message that does not decrypt: %v", err)
		}
		if _, err := Decrypt(&got, bytes.NewReader(out.Bytes()), key2, nil); err != nil || !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("the rewrapped message does not decrypt to the same plaintext: %v", err)
		}
		if _, err := Decrypt(io.Discard, bytes.NewReader(out.Bytes()), key, nil); !errors.Is(err, ErrNoRecipient) {
			t.Fatalf("the old key still opens the rewrapped message: %v", err)
		}
	})
}
