package blob_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"callvault/internal/blob"
	"callvault/internal/blob/blobtest"
	"callvault/internal/vault"
)

func openDir(t *testing.T, location string) *blob.Store {
	t.Helper()
	s, err := blob.Open(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestFileConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) vault.BlobStore {
		return openDir(t, filepath.Join(t.TempDir(), "media"))
	})
}

func TestFileURLConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) vault.BlobStore {
		return openDir(t, "file://"+filepath.ToSlash(filepath.Join(t.TempDir(), "a", "b")))
	})
}

// files lists every regular file under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func write(t *testing.T, s *blob.Store, ctx context.Context, key, data string) error {
	t.Helper()
	w, err := s.NewWriter(ctx, key, "audio/mp3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, data); err != nil {
		t.Fatal(err)
	}
	return w.Close()
}

// The directory holds the objects under their keys and nothing else: no
// .attrs sidecars, no temporary files, even after an aborted write.
func TestFileLayout(t *testing.T) {
	for _, location := range []func(dir string) string{
		func(dir string) string { return dir },
		func(dir string) string { return "file://" + filepath.ToSlash(dir) },
	} {
		dir := filepath.Join(t.TempDir(), "created", "on", "open")
		s := openDir(t, location(dir))
		if err := write(t, s, context.Background(), "t1/rec/m1", "voice"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		w, err := s.NewWriter(ctx, "t1/rec/aborted", "audio/mp3")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, strings.Repeat("x", 100_000)); err != nil {
			t.Fatal(err)
		}
		// Mid-write, the bytes sit in a temporary file beside the key, on
		// the same file system, so the final rename cannot cross mounts.
		mid := files(t, dir)
		if len(mid) != 2 || !strings.HasPrefix(mid[0], "t1/rec/aborted.") || !strings.HasSuffix(mid[0], ".tmp") || mid[1] != "t1/rec/m1" {
			t.Errorf("files mid-write = %q, want t1/rec/m1 and a t1/rec/aborted.*.tmp", mid)
		}
		cancel()
		if err := w.Close(); !errors.Is(err, context.Canceled) {
			t.Errorf("Close after cancel: err = %v, want context.Canceled", err)
		}
		if got := files(t, dir); len(got) != 1 || got[0] != "t1/rec/m1" {
			t.Errorf("files = %q, want only t1/rec/m1", got)
		}
		data, err := os.ReadFile(filepath.Join(dir, "t1", "rec", "m1"))
		if err != nil || string(data) != "voice" {
			t.Errorf("file content = %q, %v; want \"voice\"", data, err)
		}
	}
}

// A file URL's own query parameters win over Open's defaults.
func TestFileURLQueryOverrides(t *testing.T) {
	dir := t.TempDir()
	s := openDir(t, "file://"+filepath.ToSlash(dir)+"?metadata=")
	if err := write(t, s, context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "k.attrs")); err != nil {
		t.Errorf("metadata= in the URL should bring back sidecars: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, location := range []string{
		"",
		"nosuch://bucket",
		file,                                // not a directory
		"file://" + file + "?bogus=1",       // unknown parameter
		"s3://bucket?no_such_parameter=yes", // rejected before any request
	} {
		s, err := blob.Open(ctx, location)
		if err == nil {
			_ = s.Close()
			t.Errorf("Open(%q): no error", location)
			continue
		}
		if !strings.HasPrefix(err.Error(), "blob: cannot ") {
			t.Errorf("Open(%q): err = %q, want a \"blob: cannot …\" message", location, err)
		}
	}
}

func TestOpenRedactsSecrets(t *testing.T) {
	_, err := blob.Open(context.Background(), "nosuch://user:hunter2@bucket?secret=hunter2")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open error = %v, want one without the secret", err)
	}
	_, err = blob.Open(context.Background(), "s3://bucket?secret=hunter2")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open error = %v, want one without the secret", err)
	}
}

func TestValidateKey(t *testing.T) {
	for _, key := range []string{"a", "t1/2024/01/02/rec-1/media-1", "a b/ü.mp3", "...x/a..b/.hidden", strings.Repeat("k", 1024)} {
		if err := blob.ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
	for _, key := range []string{"", "/a", "a/", "a//b", "..", "a/../b", ".", "a/./b", `a\b`, "a\tb", "a\x00", "a\u0085b", "\xc3", "m.attrs", strings.Repeat("k", 1025)} {
		if err := blob.ValidateKey(key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

// ReaderAt reads through http.ServeContent's way in: a SectionReader.
func TestReaderAtSectionSeek(t *testing.T) {
	s := openDir(t, t.TempDir())
	if err := write(t, s, context.Background(), "k", "0123456789"); err != nil {
		t.Fatal(err)
	}
	ra := vault.NewBlobReaderAt(context.Background(), s, "k", 10)
	defer ra.Close()
	if ra.Size() != 10 {
		t.Errorf("Size = %d, want 10", ra.Size())
	}
	sr := io.NewSectionReader(ra, 0, ra.Size())
	if _, err := sr.Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(sr)
	if err != nil || string(got) != "456789" {
		t.Errorf("read after Seek(4) = %q, %v; want \"456789\"", got, err)
	}
	if _, err := ra.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("ReadAt(-1): no error")
	}
}
