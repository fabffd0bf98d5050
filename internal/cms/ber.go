package cms

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// ASN.1 tag classes, as they sit in the top two bits of an identifier octet.
const (
	classUniversal   = 0
	classContext     = 2
	tagInteger       = 2
	tagOctetString   = 4
	tagOID           = 6
	tagSequence      = 16
	tagSet           = 17
	maxSmallElement  = 1 << 20 // cap on anything but the content: recipient infos, algorithm parameters
	maxNestingDepth  = 32
	indefiniteLength = -1
)

// header is one BER identifier + length.
type header struct {
	class       int
	constructed bool
	tag         int
	length      int64 // indefiniteLength for the indefinite form
}

func (h header) is(class, tag int, constructed bool) bool {
	return h.class == class && h.tag == tag && h.constructed == constructed
}

func (h header) isEOC() bool {
	return h.class == 0 && h.tag == 0 && !h.constructed && h.length == 0
}

func (h header) String() string {
	form := "primitive"
	if h.constructed {
		form = "constructed"
	}
	return fmt.Sprintf("class %d tag %d %s", h.class, h.tag, form)
}

// berReader reads BER from a stream and knows its position, so that
// definite-length containers can be checked and closed.
type berReader struct {
	br  *bufio.Reader
	pos int64
}

// corrupt wraps a parse failure; a clean or unexpected EOF becomes
// ErrTruncated.
func corrupt(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w in %s", ErrTruncated, what)
	}
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupported) || errors.Is(err, ErrNotCMS) {
		return err
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
}

func (r *berReader) readByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	r.pos++
	return b, nil
}

func (r *berReader) readFull(p []byte) error {
	n, err := io.ReadFull(r.br, p)
	r.pos += int64(n)
	return err
}

