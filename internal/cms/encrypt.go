package cms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// chunkSize is how much ciphertext a writer gathers before it writes; in
// stream mode it is also the size of each OCTET STRING segment. Large enough
// that per-call costs vanish, small enough to stay far below any memory
// budget.
const chunkSize = 256 << 10

// envelope is everything a writer needs before the first content byte.
type envelope struct {
	mode   cipher.BlockMode
	riSet  []byte // DER SET OF RecipientInfo
	algID  []byte // DER contentEncryptionAlgorithm
	cipher Cipher
}

func newEnvelope(recipients []*x509.Certificate, opts Options) (*envelope, error) {
	if len(recipients) == 0 {
		return nil, fmt.Errorf("%w: no recipients", ErrRecipient)
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	c := opts.Cipher
	if c == 0 {
		c = AES128CBC
	}
	var keyLen int
	var oid = oidAES128CBC
	switch c {
	case AES128CBC:
		keyLen = 16
	case AES256CBC:
		keyLen, oid = 32, oidAES256CBC
	default:
		return nil, fmt.Errorf("%w: cipher %d", ErrUnsupported, c)
	}
	key := make([]byte, keyLen)
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return nil, fmt.Errorf("cannot make a content key: %w", err)
	}
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return nil, fmt.Errorf("cannot make an IV: %w", err)
	}
	riSet, err := recipientInfos(recipients, key)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("cannot set up %s: %w", c, err)
	}
	clear(key)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1OctetString(iv)
	})
	return &envelope{mode: cipher.NewCBCEncrypter(block, iv), riSet: riSet, algID: b.BytesOrPanic(), cipher: c}, nil
}

// recipientInfos encrypts the content key for each certificate and returns
// the DER SET OF KeyTransRecipientInfo (version 0, IssuerAndSerialNumber,
// rsaEncryption), its members sorted as DER requires.
func recipientInfos(recipients []*x509.Certificate, contentKey []byte) ([]byte, error) {
	infos := make([][]byte, 0, len(recipients))
	for i, cert := range recipients {
		if cert == nil {
			return nil, fmt.Errorf("%w: recipient %d is nil", ErrRecipient, i+1)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		var err error
		if !ok {
			return nil, fmt.Errorf("%w: %q has a %T key, not RSA", ErrRecipient, cert.Subject.CommonName, cert.PublicKey)
		}
		// A nil content key only sizes the structure (EncryptedSize).
		encryptedKey := make([]byte, pub.Size())
		if contentKey != nil {
			// PKCS#1 v1.5 is the key transport both `openssl cms` and
			// `openssl smime` accept, which the guide's commands need.
			//lint:ignore SA1019 required for interoperability with the guide's openssl commands
			encryptedKey, err = rsa.EncryptPKCS1v15(rand.Reader, pub, contentKey)
			if err != nil {
				return nil, fmt.Errorf("%w: cannot encrypt for %q: %v", ErrRecipient, cert.Subject.CommonName, err)
			}
		}
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(0)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddBytes(cert.RawIssuer)
				b.AddASN1BigInt(cert.SerialNumber)
			})
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidRSAEncryption)
				b.AddASN1NULL()
			})
			b.AddASN1OctetString(encryptedKey)
		})
		info, err := b.Bytes()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRecipient, err)
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, bytes.Compare)
	set := []byte{0x31}
	n := 0
	for _, info := range infos {
		n += len(info)
	}
	set = appendLength(set, int64(n))
	for _, info := range infos {
		set = append(set, info...)
	}
	return set, nil
}

var (
	derEnvelopedDataOID = mustOID(oidEnvelopedData)
	derDataOID          = mustOID(oidData)
	derVersion0         = []byte{0x02, 0x01, 0x00}
	// Every AES-CBC OID this package writes encodes to the same length.
	derAESOIDLen = mustOID(oidAES128CBC)
)

func mustOID(oid []int) []byte {
	var b cryptobyte.Builder
	b.AddASN1ObjectIdentifier(oid)
	return b.BytesOrPanic()
}

// paddedSize is the ciphertext size of n plaintext bytes: PKCS#7 always adds
// 1 to 16 bytes.
func paddedSize(n int64) int64 { return (n/aes.BlockSize + 1) * aes.BlockSize }

// EncryptedSize is the exact number of bytes NewWriter writes for size
// plaintext bytes to these recipients with these options (the key sizes of
// the certificates decide it; the random content key does not).
func EncryptedSize(size int64, recipients []*x509.Certificate, opts Options) (int64, error) {
	if size < 0 {
		return 0, fmt.Errorf("%w: negative size", ErrSize)
	}
	// Only the lengths matter: size the recipient infos without RSA work.
	riSet, err := recipientInfos(recipients, nil)
	if err != nil {
		return 0, err
	}
	e := envelope{riSet: riSet, algID: make([]byte, 2+len(derAESOIDLen)+2+aes.BlockSize)}
	ctLen := paddedSize(size)
	return int64(len(e.prefix(ctLen))) + ctLen, nil
}

