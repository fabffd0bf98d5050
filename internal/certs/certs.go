// Package certs parses and validates tenant recording certificates and
// their RSA private keys, the files an administrator makes with openssl and
// uploads (guide: "Recording certificate management"), and derives the
// fields the "Upload Certificate" panel shows.
//
// Every error returned by this package wraps one of the sentinel errors
// below, so callers can map them to user-facing codes with errors.Is.
// Messages never contain key material or passwords.
package certs

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors; test with errors.Is.
var (
	ErrNotPEM           = errors.New("not a PEM file of the expected type")
	ErrChain            = errors.New("more than one certificate (chains are not accepted)")
	ErrTooManyKeys      = errors.New("more than one private key")
	ErrMalformed        = errors.New("malformed certificate or key")
	ErrNotRSA           = errors.New("not an RSA key")
	ErrKeyTooSmall      = errors.New("RSA key smaller than 2048 bits")
	ErrKeyMismatch      = errors.New("private key does not match the certificate")
	ErrPasswordRequired = errors.New("private key is encrypted and no password was given")
	ErrWrongPassword    = errors.New("wrong private key password")
	ErrUnsupported      = errors.New("unsupported key encryption")
	ErrExpired          = errors.New("certificate is outside its validity period")
	ErrBadSubject       = errors.New("malformed subject")
)

// MinRSABits is the smallest RSA modulus accepted, as the guide requires
// ("2048-bit RSA (or higher)").
const MinRSABits = 2048

// Info is what the UI and API show for a certificate.
type Info struct {
	// Alias is stable and derived from the certificate: "cv_" followed by
	// the first 12 hex digits of the SHA-256 of the DER.
	Alias string
	// SubjectName is "CN <emailAddress>", or "CN <Email not set>" when the
	// subject has no e-mail address, as the guide's panel shows it.
	SubjectName string
	// SerialNumber is the serial in decimal.
	SerialNumber string
	// SubjectDN and IssuerDN follow the certificate's own RDN order, e.g.
	// "CN=Genesys Recording,C=US,ST=California,O=Genesys", with RFC 4514
	// escaping.
	SubjectDN string
	IssuerDN  string
	NotBefore time.Time
	Expires   time.Time // NotAfter
	// KeyBits is the size of the public key (RSA modulus bits).
	KeyBits int
	// Fingerprint is the lowercase hex SHA-256 of the DER.
	Fingerprint string
}

// Describe derives the displayed fields of cert. It accepts any parsed
// certificate, including ones ParseCertificatePEM would refuse.
func Describe(cert *x509.Certificate) Info {
	sum := sha256.Sum256(cert.Raw)
	fingerprint := hex.EncodeToString(sum[:])
	subjectDN := formatDN(cert.RawSubject)
	return Info{
		Alias:        "cv_" + fingerprint[:12],
		SubjectName:  subjectName(cert, subjectDN),
		SerialNumber: serialString(cert),
		SubjectDN:    subjectDN,
		IssuerDN:     formatDN(cert.RawIssuer),
		NotBefore:    cert.NotBefore,
		Expires:      cert.NotAfter,
		KeyBits:      publicKeyBits(cert.PublicKey),
		Fingerprint:  fingerprint,
	}
}

func serialString(cert *x509.Certificate) string {
	if cert.SerialNumber == nil {
		return ""
	}
	return cert.SerialNumber.String()
}

// subjectName builds "CN <e-mail>". A subject without CN falls back to the
// whole DN so the list never shows an empty "Issued To".
func subjectName(cert *x509.Certificate, subjectDN string) string {
	name := cert.Subject.CommonName
	if name == "" {
		name = subjectDN
	}
	email := "Email not set"
	if v, ok := firstAttribute(cert.RawSubject, oidEmailAddress); ok && v != "" {
		email = v
	}
	return name + " <" + email + ">"
}

func publicKeyBits(pub any) int {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen()
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return 256
	}
	return 0
}

