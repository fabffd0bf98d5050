package cms

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestReaderAtRandomRanges reads random ranges of messages written by us
// (definite and stream form) and by openssl (-stream, small segments), and
// compares them with the plaintext.
func TestReaderAtRandomRanges(t *testing.T) {
	fixtures(t)
	dir := t.TempDir()
	for _, size := range []int{1, 15, 16, 17, 1000, 300<<10 + 7} {
		plain := randomBytes(size, uint64(size))
		plainPath := filepath.Join(dir, "plain")
		os.WriteFile(plainPath, plain, 0o600)
		messages := map[string][]byte{
			"definite": encryptBytes(t, plain, false, AES128CBC, alice.cert),
			"stream":   encryptBytes(t, plain, true, AES256CBC, alice.cert, bob.cert),
			"openssl-stream": openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-stream", "-aes256",
				"-in", plainPath, alice.certFile),
			"openssl-des3": openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-des3", "-in", plainPath, alice.certFile),
		}
		for name, msg := range messages {
			r, err := NewReaderAt(bytes.NewReader(msg), int64(len(msg)), alice.key, nil)
			if err != nil {
				t.Fatalf("%s/%d: %v", name, size, err)
			}
			if r.Size() != int64(size) {
				t.Fatalf("%s/%d: Size %d", name, size, r.Size())
			}
			rng := rand.New(rand.NewPCG(uint64(size), 1))
			for i := 0; i < 200; i++ {
				off := rng.IntN(size)
				n := rng.IntN(size-off) + 1
				got := make([]byte, n)
				if _, err := r.ReadAt(got, int64(off)); err != nil && !(errors.Is(err, io.EOF) && off+n == size) {
					t.Fatalf("%s/%d: ReadAt(%d, %d): %v", name, size, n, off, err)
				}
				if !bytes.Equal(got, plain[off:off+n]) {
					t.Fatalf("%s/%d: ReadAt(%d, %d) differs", name, size, n, off)
				}
			}
			// Reading through a SectionReader, as http.ServeContent does.
			all, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
			if err != nil || !bytes.Equal(all, plain) {
				t.Fatalf("%s/%d: sequential read through SectionReader: %v", name, size, err)
			}
			if n, err := r.ReadAt(make([]byte, 4), int64(size)); n != 0 || err != io.EOF {
				t.Fatalf("%s/%d: read at the end: %d, %v", name, size, n, err)
			}
		}
	}
}

func TestReaderAtRejects(t *testing.T) {
	fixtures(t)
	msg := encryptBytes(t, randomBytes(1000, 9), false, AES128CBC, alice.cert)
	cases := map[string]struct {
		msg  []byte
		want error
	}{
		"truncated":   {msg[:len(msg)-5], ErrCorrupt},
		"bad padding": {flip(msg, len(msg)-1), ErrCorrupt},
		"not CMS":     {[]byte("plain text"), ErrNotCMS},
	}
	for name, c := range cases {
		if _, err := NewReaderAt(bytes.NewReader(c.msg), int64(len(c.msg)), alice.key, nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := NewReaderAt(bytes.NewReader(msg), int64(len(msg)), bob.key, nil); !errors.Is(err, ErrNoRecipient) {
		t.Errorf("wrong key: %v", err)
	}
}
