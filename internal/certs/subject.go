package certs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxSubjectLen bounds ParseSubject input; real subjects are far shorter.
const maxSubjectLen = 4096

// ParseSubject parses openssl's -subj syntax, "/CN=Genesys
// Recording/C=US/ST=California/O=Genesys", into an ordered RDN sequence
// whose values are strings. "+" joins attributes of a multi-valued RDN
// ("/CN=a+UID=b"); a backslash escapes the next character ("\/", "\+",
// "\\"). Keys are the short or long names openssl knows (CN, C, ST, L, O,
// OU, emailAddress, serialNumber, DC, UID, ...) or a dotted OID. Values
// must be non-empty UTF-8 without control characters, and the length
// limits openssl enforces (C is two letters, CN at most 64) apply.
func ParseSubject(s string) (pkix.RDNSequence, error) {
	if s == "" {
		return nil, fmt.Errorf("cannot parse subject: %w: empty", ErrBadSubject)
	}
	if len(s) > maxSubjectLen {
		return nil, fmt.Errorf("cannot parse subject: %w: longer than %d bytes", ErrBadSubject, maxSubjectLen)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("cannot parse subject: %w: not UTF-8", ErrBadSubject)
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("cannot parse subject: %w: must start with '/' as in /CN=name/O=org", ErrBadSubject)
	}
	var (
		seq     pkix.RDNSequence
		rdn     pkix.RelativeDistinguishedNameSET
		current strings.Builder
	)
	// flush ends one "K=V" element; endRDN also closes the RDN it belongs to.
	flush := func(endRDN bool) error {
		atv, err := parseAttribute(current.String())
		if err != nil {
			return err
		}
		current.Reset()
		rdn = append(rdn, atv)
		if endRDN {
			seq = append(seq, rdn)
			rdn = nil
		}
		return nil
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("cannot parse subject: %w: trailing backslash", ErrBadSubject)
			}
			i++
			// Keep the escape so parseAttribute can tell an escaped '='
			// from the separator; it removes the backslashes.
			current.WriteByte('\\')
			current.WriteByte(s[i])
		case c == '/' && i == len(s)-1:
			// openssl tolerates one trailing slash: "/CN=x/".
			if err := flush(true); err != nil {
				return nil, err
			}
			return seq, nil
		case c == '/':
			if err := flush(true); err != nil {
				return nil, err
			}
		case c == '+':
			if err := flush(false); err != nil {
				return nil, err
			}
		default:
			current.WriteByte(c)
		}
	}
	if err := flush(true); err != nil {
		return nil, err
	}
	return seq, nil
}

// parseAttribute parses one "K=V" element whose backslash escapes are
// still in place.
func parseAttribute(elem string) (pkix.AttributeTypeAndValue, error) {
	key, value, found := cutUnescaped(elem, '=')
	if !found {
		return pkix.AttributeTypeAndValue{}, fmt.Errorf("cannot parse subject: %w: %q has no '='", ErrBadSubject, unescape(elem))
	}
	key, value = unescape(key), unescape(value)
	if key == "" {
		return pkix.AttributeTypeAndValue{}, fmt.Errorf("cannot parse subject: %w: empty attribute name", ErrBadSubject)
	}
	oid, attr, err := lookupAttribute(key)
	if err != nil {
		return pkix.AttributeTypeAndValue{}, err
	}
	if err := checkValue(key, value, attr); err != nil {
		return pkix.AttributeTypeAndValue{}, err
	}
	return pkix.AttributeTypeAndValue{Type: oid, Value: value}, nil
}

func cutUnescaped(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func lookupAttribute(key string) (asn1.ObjectIdentifier, *attribute, error) {
	if a, ok := attributeByName(key); ok {
		return a.oid, &a, nil
	}
	oid, ok := parseOID(key)
	if !ok {
		return nil, nil, fmt.Errorf("cannot parse subject: %w: unknown attribute %q", ErrBadSubject, key)
	}
	if a, ok := attributeByOID(oid); ok {
		return oid, &a, nil
	}
	return oid, nil, nil
}

// parseOID accepts a dotted OID such as "2.5.4.3".
func parseOID(s string) (asn1.ObjectIdentifier, bool) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, false
	}
	oid := make(asn1.ObjectIdentifier, 0, len(parts))
	for _, p := range parts {
		if p == "" || len(p) > 9 || (len(p) > 1 && p[0] == '0') {
			return nil, false
		}
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				return nil, false
			}
			n = n*10 + int(c-'0')
		}
		oid = append(oid, n)
	}
	// X.660: the first arc is 0, 1 or 2; below 2 the second is at most 39.
	if oid[0] > 2 || (oid[0] < 2 && oid[1] > 39) {
		return nil, false
	}
	return oid, true
}

func checkValue(key, value string, attr *attribute) error {
	if value == "" {
		return fmt.Errorf("cannot parse subject: %w: %s has an empty value", ErrBadSubject, key)
	}
	for _, r := range value {
		if unicode.IsControl(r) {
			return fmt.Errorf("cannot parse subject: %w: %s contains a control character", ErrBadSubject, key)
		}
	}
	if attr == nil {
		return nil
	}
	n := utf8.RuneCountInString(value)
	if attr.maxLen > 0 && n > attr.maxLen {
		return fmt.Errorf("cannot parse subject: %w: %s is longer than %d characters", ErrBadSubject, key, attr.maxLen)
	}
	if n < attr.minLen {
		return fmt.Errorf("cannot parse subject: %w: %s is shorter than %d characters", ErrBadSubject, key, attr.minLen)
	}
	switch attr.tag {
	case asn1.TagPrintableString:
		if !isPrintable(value) {
			return fmt.Errorf("cannot parse subject: %w: %s allows only letters, digits, space and '()+,-./:=?", ErrBadSubject, key)
		}
	case asn1.TagIA5String:
		for _, r := range value {
			if r > unicode.MaxASCII {
				return fmt.Errorf("cannot parse subject: %w: %s must be ASCII", ErrBadSubject, key)
			}
		}
	}
	return nil
}

// isPrintable reports whether s fits ASN.1 PrintableString.
func isPrintable(s string) bool {
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case strings.ContainsRune(" '()+,-./:=?", r):
		default:
			return false
		}
	}
	return true
}

// encodeName DER-encodes a subject with the string types openssl uses, so
// a generated certificate looks like one from `openssl req -subj`. Go's
// default marshalling would pick PrintableString wherever it fits.
func encodeName(seq pkix.RDNSequence) ([]byte, error) {
	raw := make([]rawAttributeSET, 0, len(seq))
	for _, rdn := range seq {
		set := make(rawAttributeSET, 0, len(rdn))
		for _, atv := range rdn {
			value, ok := atv.Value.(string)
			if !ok {
				return nil, fmt.Errorf("cannot encode subject: %w: attribute %s is not a string", ErrBadSubject, atv.Type)
			}
			tag := asn1.TagUTF8String
			if a, ok := attributeByOID(atv.Type); ok {
				tag = a.tag
				if err := checkValue(a.short, value, &a); err != nil {
					return nil, err
				}
			}
			set = append(set, rawAttribute{
				Type:  atv.Type,
				Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(value)},
			})
		}
		raw = append(raw, set)
	}
	der, err := asn1.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("cannot encode subject: %w", err)
	}
	return der, nil
}
