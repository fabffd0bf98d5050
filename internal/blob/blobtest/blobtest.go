// Package blobtest is the conformance suite every vault.BlobStore must
// pass: the local directory always, MinIO and Azurite where they run. A
// store's tests call Run.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"callvault/internal/vault"
)

// LargeSize is the size of the streamed write and read.
const LargeSize = 64 << 20

// Run runs the BlobStore contract against stores made by open. open may
// return a new store or the same shared one (a MinIO bucket, say), and
// should close it in t.Cleanup: every subtest writes under its own random
// key prefix and deletes what it wrote.
func Run(t *testing.T, open func(t *testing.T) vault.BlobStore) {
	t.Run("WriteRead", func(t *testing.T) {
		s, k := setup(t, open)
		data := []byte("hello, recorded world\n\x00\xff")
		put(t, s, k("a"), "audio/mp3", data)
		if got := get(t, s, k("a"), 0, -1); !bytes.Equal(got, data) {
			t.Errorf("read %q, want %q", got, data)
		}
		size, err := s.Size(context.Background(), k("a"))
		if err != nil || size != int64(len(data)) {
			t.Errorf("Size = %d, %v; want %d", size, err, len(data))
		}
	})

	t.Run("NoContentType", func(t *testing.T) {
		s, k := setup(t, open)
		put(t, s, k("a"), "", []byte("bytes"))
		if got := get(t, s, k("a"), 0, -1); string(got) != "bytes" {
			t.Errorf("read %q, want %q", got, "bytes")
		}
	})

	t.Run("Empty", func(t *testing.T) {
		s, k := setup(t, open)
		put(t, s, k("empty"), "application/octet-stream", nil)
		size, err := s.Size(context.Background(), k("empty"))
		if err != nil || size != 0 {
			t.Errorf("Size = %d, %v; want 0", size, err)
		}
		for _, rng := range [][2]int64{{0, -1}, {0, 0}, {0, 10}, {5, -1}} {
			if got := get(t, s, k("empty"), rng[0], rng[1]); len(got) != 0 {
				t.Errorf("range %v: read %q, want nothing", rng, got)
			}
		}
	})

	t.Run("RangeReads", func(t *testing.T) {
		s, k := setup(t, open)
		data := []byte("0123456789abcdefghij")
		size := int64(len(data))
		put(t, s, k("r"), "text/plain", data)
		for _, tc := range []struct {
			offset, length int64
			want           string
		}{
			{0, -1, string(data)},
			{0, 5, "01234"},
			{3, 4, "3456"},
			{10, -1, "abcdefghij"},
			{size - 1, -1, "j"},
			{size - 1, 1, "j"},
			{15, 100, "fghij"}, // length past the end: to the end
			{0, size, string(data)},
			{7, 0, ""},
			{size, -1, ""}, // offset at the end
			{size, 3, ""},
			{size, 0, ""},
			{size + 10, -1, ""}, // offset past the end
		} {
			if got := get(t, s, k("r"), tc.offset, tc.length); string(got) != tc.want {
				t.Errorf("NewRangeReader(%d, %d) read %q, want %q", tc.offset, tc.length, got, tc.want)
			}
		}
		if _, err := s.NewRangeReader(context.Background(), k("r"), -1, 2); err == nil {
			t.Error("NewRangeReader(-1, 2): no error")
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s, k := setup(t, open)
		for _, data := range []string{"first version", "a second, longer version", "short"} {
			put(t, s, k("o"), "text/plain", []byte(data))
			if got := get(t, s, k("o"), 0, -1); string(got) != data {
				t.Errorf("read %q, want %q", got, data)
			}
			if size, err := s.Size(context.Background(), k("o")); err != nil || size != int64(len(data)) {
				t.Errorf("Size = %d, %v; want %d", size, err, len(data))
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s, k := setup(t, open)
		ctx := context.Background()
		put(t, s, k("dir/present"), "text/plain", []byte("x"))
		for _, key := range []string{k("missing"), k("dir/missing"), k("dir")} {
			if _, err := s.NewRangeReader(ctx, key, 0, -1); !isNotFound(err) {
				t.Errorf("NewRangeReader(%q): err = %v, want ErrNotFound", key, err)
			}
			if _, err := s.NewRangeReader(ctx, key, 5, 2); !isNotFound(err) {
				t.Errorf("NewRangeReader(%q, 5, 2): err = %v, want ErrNotFound", key, err)
			}
			if _, err := s.Size(ctx, key); !isNotFound(err) {
				t.Errorf("Size(%q): err = %v, want ErrNotFound", key, err)
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s, k := setup(t, open)
		ctx := context.Background()
		put(t, s, k("d"), "text/plain", []byte("doomed"))
		put(t, s, k("keep"), "text/plain", []byte("kept"))
		if err := s.Delete(ctx, k("d")); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Size(ctx, k("d")); !isNotFound(err) {
			t.Errorf("Size after Delete: err = %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, k("d")); err != nil {
			t.Errorf("Delete again: %v", err)
		}
		if err := s.Delete(ctx, k("never/was")); err != nil {
			t.Errorf("Delete missing: %v", err)
		}
		if got := get(t, s, k("keep"), 0, -1); string(got) != "kept" {
			t.Errorf("neighbour read %q after Delete, want %q", got, "kept")
		}
	})

	t.Run("AbortedWrite", func(t *testing.T) {
		s, k := setup(t, open)
		for _, existing := range []bool{false, true} {
			key := k(fmt.Sprintf("aborted-%t", existing))
			if existing {
				put(t, s, key, "text/plain", []byte("the old bytes"))
			}
			ctx, cancel := context.WithCancel(context.Background())
			w, err := s.NewWriter(ctx, key, "audio/mp3")
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			// More than any first buffer, so that bytes are on their way.
			if _, err := io.Copy(w, io.LimitReader(NewPattern(1), 6<<20)); err != nil {
				t.Fatalf("Write: %v", err)
			}
			cancel()
			if err := w.Close(); err == nil {
				t.Fatal("Close after cancel: no error")
			}
			if existing {
				if got := get(t, s, key, 0, -1); string(got) != "the old bytes" {
					t.Errorf("after an aborted overwrite read %.40q, want the old bytes", got)
				}
			} else if _, err := s.Size(context.Background(), key); !isNotFound(err) {
				t.Errorf("Size after aborted write: err = %v, want ErrNotFound", err)
			}
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		s, _ := setup(t, open)
		ctx := context.Background()
		for _, key := range []string{
			"", "/abs", "a//b", "a/", "../up", "a/../b", "a/..", "./a", "a/./b",
			`a\b`, "a\x00b", "a\nb", "a\x7fb", "bad\xffutf8", "a.attrs", strings.Repeat("k", 1025),
		} {
			if w, err := s.NewWriter(ctx, key, "text/plain"); err == nil {
				_ = w.Close()
				t.Errorf("NewWriter(%q): no error", key)
			}
			if _, err := s.NewRangeReader(ctx, key, 0, -1); err == nil || isNotFound(err) {
				t.Errorf("NewRangeReader(%q): err = %v, want invalid key", key, err)
			}
			if _, err := s.Size(ctx, key); err == nil || isNotFound(err) {
				t.Errorf("Size(%q): err = %v, want invalid key", key, err)
			}
			if err := s.Delete(ctx, key); err == nil {
				t.Errorf("Delete(%q): no error", key)
			}
		}
	})

	t.Run("NestedKeys", func(t *testing.T) {
		s, k := setup(t, open)
		keys := []string{
			k("t1/2024/01/02/13/rec-1/media-1"),
			k("t1/2024/01/02/13/rec-1/media-2.mp4"),
			k("t1/2024/01/02/13/rec-2/media-1"),
			k("t1/2024/01/02/14"),
			k("odd names/ü é+%?#=&;,~!$'()*@[]:.bin"),
			k("...dots/a..b/.hidden"),
		}
		for i, key := range keys {
			put(t, s, key, "application/octet-stream", []byte(fmt.Sprintf("content %d", i)))
		}
		for i, key := range keys {
			if got, want := string(get(t, s, key, 0, -1)), fmt.Sprintf("content %d", i); got != want {
				t.Errorf("%q: read %q, want %q", key, got, want)
			}
		}
	})

	t.Run("ConcurrentWriters", func(t *testing.T) {
		s, k := setup(t, open)
		const writers, size = 8, 1 << 20
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for i := range writers {
			wg.Go(func() {
				key := k(fmt.Sprintf("c/%d", i))
				w, err := s.NewWriter(context.Background(), key, "application/octet-stream")
				if err != nil {
					errs <- err
					return
				}
				t.Cleanup(func() { _ = s.Delete(context.Background(), key) })
				if _, err := io.Copy(w, io.LimitReader(NewPattern(uint64(i)), size)); err != nil {
					_ = w.Close()
					errs <- err
					return
				}
				errs <- w.Close()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent write: %v", err)
			}
		}
		for i := range writers {
			got := sumRange(t, s, k(fmt.Sprintf("c/%d", i)), 0, -1)
			if want := sumPattern(uint64(i), 0, size); got != want {
				t.Errorf("writer %d: read back sha256 %s, want %s", i, got, want)
			}
		}
	})

	t.Run("LargeStreamed", func(t *testing.T) {
		s, k := setup(t, open)
		ctx := context.Background()
		key := k("large/media")
		w, err := s.NewWriter(ctx, key, "video/mp4")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Delete(context.Background(), key) })
		written := sha256.New()
		n, err := io.Copy(w, io.TeeReader(io.LimitReader(NewPattern(42), LargeSize), written))
		if err != nil {
			t.Fatalf("Write after %d bytes: %v", n, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if size, err := s.Size(ctx, key); err != nil || size != LargeSize {
			t.Fatalf("Size = %d, %v; want %d", size, err, LargeSize)
		}
		if got, want := sumRange(t, s, key, 0, -1), hex.EncodeToString(written.Sum(nil)); got != want {
			t.Errorf("read back sha256 %s, want %s", got, want)
		}
		// A range deep inside, and the tail.
		for _, rng := range [][2]int64{{LargeSize/2 + 12345, 3 << 20}, {LargeSize - 1000, -1}} {
			end := int64(LargeSize)
			if rng[1] >= 0 {
				end = rng[0] + rng[1]
			}
			if got, want := sumRange(t, s, key, rng[0], rng[1]), sumPattern(42, rng[0], end); got != want {
				t.Errorf("range %v: sha256 %s, want %s", rng, got, want)
			}
		}
	})

	t.Run("ReaderAtRandom", func(t *testing.T) {
		s, k := setup(t, open)
		const size = 300_000
		data, _ := io.ReadAll(io.LimitReader(NewPattern(7), size))
		put(t, s, k("ra"), "application/octet-stream", data)
		ra := vault.NewBlobReaderAt(context.Background(), s, k("ra"), size)
		defer ra.Close()
		rng := mathrand.New(mathrand.NewPCG(1, 2))
		for range 200 {
			off := rng.Int64N(size + 10)
			buf := make([]byte, rng.IntN(40_000))
			n, err := ra.ReadAt(buf, off)
			wantN := max(0, min(int64(len(buf)), size-off))
			if int64(n) != wantN {
				t.Fatalf("ReadAt(%d bytes, %d) = %d, want %d (err %v)", len(buf), off, n, wantN, err)
			}
			if int64(n) < int64(len(buf)) && err != io.EOF {
				t.Fatalf("ReadAt(%d bytes, %d) short read with err %v, want io.EOF", len(buf), off, err)
			}
			if int64(n) == int64(len(buf)) && err != nil && err != io.EOF {
				t.Fatalf("ReadAt(%d bytes, %d): %v", len(buf), off, err)
			}
			if n > 0 && !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
				t.Fatalf("ReadAt(%d bytes, %d): wrong bytes", len(buf), off)
			}
		}
	})

	t.Run("ReaderAtSequential", func(t *testing.T) {
		s, k := setup(t, open)
		const size = 1<<20 + 17
		data, _ := io.ReadAll(io.LimitReader(NewPattern(8), size))
		put(t, s, k("seq"), "application/octet-stream", data)
		counting := &CountingStore{BlobStore: s}
		ra := vault.NewBlobReaderAt(context.Background(), counting, k("seq"), size)
		defer ra.Close()
		// Many reads of an odd size, so they line up with nothing.
		var got bytes.Buffer
		if _, err := io.CopyBuffer(struct{ io.Writer }{&got}, struct{ io.Reader }{io.NewSectionReader(ra, 0, size)}, make([]byte, 3001)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatal("sequential read: wrong bytes")
		}
		if n := counting.RangeReaders(); n != 1 {
			t.Errorf("a sequential read opened %d range readers, want 1", n)
		}
		// A jump back reopens once, then reading on from there does not.
		buf := make([]byte, 1000)
		for _, off := range []int64{500, 1500, 2500, 2500 + 1000 + 4096} {
			if _, err := ra.ReadAt(buf, off); err != nil {
				t.Fatalf("ReadAt(%d): %v", off, err)
			}
			if !bytes.Equal(buf, data[off:off+1000]) {
				t.Fatalf("ReadAt(%d): wrong bytes", off)
			}
		}
		if n := counting.RangeReaders(); n != 2 {
			t.Errorf("after a jump back and contiguous or short-skip reads: %d range readers, want 2", n)
		}
		if _, err := ra.ReadAt(buf, size-10); err != io.EOF {
			t.Errorf("ReadAt across the end: err = %v, want io.EOF", err)
		}
		if err := ra.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := ra.ReadAt(buf, 0); err == nil {
			t.Error("ReadAt after Close: no error")
		}
	})

	t.Run("ReaderAtConcurrent", func(t *testing.T) {
		s, k := setup(t, open)
		const size = 200_000
		data, _ := io.ReadAll(io.LimitReader(NewPattern(9), size))
		put(t, s, k("conc"), "application/octet-stream", data)
		ra := vault.NewBlobReaderAt(context.Background(), s, k("conc"), size)
		defer ra.Close()
		var wg sync.WaitGroup
		var bad atomic.Int32
		for g := range 8 {
			wg.Go(func() {
				rng := mathrand.New(mathrand.NewPCG(uint64(g), 3))
				buf := make([]byte, 5000)
				for range 50 {
					off := rng.Int64N(size - int64(len(buf)))
					if n, err := ra.ReadAt(buf, off); err != nil || n != len(buf) || !bytes.Equal(buf, data[off:off+int64(n)]) {
						bad.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if n := bad.Load(); n > 0 {
			t.Errorf("%d concurrent ReadAt calls failed or read wrong bytes", n)
		}
	})

	t.Run("ReaderAtMissing", func(t *testing.T) {
		s, k := setup(t, open)
		ra := vault.NewBlobReaderAt(context.Background(), s, k("gone"), 100)
		defer ra.Close()
		if _, err := ra.ReadAt(make([]byte, 10), 0); !isNotFound(err) {
			t.Errorf("ReadAt of a missing key: err = %v, want ErrNotFound", err)
		}
		// Shorter than the size it was given: an error, not silence.
		put(t, s, k("short"), "text/plain", []byte("0123456789"))
		ra2 := vault.NewBlobReaderAt(context.Background(), s, k("short"), 20)
		defer ra2.Close()
		if n, err := ra2.ReadAt(make([]byte, 15), 0); err == nil || err == io.EOF {
			t.Errorf("ReadAt past a short object = %d, %v; want io.ErrUnexpectedEOF", n, err)
		}
	})
}

// setup opens a store and returns it with a function that puts a key under
// a prefix of this subtest's own.
func setup(t *testing.T, open func(t *testing.T) vault.BlobStore) (vault.BlobStore, func(string) string) {
	t.Helper()
	s := open(t)
	var random [6]byte
	_, _ = rand.Read(random[:])
	prefix := "blobtest-" + hex.EncodeToString(random[:]) + "/"
	return s, func(name string) string { return prefix + name }
}

// put writes data under key and deletes it when the test ends.
func put(t *testing.T, s vault.BlobStore, key, contentType string, data []byte) {
	t.Helper()
	w, err := s.NewWriter(context.Background(), key, contentType)
	if err != nil {
		t.Fatalf("NewWriter(%q): %v", key, err)
	}
	t.Cleanup(func() { _ = s.Delete(context.Background(), key) })
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		t.Fatalf("Write(%q): %v", key, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close(%q): %v", key, err)
	}
}

// get reads a range of key whole.
func get(t *testing.T, s vault.BlobStore, key string, offset, length int64) []byte {
	t.Helper()
	r, err := s.NewRangeReader(context.Background(), key, offset, length)
	if err != nil {
		t.Fatalf("NewRangeReader(%q, %d, %d): %v", key, offset, length, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return data
}

// sumRange streams a range of key into SHA-256.
func sumRange(t *testing.T, s vault.BlobStore, key string, offset, length int64) string {
	t.Helper()
	r, err := s.NewRangeReader(context.Background(), key, offset, length)
	if err != nil {
		t.Fatalf("NewRangeReader(%q, %d, %d): %v", key, offset, length, err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sumPattern is the SHA-256 of bytes [from, to) of NewPattern(seed).
func sumPattern(seed uint64, from, to int64) string {
	p := NewPattern(seed)
	_, _ = io.CopyN(io.Discard, p, from)
	h := sha256.New()
	_, _ = io.CopyN(h, p, to-from)
	return hex.EncodeToString(h.Sum(nil))
}

func isNotFound(err error) bool { return errors.Is(err, vault.ErrNotFound) }

// NewPattern returns an endless deterministic stream of pseudo-random
// bytes: the same seed gives the same bytes, without holding them.
func NewPattern(seed uint64) io.Reader {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	return mathrand.NewChaCha8(key)
}

// CountingStore is a vault.BlobStore that counts the range readers it
// opens, to check that readers are reused.
type CountingStore struct {
	vault.BlobStore
	rangeReaders atomic.Int64
}

// NewRangeReader counts and passes on.
func (c *CountingStore) NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	c.rangeReaders.Add(1)
	return c.BlobStore.NewRangeReader(ctx, key, offset, length)
}

// RangeReaders returns how many range readers were opened.
func (c *CountingStore) RangeReaders() int64 { return c.rangeReaders.Load() }
