package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// maxSkip is how far ahead of the open reader a ReadAt may start and
// still be served by reading and discarding the gap: cheaper than a new
// request to S3 for a small gap.
const maxSkip = 64 << 10

// BlobReaderAt is an io.ReaderAt over one stored object, for the random
// access of cms.NewReaderAt and http.ServeContent (through
// io.NewSectionReader). Reads are mostly sequential, so it keeps one range
// reader open from the end of the last read to the end of the object and
// goes on reading it while calls are contiguous (or a short skip ahead);
// any other offset reopens it there. It is safe for concurrent use; calls
// are serialised. Close it to release the open reader.
type BlobReaderAt struct {
	ctx   context.Context
	store BlobStore
	key   string
	size  int64

	mu     sync.Mutex
	open   io.ReadCloser // nil when none is open
	pos    int64         // offset of open's next byte
	closed bool
}

// NewBlobReaderAt returns a BlobReaderAt over the first size bytes of key (its
// stored size, as recorded or from s.Size). ctx bounds every read.
func NewBlobReaderAt(ctx context.Context, s BlobStore, key string, size int64) *BlobReaderAt {
	return &BlobReaderAt{ctx: ctx, store: s, key: key, size: size}
}

// Size returns the size given to NewBlobReaderAt.
func (r *BlobReaderAt) Size() int64 { return r.size }

// ReadAt reads len(p) bytes from off. As io.ReaderAt requires, fewer bytes
// come only with an error: io.EOF at the end of the object, or
// io.ErrUnexpectedEOF when the stored object is shorter than size.
func (r *BlobReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blob: cannot read %q: negative offset %d", r.key, off)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("blob: cannot read %q: %w", r.key, os.ErrClosed)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p
	if rest := r.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	if len(want) == 0 {
		return 0, nil
	}
	if err := r.seek(off); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(r.open, want)
	r.pos += int64(n)
	if err != nil {
		r.drop()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, fmt.Errorf("blob: cannot read %q: ends before its size %d: %w", r.key, r.size, io.ErrUnexpectedEOF)
		}
		return n, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// seek makes r.open read from off: the open reader as it is, or after
// discarding a short gap, or a new one.
func (r *BlobReaderAt) seek(off int64) error {
	if r.open != nil && off >= r.pos && off-r.pos <= maxSkip {
		skipped, err := io.CopyN(io.Discard, r.open, off-r.pos)
		r.pos += skipped
		if err == nil {
			return nil
		}
		// Fall through and reopen: the error may be a transient one of
		// this connection.
	}
	r.drop()
	rc, err := r.store.NewRangeReader(r.ctx, r.key, off, -1)
	if err != nil {
		return err
	}
	r.open, r.pos = rc, off
	return nil
}

// drop closes the open reader, if any.
func (r *BlobReaderAt) drop() {
	if r.open != nil {
		_ = r.open.Close()
		r.open = nil
	}
}

// Close releases the open reader. Later reads fail.
func (r *BlobReaderAt) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.open == nil {
		return nil
	}
	err := r.open.Close()
	r.open = nil
	if err != nil {
		return fmt.Errorf("blob: cannot close %q: %w", r.key, err)
	}
	return nil
}
