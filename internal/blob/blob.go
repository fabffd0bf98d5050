// Package blob keeps media bytes in a bucket through gocloud.dev/blob: a
// local directory (fileblob), S3 or MinIO (s3blob) or Azure Blob Storage
// (azureblob). Store implements vault.BlobStore; ReaderAt gives random
// access to a stored object for playback and CMS decryption.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // registers azblob://
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob" // registers s3://
	"gocloud.dev/gcerrors"

	"callvault/internal/vault"
)

// Store is a vault.BlobStore over one bucket.
type Store struct {
	bucket *blob.Bucket
	// localDir is the directory of a local-disk store, where Close
	// fsyncs what it wrote (gocloud's fileblob renames without syncing).
	localDir string
}

var _ vault.BlobStore = (*Store)(nil)

// ErrInvalidKey is returned for a key that is not a clean relative
// slash-separated path. Keys are built by the server, so it means a bug
// rather than bad input.
var ErrInvalidKey = errors.New("blob: invalid key")

// maxKeyLen is S3's limit on object key length, in bytes.
const maxKeyLen = 1024

// attrsSuffix names fileblob's metadata sidecar files.
const attrsSuffix = ".attrs"

// Open opens the bucket that rawURL names:
//
//   - a plain directory path, or file:///abs/dir: files on local disk; the
//     directory is created. No ".attrs" sidecar files are written (content
//     types are not needed back), and temporary files are made next to their
//     final names so that the closing rename never crosses a mount point; a
//     crash mid-write can leave a stray "<key>.<hex>.tmp" file behind, never
//     a partial object under its key. Query parameters of fileblob's URL
//     opener override these defaults.
//   - s3://bucket?region=…: AWS S3; for MinIO or another S3-compatible
//     store add endpoint=http://host:port (URL-escaped) and
//     use_path_style=true. Credentials come from the usual AWS environment
//     (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
//   - azblob://container: Azure Blob Storage, with AZURE_STORAGE_ACCOUNT
//     and AZURE_STORAGE_KEY (or another AZURE_STORAGE_* credential) in
//     the environment; for Azurite add
//     ?protocol=http&domain=127.0.0.1:10000&localemu=true.
//   - any of them with prefix=dir/: every key lives under dir/ (gocloud's
//     own parameter).
//
// Large media stream to S3 and Azure in 5 MiB parts through a buffer of
// about 31 MiB (S3) or 10 MiB (Azure) per upload; see partSize.
//
// Open checks that the bucket can be reached, so that a wrong URL or
// missing credentials fail at start-up and not on the first upload.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	bucket, err := openBucket(ctx, rawURL)
	if err != nil {
		// gocloud's messages repeat the URL; keep its secrets out of logs.
		return nil, fmt.Errorf("blob: cannot open %s: %w", redact(rawURL), &redactedError{err: err, rawURL: rawURL})
	}
	ok, err := bucket.IsAccessible(ctx)
	if err == nil && !ok {
		err = errors.New("bucket does not exist")
	}
	if err != nil {
		_ = bucket.Close()
		return nil, fmt.Errorf("blob: cannot reach %s: %w", redact(rawURL), err)
	}
	return &Store{bucket: bucket, localDir: localDir(rawURL)}, nil
}

// localDir returns the directory of a local-disk location, or "".
func localDir(rawURL string) string {
	if !strings.Contains(rawURL, "://") {
		return rawURL
	}
	if u, err := url.Parse(rawURL); err == nil && u.Scheme == fileblob.Scheme {
		return u.Path
	}
	return ""
}

func openBucket(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	if rawURL == "" {
		return nil, errors.New("empty location")
	}
	if !strings.Contains(rawURL, "://") {
		return fileblob.OpenBucket(rawURL, &fileblob.Options{
			CreateDir: true,
			NoTempDir: true,
			Metadata:  fileblob.MetadataDontWrite,
		})
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == fileblob.Scheme {
		q := u.Query()
		for param, value := range map[string]string{"create_dir": "true", "no_tmp_dir": "true", "metadata": "skip"} {
			if !q.Has(param) {
				q.Set(param, value)
			}
		}
		u.RawQuery = q.Encode()
	}
	return blob.OpenBucket(ctx, u.String())
}

// redact drops a URL's query and user info, where secrets may hide.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		if i := strings.IndexByte(rawURL, '?'); i >= 0 {
			return rawURL[:i]
		}
		return rawURL
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// redactedError is err with the URL in its message redacted.
type redactedError struct {
	err    error
	rawURL string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	if u, err := url.Parse(e.rawURL); err == nil {
		msg = strings.ReplaceAll(msg, u.String(), redact(e.rawURL))
	}
	return strings.ReplaceAll(msg, e.rawURL, redact(e.rawURL))
}

