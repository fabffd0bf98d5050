package cms

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ErrMismatch: VerifyRewrap found a well-formed message that is not the one
// Rewrap reported (another key, other ciphertext, another length). Errors
// that wrap it also wrap ErrCorrupt.
var ErrMismatch = errors.New("cms: message differs from the rewrap result")

const (
	// maxHeaderLen is the longest identifier and length readHeader
	// accepts: 1 + 4 tag octets, 1 + 8 length octets.
	maxHeaderLen = 14
	// Buffers of a rewrap: the ciphertext is hashed and written straight
	// from the read buffer; the write buffer only gathers the small
	// headers between segments.
	rewrapReadBuffer  = 128 << 10
	rewrapWriteBuffer = 32 << 10
)

// keyCheckLabel is what the content-encryption key authenticates to make
// RewrapResult.KeyCheck.
var keyCheckLabel = []byte("callvault/internal/cms: rewrap key check v1\x00")

// RewrapResult describes what Rewrap wrote. It holds no key material:
// KeyCheck is an HMAC-SHA256 under the content-encryption key, which names
// the key without revealing it.
type RewrapResult struct {
	Written    int64 // bytes written to dst: the whole new message
	Read       int64 // bytes of src the old message took
	Indefinite bool  // the message uses the indefinite-length form, as the input did

	CiphertextSize   int64    // encrypted-content bytes copied
	CiphertextSHA256 [32]byte // SHA-256 of those bytes, segment headers excluded

	Removed []RecipientID // the recipients the old key opened, now gone (usually one)
	Kept    int           // recipient infos copied byte for byte
	Added   []RecipientID // one per certificate added
	Skipped int           // certificates of add that already were recipients (or repeated)

	// KeyCheck is HMAC-SHA256(content-encryption key, label ||
	// contentEncryptionAlgorithm DER): VerifyRewrap compares it with what
	// the new key opens.
	KeyCheck [32]byte
}

// String summarises the result for logs; it shows no key material.
func (r *RewrapResult) String() string {
	if r == nil {
		return "cms rewrap: <nil>"
	}
	form := "definite"
	if r.Indefinite {
		form = "indefinite"
	}
	return fmt.Sprintf("cms rewrap: %d bytes read, %d written (%s length), %d bytes of ciphertext (sha256 %x), recipients: %d removed, %d kept, %d added, %d already present",
		r.Read, r.Written, form, r.CiphertextSize, r.CiphertextSHA256, len(r.Removed), r.Kept, len(r.Added), r.Skipped)
}

// Rewrap copies the CMS EnvelopedData message src to dst with its recipient
// list rewritten: every RecipientInfo that oldKey opens (oldCert, which may
// be nil, picks it as for NewReader) is removed, and one
// KeyTransRecipientInfo (IssuerAndSerialNumber, RSA PKCS#1 v1.5, as
// NewWriter writes) per certificate of add is added, wrapping the same
// content-encryption key. A certificate that already is a recipient (by
// issuer and serial number or key identifier), or that comes twice, is not
// added again.
//
// All other RecipientInfos are kept byte for byte, the set being written in
// DER order; originatorInfo, the EncryptedContentInfo with its encrypted
// content, and any unprotectedAttrs are copied byte for byte. No content is
// decrypted or re-encrypted, except one cipher block: the padding of the
// last block is checked, so that a key that only seems to open (or a
// damaged message) is never wrapped for the new recipients.
//
// Definite-length input gives definite-length output, its outer lengths
// recomputed; indefinite-length input (openssl -stream, NewStreamWriter)
// stays indefinite. The EnvelopedData version drops from 2 to 0 when the
// remaining recipients allow it and, in the definite form, the message
// shows that it has no unprotectedAttrs. Memory is constant whatever the
// size.
//
// Nothing is written to dst unless the header parses and oldKey opens it;
// after a later error dst holds a partial message that must be thrown away.
// Failures of src or dst are returned wrapped as they are (so that a caller
// can tell a network error from a corrupt object); every other error wraps
// ErrNotCMS, ErrCorrupt, ErrUnsupported, ErrNoRecipient or ErrRecipient.
func Rewrap(dst io.Writer, src io.Reader, oldKey *rsa.PrivateKey, oldCert *x509.Certificate, add []*x509.Certificate) (*RewrapResult, error) {
	if err := checkKey(oldKey, oldCert); err != nil {
		return nil, err
	}
	for i, cert := range add {
		if cert == nil {
			return nil, fmt.Errorf("%w: certificate %d to add is nil", ErrRecipient, i+1)
		}
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("%w: %q has a %T key, not RSA", ErrRecipient, cert.Subject.CommonName, cert.PublicKey)
		}
	}
	c := newRewrapper(src)
	res, err := c.rewrap(dst, oldKey, oldCert, add)
	if err != nil && c.src.err != nil {
		return nil, fmt.Errorf("cms: rewrap: cannot read the message: %w", c.src.err)
	}
	return res, err
}