// prefix is every byte of a definite-length message before its ciphertext.
func (e *envelope) prefix(ctLen int64) []byte {
	eciBody := int64(len(derDataOID)+len(e.algID)) + 1 + lengthSize(ctLen) + ctLen
	edBody := int64(len(derVersion0)+len(e.riSet)) + 1 + lengthSize(eciBody) + eciBody
	explicitBody := 1 + lengthSize(edBody) + edBody
	ciBody := int64(len(derEnvelopedDataOID)) + 1 + lengthSize(explicitBody) + explicitBody
	p := make([]byte, 0, 64+len(e.riSet)+len(e.algID))
	p = append(p, 0x30)
	p = appendLength(p, ciBody)
	p = append(p, derEnvelopedDataOID...)
	p = append(p, 0xa0)
	p = appendLength(p, explicitBody)
	p = append(p, 0x30)
	p = appendLength(p, edBody)
	p = append(p, derVersion0...)
	p = append(p, e.riSet...)
	p = append(p, 0x30)
	p = appendLength(p, eciBody)
	p = append(p, derDataOID...)
	p = append(p, e.algID...)
	p = append(p, 0x80) // [0] IMPLICIT OCTET STRING, primitive
	p = appendLength(p, ctLen)
	return p
}

// streamPrefix opens every container with the indefinite form, as
// `openssl cms -encrypt -stream` does; the content follows as OCTET STRING
// segments.
func (e *envelope) streamPrefix() []byte {
	p := make([]byte, 0, 64+len(e.riSet)+len(e.algID))
	p = append(p, 0x30, 0x80)
	p = append(p, derEnvelopedDataOID...)
	p = append(p, 0xa0, 0x80, 0x30, 0x80)
	p = append(p, derVersion0...)
	p = append(p, e.riSet...)
	p = append(p, 0x30, 0x80)
	p = append(p, derDataOID...)
	p = append(p, e.algID...)
	p = append(p, 0xa0, 0x80) // [0] IMPLICIT OCTET STRING, constructed
	return p
}

// streamSuffix closes the five containers streamPrefix opened.
var streamSuffix = make([]byte, 10)

// writer encrypts what it is given. Plaintext gathers in buf; each full
// buffer is encrypted in place and written.
type writer struct {
	dst       io.Writer
	mode      cipher.BlockMode
	stream    bool
	remaining int64 // definite form: plaintext bytes still owed
	buf       []byte
	n         int
	closed    bool
	err       error
}

// NewWriter returns a writer that encrypts exactly size plaintext bytes to
// the recipients as a definite-length DER message written to dst. Writing
// more than size bytes fails; Close fails if fewer were written. The message
// is complete only after Close returns nil.
func NewWriter(dst io.Writer, size int64, recipients []*x509.Certificate, opts Options) (io.WriteCloser, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrSize)
	}
	e, err := newEnvelope(recipients, opts)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(e.prefix(paddedSize(size))); err != nil {
		return nil, fmt.Errorf("cannot write CMS header: %w", err)
	}
	return &writer{dst: dst, mode: e.mode, remaining: size, buf: make([]byte, chunkSize)}, nil
}

// StreamWriter encrypts a stream of unknown size; see NewStreamWriter. It is
// not safe for concurrent use: call Flush from the goroutine that writes.
type StreamWriter struct {
	w writer
}

// NewStreamWriter returns a writer that encrypts a stream of unknown size to
// the recipients as an indefinite-length BER message, as
// `openssl cms -encrypt -stream -outform DER` writes, the content as a
// series of OCTET STRING segments. The message is complete only after Close
// returns nil; Salvage recovers what was written of one that never was.
func NewStreamWriter(dst io.Writer, recipients []*x509.Certificate, opts Options) (*StreamWriter, error) {
	e, err := newEnvelope(recipients, opts)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(e.streamPrefix()); err != nil {
		return nil, fmt.Errorf("cannot write CMS header: %w", err)
	}
	return &StreamWriter{writer{dst: dst, mode: e.mode, stream: true, remaining: -1, buf: make([]byte, chunkSize)}}, nil
}

