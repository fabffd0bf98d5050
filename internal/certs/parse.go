package certs

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PEM block types.
const (
	blockCertificate  = "CERTIFICATE"
	blockRSAKey       = "RSA PRIVATE KEY"       // PKCS#1, openssl 1.x genrsa, -traditional
	blockPKCS8Key     = "PRIVATE KEY"           // PKCS#8, OpenSSL 3 genrsa, pkcs8 -topk8 -nocrypt
	blockEncryptedKey = "ENCRYPTED PRIVATE KEY" // encrypted PKCS#8
)

// ParseCertificatePEM parses a PEM file holding exactly one "CERTIFICATE"
// block; text around the block (openssl's -text output, comments) is
// ignored, as are blocks of other types. The certificate must carry an RSA
// public key of at least MinRSABits bits. Validity dates are not checked
// here: expired certificates must still load to decrypt old recordings
// (see CanEncrypt).
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	var (
		der    []byte
		others []string
	)
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != blockCertificate {
			others = append(others, block.Type)
			continue
		}
		if der != nil {
			return nil, fmt.Errorf("cannot parse certificate: %w; upload only the recording certificate itself", ErrChain)
		}
		der = block.Bytes
	}
	if der == nil {
		if len(others) > 0 {
			return nil, fmt.Errorf("cannot parse certificate: %w: no %s block (found %s)", ErrNotPEM, blockCertificate, strings.Join(others, ", "))
		}
		return nil, fmt.Errorf("cannot parse certificate: %w: no %s block", ErrNotPEM, blockCertificate)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("cannot parse certificate: %w: not X.509: %w", ErrMalformed, err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("cannot use certificate: %w: public key algorithm is %s", ErrNotRSA, cert.PublicKeyAlgorithm)
	}
	if err := checkRSABits(pub.N.BitLen()); err != nil {
		return nil, fmt.Errorf("cannot use certificate: %w", err)
	}
	return cert, nil
}

func checkRSABits(bits int) error {
	if bits < MinRSABits {
		return fmt.Errorf("%w: %d bits", ErrKeyTooSmall, bits)
	}
	return nil
}

// ParsePrivateKeyPEM parses an RSA private key of at least MinRSABits bits
// from PEM. Accepted forms:
//   - "RSA PRIVATE KEY" (PKCS#1), also with the legacy "Proc-Type:
//     4,ENCRYPTED" header (`openssl genrsa -aes256 -traditional`);
//   - "PRIVATE KEY" (PKCS#8);
//   - "ENCRYPTED PRIVATE KEY" (PKCS#8 with PBES2: PBKDF2 with HMAC-SHA1/
//     SHA-2 or scrypt, and AES-CBC or DES-EDE3-CBC).
//
// password is used only for encrypted keys and may be nil otherwise.
// Certificate blocks in the same file are ignored.
func ParsePrivateKeyPEM(data []byte, password []byte) (*rsa.PrivateKey, error) {
	block, err := findKeyBlock(data)
	if err != nil {
		return nil, err
	}
	var key *rsa.PrivateKey
	switch {
	case block.Headers["Proc-Type"] != "":
		key, err = parseLegacyEncrypted(block, password)
	case block.Type == blockEncryptedKey:
		key, err = parseEncryptedPKCS8(block.Bytes, password)
	default:
		key, err = parseKeyDER(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	if err := checkRSABits(key.N.BitLen()); err != nil {
		return nil, fmt.Errorf("cannot use private key: %w", err)
	}
	return key, nil
}

// findKeyBlock returns the single private key block in data.
func findKeyBlock(data []byte) (*pem.Block, error) {
	var (
		found  *pem.Block
		others []string
	)
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == blockRSAKey || block.Type == blockPKCS8Key || block.Type == blockEncryptedKey:
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			// "EC PRIVATE KEY", "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY".
			return nil, fmt.Errorf("cannot parse private key: %w: found %q", ErrNotRSA, block.Type)
		default:
			others = append(others, block.Type)
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("cannot parse private key: %w in one file", ErrTooManyKeys)
		}
		found = block
	}
	if found == nil {
		if len(others) > 0 {
			return nil, fmt.Errorf("cannot parse private key: %w: no private key block (found %s)", ErrNotPEM, strings.Join(others, ", "))
		}
		return nil, fmt.Errorf("cannot parse private key: %w: no private key block", ErrNotPEM)
	}
	return found, nil
}