// VerifyRewrap re-reads a message Rewrap wrote and checks, without
// decrypting its content, that key (cert as for NewReader) opens one of its
// recipients to the content-encryption key want.KeyCheck names, that its
// ciphertext has want's size and SHA-256 and a valid last-block padding,
// that the recipients want removed are gone and those it added are there,
// and that the message is well formed, want.Written bytes long, and alone in
// src. A difference wraps ErrMismatch (and ErrCorrupt).
func VerifyRewrap(src io.Reader, key *rsa.PrivateKey, cert *x509.Certificate, want *RewrapResult) error {
	if want == nil {
		return fmt.Errorf("%w: %w: no rewrap result to compare with", ErrMismatch, ErrCorrupt)
	}
	if err := checkKey(key, cert); err != nil {
		return err
	}
	c := newRewrapper(src)
	err := c.verify(key, cert, want)
	if err != nil && c.src.err != nil {
		return fmt.Errorf("cms: verify rewrap: cannot read the message: %w", c.src.err)
	}
	return err
}

func mismatch(format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrMismatch, ErrCorrupt}, args...)...)
}

func checkKey(key *rsa.PrivateKey, cert *x509.Certificate) error {
	if key == nil {
		return fmt.Errorf("%w: no key", ErrNoRecipient)
	}
	if cert != nil {
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(&key.PublicKey) {
			return fmt.Errorf("%w: the key does not belong to the certificate", ErrNoRecipient)
		}
	}
	return nil
}

// srcReader remembers the first failure of the source other than EOF.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// dstWriter counts what reaches dst and remembers its failure.
type dstWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (d *dstWriter) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	d.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil && d.err == nil {
		d.err = err
	}
	return n, err
}

// rawRecipient is one RecipientInfo as read.
type rawRecipient struct {
	raw    []byte     // byte for byte
	rec    *recipient // RSA key transport, parsed; nil for other kinds
	v0ktri bool       // a KeyTransRecipientInfo of version 0
}

// rewrapper reads a message for Rewrap and VerifyRewrap. Up to the
// recipient infos it keeps what it reads; from the EncryptedContentInfo on
// it copies every byte it consumes to out.
type rewrapper struct {
	d   *Reader // the BER reader and its stack of open containers
	src *srcReader

	// The three containers around the recipient infos: ContentInfo, its
	// [0] and the EnvelopedData SEQUENCE, with the length of each header
	// as read.
	outer       [3]header
	outerHdrLen [3]int64
	typeOID     []byte // raw content type
	version     []byte // raw version
	versionVal  int64
	originator  []byte // raw originatorInfo, nil when absent
	setLen      int64  // bytes the recipient infos took, header included
	recipients  []rawRecipient
	eciHead     []byte // raw: EncryptedContentInfo header, content type, algorithm, content header
	algDER      []byte
	alg         *contentAlgorithm
	noAttrs     bool // the definite lengths show that no unprotectedAttrs follow

	out     io.Writer
	peekBuf [maxHeaderLen]byte
	peekN   int
	peekPos int64

	sum   hash.Hash
	ctLen int64
	tail  [32]byte // the last two cipher blocks seen (block size ≤ 16)
	tailN int
}

