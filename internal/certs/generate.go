package certs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// GenerateOptions configures Generate.
type GenerateOptions struct {
	// Subject in openssl -subj form, e.g.
	// "/CN=Genesys Recording/C=US/ST=California/O=Genesys".
	Subject string
	// Days of validity from Now; must be positive.
	Days int
	// Bits of the RSA key; 0 means 2048, less than 2048 is refused.
	Bits int
	// Now is the start of validity; zero means time.Now().
	Now time.Time
	// Rand supplies the serial number; nil means crypto/rand.Reader.
	// Since Go 1.26 RSA key generation and signing always use the system
	// source, whatever Rand is.
	Rand io.Reader
}

// maxGenerateBits keeps a mistyped Bits from running key generation for
// minutes.
const maxGenerateBits = 8192

// Generate makes an RSA key and a self-signed certificate equivalent to
// `openssl genrsa` followed by `openssl req -new -x509 -key k -days D -subj
// S`: a random positive 64-bit serial, subject and issuer in the given RDN
// order, SHA-256 with RSA, critical basic constraints CA:TRUE, and subject
// and authority key identifiers computed as openssl does (SHA-1 of the
// public key).
func Generate(opts GenerateOptions) (*Pair, error) {
	bits := opts.Bits
	if bits == 0 {
		bits = MinRSABits
	}
	if err := checkRSABits(bits); err != nil {
		return nil, fmt.Errorf("cannot generate key: %w", err)
	}
	if bits > maxGenerateBits {
		return nil, fmt.Errorf("cannot generate key: %d bits requested, at most %d allowed", bits, maxGenerateBits)
	}
	if opts.Days <= 0 {
		return nil, fmt.Errorf("cannot generate certificate: validity of %d days; must be positive", opts.Days)
	}
	rdns, err := ParseSubject(opts.Subject)
	if err != nil {
		return nil, err
	}
	name, err := encodeName(rdns)
	if err != nil {
		return nil, err
	}
	random := opts.Rand
	if random == nil {
		random = rand.Reader
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	// Certificates carry whole seconds; truncating keeps Info equal to
	// what the template asked for.
	now = now.UTC().Truncate(time.Second)

	serial, err := randomSerial(random)
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(random, bits)
	if err != nil {
		return nil, fmt.Errorf("cannot generate RSA key: %w", err)
	}
	// RFC 5280 4.2.1.2 method 1, which openssl uses; Go 1.25+ would
	// otherwise pick truncated SHA-256.
	keyID := sha1.Sum(x509.MarshalPKCS1PublicKey(&key.PublicKey))
	template := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            name,
		NotBefore:             now,
		NotAfter:              now.AddDate(0, 0, opts.Days),
		SignatureAlgorithm:    x509.SHA256WithRSA,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyID[:],
		AuthorityKeyId:        keyID[:],
	}
	der, err := x509.CreateCertificate(random, template, template, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("cannot create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("cannot parse generated certificate: %w", err)
	}
	return &Pair{Cert: cert, Key: key, Info: Describe(cert)}, nil
}

// randomSerial returns a random positive serial of up to 64 bits, as
// openssl's older `req -x509` made (the guide's example is one).
func randomSerial(random io.Reader) (*big.Int, error) {
	var buf [8]byte
	for range 16 {
		if _, err := io.ReadFull(random, buf[:]); err != nil {
			return nil, fmt.Errorf("cannot generate serial number: %w", err)
		}
		if serial := new(big.Int).SetBytes(buf[:]); serial.Sign() > 0 {
			return serial, nil
		}
	}
	return nil, errors.New("cannot generate serial number: random source returns only zeros")
}
