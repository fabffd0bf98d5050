package cms

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Reader decrypts a CMS EnvelopedData message as it reads it.
//
// It holds back the last cipher block until it has seen the end of the
// message, so it never returns plaintext of a wrong length: a truncated,
// corrupt or wrongly keyed message ends in an error instead of io.EOF.
// Plaintext returned before such an error must be thrown away by the
// caller (write to a temporary file, rename only on success).
type Reader struct {
	r         *berReader
	stack     []int64 // ends of the open containers, indefiniteLength for the indefinite form
	mode      cipher.BlockMode
	block     cipher.Block
	iv        []byte
	blockSize int

	primitive    bool  // content is one primitive [0]; else OCTET STRING segments
	segLeft      int64 // ciphertext bytes left in the current segment
	contentDepth int   // len(stack) while inside a constructed content
	total        int64 // ciphertext bytes read

	cbuf []byte // ciphertext not yet decrypted (the held-back block and any partial block)
	cn   int
	obuf []byte
	out  []byte // plaintext ready to hand out
	err  error  // sticky; io.EOF once the message ended well
	done bool   // the message has been read and checked to its end, or, salvaging, to its cut

	// Salvage only: a cut short message ends the plaintext instead of
	// failing (see Salvage).
	salvage      bool
	cutShort     bool // the input ended before the message did
	contentEnded bool // the content's end was read and its padding removed
	dropped      int  // ciphertext bytes at the cut short of a whole block

	riSet []byte // kept only by Inspect
}

// NewReader reads the message's header from src, finds the recipient that
// key opens and returns a Reader of the plaintext. cert, when not nil, is the
// key's certificate and picks the recipient by issuer and serial number;
// without it the recipient is found from the key alone (subject key
// identifier, or by trying each RSA recipient).
func NewReader(src io.Reader, key *rsa.PrivateKey, cert *x509.Certificate) (*Reader, error) {
	return newReader(src, key, cert, false)
}

// newReader is NewReader; with salvage, a message cut short anywhere after
// the content encryption algorithm reads as a plaintext that ends there.
func newReader(src io.Reader, key *rsa.PrivateKey, cert *x509.Certificate, salvage bool) (*Reader, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: no key", ErrNoRecipient)
	}
	if cert != nil {
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(&key.PublicKey) {
			return nil, fmt.Errorf("%w: the key does not belong to the certificate", ErrNoRecipient)
		}
	}
	d := &Reader{r: &berReader{br: bufio.NewReaderSize(src, chunkSize)}, salvage: salvage}
	if err := d.readHeaderPart(key, cert); err != nil {
		return nil, err
	}
	if err := d.openContent(); err != nil {
		if !salvage || !errors.Is(err, ErrTruncated) {
			return nil, err
		}
		d.cutShort, d.done = true, true // cut in the content's own header: no ciphertext
	}
	d.cbuf = make([]byte, chunkSize)
	d.obuf = make([]byte, chunkSize)
	return d, nil
}

// Decrypt writes the plaintext of the message in src to dst and returns the
// number of bytes written. On error, dst may already hold part of the
// plaintext.
func Decrypt(dst io.Writer, src io.Reader, key *rsa.PrivateKey, cert *x509.Certificate) (int64, error) {
	r, err := NewReader(src, key, cert)
	if err != nil {
		return 0, err
	}
	return r.WriteTo(dst)
}

func (d *Reader) push(h header) error {
	end := int64(indefiniteLength)
	if h.length != indefiniteLength {
		end = d.r.pos + h.length
	}
	if len(d.stack) >= maxNestingDepth {
		return fmt.Errorf("%w: nesting too deep", ErrCorrupt)
	}
	d.stack = append(d.stack, end)
	return nil
}

