package cms

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
)

// SalvageResult says what Salvage recovered.
type SalvageResult struct {
	// Read is the number of message bytes read; Written the number of
	// plaintext bytes written to dst.
	Read, Written int64
	// Complete: the whole message was read and checked, and dst holds
	// exactly what Decrypt writes.
	Complete bool
	// ContentEnded: the end of the encrypted content was read and its
	// padding checked and removed, so dst holds the whole plaintext. It is
	// true when Complete, and also when only the octets that close the
	// message (end-of-contents markers, unprotected attributes) are
	// missing.
	ContentEnded bool
	// Dropped is the number of ciphertext bytes at the cut that did not
	// make a whole block, and so could not be decrypted (0 to 15 for AES).
	Dropped int
}

// Salvage decrypts what there is of a CMS EnvelopedData message that may
// have been cut short, such as a NewStreamWriter file whose writer died
// before Close, and writes the plaintext to dst. key and cert are as for
// NewReader. It streams, like Decrypt.
//
// The message must be whole up to and including its content encryption
// algorithm (the recipient infos, so the content key can be opened):
// a cut before that is an error wrapping ErrTruncated (or ErrNotCMS when
// too little is left to tell), and a malformed header, a wrong key or an
// unsupported algorithm fail with the errors NewReader returns.
//
// After the header, the end of the input is not an error:
//   - when the message is whole, dst gets exactly what Decrypt writes and
//     Complete is set;
//   - when the input ends after the encrypted content but before the
//     message is closed, dst gets the whole plaintext, its padding checked
//     and removed, and ContentEnded is set;
//   - when the input ends inside the encrypted content (between segments,
//     in a segment's header or in its bytes), dst gets the decryption of
//     every whole cipher block read and no padding is removed: nothing
//     tells whether the last block is the padded one. For a message cut
//     just before the end-of-contents of its content, that last block is
//     the padded one, so dst ends with 1 to 16 bytes of padding.
//
// Damage other than a cut (a malformed segment header, bad padding at a
// content end that was read) is an error wrapping ErrCorrupt; dst then holds
// the plaintext before the damage, as Written says. CBC has no integrity
// check: bytes that are wrong but well formed (a tail of zeros left by a
// file system after a crash, inside a segment) decrypt to garbage that
// Salvage cannot notice. A failure of src or dst comes back as it is, not as
// ErrCorrupt.
func Salvage(dst io.Writer, src io.Reader, key *rsa.PrivateKey, cert *x509.Certificate) (SalvageResult, error) {
	in := &srcErrors{r: src}
	d, err := newReader(in, key, cert, true)
	if err != nil {
		return SalvageResult{}, in.or(err)
	}
	written, err := d.WriteTo(dst)
	res := SalvageResult{Read: d.r.pos, Written: written, Dropped: d.dropped}
	if err != nil {
		return res, in.or(err)
	}
	res.Complete = !d.cutShort
	res.ContentEnded = d.contentEnded
	return res, nil
}

// srcErrors remembers the first error of a source other than io.EOF: the
// decoder reports a read failure as a corrupt message, which to a caller
// deciding whether a file is damaged is the wrong answer.
type srcErrors struct {
	r   io.Reader
	err error
}

func (s *srcErrors) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// or is the source's error if there was one, else err. (Read ahead, the
// source may fail after bytes the decoder found corrupt; either way the
// salvage failed, and the read failure is the one to retry.)
func (s *srcErrors) or(err error) error {
	if s.err != nil && !errors.Is(s.err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("cannot read the message: %w", s.err)
	}
	return err
}
