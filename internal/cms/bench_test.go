package cms

import (
	"bytes"
	"crypto/x509"
	"io"
	"testing"
)

// The 1 GiB comparison with openssl is bench/cms.sh; these measure the
// package alone, in memory, with allocations.

const benchSize = 64 << 20

func BenchmarkEncrypt(b *testing.B) {
	_, cert := fuzzParty(b)
	for _, c := range []Cipher{AES128CBC, AES256CBC} {
		b.Run(c.String(), func(b *testing.B) {
			src := make([]byte, benchSize)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				if err := Encrypt(io.Discard, bytes.NewReader(src), benchSize, []*x509.Certificate{cert}, Options{Cipher: c}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	key, cert := fuzzParty(b)
	for _, c := range []Cipher{AES128CBC, AES256CBC} {
		b.Run(c.String(), func(b *testing.B) {
			var msg bytes.Buffer
			if err := Encrypt(&msg, bytes.NewReader(make([]byte, benchSize)), benchSize, []*x509.Certificate{cert}, Options{Cipher: c}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decrypt(io.Discard, bytes.NewReader(msg.Bytes()), key, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSalvage is Decrypt's work through Salvage: of a whole stream
// message, and of one cut in its last segment.
func BenchmarkSalvage(b *testing.B) {
	key, cert := fuzzParty(b)
	var msg bytes.Buffer
	if err := Encrypt(&msg, bytes.NewReader(make([]byte, benchSize)), -1, []*x509.Certificate{cert}, Options{}); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		msg  []byte
	}{{"whole", msg.Bytes()}, {"cut", msg.Bytes()[:msg.Len()-1000]}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Salvage(io.Discard, bytes.NewReader(c.msg), key, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