func newRewrapper(src io.Reader) *rewrapper {
	s := &srcReader{r: src}
	return &rewrapper{d: &Reader{r: &berReader{br: bufio.NewReaderSize(s, rewrapReadBuffer)}}, src: s, out: io.Discard}
}

// peek saves the octets a header read may consume.
func (c *rewrapper) peek() {
	p, _ := c.d.r.br.Peek(maxHeaderLen)
	c.peekN = copy(c.peekBuf[:], p)
	c.peekPos = c.d.r.pos
}

// consumed is what was read since peek.
func (c *rewrapper) consumed() ([]byte, error) {
	n := c.d.r.pos - c.peekPos
	if n < 0 || n > int64(c.peekN) {
		return nil, fmt.Errorf("%w: header octets lost", ErrCorrupt)
	}
	return c.peekBuf[:n], nil
}

// header reads a header and returns its octets too.
func (c *rewrapper) header() (header, []byte, error) {
	c.peek()
	h, err := c.d.r.readHeader()
	if err != nil {
		return h, nil, err
	}
	raw, err := c.consumed()
	return h, raw, err
}

// child is Reader.child returning the header's octets.
func (c *rewrapper) child() (header, []byte, bool, error) {
	c.peek()
	h, ended, err := c.d.child()
	if err != nil {
		return h, nil, false, err
	}
	raw, err := c.consumed()
	return h, raw, ended, err
}

// expect is Reader.expect returning the header's octets.
func (c *rewrapper) expect(what string, class, tag int, constructed bool) (header, []byte, error) {
	h, raw, ended, err := c.child()
	if err != nil {
		return h, nil, corrupt(what, err)
	}
	if ended {
		return h, nil, fmt.Errorf("%w: %s missing", ErrCorrupt, what)
	}
	if !h.is(class, tag, constructed) {
		return h, nil, fmt.Errorf("%w: %s expected, found %s", ErrCorrupt, what, h)
	}
	return h, raw, nil
}

// within checks that nothing read so far overruns a definite container.
func (c *rewrapper) within() error {
	for _, end := range c.d.stack {
		if end != indefiniteLength && c.d.r.pos > end {
			return fmt.Errorf("%w: element overruns its container", ErrCorrupt)
		}
	}
	return nil
}

// capture appends to dst the raw octets of the element whose header (hdr)
// was just read, at most maxSmallElement in all.
func (c *rewrapper) capture(dst []byte, h header, hdr []byte, depth int) ([]byte, error) {
	dst = append(dst, hdr...)
	if h.length != indefiniteLength {
		if h.length > maxSmallElement-int64(len(dst)) {
			return nil, fmt.Errorf("%w: element of %d bytes is too large", ErrCorrupt, h.length)
		}
		for n := h.length; n > 0; {
			step := int(min(n, 32<<10))
			start := len(dst)
			dst = slices.Grow(dst, step)[:start+step]
			if err := c.d.r.readFull(dst[start:]); err != nil {
				return nil, noEOF(err)
			}
			n -= int64(step)
		}
		return dst, nil
	}
	if depth >= maxNestingDepth {
		return nil, fmt.Errorf("%w: nesting too deep", ErrCorrupt)
	}
	for {
		ch, raw, err := c.header()
		if err != nil {
			return nil, noEOF(err)
		}
		if ch.isEOC() {
			return append(dst, raw...), nil
		}
		if dst, err = c.capture(dst, ch, raw, depth+1); err != nil {
			return nil, err
		}
	}
}

// normalise re-encodes one BER element with DER lengths, for cryptobyte.
func normalise(raw []byte) ([]byte, error) {
	r := &berReader{br: bufio.NewReaderSize(bytes.NewReader(raw), 512)}
	h, err := r.readHeader()
	if err != nil {
		return nil, noEOF(err)
	}
	body, err := r.readBody(h, int64(len(raw)), 0)
	if err != nil {
		return nil, err
	}
	return appendElement(nil, h, body), nil
}

