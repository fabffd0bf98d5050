// Package cms reads and writes CMS EnvelopedData (RFC 5652) as a stream, in
// constant memory whatever the size of the content.
//
// It writes what both `openssl cms -decrypt` and `openssl smime -decrypt`
// accept: KeyTransRecipientInfo with IssuerAndSerialNumber, RSA PKCS#1 v1.5
// key transport, AES-CBC content encryption, as definite-length DER when the
// size is known up front or indefinite-length BER (like
// `openssl cms -encrypt -stream`) when it is not.
//
// It reads what openssl writes, definite or indefinite length, with RSA
// PKCS#1 v1.5 or RSA-OAEP recipients identified by issuer and serial number
// or by subject key identifier, and AES-128/192/256-CBC or DES-EDE3-CBC
// content. Salvage recovers the plaintext of a message cut short, such as
// a NewStreamWriter file whose writer died before Close (StreamWriter.Flush
// puts what it was given so far into the file).
//
// The package has no other internal imports.
package cms

import (
	"crypto/sha1"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
)

// Errors, to test with errors.Is. Every error this package returns wraps one
// of them.
var (
	// ErrNotCMS: the input does not start like a CMS ContentInfo at all.
	ErrNotCMS = errors.New("cms: not a CMS message")
	// ErrCorrupt: the input is CMS but truncated, malformed, or fails its
	// padding check (which is also what a wrong key usually looks like).
	ErrCorrupt = errors.New("cms: corrupt or truncated message")
	// ErrTruncated: the input ends before the message does. It wraps
	// ErrCorrupt, so tests for ErrCorrupt keep catching it. Salvage
	// returns it only for a cut inside the header.
	ErrTruncated = fmt.Errorf("%w: truncated", ErrCorrupt)
	// ErrUnsupported: a well-formed message using an algorithm or a content
	// type this package does not handle.
	ErrUnsupported = errors.New("cms: unsupported")
	// ErrNoRecipient: no recipient of the message can be opened with the key.
	ErrNoRecipient = errors.New("cms: no recipient matches the key")
	// ErrSize: a writer was given more or fewer bytes than it was promised.
	ErrSize = errors.New("cms: content size differs from the declared size")
	// ErrRecipient: a certificate cannot be used as a recipient.
	ErrRecipient = errors.New("cms: unusable recipient certificate")
)

// Cipher is a content-encryption algorithm.
type Cipher int

// Content ciphers this package writes. Reading also accepts AES-192-CBC and
// DES-EDE3-CBC.
const (
	AES128CBC Cipher = iota + 1
	AES256CBC
)

// String names the cipher as openssl does.
func (c Cipher) String() string {
	switch c {
	case AES128CBC:
		return "aes-128-cbc"
	case AES256CBC:
		return "aes-256-cbc"
	}
	return "unknown cipher"
}

// Options tune encryption.
type Options struct {
	Cipher Cipher    // zero means AES128CBC, the guide's default
	Rand   io.Reader // source of content keys and IVs; nil means crypto/rand
}

var (
	oidData            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEnvelopedData   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAESOAEP       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidPSpecified      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 9}
	oidAES128CBC       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC      = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidSHA1            = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA224          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidAuthEnveloped   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 23}
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidEncryptedData   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidCompressedData  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 9}
	oidDigestedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 5}
	oidAuthData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 2}
	contentTypeNames   = map[string]string{oidSignedData.String(): "signedData", oidEncryptedData.String(): "encryptedData", oidAuthEnveloped.String(): "authEnvelopedData", oidCompressedData.String(): "compressedData", oidDigestedData.String(): "digestedData", oidAuthData.String(): "authenticatedData", oidData.String(): "data"}
	errShortContentKey = errors.New("content key has the wrong length")
)

// subjectKeyID computes the key identifier openssl and RFC 5280 (method 1)
// use: SHA-1 of the DER RSAPublicKey inside the certificate's
// subjectPublicKeyInfo. It lets a key find its `-keyid` recipient without the
// certificate.
func subjectKeyID(pubDER []byte) []byte {
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(pubDER, &spki); err != nil {
		return nil
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:]
}