// child reads the next header inside the innermost open container, or
// reports that the container has ended (and closes it).
func (d *Reader) child() (h header, ended bool, err error) {
	end := d.stack[len(d.stack)-1]
	if end != indefiniteLength {
		switch {
		case d.r.pos == end:
			d.stack = d.stack[:len(d.stack)-1]
			return h, true, nil
		case d.r.pos > end:
			return h, false, fmt.Errorf("%w: element overruns its container", ErrCorrupt)
		}
	}
	h, err = d.r.readHeader()
	if err != nil {
		return h, false, noEOF(err)
	}
	if end == indefiniteLength && h.isEOC() {
		d.stack = d.stack[:len(d.stack)-1]
		return h, true, nil
	}
	if end != indefiniteLength && h.length != indefiniteLength && d.r.pos+h.length > end {
		return h, false, fmt.Errorf("%w: element overruns its container", ErrCorrupt)
	}
	return h, false, nil
}

// expect reads the next element of the innermost container, which must be
// there and carry the given identifier.
func (d *Reader) expect(what string, class, tag int, constructed bool) (header, error) {
	h, ended, err := d.child()
	if err != nil {
		return h, corrupt(what, err)
	}
	if ended {
		return h, fmt.Errorf("%w: %s missing", ErrCorrupt, what)
	}
	if !h.is(class, tag, constructed) {
		return h, fmt.Errorf("%w: %s expected, found %s", ErrCorrupt, what, h)
	}
	return h, nil
}

// readHeaderPart reads everything up to the encrypted content and sets up
// the content decryption; openContent then reads the content's header.
func (d *Reader) readHeaderPart(key *rsa.PrivateKey, cert *x509.Certificate) error {
	h, err := d.r.readHeader()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty input", ErrNotCMS)
		}
		return fmt.Errorf("%w: %v", ErrNotCMS, err)
	}
	if !h.is(classUniversal, tagSequence, true) {
		return fmt.Errorf("%w: does not start with a SEQUENCE", ErrNotCMS)
	}
	if err := d.push(h); err != nil {
		return err
	}
	h, ended, err := d.child()
	if err != nil || ended || !h.is(classUniversal, tagOID, false) {
		return fmt.Errorf("%w: no content type", ErrNotCMS)
	}
	oidDER, err := d.r.readElement(h)
	if err != nil {
		return corrupt("content type", err)
	}
	var contentType asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(oidDER, &contentType); err != nil || len(rest) > 0 {
		return fmt.Errorf("%w: bad content type", ErrNotCMS)
	}
	if !contentType.Equal(oidEnvelopedData) {
		name := contentTypeNames[contentType.String()]
		if name == "" {
			return fmt.Errorf("%w: content type %s is not CMS", ErrNotCMS, contentType)
		}
		return fmt.Errorf("%w: content type %s (%s), not envelopedData", ErrUnsupported, name, contentType)
	}
	steps := []struct {
		what             string
		class, tag       int
		constructed, box bool
	}{
		{"EnvelopedData", classContext, 0, true, true},
		{"EnvelopedData", classUniversal, tagSequence, true, true},
		{"version", classUniversal, tagInteger, false, false},
	}
	for _, s := range steps {
		h, err := d.expect(s.what, s.class, s.tag, s.constructed)
		if err != nil {
			return err
		}
		if s.box {
			if err := d.push(h); err != nil {
				return err
			}
		} else if err := d.r.skip(h, 0); err != nil {
			return corrupt(s.what, err)
		}
	}
	h, ended, err = d.child()
	if err != nil || ended {
		return corrupt("recipient infos", orMissing(err))
	}
	if h.is(classContext, 0, true) { // originatorInfo: certificates and CRLs, not needed
		if err := d.r.skip(h, 0); err != nil {
			return corrupt("originator info", err)
		}
		if h, ended, err = d.child(); err != nil || ended {
			return corrupt("recipient infos", orMissing(err))
		}
	}
	if !h.is(classUniversal, tagSet, true) {
		return fmt.Errorf("%w: recipient infos expected, found %s", ErrCorrupt, h)
	}
	riSet, err := d.r.readElement(h)
	if err != nil {
		return corrupt("recipient infos", err)
	}
	if key == nil { // Inspect: the recipients are all it wants
		d.riSet = riSet
		return nil
	}
	h, err = d.expect("EncryptedContentInfo", classUniversal, tagSequence, true)
	if err != nil {
		return err
	}
	if err := d.push(h); err != nil {
		return err
	}
	if h, err = d.expect("encrypted content type", classUniversal, tagOID, false); err != nil {
		return err
	}
	if err := d.r.skip(h, 0); err != nil {
		return corrupt("encrypted content type", err)
	}
	if h, err = d.expect("content encryption algorithm", classUniversal, tagSequence, true); err != nil {
		return err
	}
	algID, err := d.r.readElement(h)
	if err != nil {
		return corrupt("content encryption algorithm", err)
	}
	alg, err := parseContentAlgorithm(algID)
	if err != nil {
		return err
	}
	contentKey, err := openRecipient(riSet, key, cert, alg.keyLen)
	if err != nil {
		return err
	}
	block, err := alg.newCipher(contentKey)
	clear(contentKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	d.block, d.iv = block, alg.iv
	d.mode = cipher.NewCBCDecrypter(block, alg.iv)
	d.blockSize = block.BlockSize()
	return nil
}