// parseKeyDER parses an unencrypted PKCS#1 or PKCS#8 key. Both encodings
// are tried whatever the PEM label says, since hand-edited files often
// carry the wrong one.
func parseKeyDER(der []byte) (*rsa.PrivateKey, error) {
	if key, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return key, nil
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("cannot parse private key: %w: neither PKCS#1 nor PKCS#8: %w", ErrMalformed, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("cannot use private key: %w: found %T", ErrNotRSA, parsed)
	}
	return key, nil
}

// legacyCiphers are the DEK-Info ciphers x509.DecryptPEMBlock implements.
var legacyCiphers = map[string]bool{
	"DES-CBC": true, "DES-EDE3-CBC": true,
	"AES-128-CBC": true, "AES-192-CBC": true, "AES-256-CBC": true,
}

// parseLegacyEncrypted decrypts an OpenSSL "traditional" encrypted PEM.
// The format is weak (MD5-based key derivation, no integrity check), but
// openssl still writes it with -traditional and keys made with older
// versions use it, so uploads must accept it.
func parseLegacyEncrypted(block *pem.Block, password []byte) (*rsa.PrivateKey, error) {
	if block.Headers["Proc-Type"] != "4,ENCRYPTED" {
		return nil, fmt.Errorf("cannot parse private key: %w: Proc-Type %q", ErrUnsupported, block.Headers["Proc-Type"])
	}
	cipherName, _, _ := strings.Cut(block.Headers["DEK-Info"], ",")
	if !legacyCiphers[cipherName] {
		return nil, fmt.Errorf("cannot parse private key: %w: legacy PEM cipher %q", ErrUnsupported, cipherName)
	}
	if len(password) == 0 {
		return nil, fmt.Errorf("cannot parse private key: %w", ErrPasswordRequired)
	}
	//lint:ignore SA1019 legacy encrypted PEM is insecure but is what `openssl genrsa -aes256 -traditional` writes; there is no replacement for reading it.
	der, err := x509.DecryptPEMBlock(block, password)
	if err != nil {
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("cannot decrypt private key: %w", ErrWrongPassword)
		}
		return nil, fmt.Errorf("cannot decrypt private key: %w: %w", ErrMalformed, err)
	}
	key, err := parseKeyDER(der)
	if err != nil {
		if errors.Is(err, ErrNotRSA) {
			return nil, err
		}
		// Without an integrity check a wrong password shows up only as
		// garbage that does not parse.
		return nil, fmt.Errorf("cannot decrypt private key: %w", ErrWrongPassword)
	}
	return key, nil
}

// Pair is a validated certificate with its matching private key: what an
// upload stores.
type Pair struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
	Info Info
}

// LoadPair parses a certificate and its private key (decrypting it with
// password if needed) and checks that the key belongs to the certificate.
// Expired certificates are accepted: they are still needed to decrypt
// recordings made while they were valid.
func LoadPair(certPEM, keyPEM, password []byte) (*Pair, error) {
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := ParsePrivateKeyPEM(keyPEM, password)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("cannot pair key with certificate %q: %w", Describe(cert).SubjectDN, ErrKeyMismatch)
	}
	return &Pair{Cert: cert, Key: key, Info: Describe(cert)}, nil
}

// CanEncrypt reports whether new media may be encrypted for cert at now.
// It returns an error wrapping ErrExpired when now is after NotAfter or
// before NotBefore; such a certificate may still decrypt.
func CanEncrypt(cert *x509.Certificate, now time.Time) error {
	switch {
	case now.After(cert.NotAfter):
		return fmt.Errorf("cannot encrypt for certificate %s: %w: expired %s",
			Describe(cert).Alias, ErrExpired, cert.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(cert.NotBefore):
		return fmt.Errorf("cannot encrypt for certificate %s: %w: not valid before %s",
			Describe(cert).Alias, ErrExpired, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// EncodeCertificatePEM returns cert as a PEM "CERTIFICATE" block.
func EncodeCertificatePEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockCertificate, Bytes: cert.Raw})
}

// EncodePrivateKeyPEM returns key unencrypted as PEM: PKCS#8 "PRIVATE KEY"
// when pkcs8 is true, else PKCS#1 "RSA PRIVATE KEY".
func EncodePrivateKeyPEM(key *rsa.PrivateKey, pkcs8 bool) ([]byte, error) {
	if key == nil {
		return nil, errors.New("cannot encode private key: key is nil")
	}
	if !pkcs8 {
		return pem.EncodeToMemory(&pem.Block{Type: blockRSAKey, Bytes: x509.MarshalPKCS1PrivateKey(key)}), nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("cannot encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockPKCS8Key, Bytes: der}), nil
}