// readHead reads everything up to the first ciphertext octet: what comes
// before the EncryptedContentInfo is kept in parts, the start of the
// EncryptedContentInfo raw in eciHead.
func (c *rewrapper) readHead() error {
	d := c.d
	h, raw, err := c.header()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty input", ErrNotCMS)
		}
		return fmt.Errorf("%w: %v", ErrNotCMS, err)
	}
	if !h.is(classUniversal, tagSequence, true) {
		return fmt.Errorf("%w: does not start with a SEQUENCE", ErrNotCMS)
	}
	c.outer[0], c.outerHdrLen[0] = h, int64(len(raw))
	if err := d.push(h); err != nil {
		return err
	}
	h, raw, ended, err := c.child()
	if err != nil || ended || !h.is(classUniversal, tagOID, false) || h.length > 64 {
		return fmt.Errorf("%w: no content type", ErrNotCMS)
	}
	if c.typeOID, err = c.capture(nil, h, raw, 0); err != nil {
		return fmt.Errorf("%w: no content type", ErrNotCMS)
	}
	var contentType asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(c.typeOID, &contentType); err != nil || len(rest) > 0 {
		return fmt.Errorf("%w: bad content type", ErrNotCMS)
	}
	if !contentType.Equal(oidEnvelopedData) {
		name := contentTypeNames[contentType.String()]
		if name == "" {
			return fmt.Errorf("%w: content type %s is not CMS", ErrNotCMS, contentType)
		}
		return fmt.Errorf("%w: content type %s (%s), not envelopedData", ErrUnsupported, name, contentType)
	}
	for i, s := range []struct {
		class, tag int
	}{{classContext, 0}, {classUniversal, tagSequence}} {
		h, raw, err := c.expect("EnvelopedData", s.class, s.tag, true)
		if err != nil {
			return err
		}
		c.outer[i+1], c.outerHdrLen[i+1] = h, int64(len(raw))
		if err := d.push(h); err != nil {
			return err
		}
	}
	h, raw, err = c.expect("version", classUniversal, tagInteger, false)
	if err != nil {
		return err
	}
	if h.length > 8 {
		return fmt.Errorf("%w: bad version", ErrCorrupt)
	}
	if c.version, err = c.capture(nil, h, raw, 0); err != nil {
		return corrupt("version", err)
	}
	v := cryptobyte.String(c.version)
	if !v.ReadASN1Integer(&c.versionVal) {
		return fmt.Errorf("%w: bad version", ErrCorrupt)
	}

	h, raw, ended, err = c.child()
	if err != nil || ended {
		return corrupt("recipient infos", orMissing(err))
	}
	if h.is(classContext, 0, true) { // originatorInfo: kept as it is
		if c.originator, err = c.capture(nil, h, raw, 0); err != nil {
			return corrupt("originator info", err)
		}
		if h, raw, ended, err = c.child(); err != nil || ended {
			return corrupt("recipient infos", orMissing(err))
		}
	}
	if !h.is(classUniversal, tagSet, true) {
		return fmt.Errorf("%w: recipient infos expected, found %s", ErrCorrupt, h)
	}
	if err := c.readRecipients(h, raw); err != nil {
		return err
	}
	if err := c.within(); err != nil {
		return err
	}

	h, raw, err = c.expect("EncryptedContentInfo", classUniversal, tagSequence, true)
	if err != nil {
		return err
	}
	edEnd := d.stack[len(d.stack)-1]
	c.noAttrs = edEnd != indefiniteLength && h.length != indefiniteLength && d.r.pos+h.length == edEnd
	c.eciHead = append(c.eciHead, raw...)
	if err := d.push(h); err != nil {
		return err
	}
	if h, raw, err = c.expect("encrypted content type", classUniversal, tagOID, false); err != nil {
		return err
	}
	if h.length > 64 {
		return fmt.Errorf("%w: bad encrypted content type", ErrCorrupt)
	}
	if c.eciHead, err = c.capture(c.eciHead, h, raw, 0); err != nil {
		return corrupt("encrypted content type", err)
	}
	if h, raw, err = c.expect("content encryption algorithm", classUniversal, tagSequence, true); err != nil {
		return err
	}
	start := len(c.eciHead)
	if c.eciHead, err = c.capture(c.eciHead, h, raw, 0); err != nil {
		return corrupt("content encryption algorithm", err)
	}
	if c.algDER, err = normalise(c.eciHead[start:]); err != nil {
		return corrupt("content encryption algorithm", err)
	}
	if c.alg, err = parseContentAlgorithm(c.algDER); err != nil {
		return err
	}
	if err := c.within(); err != nil {
		return err
	}
	h, raw, ended, err = c.child()
	if err != nil {
		return corrupt("encrypted content", err)
	}
	switch {
	case ended || !h.is(classContext, 0, h.constructed):
		return fmt.Errorf("%w: detached content (no encrypted content in the message)", ErrUnsupported)
	case h.constructed:
		if err := d.push(h); err != nil {
			return err
		}
		d.contentDepth = len(d.stack)
	default:
		d.primitive = true
		d.segLeft = h.length
	}
	c.eciHead = append(c.eciHead, raw...)
	return nil
}