// openContent reads the header of the encrypted content, up to its first
// byte.
func (d *Reader) openContent() error {
	h, ended, err := d.child()
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
	return nil
}

func orMissing(err error) error {
	if err == nil {
		return io.ErrUnexpectedEOF
	}
	return err
}

// contentAlgorithm is a parsed contentEncryptionAlgorithm.
type contentAlgorithm struct {
	keyLen    int
	iv        []byte
	newCipher func(key []byte) (cipher.Block, error)
}

func parseContentAlgorithm(der []byte) (*contentAlgorithm, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return nil, fmt.Errorf("%w: bad content encryption algorithm", ErrCorrupt)
	}
	alg := &contentAlgorithm{newCipher: aes.NewCipher}
	blockSize := aes.BlockSize
	switch {
	case oid.Equal(oidAES128CBC):
		alg.keyLen = 16
	case oid.Equal(oidAES192CBC):
		alg.keyLen = 24
	case oid.Equal(oidAES256CBC):
		alg.keyLen = 32
	case oid.Equal(oidDESEDE3CBC):
		alg.keyLen, blockSize, alg.newCipher = 24, des.BlockSize, des.NewTripleDESCipher
	default:
		return nil, fmt.Errorf("%w: content encryption algorithm %s", ErrUnsupported, oid)
	}
	var iv []byte
	if !seq.ReadASN1Bytes(&iv, cbasn1.OCTET_STRING) || len(iv) != blockSize {
		return nil, fmt.Errorf("%w: bad IV for content encryption algorithm %s", ErrCorrupt, oid)
	}
	alg.iv = iv
	return alg, nil
}

// recipient is one KeyTransRecipientInfo.
type recipient struct {
	issuer       []byte // DER Name, to compare with a certificate's RawIssuer
	serial       *big.Int
	keyID        []byte // SubjectKeyIdentifier form
	oaep         *rsa.OAEPOptions
	encryptedKey []byte
}