// Write implements io.Writer. Plaintext gathers in a buffer and is written
// to dst a segment at a time (256 KiB), or at Flush.
func (s *StreamWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// ReadFrom implements io.ReaderFrom. It reads src to its end; a caller that
// wants to Flush along the way writes in its own loop instead.
func (s *StreamWriter) ReadFrom(src io.Reader) (int64, error) { return s.w.ReadFrom(src) }

// Flush encrypts every whole cipher block buffered and writes it to dst as
// one OCTET STRING segment, so that of the n plaintext bytes given so far
// all but the last n%16 (at most 15) are in dst: CBC needs whole blocks, and
// the remainder waits for the next Write or for Close. With nothing whole
// buffered it writes nothing. Writing goes on in the same CBC chain, and
// Close still ends the message; flushing only adds segment boundaries.
//
// Flush does not fsync: for the bytes to survive a crash of the machine,
// follow it with dst's Sync (os.File.Sync). Until Close, the file is a cut
// short message that Salvage reads.
func (s *StreamWriter) Flush() error {
	if s.w.err != nil {
		return s.w.err
	}
	if s.w.closed {
		return errors.New("cms: flush after close")
	}
	return s.w.flush(s.w.n)
}

// Close pads and writes the last block and the end-of-contents markers. It
// does not close dst.
func (s *StreamWriter) Close() error { return s.w.Close() }

// Write implements io.Writer.
func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("cms: write after close")
	}
	if !w.stream && int64(len(p)) > w.remaining {
		w.err = fmt.Errorf("%w: more than the declared size", ErrSize)
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		c := copy(w.buf[w.n:], p)
		w.n += c
		p = p[c:]
		written += c
		if !w.stream {
			w.remaining -= int64(c)
		}
		if w.n == len(w.buf) {
			if err := w.flush(w.n); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// ReadFrom implements io.ReaderFrom so that io.Copy reads straight into the
// encryption buffer.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if w.err != nil {
			return total, w.err
		}
		space := w.buf[w.n:]
		if !w.stream && int64(len(space)) > w.remaining+1 {
			// Ask for one byte more than owed, to notice a source that
			// is longer than declared.
			space = space[:w.remaining+1]
		}
		n, err := r.Read(space)
		if n > 0 {
			if !w.stream && int64(n) > w.remaining {
				w.err = fmt.Errorf("%w: more than the declared size", ErrSize)
				return total, w.err
			}
			w.n += n
			total += int64(n)
			if !w.stream {
				w.remaining -= int64(n)
			}
			if w.n == len(w.buf) {
				if err := w.flush(w.n); err != nil {
					return total, err
				}
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// flush encrypts and writes the first n buffered bytes (a multiple of the
// block size, or the padded final block) and keeps the rest.
func (w *writer) flush(n int) error {
	full := n - n%aes.BlockSize
	if full == 0 {
		return nil
	}
	w.mode.CryptBlocks(w.buf[:full], w.buf[:full])
	if w.stream {
		hdr := appendLength([]byte{0x04}, int64(full))
		if _, err := w.dst.Write(hdr); err != nil {
			w.err = fmt.Errorf("cannot write CMS content: %w", err)
			return w.err
		}
	}
	if _, err := w.dst.Write(w.buf[:full]); err != nil {
		w.err = fmt.Errorf("cannot write CMS content: %w", err)
		return w.err
	}
	w.n = copy(w.buf, w.buf[full:w.n])
	return nil
}

// Close pads and writes the last block and, in stream mode, the
// end-of-contents markers. It does not close dst.
func (w *writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if !w.stream && w.remaining != 0 {
		w.err = fmt.Errorf("%w: %d bytes short", ErrSize, w.remaining)
		return w.err
	}
	// PKCS#7 padding: 1 to 16 bytes, each the pad length. buf always has
	// room: flush leaves fewer than one block behind a full buffer.
	if w.n > len(w.buf)-aes.BlockSize {
		if err := w.flush(w.n); err != nil {
			return err
		}
	}
	pad := aes.BlockSize - w.n%aes.BlockSize
	for i := 0; i < pad; i++ {
		w.buf[w.n+i] = byte(pad)
	}
	w.n += pad
	if err := w.flush(w.n); err != nil {
		return err
	}
	if w.stream {
		if _, err := w.dst.Write(streamSuffix); err != nil {
			w.err = fmt.Errorf("cannot write CMS trailer: %w", err)
			return w.err
		}
	}
	return nil
}

// Encrypt copies src to dst as a CMS message for the recipients. With size
// >= 0 it writes definite-length DER and fails unless src holds exactly size
// bytes; with size < 0 it writes the indefinite-length stream form.
func Encrypt(dst io.Writer, src io.Reader, size int64, recipients []*x509.Certificate, opts Options) error {
	var w io.WriteCloser
	var err error
	if size < 0 {
		w, err = NewStreamWriter(dst, recipients, opts)
	} else {
		w, err = NewWriter(dst, size, recipients, opts)
	}
	if err != nil {
		return err
	}
	if _, err := w.(io.ReaderFrom).ReadFrom(src); err != nil {
		return err
	}
	return w.Close()
}
