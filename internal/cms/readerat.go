package cms

import (
	"bufio"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io"
	"sort"
)

// ReaderAt gives random access to the plaintext of a CMS message stored in
// an io.ReaderAt, for playback with HTTP Range requests. CBC allows it: a
// block decrypts with the key and the ciphertext block before it.
//
// Use it with io.NewSectionReader(r, 0, r.Size()) where an io.ReadSeeker
// is wanted (http.ServeContent).
type ReaderAt struct {
	ra        io.ReaderAt
	segs      []segment // where the ciphertext lies in the message
	ctLen     int64
	size      int64
	block     cipher.Block
	iv        []byte
	blockSize int
}

// segment is one run of ciphertext: ctOff is its offset in the ciphertext,
// fileOff where it lies in the message.
type segment struct{ ctOff, fileOff, n int64 }

// maxReadAtChunk bounds the scratch memory of one ReadAt call.
const maxReadAtChunk = 256 << 10

// NewReaderAt reads the header of the n-byte message in ra, opens the
// recipient for key (cert as for NewReader), locates the ciphertext and
// checks the padding of the last block, which gives the plaintext size.
func NewReaderAt(ra io.ReaderAt, n int64, key *rsa.PrivateKey, cert *x509.Certificate) (*ReaderAt, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrNoRecipient)
	}
	d := &Reader{r: &berReader{br: bufio.NewReaderSize(io.NewSectionReader(ra, 0, n), 4096)}}
	if err := d.readHeaderPart(key, cert); err != nil {
		return nil, err
	}
	if err := d.openContent(); err != nil {
		return nil, err
	}
	r := &ReaderAt{ra: ra, block: d.block, iv: d.iv, blockSize: d.blockSize}
	if d.primitive {
		if d.r.pos+d.segLeft > n {
			return nil, fmt.Errorf("%w in encrypted content", ErrTruncated)
		}
		r.segs = []segment{{ctOff: 0, fileOff: d.r.pos, n: d.segLeft}}
		r.ctLen = d.segLeft
	} else if err := r.indexSegments(d.r.pos, d.stack[len(d.stack)-1], n); err != nil {
		return nil, err
	}
	if r.ctLen == 0 || r.ctLen%int64(r.blockSize) != 0 {
		return nil, fmt.Errorf("%w: encrypted content of %d bytes is not a whole number of blocks", ErrCorrupt, r.ctLen)
	}
	// The last block's padding gives the size.
	bs := int64(r.blockSize)
	tail := make([]byte, 2*bs)
	if err := r.readCiphertext(tail[bs:], r.ctLen-bs); err != nil {
		return nil, err
	}
	prev := r.iv
	if r.ctLen > bs {
		if err := r.readCiphertext(tail[:bs], r.ctLen-2*bs); err != nil {
			return nil, err
		}
		prev = tail[:bs]
	}
	last := make([]byte, bs)
	cipher.NewCBCDecrypter(r.block, prev).CryptBlocks(last, tail[bs:])
	pad := int64(last[bs-1])
	if pad == 0 || pad > bs {
		return nil, fmt.Errorf("%w: bad padding (wrong key or damaged file)", ErrCorrupt)
	}
	for _, b := range last[bs-pad:] {
		if int64(b) != pad {
			return nil, fmt.Errorf("%w: bad padding (wrong key or damaged file)", ErrCorrupt)
		}
	}
	r.size = r.ctLen - pad
	return r, nil
}

// indexSegments walks the OCTET STRING segments of a constructed content
// from pos, reading only their headers.
func (r *ReaderAt) indexSegments(pos, end, n int64) error {
	for {
		if end != indefiniteLength && pos == end {
			return nil
		}
		br := &berReader{br: bufio.NewReaderSize(io.NewSectionReader(r.ra, pos, n-pos), 16), pos: pos}
		h, err := br.readHeader()
		if err != nil {
			return corrupt("encrypted content", noEOF(err))
		}
		switch {
		case end == indefiniteLength && h.isEOC():
			return nil
		case h.is(classUniversal, tagOctetString, false):
			if end != indefiniteLength && br.pos+h.length > end {
				return fmt.Errorf("%w: element overruns its container", ErrCorrupt)
			}
			if br.pos+h.length > n {
				return fmt.Errorf("%w in encrypted content", ErrTruncated)
			}
			if h.length > 0 {
				r.segs = append(r.segs, segment{ctOff: r.ctLen, fileOff: br.pos, n: h.length})
				r.ctLen += h.length
			}
			pos = br.pos + h.length
		default:
			return fmt.Errorf("%w: random access to nested content segments", ErrUnsupported)
		}
	}
}

// Size is the plaintext size.
func (r *ReaderAt) Size() int64 { return r.size }

// readCiphertext fills p with ciphertext from offset off.
func (r *ReaderAt) readCiphertext(p []byte, off int64) error {
	i := sort.Search(len(r.segs), func(i int) bool { return r.segs[i].ctOff+r.segs[i].n > off })
	for len(p) > 0 {
		if i >= len(r.segs) {
			return fmt.Errorf("%w: read past the ciphertext", ErrCorrupt)
		}
		s := r.segs[i]
		within := off - s.ctOff
		chunk := min(int64(len(p)), s.n-within)
		if _, err := r.ra.ReadAt(p[:chunk], s.fileOff+within); err != nil {
			return corrupt("encrypted content", noEOF(err))
		}
		p, off = p[chunk:], off+chunk
		i++
	}
	return nil
}

// ReadAt implements io.ReaderAt over the plaintext.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("cms: negative offset")
	}
	bs := int64(r.blockSize)
	done := 0
	var scratch []byte
	for len(p) > 0 && off < r.size {
		want := min(int64(len(p)), r.size-off, maxReadAtChunk)
		first := off / bs
		last := (off + want - 1) / bs
		ctStart := first * bs
		need := (last-first+1)*bs + bs // the blocks and the one before them
		if int64(cap(scratch)) < need {
			scratch = make([]byte, need)
		}
		buf := scratch[:need]
		iv := r.iv
		if first > 0 {
			if err := r.readCiphertext(buf, ctStart-bs); err != nil {
				return done, err
			}
			iv = buf[:bs]
		} else if err := r.readCiphertext(buf[bs:], ctStart); err != nil {
			return done, err
		}
		ct := buf[bs:]
		plain := make([]byte, len(ct))
		cipher.NewCBCDecrypter(r.block, iv).CryptBlocks(plain, ct)
		n := copy(p, plain[off-ctStart:off-ctStart+want])
		p, off, done = p[n:], off+int64(n), done+n
	}
	if len(p) > 0 {
		return done, io.EOF
	}
	return done, nil
}

// Rebind returns a ReaderAt over the same message read through another
// io.ReaderAt (a new connection to the same stored bytes), so that a
// server can keep the opened header of an immutable file and skip the RSA
// work on later reads.
func (r *ReaderAt) Rebind(ra io.ReaderAt) *ReaderAt {
	c := *r
	c.ra = ra
	return &c
}