func parseRecipients(riSet []byte) ([]recipient, int, error) {
	in := cryptobyte.String(riSet)
	var set cryptobyte.String
	if !in.ReadASN1(&set, cbasn1.SET) {
		return nil, 0, fmt.Errorf("%w: bad recipient infos", ErrCorrupt)
	}
	var out []recipient
	others := 0
	for !set.Empty() {
		var ri cryptobyte.String
		var tag cbasn1.Tag
		if !set.ReadAnyASN1(&ri, &tag) {
			return nil, 0, fmt.Errorf("%w: bad recipient info", ErrCorrupt)
		}
		if tag != cbasn1.SEQUENCE { // kari [1], kekri [2], pwri [3], ori [4]
			others++
			continue
		}
		var rec recipient
		var version int64
		var alg cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !ri.ReadASN1Integer(&version) {
			return nil, 0, fmt.Errorf("%w: bad recipient version", ErrCorrupt)
		}
		switch {
		case ri.PeekASN1Tag(cbasn1.SEQUENCE):
			var ias cryptobyte.String
			var issuer cryptobyte.String
			rec.serial = new(big.Int)
			if !ri.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadASN1Element(&issuer, cbasn1.SEQUENCE) || !ias.ReadASN1Integer(rec.serial) {
				return nil, 0, fmt.Errorf("%w: bad recipient issuer and serial number", ErrCorrupt)
			}
			rec.issuer = issuer
		case ri.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()):
			var ski cryptobyte.String
			if !ri.ReadASN1(&ski, cbasn1.Tag(0).ContextSpecific()) {
				return nil, 0, fmt.Errorf("%w: bad recipient key identifier", ErrCorrupt)
			}
			rec.keyID = ski
		default:
			return nil, 0, fmt.Errorf("%w: bad recipient identifier", ErrCorrupt)
		}
		if !ri.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
			return nil, 0, fmt.Errorf("%w: bad key encryption algorithm", ErrCorrupt)
		}
		switch {
		case oid.Equal(oidRSAEncryption):
		case oid.Equal(oidRSAESOAEP):
			opts, err := parseOAEPParams(alg)
			if err != nil {
				return nil, 0, err
			}
			rec.oaep = opts
		default:
			others++
			continue
		}
		if !ri.ReadASN1Bytes(&rec.encryptedKey, cbasn1.OCTET_STRING) {
			return nil, 0, fmt.Errorf("%w: bad encrypted key", ErrCorrupt)
		}
		out = append(out, rec)
	}
	return out, others, nil
}

// parseOAEPParams reads RSAES-OAEP-params (RFC 4055): every field has a
// default (SHA-1, MGF1 with SHA-1, empty label).
func parseOAEPParams(params cryptobyte.String) (*rsa.OAEPOptions, error) {
	opts := &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	if params.Empty() || params.PeekASN1Tag(cbasn1.NULL) {
		return opts, nil
	}
	bad := fmt.Errorf("%w: bad RSA-OAEP parameters", ErrCorrupt)
	var seq cryptobyte.String
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, bad
	}
	var field cryptobyte.String
	var present bool
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, bad
	}
	if present {
		h, err := hashAlgorithm(field)
		if err != nil {
			return nil, err
		}
		opts.Hash = h
	}
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return nil, bad
	}
	if present {
		var alg cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !field.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
			return nil, bad
		}
		if !oid.Equal(oidMGF1) {
			return nil, fmt.Errorf("%w: OAEP mask generation function %s", ErrUnsupported, oid)
		}
		h, err := hashAlgorithm(alg)
		if err != nil {
			return nil, err
		}
		opts.MGFHash = h
	}
	if !seq.ReadOptionalASN1(&field, &present, cbasn1.Tag(2).Constructed().ContextSpecific()) {
		return nil, bad
	}
	if present {
		var alg cryptobyte.String
		var oid asn1.ObjectIdentifier
		var label []byte
		if !field.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidPSpecified) || !alg.ReadASN1Bytes(&label, cbasn1.OCTET_STRING) {
			return nil, bad
		}
		opts.Label = label
	}
	return opts, nil
}