// readRecipients keeps each RecipientInfo raw and parses the RSA key
// transport ones.
func (c *rewrapper) readRecipients(h header, hdr []byte) error {
	start := c.d.r.pos - int64(len(hdr))
	if err := c.d.push(h); err != nil {
		return err
	}
	total := 0
	for {
		ch, raw, ended, err := c.child()
		if err != nil {
			return corrupt("recipient infos", err)
		}
		if ended {
			break
		}
		ri, err := c.capture(nil, ch, raw, 0)
		if err != nil {
			return corrupt("recipient info", err)
		}
		if total += len(ri); total > maxSmallElement {
			return fmt.Errorf("%w: recipient infos too large", ErrCorrupt)
		}
		der, err := normalise(ri)
		if err != nil {
			return corrupt("recipient info", err)
		}
		recs, _, err := parseRecipients(appendElement(nil, header{class: classUniversal, constructed: true, tag: tagSet}, der))
		if err != nil {
			return err
		}
		r := rawRecipient{raw: ri}
		if len(recs) == 1 {
			r.rec = &recs[0]
		}
		s := cryptobyte.String(der)
		var seq cryptobyte.String
		var v int64
		r.v0ktri = s.ReadASN1(&seq, cbasn1.SEQUENCE) && seq.ReadASN1Integer(&v) && v == 0
		c.recipients = append(c.recipients, r)
	}
	c.setLen = c.d.r.pos - start
	return nil
}

// open finds the recipient key opens and returns its index in
// c.recipients and the content key.
func (c *rewrapper) open(key *rsa.PrivateKey, cert *x509.Certificate) (int, []byte, error) {
	var recs []recipient
	var index []int
	others := 0
	for i, r := range c.recipients {
		if r.rec == nil {
			others++
			continue
		}
		recs = append(recs, *r.rec)
		index = append(index, i)
	}
	i, contentKey, err := pickRecipient(recs, others, key, cert, c.alg.keyLen)
	if err != nil {
		return -1, nil, err
	}
	return index[i], contentKey, nil
}

func (c *rewrapper) keyCheck(contentKey []byte) [32]byte {
	m := hmac.New(sha256.New, contentKey)
	m.Write(keyCheckLabel)
	m.Write(c.algDER)
	var sum [32]byte
	m.Sum(sum[:0])
	return sum
}