func (e *redactedError) Unwrap() error { return e.err }

// ValidateKey reports why key is not a clean relative slash-separated
// path: empty, too long, not UTF-8, a leading, trailing or doubled "/", a
// "." or ".." segment, a backslash or a control character. Stores would
// treat such keys differently (a directory walk for fileblob, a literal
// name for S3), so none is accepted. Nor is a name ending in ".attrs":
// fileblob would read that file as the metadata of its neighbour.
func ValidateKey(key string) error {
	bad := func(reason string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, reason) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > maxKeyLen:
		return bad("too long")
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return bad("control character")
		}
		if r == '\\' {
			return bad("backslash")
		}
	}
	if strings.HasSuffix(key, attrsSuffix) {
		return bad("reserved suffix " + attrsSuffix)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return bad("empty path segment")
		case ".", "..":
			return bad("relative path segment")
		}
	}
	return nil
}

// Uploads to S3 and Azure go in parts of partSize bytes, at most
// partConcurrency of them in flight, so that a large media file streams
// through a bounded buffer instead of being held whole:
//
//   - S3 (gocloud's s3blob, the SDK's transfer manager): an object under
//     16 MiB (the manager's fixed multipart threshold) is read into memory
//     and sent in one PutObject. A larger one is a multipart upload of
//     5 MiB parts (S3's minimum part size); the manager holds the first
//     16 MiB it read plus partConcurrency+1 part buffers, about 31 MiB per
//     upload whatever the object's size (a 64 MiB object: 13 parts).
//   - Azure (azureblob, UploadStream): blocks of 5 MiB staged with at most
//     partConcurrency buffers, about 10 MiB per upload, then committed.
//
// gocloud's defaults (8 MiB parts, 5 in flight) would hold about 64 MiB
// per S3 upload: as much as a whole 64 MiB video. Two parts in flight
// favour many recorders uploading at once over the speed of one upload
// (64 MiB to MinIO on loopback still takes well under a second).
const (
	partSize        = 5 << 20
	partConcurrency = 2
)

// abortGrace is how long a cancelled upload to S3 or Azure may go on
// after the cancellation to clean up after itself (see NewWriter).
const abortGrace = time.Minute

// NewWriter starts writing key; see vault.BlobStore. The caller must
// Close the writer, also after cancelling ctx, to release it.
//
// The bytes written go through a pipe to gocloud's Bucket.Upload rather
// than its Writer: azureblob's Writer (gocloud v0.47) dereferences nil in
// Close when the upload failed first (a cancelled context, a refused
// request): its upload goroutine clears the pipe reader Close then uses.
//
// Cancelling ctx aborts the upload by failing its input, not its context:
// the S3 transfer manager aborts a failed multipart upload with the
// upload's own context, so a cancelled one would leave its parts behind,
// stored and billed but invisible. The upload's context ends abortGrace
// after ctx, in case the clean-up hangs. A local file needs none of this:
// fileblob leaves a cancelled write uncommitted only when its own context
// is cancelled.
func (s *Store) NewWriter(ctx context.Context, key, contentType string) (io.WriteCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if contentType == "" {
		// Not sniffed: sniffing holds back the first 512 bytes, and
		// nothing reads the type back.
		contentType = "application/octet-stream"
	}
	opts := &blob.WriterOptions{ContentType: contentType, BufferSize: partSize, MaxConcurrency: partConcurrency}
	pr, pw := io.Pipe()
	wr := &writer{ctx: ctx, pw: pw, key: key, done: make(chan struct{})}
	uploadCtx, stopUpload := ctx, func() {}
	if s.localDir != "" {
		// Keys are validated, so fileblob maps them to paths unescaped.
		wr.syncPath = filepath.Join(s.localDir, filepath.FromSlash(key))
	} else {
		var cancelUpload context.CancelFunc
		uploadCtx, cancelUpload = context.WithCancel(context.WithoutCancel(ctx))
		stopWatching := context.AfterFunc(ctx, func() {
			_ = pw.CloseWithError(ctx.Err()) // the upload reads the error
			time.AfterFunc(abortGrace, cancelUpload)
		})
		stopUpload = func() { stopWatching(); cancelUpload() }
	}
	go func() {
		defer close(wr.done)
		wr.err = s.bucket.Upload(uploadCtx, key, pr, opts)
		stopUpload()
		// Unblock and fail writes after a failed upload; after a
		// successful one the pipe is drained and closed already.
		pr.CloseWithError(wr.err)
	}()
	return wr, nil
}