// hashAlgorithm reads an AlgorithmIdentifier of a hash function.
func hashAlgorithm(s cryptobyte.String) (crypto.Hash, error) {
	var alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return 0, fmt.Errorf("%w: bad hash algorithm", ErrCorrupt)
	}
	switch {
	case oid.Equal(oidSHA1):
		return crypto.SHA1, nil
	case oid.Equal(oidSHA224):
		return crypto.SHA224, nil
	case oid.Equal(oidSHA256):
		return crypto.SHA256, nil
	case oid.Equal(oidSHA384):
		return crypto.SHA384, nil
	case oid.Equal(oidSHA512):
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("%w: hash algorithm %s", ErrUnsupported, oid)
}

// openRecipient finds the recipient the key opens and returns the content
// key. Recipients that name the key (by certificate issuer and serial, or
// by key identifier) are tried first; without a certificate, the RSA
// recipients whose modulus size fits the key are tried in turn.
func openRecipient(riSet []byte, key *rsa.PrivateKey, cert *x509.Certificate, keyLen int) ([]byte, error) {
	recipients, others, err := parseRecipients(riSet)
	if err != nil {
		return nil, err
	}
	_, contentKey, err := pickRecipient(recipients, others, key, cert, keyLen)
	return contentKey, err
}

// pickRecipient is openRecipient on parsed recipients; it also returns the
// index of the recipient that opened.
func pickRecipient(recipients []recipient, others int, key *rsa.PrivateKey, cert *x509.Certificate, keyLen int) (int, []byte, error) {
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return -1, nil, fmt.Errorf("%w: %v", ErrNoRecipient, err)
	}
	keyID := subjectKeyID(pubDER)
	var named, unnamed []int
	for i, rec := range recipients {
		switch {
		case rec.keyID != nil && (bytes.Equal(rec.keyID, keyID) || cert != nil && bytes.Equal(rec.keyID, cert.SubjectKeyId)):
			named = append(named, i)
		case rec.issuer != nil && cert != nil && bytes.Equal(rec.issuer, cert.RawIssuer) && rec.serial.Cmp(cert.SerialNumber) == 0:
			named = append(named, i)
		case rec.issuer != nil && cert == nil && len(rec.encryptedKey) == key.Size():
			unnamed = append(unnamed, i)
		}
	}
	var lastErr error
	for _, i := range append(named, unnamed...) {
		contentKey, err := decryptKey(recipients[i], key)
		if err == nil && len(contentKey) != keyLen {
			err = errShortContentKey
		}
		if err == nil {
			return i, contentKey, nil
		}
		lastErr = err
	}
	switch {
	case len(named) > 0:
		return -1, nil, fmt.Errorf("%w: the recipient for this key does not open: %v", ErrNoRecipient, lastErr)
	case len(recipients) == 0 && others > 0:
		return -1, nil, fmt.Errorf("%w: only recipient kinds other than RSA key transport", ErrUnsupported)
	}
	return -1, nil, fmt.Errorf("%w (%d recipients)", ErrNoRecipient, len(recipients)+others)
}

func decryptKey(rec recipient, key *rsa.PrivateKey) ([]byte, error) {
	if rec.oaep != nil {
		return key.Decrypt(nil, rec.encryptedKey, rec.oaep)
	}
	//lint:ignore SA1019 the guide's files use PKCS#1 v1.5 key transport
	return rsa.DecryptPKCS1v15(nil, key, rec.encryptedKey)
}

