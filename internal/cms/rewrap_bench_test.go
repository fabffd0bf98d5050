package cms

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"testing"
)

// onlyWriter and onlyReader hide io.ReaderFrom and io.WriterTo, so that
// io.Copy really copies through its buffer, as between a store's reader and
// writer.
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

// segmented re-cuts the content of a NewStreamWriter message into segments
// of n bytes, as `openssl cms -encrypt -stream` writes 4096-byte ones.
func segmented(b *testing.B, msg []byte, n int) []byte {
	at, ct := ciphertextOf(b, msg)
	start := at + bytes.Index(msg[at:], []byte{0xa0, 0x80, 0x04}) + 2
	out := bytes.Clone(msg[:start])
	for len(ct) > 0 {
		k := min(n, len(ct))
		out = appendLength(append(out, 0x04), int64(k))
		out = append(out, ct[:k]...)
		ct = ct[k:]
	}
	return append(out, streamSuffix...)
}

// BenchmarkRewrap compares Rewrap and VerifyRewrap with io.Copy of the same
// bytes, and with io.Copy that also hashes them (Rewrap hashes the
// ciphertext with SHA-256), for a 150 KB recording and a 16 MB one.
func BenchmarkRewrap(b *testing.B) {
	key, cert := fuzzParty(b)
	_, cert2 := fuzzParty2(b)
	add := []*x509.Certificate{cert2}
	for _, size := range []int{150_000, 16 << 20} {
		var def, stream bytes.Buffer
		if err := Encrypt(&def, bytes.NewReader(make([]byte, size)), int64(size), []*x509.Certificate{cert}, Options{}); err != nil {
			b.Fatal(err)
		}
		if err := Encrypt(&stream, bytes.NewReader(make([]byte, size)), -1, []*x509.Certificate{cert}, Options{}); err != nil {
			b.Fatal(err)
		}
		messages := []struct {
			name string
			msg  []byte
		}{
			{"definite", def.Bytes()},
			{"stream-4k", segmented(b, stream.Bytes(), 4096)},
		}
		for _, m := range messages {
			msg := m.msg
			var rewrapped bytes.Buffer
			res, err := Rewrap(&rewrapped, bytes.NewReader(msg), key, nil, add)
			if err != nil {
				b.Fatal(err)
			}
			run := func(name string, f func() error) {
				b.Run(fmt.Sprintf("%s/%s/%s", m.name, sizeName(size), name), func(b *testing.B) {
					b.SetBytes(int64(len(msg)))
					b.ReportAllocs()
					for b.Loop() {
						if err := f(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			run("copy", func() error {
				_, err := io.Copy(onlyWriter{io.Discard}, onlyReader{bytes.NewReader(msg)})
				return err
			})
			run("copy+sha256", func() error {
				_, err := io.Copy(onlyWriter{io.MultiWriter(io.Discard, sha256.New())}, onlyReader{bytes.NewReader(msg)})
				return err
			})
			run("rewrap", func() error {
				_, err := Rewrap(onlyWriter{io.Discard}, onlyReader{bytes.NewReader(msg)}, key, nil, add)
				return err
			})
			run("verify", func() error {
				return VerifyRewrap(onlyReader{bytes.NewReader(rewrapped.Bytes())}, fuzzKey2, nil, res)
			})
		}
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dkB", n/1000)
}