func (c *rewrapper) rewrap(dst io.Writer, oldKey *rsa.PrivateKey, oldCert *x509.Certificate, add []*x509.Certificate) (*RewrapResult, error) {
	if err := c.readHead(); err != nil {
		return nil, err
	}
	opened, contentKey, err := c.open(oldKey, oldCert)
	if err != nil {
		return nil, err
	}
	defer clear(contentKey)
	res := &RewrapResult{KeyCheck: c.keyCheck(contentKey), Indefinite: c.outer[0].length == indefiniteLength}
	block, err := c.alg.newCipher(contentKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}

	// Remove the recipient that opened and any other the old key opens
	// to the same content key (the same key named twice, or under
	// another certificate), so that the old key opens nothing.
	var kept []rawRecipient
	for i, r := range c.recipients {
		remove := i == opened
		if !remove && r.rec != nil && len(r.rec.encryptedKey) == oldKey.Size() {
			if k, err := decryptKey(*r.rec, oldKey); err == nil {
				remove = subtle.ConstantTimeCompare(k, contentKey) == 1
				clear(k)
			}
		}
		if remove {
			res.Removed = append(res.Removed, RecipientID{Issuer: r.rec.issuer, Serial: r.rec.serial, KeyID: r.rec.keyID})
			continue
		}
		kept = append(kept, r)
	}
	res.Kept = len(kept)

	var newCerts []*x509.Certificate
	for _, cert := range add {
		if isRecipient(cert, kept) || slices.ContainsFunc(newCerts, func(o *x509.Certificate) bool {
			return bytes.Equal(o.RawIssuer, cert.RawIssuer) && o.SerialNumber.Cmp(cert.SerialNumber) == 0
		}) {
			res.Skipped++
			continue
		}
		newCerts = append(newCerts, cert)
	}
	if len(kept) == 0 && len(newCerts) == 0 {
		return nil, fmt.Errorf("%w: removing the old recipient leaves none and none is added", ErrRecipient)
	}
	infos := make([][]byte, 0, len(kept)+len(newCerts))
	allV0 := true
	for _, r := range kept {
		infos = append(infos, r.raw)
		allV0 = allV0 && r.v0ktri
	}
	if len(newCerts) > 0 {
		set, err := recipientInfos(newCerts, contentKey)
		if err != nil {
			return nil, err
		}
		s := cryptobyte.String(set)
		var members cryptobyte.String
		if !s.ReadASN1(&members, cbasn1.SET) {
			return nil, fmt.Errorf("%w: cannot build recipient infos", ErrRecipient)
		}
		for !members.Empty() {
			var info cryptobyte.String
			if !members.ReadASN1Element(&info, cbasn1.SEQUENCE) {
				return nil, fmt.Errorf("%w: cannot build recipient infos", ErrRecipient)
			}
			infos = append(infos, info)
		}
		for _, cert := range newCerts {
			res.Added = append(res.Added, RecipientID{Issuer: cert.RawIssuer, Serial: cert.SerialNumber})
		}
	}
	slices.SortFunc(infos, bytes.Compare) // DER orders a SET OF
	n := 0
	for _, info := range infos {
		n += len(info)
	}
	set := appendLength([]byte{0x31}, int64(n)) // SET
	for _, info := range infos {
		set = append(set, info...)
	}

	version := c.version
	if c.versionVal == 2 && c.originator == nil && allV0 && c.noAttrs {
		version = derVersion0
	}

	// Recompute the lengths of the three containers around the changed
	// part, inside out.
	delta := int64(len(version)-len(c.version)) + int64(len(set)) - c.setLen
	var hdrs [3][]byte
	var lengths [3]int64
	idents := [3]byte{0x30, 0xa0, 0x30}
	for i := 2; i >= 0; i-- {
		h := c.outer[i]
		if h.length == indefiniteLength {
			hdrs[i] = []byte{idents[i], 0x80}
		} else {
			lengths[i] = h.length + delta
			if lengths[i] < 0 {
				return nil, fmt.Errorf("%w: inconsistent lengths", ErrCorrupt)
			}
			hdrs[i] = appendLength([]byte{idents[i]}, lengths[i])
		}
		delta += int64(len(hdrs[i])) - c.outerHdrLen[i]
	}
	want := int64(-1)
	if c.outer[0].length != indefiniteLength {
		want = int64(len(hdrs[0])) + lengths[0]
	}

	dw := &dstWriter{w: dst}
	bw := bufio.NewWriterSize(dw, rewrapWriteBuffer)
	c.out = bw
	var prefix []byte
	prefix = append(prefix, hdrs[0]...)
	prefix = append(prefix, c.typeOID...)
	prefix = append(prefix, hdrs[1]...)
	prefix = append(prefix, hdrs[2]...)
	prefix = append(prefix, version...)
	prefix = append(prefix, c.originator...)
	prefix = append(prefix, set...)
	prefix = append(prefix, c.eciHead...)
	err = c.write(prefix)
	if err == nil {
		err = c.copyRest(block)
	}
	if err == nil {
		err = bw.Flush()
	}
	if dw.err != nil {
		return nil, fmt.Errorf("cms: rewrap: cannot write: %w", dw.err)
	}
	if err != nil {
		return nil, err
	}
	if want >= 0 && dw.n != want {
		return nil, fmt.Errorf("%w: wrote %d bytes, computed %d", ErrCorrupt, dw.n, want)
	}
	res.Written, res.Read = dw.n, c.d.r.pos
	res.CiphertextSize = c.ctLen
	c.sum.Sum(res.CiphertextSHA256[:0])
	return res, nil
}