// Read implements io.Reader. It returns io.EOF only after the whole message
// has been read and checked.
func (d *Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.err = d.fill()
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// WriteTo implements io.WriterTo, saving io.Copy a buffer copy.
func (d *Reader) WriteTo(w io.Writer) (int64, error) {
	var written int64
	for {
		for len(d.out) == 0 {
			if d.err == io.EOF {
				return written, nil
			}
			if d.err != nil {
				return written, d.err
			}
			d.err = d.fill()
		}
		n, err := w.Write(d.out)
		written += int64(n)
		d.out = d.out[n:]
		if err != nil {
			return written, err
		}
	}
}

// fill decrypts the next run of ciphertext into out, holding the last block
// back until the end of the content is known.
func (d *Reader) fill() error {
	if d.done {
		return io.EOF
	}
	for {
		n, ended, err := d.readCiphertext(d.cbuf[d.cn:])
		d.cn += n
		d.total += int64(n)
		if err != nil {
			if d.salvage && errors.Is(err, io.ErrUnexpectedEOF) {
				return d.cut()
			}
			return corrupt("encrypted content", err)
		}
		if ended {
			return d.finish()
		}
		ready := d.cn - d.cn%d.blockSize
		if d.cn%d.blockSize == 0 {
			ready -= d.blockSize
		}
		if ready > 0 {
			d.mode.CryptBlocks(d.obuf[:ready], d.cbuf[:ready])
			d.cn = copy(d.cbuf, d.cbuf[ready:d.cn])
			d.out = d.obuf[:ready]
			return nil
		}
	}
}

// readCiphertext reads some ciphertext into p, or reports the end of the
// content.
func (d *Reader) readCiphertext(p []byte) (n int, ended bool, err error) {
	for d.segLeft == 0 {
		if d.primitive {
			return 0, true, nil
		}
		h, closed, err := d.child()
		if err != nil {
			return 0, false, err
		}
		switch {
		case closed && len(d.stack) < d.contentDepth:
			return 0, true, nil
		case closed: // end of a nested constructed segment
		case h.is(classUniversal, tagOctetString, false):
			d.segLeft = h.length
		case h.is(classUniversal, tagOctetString, true):
			if err := d.push(h); err != nil {
				return 0, false, err
			}
		default:
			return 0, false, fmt.Errorf("%w: %s inside the encrypted content", ErrCorrupt, h)
		}
	}
	if int64(len(p)) > d.segLeft {
		p = p[:d.segLeft]
	}
	n, err = d.r.br.Read(p)
	d.r.pos += int64(n)
	d.segLeft -= int64(n)
	if err == io.EOF && d.segLeft > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, false, err
}

// cut ends a salvaged message that stops inside its content: every whole
// block read is released, the last one too, padding and all if it is the
// last of the content, since nothing tells whether it is.
func (d *Reader) cut() error {
	whole := d.cn - d.cn%d.blockSize
	d.mode.CryptBlocks(d.obuf[:whole], d.cbuf[:whole])
	d.out = d.obuf[:whole]
	d.dropped = d.cn - whole
	d.cn = 0
	d.cutShort, d.done = true, true
	return nil
}

// finish decrypts the held-back blocks, checks and strips the padding, and
// checks that the message closes properly before releasing the last
// plaintext.
func (d *Reader) finish() error {
	if d.total == 0 || d.cn%d.blockSize != 0 {
		return fmt.Errorf("%w: encrypted content of %d bytes is not a whole number of blocks", ErrCorrupt, d.total)
	}
	d.mode.CryptBlocks(d.obuf[:d.cn], d.cbuf[:d.cn])
	last := d.obuf[:d.cn]
	pad := int(last[len(last)-1])
	if pad == 0 || pad > d.blockSize {
		return fmt.Errorf("%w: bad padding (wrong key or damaged file)", ErrCorrupt)
	}
	for _, b := range last[len(last)-pad:] {
		if int(b) != pad {
			return fmt.Errorf("%w: bad padding (wrong key or damaged file)", ErrCorrupt)
		}
	}
	// Close every open container, skipping what follows the content
	// (unprotected attributes), so a truncated tail is noticed.
	for len(d.stack) > 0 {
		h, closed, err := d.child()
		if err == nil && !closed {
			err = d.r.skip(h, 0)
		}
		if d.salvage && errors.Is(err, io.ErrUnexpectedEOF) {
			d.cutShort = true // the content is whole; only what closes the message is missing
			break
		}
		if err != nil {
			return corrupt("end of message", err)
		}
	}
	d.out = last[:len(last)-pad]
	d.cn = 0
	d.contentEnded, d.done = true, true
	return nil
}