// writer feeds an upload running in its own goroutine.
type writer struct {
	ctx      context.Context // the caller's
	pw       *io.PipeWriter
	key      string
	syncPath string // local file to fsync after the rename, if any

	done chan struct{} // closed when the upload has returned
	err  error         // what it returned; read after done
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	if err != nil {
		if ctxErr := w.ctx.Err(); ctxErr != nil {
			err = ctxErr // not the closed pipe it caused
		}
		err = fmt.Errorf("blob: cannot write %q: %w", w.key, err)
	}
	return n, err
}

// Close commits the object. On local disk it also fsyncs the file and its
// directory, so that a stored object survives a power loss: callers record
// the object in metadata only after Close returns, so a crash before the
// sync leaves at worst an unreferenced file.
func (w *writer) Close() error {
	// After a cancellation the upload must see an error, never the end
	// of its input, which would commit what was written so far.
	_ = w.pw.CloseWithError(w.ctx.Err()) // nil: a plain end; never fails
	<-w.done
	if w.err != nil {
		return fmt.Errorf("blob: cannot write %q: %w", w.key, w.err)
	}
	if w.syncPath == "" {
		return nil
	}
	for _, path := range []string{w.syncPath, filepath.Dir(w.syncPath)} {
		if err := syncPath(path); err != nil {
			return fmt.Errorf("blob: cannot sync %q: %w", w.key, err)
		}
	}
	return nil
}

func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// NewRangeReader reads length bytes of key from offset (length < 0: to the
// end); see vault.BlobStore. An offset at or past the end reads nothing.
func (s *Store) NewRangeReader(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("blob: cannot read %q: negative offset %d", key, offset)
	}
	r, err := s.bucket.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, notFound(key)
		}
		// S3 and Azure answer 416 to a range that starts at or past the
		// end, and to any range of an empty object, where a file simply
		// reads nothing. Make them agree: an empty read of an existing key.
		if attrs, attrErr := s.bucket.Attributes(ctx, key); attrErr == nil && (offset >= attrs.Size || length == 0) {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, fmt.Errorf("blob: cannot read %q: %w", key, err)
	}
	return &reader{r: r, key: key}, nil
}

// reader wraps errors of a blob.Reader, leaving io.EOF alone.
type reader struct {
	r   *blob.Reader
	key string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("blob: cannot read %q: %w", r.key, err)
	}
	return n, err
}

func (r *reader) Close() error {
	if err := r.r.Close(); err != nil {
		return fmt.Errorf("blob: cannot close %q: %w", r.key, err)
	}
	return nil
}

// Size returns the stored size of key; see vault.BlobStore.
func (s *Store) Size(ctx context.Context, key string) (int64, error) {
	if err := ValidateKey(key); err != nil {
		return 0, err
	}
	attrs, err := s.bucket.Attributes(ctx, key)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return 0, notFound(key)
		}
		return 0, fmt.Errorf("blob: cannot stat %q: %w", key, err)
	}
	return attrs.Size, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("blob: cannot delete %q: %w", key, err)
	}
	return nil
}

// Close releases the bucket.
func (s *Store) Close() error {
	if err := s.bucket.Close(); err != nil {
		return fmt.Errorf("blob: cannot close bucket: %w", err)
	}
	return nil
}

func notFound(key string) error {
	return fmt.Errorf("blob: cannot find %q: %w", key, vault.ErrNotFound)
}