// isRecipient reports whether one of the recipients names the certificate.
func isRecipient(cert *x509.Certificate, recipients []rawRecipient) bool {
	var keyID []byte
	for _, r := range recipients {
		if r.rec == nil {
			continue
		}
		id := RecipientID{Issuer: r.rec.issuer, Serial: r.rec.serial, KeyID: r.rec.keyID}
		if id.Matches(cert) {
			return true
		}
		if id.KeyID != nil {
			if keyID == nil {
				keyID = subjectKeyID(cert.RawSubjectPublicKeyInfo)
			}
			if bytes.Equal(id.KeyID, keyID) {
				return true
			}
		}
	}
	return false
}

func (c *rewrapper) write(p []byte) error {
	if _, err := c.out.Write(p); err != nil {
		return fmt.Errorf("cms: rewrap: cannot write: %w", err)
	}
	return nil
}

// copyRest copies, hashes and checks the content, then copies everything
// up to the end of the message.
func (c *rewrapper) copyRest(block cipher.Block) error {
	d := c.d
	c.sum = sha256.New()
	if err := c.copyContent(); err != nil {
		return err
	}
	if err := c.checkPadding(block); err != nil {
		return err
	}
	for len(d.stack) > 0 {
		h, raw, ended, err := c.child()
		if err != nil {
			return corrupt("end of message", err)
		}
		if err := c.write(raw); err != nil {
			return err
		}
		if !ended {
			if err := c.copyElement(h, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyContent copies the encrypted content: one primitive [0], or OCTET
// STRING segments, possibly nested.
func (c *rewrapper) copyContent() error {
	d := c.d
	if d.primitive {
		return c.copyN(d.segLeft, true)
	}
	for {
		h, raw, ended, err := c.child()
		if err != nil {
			return corrupt("encrypted content", err)
		}
		if err := c.write(raw); err != nil {
			return err
		}
		switch {
		case ended && len(d.stack) < d.contentDepth:
			return nil
		case ended: // end of a nested constructed segment
		case h.is(classUniversal, tagOctetString, false):
			if err := c.copyN(h.length, true); err != nil {
				return err
			}
		case h.is(classUniversal, tagOctetString, true):
			if err := d.push(h); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %s inside the encrypted content", ErrCorrupt, h)
		}
	}
}

// copyElement copies the element whose header was just read and copied.
func (c *rewrapper) copyElement(h header, depth int) error {
	if h.length != indefiniteLength {
		return c.copyN(h.length, false)
	}
	if depth >= maxNestingDepth {
		return fmt.Errorf("%w: nesting too deep", ErrCorrupt)
	}
	for {
		ch, raw, err := c.header()
		if err != nil {
			return corrupt("end of message", noEOF(err))
		}
		if err := c.write(raw); err != nil {
			return err
		}
		if ch.isEOC() {
			return nil
		}
		if err := c.copyElement(ch, depth+1); err != nil {
			return err
		}
	}
}

// copyN copies n octets straight from the read buffer, hashing them when
// they are ciphertext.
func (c *rewrapper) copyN(n int64, content bool) error {
	br := c.d.r.br
	for n > 0 {
		want := int(min(n, int64(br.Size())))
		if b := br.Buffered(); b > 0 && b < want {
			want = b
		}
		p, err := br.Peek(want)
		if len(p) > 0 {
			if content {
				c.sum.Write(p)
				c.track(p)
				c.ctLen += int64(len(p))
			}
			if err := c.write(p); err != nil {
				return err
			}
			k, _ := br.Discard(len(p))
			c.d.r.pos += int64(k)
			n -= int64(k)
		}
		if err != nil && n > 0 {
			if content {
				return corrupt("encrypted content", noEOF(err))
			}
			return corrupt("end of message", noEOF(err))
		}
	}
	return nil
}

// track keeps the last two cipher blocks.
func (c *rewrapper) track(p []byte) {
	const w = len(c.tail)
	if len(p) >= w {
		copy(c.tail[:], p[len(p)-w:])
		c.tailN = w
		return
	}
	keep := min(c.tailN, w-len(p))
	copy(c.tail[:keep], c.tail[c.tailN-keep:c.tailN])
	copy(c.tail[keep:], p)
	c.tailN = keep + len(p)
}

// checkPadding decrypts the last cipher block, and only it, to check its
// PKCS#7 padding.
func (c *rewrapper) checkPadding(block cipher.Block) error {
	bs := block.BlockSize()
	if c.ctLen == 0 || c.ctLen%int64(bs) != 0 {
		return fmt.Errorf("%w: encrypted content of %d bytes is not a whole number of blocks", ErrCorrupt, c.ctLen)
	}
	prev := c.alg.iv
	if c.ctLen > int64(bs) {
		prev = c.tail[c.tailN-2*bs : c.tailN-bs]
	}
	last := make([]byte, bs)
	block.Decrypt(last, c.tail[c.tailN-bs:c.tailN])
	subtle.XORBytes(last, last, prev)
	pad := int(last[bs-1])
	ok := pad > 0 && pad <= bs
	for i := bs - pad; ok && i < bs; i++ {
		ok = int(last[i]) == pad
	}
	clear(last)
	if !ok {
		return fmt.Errorf("%w: bad padding (wrong key or damaged file)", ErrCorrupt)
	}
	return nil
}

func (c *rewrapper) verify(key *rsa.PrivateKey, cert *x509.Certificate, want *RewrapResult) error {
	if err := c.readHead(); err != nil {
		return err
	}
	_, contentKey, err := c.open(key, cert)
	if err != nil {
		return err
	}
	check := c.keyCheck(contentKey)
	block, err := c.alg.newCipher(contentKey)
	clear(contentKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if !hmac.Equal(check[:], want.KeyCheck[:]) {
		return mismatch("the key opens another content-encryption key")
	}
	if indefinite := c.outer[0].length == indefiniteLength; indefinite != want.Indefinite {
		return mismatch("length form differs")
	}
	sameID := func(a, b RecipientID) bool {
		if a.KeyID != nil || b.KeyID != nil {
			return bytes.Equal(a.KeyID, b.KeyID)
		}
		return bytes.Equal(a.Issuer, b.Issuer) && a.Serial != nil && b.Serial != nil && a.Serial.Cmp(b.Serial) == 0
	}
	present := func(id RecipientID) bool {
		for _, r := range c.recipients {
			if r.rec != nil && sameID(id, RecipientID{Issuer: r.rec.issuer, Serial: r.rec.serial, KeyID: r.rec.keyID}) {
				return true
			}
		}
		return false
	}
	for _, id := range want.Added {
		if !present(id) {
			return mismatch("an added recipient is missing")
		}
	}
	for _, id := range want.Removed {
		if present(id) && !slices.ContainsFunc(want.Added, func(a RecipientID) bool { return sameID(a, id) }) {
			return mismatch("a removed recipient is still there")
		}
	}
	if err := c.copyRest(block); err != nil {
		return err
	}
	var sum [32]byte
	c.sum.Sum(sum[:0])
	switch {
	case c.ctLen != want.CiphertextSize:
		return mismatch("%d bytes of ciphertext, want %d", c.ctLen, want.CiphertextSize)
	case sum != want.CiphertextSHA256:
		return mismatch("ciphertext SHA-256 differs")
	case c.d.r.pos != want.Written:
		return mismatch("message of %d bytes, want %d", c.d.r.pos, want.Written)
	}
	if _, err := c.d.r.br.ReadByte(); err != io.EOF {
		if err != nil {
			return corrupt("end of input", err)
		}
		return mismatch("more bytes follow the message")
	}
	return nil
}