// attribute describes one DN attribute type: the names openssl accepts in
// -subj and prints, and the ASN.1 string type openssl encodes it with
// (string_mask = utf8only, except where the standard fixes the type).
type attribute struct {
	short  string // printed name, e.g. "CN"
	long   string // alternative name accepted on input, e.g. "commonName"
	oid    asn1.ObjectIdentifier
	tag    int // asn1.TagUTF8String, TagPrintableString or TagIA5String
	maxLen int // 0 means no limit enforced here
	minLen int
}

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// attributes is the single table used both to parse -subj input and to
// print DNs, so the two always agree on names.
var attributes = []attribute{
	{short: "CN", long: "commonName", oid: asn1.ObjectIdentifier{2, 5, 4, 3}, tag: asn1.TagUTF8String, maxLen: 64},
	{short: "C", long: "countryName", oid: asn1.ObjectIdentifier{2, 5, 4, 6}, tag: asn1.TagPrintableString, minLen: 2, maxLen: 2},
	{short: "L", long: "localityName", oid: asn1.ObjectIdentifier{2, 5, 4, 7}, tag: asn1.TagUTF8String, maxLen: 128},
	{short: "ST", long: "stateOrProvinceName", oid: asn1.ObjectIdentifier{2, 5, 4, 8}, tag: asn1.TagUTF8String, maxLen: 128},
	{short: "STREET", long: "streetAddress", oid: asn1.ObjectIdentifier{2, 5, 4, 9}, tag: asn1.TagUTF8String},
	{short: "O", long: "organizationName", oid: asn1.ObjectIdentifier{2, 5, 4, 10}, tag: asn1.TagUTF8String, maxLen: 64},
	{short: "OU", long: "organizationalUnitName", oid: asn1.ObjectIdentifier{2, 5, 4, 11}, tag: asn1.TagUTF8String, maxLen: 64},
	{short: "title", long: "title", oid: asn1.ObjectIdentifier{2, 5, 4, 12}, tag: asn1.TagUTF8String, maxLen: 64},
	{short: "SN", long: "surname", oid: asn1.ObjectIdentifier{2, 5, 4, 4}, tag: asn1.TagUTF8String},
	{short: "serialNumber", long: "serialNumber", oid: asn1.ObjectIdentifier{2, 5, 4, 5}, tag: asn1.TagPrintableString, maxLen: 64},
	{short: "postalCode", long: "postalCode", oid: asn1.ObjectIdentifier{2, 5, 4, 17}, tag: asn1.TagUTF8String},
	{short: "GN", long: "givenName", oid: asn1.ObjectIdentifier{2, 5, 4, 42}, tag: asn1.TagUTF8String},
	{short: "initials", long: "initials", oid: asn1.ObjectIdentifier{2, 5, 4, 43}, tag: asn1.TagUTF8String},
	{short: "dnQualifier", long: "dnQualifier", oid: asn1.ObjectIdentifier{2, 5, 4, 46}, tag: asn1.TagPrintableString},
	{short: "pseudonym", long: "pseudonym", oid: asn1.ObjectIdentifier{2, 5, 4, 65}, tag: asn1.TagUTF8String},
	{short: "DC", long: "domainComponent", oid: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, tag: asn1.TagIA5String},
	{short: "UID", long: "userId", oid: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, tag: asn1.TagUTF8String},
	{short: "emailAddress", long: "emailAddress", oid: oidEmailAddress, tag: asn1.TagIA5String, maxLen: 128},
}

func attributeByOID(oid asn1.ObjectIdentifier) (attribute, bool) {
	for _, a := range attributes {
		if a.oid.Equal(oid) {
			return a, true
		}
	}
	return attribute{}, false
}

func attributeByName(name string) (attribute, bool) {
	for _, a := range attributes {
		if strings.EqualFold(a.short, name) || strings.EqualFold(a.long, name) {
			return a, true
		}
	}
	return attribute{}, false
}

// rawAttribute keeps the value undecoded so unknown and non-string values
// can be printed as RFC 4514 "#hex".
type rawAttribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rawAttributeSET is one RDN; encoding/asn1 treats a type whose name ends
// in "SET" as SET OF.
type rawAttributeSET []rawAttribute

func parseRawName(der []byte) ([]rawAttributeSET, bool) {
	var rdns []rawAttributeSET
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil || len(rest) > 0 {
		return nil, false
	}
	return rdns, true
}

func firstAttribute(nameDER []byte, oid asn1.ObjectIdentifier) (string, bool) {
	rdns, ok := parseRawName(nameDER)
	if !ok {
		return "", false
	}
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if atv.Type.Equal(oid) {
				return decodeString(atv.Value)
			}
		}
	}
	return "", false
}

// decodeString returns the text of the directory string types that occur
// in names; anything else is reported as not a string.
func decodeString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagIA5String,
		asn1.TagNumericString, asn1.TagT61String, asn1.TagBMPString:
		var s string
		if _, err := asn1.Unmarshal(v.FullBytes, &s); err != nil {
			return "", false
		}
		return s, true
	}
	return "", false
}

// formatDN prints a DER Name in the certificate's own RDN order (openssl's
// and the guide's order; Go's pkix.Name.String reverses it).
func formatDN(der []byte) string {
	rdns, ok := parseRawName(der)
	if !ok {
		return "#" + hex.EncodeToString(der)
	}
	var b strings.Builder
	for i, rdn := range rdns {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, atv := range rdn {
			if j > 0 {
				b.WriteByte('+')
			}
			if a, ok := attributeByOID(atv.Type); ok {
				b.WriteString(a.short)
			} else {
				b.WriteString(atv.Type.String())
			}
			b.WriteByte('=')
			if s, ok := decodeString(atv.Value); ok {
				b.WriteString(escapeDNValue(s))
			} else {
				b.WriteString("#" + hex.EncodeToString(atv.Value.FullBytes))
			}
		}
	}
	return b.String()
}

// escapeDNValue escapes per RFC 4514 section 2.4. Control characters and
// invalid UTF-8 are hex-escaped as well (allowed by the RFC) so a hostile
// subject cannot inject line breaks or terminal codes into the UI or logs.
func escapeDNValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "\\%02X", s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\%02X", r)
		case strings.ContainsRune(`,+"\<>;`, r),
			i == 0 && (r == ' ' || r == '#'),
			i+size == len(s) && r == ' ':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
