package cms

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io"
	"maps"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// writeLog is a dst that remembers where each Write fell.
type writeLog struct {
	bytes.Buffer
	writes [][2]int // [start, end) of each Write
}

func (w *writeLog) Write(p []byte) (int, error) {
	start := w.Len()
	n, err := w.Buffer.Write(p)
	w.writes = append(w.writes, [2]int{start, start + n})
	return n, err
}

// flushedStream is a NewStreamWriter message written in writes of odd
// sizes with flushes between them, and where its parts lie.
type flushedStream struct {
	msg     []byte
	plain   []byte
	padded  []byte   // plain and its padding: what the whole ciphertext decrypts to
	hdrLen  int      // the header, through the content's [0] header (its last 2 bytes)
	bodies  [][2]int // each segment's ciphertext
	suffix  int      // where the end-of-contents markers start
	flushes [][2]int // after each Flush: {length of the message, plaintext bytes in it}
}

// writeFlushed writes size random bytes through a StreamWriter in writes
// of odd sizes (one of them larger than a segment), flushing after about
// one in three, and checks what each Flush put into dst: every whole block,
// and nothing when there is none.
func writeFlushed(t testing.TB, size int, seed uint64, key *rsa.PrivateKey, cert *x509.Certificate) *flushedStream {
	t.Helper()
	s := &flushedStream{plain: randomBytes(size, seed)}
	pad := 16 - size%16
	s.padded = append(bytes.Clone(s.plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	rng := mrand.New(mrand.NewPCG(seed, 1))
	var dst writeLog
	w, err := NewStreamWriter(&dst, []*x509.Certificate{cert}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.hdrLen = dst.Len()
	given, big := 0, false
	sizes := []int{1, 3, 5, 15, 16, 17, 31, 100, 1000, 4095, 9001}
	for given < size {
		n := sizes[rng.IntN(len(sizes))]
		if !big && size > chunkSize && given >= size/3 {
			n, big = chunkSize+7, true // a segment written by Write itself
		}
		n = min(n, size-given)
		if _, err := w.Write(s.plain[given : given+n]); err != nil {
			t.Fatal(err)
		}
		given += n
		if rng.IntN(3) > 0 {
			continue
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		s.flushes = append(s.flushes, [2]int{dst.Len(), given - given%16})
		// What is in dst now is a message cut between segments.
		var out bytes.Buffer
		res, err := Salvage(&out, bytes.NewReader(dst.Bytes()), key, cert)
		if err != nil || res.Complete || res.ContentEnded || res.Dropped != 0 || !bytes.Equal(out.Bytes(), s.plain[:given-given%16]) {
			t.Fatalf("after a Flush at %d bytes, Salvage gives %d bytes (%+v, %v), want %d", given, out.Len(), res, err, given-given%16)
		}
		before := dst.Len()
		if err := w.Flush(); err != nil || dst.Len() != before {
			t.Fatalf("a second Flush wrote %d bytes: %v", dst.Len()-before, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err == nil {
		t.Fatal("Flush after Close succeeded")
	}
	s.msg = dst.Bytes()
	// writes: the prefix, then a header and a body per segment, then the
	// end-of-contents markers.
	for i := 2; i < len(dst.writes)-1; i += 2 {
		s.bodies = append(s.bodies, dst.writes[i])
	}
	s.suffix = dst.writes[len(dst.writes)-1][0]
	return s
}

// at is where ciphertext byte i lies in the message.
func (s *flushedStream) at(i int) int {
	for _, b := range s.bodies {
		if i < b[1]-b[0] {
			return b[0] + i
		}
		i -= b[1] - b[0]
	}
	panic("past the ciphertext")
}

// ciphertextBefore is how many ciphertext bytes lie in msg[:cut].
func (s *flushedStream) ciphertextBefore(cut int) int {
	n := 0
	for _, b := range s.bodies {
		n += max(0, min(b[1], cut)-b[0])
	}
	return n
}

// TestStreamWriterFlush writes with flushes between writes of odd sizes
// (writeFlushed checks each Flush), and openssl and Decrypt open the whole.
func TestStreamWriterFlush(t *testing.T) {
	fixtures(t)
	dir := t.TempDir()
	for i, size := range []int{0, 7, 16, 5000, 700_001} {
		s := writeFlushed(t, size, uint64(i), alice.key, alice.cert)
		if size > 5000 && len(s.bodies) < 10 {
			t.Fatalf("%d bytes in only %d segments", size, len(s.bodies))
		}
		got, err := opensslDecrypt(t, dir, s.msg, "-inkey", alice.keyFile)
		if err != nil || !bytes.Equal(got, s.plain) {
			t.Fatalf("%d bytes: openssl gives %d bytes: %v", size, len(got), err)
		}
		if got, err := decryptWith(s.msg, alice, nil); err != nil || !bytes.Equal(got, s.plain) {
			t.Fatalf("%d bytes: Decrypt: %v", size, err)
		}
	}

	// A Flush with less than a block buffered writes nothing.
	var dst bytes.Buffer
	w, err := NewStreamWriter(&dst, []*x509.Certificate{alice.cert}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	hdr := dst.Len()
	w.Write(make([]byte, 15))
	if err := w.Flush(); err != nil || dst.Len() != hdr {
		t.Fatalf("Flush of 15 bytes wrote %d bytes: %v", dst.Len()-hdr, err)
	}
	w.Write(make([]byte, 1))
	if err := w.Flush(); err != nil || dst.Len() != hdr+2+16 {
		t.Fatalf("Flush of 16 bytes wrote %d bytes, want a 2-byte header and one block: %v", dst.Len()-hdr, err)
	}
}

// TestSalvageCuts cuts a flushed stream at every offset around each of its
// parts and at a stride through the rest: inside the header it is an
// error; after it, Salvage gives exactly the whole blocks before the cut,
// a prefix of the plaintext (with its padding, for a cut just before the
// content's end-of-contents), and at least everything flushed before the
// cut but the segment it falls in; Decrypt of the same cut says
// ErrTruncated.
func TestSalvageCuts(t *testing.T) {
	fixtures(t)
	dir := t.TempDir()
	s := writeFlushed(t, 40_000, 0, alice.key, alice.cert)
	if len(s.bodies) < 10 {
		t.Fatalf("only %d segments", len(s.bodies))
	}
	cuts := map[int]bool{len(s.msg): true}
	near := func(at int) {
		for c := at - 3; c <= at+3; c++ {
			if c >= 0 && c <= len(s.msg) {
				cuts[c] = true
			}
		}
	}
	near(s.hdrLen - 2)
	near(s.hdrLen)
	for _, b := range s.bodies {
		near(b[0] - 4) // the segment's header, up to 4 bytes
		near(b[0])
		near((b[0] + b[1]) / 2)
		near(b[1])
	}
	for c := s.suffix; c <= len(s.msg); c++ {
		cuts[c] = true
	}
	for c := 0; c < len(s.msg); c += 997 {
		cuts[c] = true
	}
	for c := 0; c < s.hdrLen; c += 7 {
		cuts[c] = true
	}
	for _, cut := range slices.Sorted(maps.Keys(cuts)) {
		var out bytes.Buffer
		res, err := Salvage(&out, bytes.NewReader(s.msg[:cut]), alice.key, nil)
		if cut < s.hdrLen-2 {
			// Too short to tell it is CMS before the content type's OID.
			if !errors.Is(err, ErrTruncated) && !(cut < 13 && errors.Is(err, ErrNotCMS)) {
				t.Fatalf("cut at %d, in the header: %v, want ErrTruncated", cut, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if res.Written != int64(out.Len()) || res.Read != int64(cut) {
			t.Fatalf("cut at %d: %+v for %d bytes out", cut, res, out.Len())
		}
		if cut == len(s.msg) {
			if !res.Complete || !res.ContentEnded || !bytes.Equal(out.Bytes(), s.plain) {
				t.Fatalf("whole message: %+v, %d bytes", res, out.Len())
			}
			continue
		}
		if res.Complete {
			t.Fatalf("cut at %d of %d: Complete", cut, len(s.msg))
		}
		if _, err := decryptErr(s.msg[:cut], alice.key); !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: Decrypt says %v, want ErrTruncated", cut, err)
		}
		if cut >= s.suffix+2 { // the content's end-of-contents is there
			if !res.ContentEnded || !bytes.Equal(out.Bytes(), s.plain) {
				t.Fatalf("cut at %d, after the content: %+v, %d bytes", cut, res, out.Len())
			}
			continue
		}
		ct := s.ciphertextBefore(cut)
		if res.ContentEnded || out.Len() != ct-ct%16 || res.Dropped != ct%16 || !bytes.Equal(out.Bytes(), s.padded[:out.Len()]) {
			t.Fatalf("cut at %d, %d ciphertext bytes in: %+v, %d bytes, want the first %d", cut, ct, res, out.Len(), ct-ct%16)
		}
		flushed := 0
		for _, f := range s.flushes {
			if f[0] <= cut {
				flushed = f[1]
			}
		}
		if out.Len() < flushed {
			t.Fatalf("cut at %d: %d bytes, fewer than the %d flushed before it", cut, out.Len(), flushed)
		}
	}

	// The whole message, against openssl.
	var out bytes.Buffer
	if res, err := Salvage(&out, bytes.NewReader(s.msg), alice.key, alice.cert); err != nil || !res.Complete {
		t.Fatalf("whole message: %+v, %v", res, err)
	}
	got, err := opensslDecrypt(t, dir, s.msg, "-inkey", alice.keyFile)
	if err != nil || !bytes.Equal(got, out.Bytes()) {
		t.Fatalf("openssl disagrees with Salvage: %v", err)
	}
}

// TestSalvageOtherForms: definite-length messages (ours and openssl's) and
// openssl's -stream ones, cut inside the content, give the whole blocks
// before the cut.
func TestSalvageOtherForms(t *testing.T) {
	fixtures(t)
	dir := t.TempDir()
	plain := randomBytes(600_003, 4)
	padded := append(bytes.Clone(plain), bytes.Repeat([]byte{13}, 13)...) // 600_003 % 16 == 3
	forms := map[string][]byte{
		"NewWriter":       encryptBytes(t, plain, false, AES256CBC, alice.cert),
		"openssl":         opensslEncrypt(t, dir, plain, false, []string{"-aes256"}, alice.certFile),
		"openssl -stream": opensslEncrypt(t, dir, plain, true, []string{"-aes128"}, alice.certFile),
	}
	for name, msg := range forms {
		_, ct := ciphertextOf(t, msg)
		start := bytes.Index(msg, ct[:64]) // the first segment, or the whole content
		// 300_001 and 500_001: after the decoder has filled its buffer.
		for _, cut := range []int{start, start + 1, start + 16, start + 1000, start + 300_001, start + 500_001, len(msg) - 17, len(msg) - 1, len(msg)} {
			var out bytes.Buffer
			res, err := Salvage(&out, bytes.NewReader(msg[:cut]), alice.key, nil)
			if err != nil {
				t.Fatalf("%s cut at %d: %v", name, cut, err)
			}
			if cut == len(msg) {
				if !res.Complete || !bytes.Equal(out.Bytes(), plain) {
					t.Fatalf("%s whole: %+v", name, res)
				}
				continue
			}
			if res.Complete || !bytes.HasPrefix(padded, out.Bytes()) || out.Len()%16 != 0 && !res.ContentEnded {
				t.Fatalf("%s cut at %d: %+v, %d bytes not a prefix of whole blocks", name, cut, res, out.Len())
			}
			// All but the partial block, and openssl's segment headers (4
			// bytes in 4096).
			if cut < len(msg)-16 && out.Len() < (cut-start)*99/100-16 {
				t.Fatalf("%s cut at %d: only %d bytes", name, cut, out.Len())
			}
		}
	}
}

// TestSalvageRejects: what is not a cut is an error of the package's kind,
// distinct from ErrTruncated where the message is damaged.
func TestSalvageRejects(t *testing.T) {
	fixtures(t)
	s := writeFlushed(t, 5000, 3, alice.key, alice.cert)
	msg := s.msg
	badSegment := bytes.Clone(msg)
	badSegment[s.bodies[0][1]] = 0x05 // the second segment a NULL, not an OCTET STRING
	// The last byte of the block before the last XORs into the pad byte:
	// flipped, the padding is bad whatever the key.
	badPadding := flip(msg, s.at(s.ciphertextBefore(len(msg))-17))
	aes := bytes.Index(msg, mustOID(oidAES128CBC))
	cases := []struct {
		name      string
		msg       []byte
		key       *rsa.PrivateKey
		want      error
		truncated bool
	}{
		{"empty", nil, alice.key, ErrNotCMS, false},
		{"wrong key", msg, bob.key, ErrNoRecipient, false},
		{"cut in the recipient infos", msg[:200], alice.key, ErrTruncated, true},
		{"cut in the algorithm", msg[:s.hdrLen-5], alice.key, ErrTruncated, true},
		{"unknown algorithm", flip(msg, aes+len(mustOID(oidAES128CBC))-1), alice.key, ErrUnsupported, false},
		{"bad segment header", badSegment, alice.key, ErrCorrupt, false},
		{"bad padding", badPadding, alice.key, ErrCorrupt, false},
		{"bad padding, end markers cut", badPadding[:len(msg)-3], alice.key, ErrCorrupt, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := Salvage(&out, bytes.NewReader(c.msg), c.key, nil)
			if !errors.Is(err, c.want) || errors.Is(err, ErrTruncated) != c.truncated {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if res.Complete || res.Written != int64(out.Len()) {
				t.Fatalf("%+v with an error, %d bytes out", res, out.Len())
			}
		})
	}
	if _, err := Salvage(io.Discard, bytes.NewReader(msg), nil, nil); !errors.Is(err, ErrNoRecipient) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := Salvage(io.Discard, bytes.NewReader(msg), alice.key, bob.cert); !errors.Is(err, ErrNoRecipient) {
		t.Fatalf("another key's certificate: %v", err)
	}
}

// TestSalvageIOErrors: a failing source or destination is neither a cut
// nor a corrupt message.
func TestSalvageIOErrors(t *testing.T) {
	fixtures(t)
	msg := encryptBytes(t, randomBytes(1<<20, 2), true, AES128CBC, alice.cert)
	errNet := errors.New("connection reset")
	for _, cut := range []int{100, 700, 1 << 19, len(msg) - 3} {
		_, err := Salvage(io.Discard, &failingReader{r: bytes.NewReader(msg[:cut]), err: errNet}, alice.key, nil)
		if !errors.Is(err, errNet) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("src failing after %d bytes: %v", cut, err)
		}
	}
	errDisk := errors.New("disk full")
	res, err := Salvage(&failingWriter{left: 1000, err: errDisk}, bytes.NewReader(msg[:1<<19]), alice.key, nil)
	if !errors.Is(err, errDisk) || res.Written != 1000 {
		t.Fatalf("dst failing after 1000 bytes: %+v, %v", res, err)
	}
}

// TestSalvageFile is the use it is for: a file whose writer flushed and
// then stopped, read from disk.
func TestSalvageFile(t *testing.T) {
	fixtures(t)
	path := filepath.Join(t.TempDir(), "screen.mp4.p7m")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewStreamWriter(f, []*x509.Certificate{alice.cert}, Options{Cipher: AES256CBC})
	if err != nil {
		t.Fatal(err)
	}
	plain := randomBytes(100_010, 8)
	for i := 0; i < 10; i++ {
		w.Write(plain[i*10_001 : (i+1)*10_001])
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// The writer dies: no Close.
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	res, err := Salvage(&out, src, alice.key, alice.cert)
	if err != nil || res.Complete || !bytes.Equal(out.Bytes(), plain[:100_000]) {
		t.Fatalf("%+v, %v: %d bytes", res, err, out.Len())
	}
}

// FuzzSalvage feeds arbitrary bytes to Salvage: it must never panic, every
// error must be one of the package's kinds, the plaintext is never longer
// than the input, a complete result is what Decrypt gives, and a prefix of
// a known message gives a prefix of its plaintext.
func FuzzSalvage(f *testing.F) {
	key, cert := fuzzParty(f)
	// A small stream of at least three segments, for quick runs.
	var stream *flushedStream
	for seed := uint64(0); stream == nil || len(stream.bodies) < 3; seed++ {
		stream = writeFlushed(f, 3000, seed, key, cert)
	}
	definite := encryptBytes(f, stream.plain, false, AES128CBC, cert)
	known := [][]byte{stream.msg, definite}
	for _, cut := range []int{0, 20, stream.hdrLen - 2, stream.hdrLen, stream.hdrLen + 1, stream.bodies[0][1], stream.bodies[1][0] - 1, stream.bodies[1][0] + 17, stream.suffix, stream.suffix + 1, stream.suffix + 2, len(stream.msg)} {
		f.Add(stream.msg[:cut])
	}
	for _, cut := range []int{len(definite) / 2, len(definite) - 1, len(definite)} {
		f.Add(definite[:cut])
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		var out bytes.Buffer
		res, err := Salvage(&out, bytes.NewReader(msg), key, nil)
		if res.Written != int64(out.Len()) || res.Written > res.Read || res.Read > int64(len(msg)) {
			t.Fatalf("read %d of %d bytes, wrote %d (reported %d)", res.Read, len(msg), out.Len(), res.Written)
		}
		var want bytes.Buffer
		_, decryptErr := Decrypt(&want, bytes.NewReader(msg), key, nil)
		if err != nil {
			if !errors.Is(err, ErrNotCMS) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrNoRecipient) {
				t.Fatalf("error of no known kind: %v", err)
			}
			if decryptErr == nil {
				t.Fatalf("Decrypt opens what Salvage rejects: %v", err)
			}
			return
		}
		if res.Complete != (decryptErr == nil) {
			t.Fatalf("Complete %v, Decrypt says %v", res.Complete, decryptErr)
		}
		if res.Complete && !bytes.Equal(out.Bytes(), want.Bytes()) {
			t.Fatal("a complete salvage differs from Decrypt")
		}
		for _, m := range known {
			if !bytes.HasPrefix(m, msg) {
				continue
			}
			if !bytes.HasPrefix(stream.padded, out.Bytes()) || res.ContentEnded && !bytes.Equal(out.Bytes(), stream.plain) {
				t.Fatalf("a %d-byte prefix of a known message gives %d bytes that are not a prefix of its plaintext (%+v)", len(msg), out.Len(), res)
			}
		}
	})
}