func (r *berReader) discard(n int64) error {
	for n > 0 {
		step := n
		if step > 1<<30 {
			step = 1 << 30
		}
		d, err := r.br.Discard(int(step))
		r.pos += int64(d)
		n -= int64(d)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readHeader reads an identifier and a length. It returns io.EOF only when
// the stream ends cleanly before the first octet.
func (r *berReader) readHeader() (header, error) {
	var h header
	b, err := r.readByte()
	if err != nil {
		return h, err
	}
	h.class = int(b >> 6)
	h.constructed = b&0x20 != 0
	h.tag = int(b & 0x1f)
	if h.tag == 0x1f {
		// High tag number form: base-128, at most 4 octets is plenty.
		h.tag = 0
		for i := 0; ; i++ {
			if i == 4 {
				return h, fmt.Errorf("%w: tag number too large", ErrCorrupt)
			}
			b, err := r.readByte()
			if err != nil {
				return h, noEOF(err)
			}
			h.tag = h.tag<<7 | int(b&0x7f)
			if b&0x80 == 0 {
				break
			}
		}
	}
	b, err = r.readByte()
	if err != nil {
		return h, noEOF(err)
	}
	switch {
	case b < 0x80:
		h.length = int64(b)
	case b == 0x80:
		if !h.constructed {
			return h, fmt.Errorf("%w: indefinite length on a primitive element", ErrCorrupt)
		}
		h.length = indefiniteLength
	case b == 0xff:
		return h, fmt.Errorf("%w: reserved length octet", ErrCorrupt)
	default:
		n := int(b & 0x7f)
		if n > 8 {
			return h, fmt.Errorf("%w: length of %d octets", ErrCorrupt, n)
		}
		var l uint64
		for i := 0; i < n; i++ {
			b, err := r.readByte()
			if err != nil {
				return h, noEOF(err)
			}
			l = l<<8 | uint64(b)
		}
		if l > 1<<62 {
			return h, fmt.Errorf("%w: length too large", ErrCorrupt)
		}
		h.length = int64(l)
	}
	return h, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readBody reads the body of an element whose header was just read and
// returns it re-encoded in DER lengths (BER's indefinite or non-minimal
// lengths are normalised), so that small elements can be parsed with
// cryptobyte. At most limit bytes are accepted.
func (r *berReader) readBody(h header, limit int64, depth int) ([]byte, error) {
	if depth > maxNestingDepth {
		return nil, fmt.Errorf("%w: nesting too deep", ErrCorrupt)
	}
	if !h.constructed {
		if h.length > limit {
			return nil, fmt.Errorf("%w: element of %d bytes is too large", ErrCorrupt, h.length)
		}
		body := make([]byte, h.length)
		if err := r.readFull(body); err != nil {
			return nil, noEOF(err)
		}
		return body, nil
	}
	var body []byte
	end := int64(-1)
	if h.length != indefiniteLength {
		if h.length > limit {
			return nil, fmt.Errorf("%w: element of %d bytes is too large", ErrCorrupt, h.length)
		}
		end = r.pos + h.length
	}
	for {
		if end >= 0 && r.pos == end {
			return body, nil
		}
		child, err := r.readHeader()
		if err != nil {
			return nil, noEOF(err)
		}
		if end < 0 && child.isEOC() {
			return body, nil
		}
		if end >= 0 && child.length != indefiniteLength && r.pos+child.length > end {
			return nil, fmt.Errorf("%w: element overruns its container", ErrCorrupt)
		}
		childBody, err := r.readBody(child, limit-int64(len(body)), depth+1)
		if err != nil {
			return nil, err
		}
		body = appendElement(body, child, childBody)
		if int64(len(body)) > limit {
			return nil, fmt.Errorf("%w: element too large", ErrCorrupt)
		}
		if end >= 0 && r.pos > end {
			return nil, fmt.Errorf("%w: element overruns its container", ErrCorrupt)
		}
	}
}

// readElement reads one whole small element and returns its DER-length
// encoding.
func (r *berReader) readElement(h header) ([]byte, error) {
	body, err := r.readBody(h, maxSmallElement, 0)
	if err != nil {
		return nil, err
	}
	return appendElement(nil, h, body), nil
}

// skip discards an element whose header was just read.
func (r *berReader) skip(h header, depth int) error {
	if h.length != indefiniteLength {
		return r.discard(h.length)
	}
	if depth > maxNestingDepth {
		return fmt.Errorf("%w: nesting too deep", ErrCorrupt)
	}
	for {
		child, err := r.readHeader()
		if err != nil {
			return noEOF(err)
		}
		if child.isEOC() {
			return nil
		}
		if err := r.skip(child, depth+1); err != nil {
			return err
		}
	}
}

// appendElement appends a DER-length element with the given identifier.
func appendElement(dst []byte, h header, body []byte) []byte {
	dst = appendIdentifier(dst, h.class, h.constructed, h.tag)
	dst = appendLength(dst, int64(len(body)))
	return append(dst, body...)
}

func appendIdentifier(dst []byte, class int, constructed bool, tag int) []byte {
	b := byte(class << 6)
	if constructed {
		b |= 0x20
	}
	if tag < 0x1f {
		return append(dst, b|byte(tag))
	}
	dst = append(dst, b|0x1f)
	var tmp [5]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte(tag & 0x7f)
		tag >>= 7
		if tag == 0 {
			break
		}
	}
	for j := i; j < len(tmp)-1; j++ {
		tmp[j] |= 0x80
	}
	return append(dst, tmp[i:]...)
}

// appendLength appends a DER (minimal) definite length.
func appendLength(dst []byte, n int64) []byte {
	if n < 0x80 {
		return append(dst, byte(n))
	}
	var tmp [8]byte
	i := len(tmp)
	for n > 0 {
		i--
		tmp[i] = byte(n)
		n >>= 8
	}
	dst = append(dst, 0x80|byte(len(tmp)-i))
	return append(dst, tmp[i:]...)
}

// lengthSize is len(appendLength(nil, n)).
func lengthSize(n int64) int64 {
	if n < 0x80 {
		return 1
	}
	s := int64(1)
	for n > 0 {
		s++
		n >>= 8
	}
	return s
}
