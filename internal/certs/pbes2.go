package certs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/scrypt"
)

// Limits on attacker-chosen KDF cost, so a crafted upload cannot pin a CPU
// or exhaust memory. They sit well above what openssl writes (PBKDF2 2048
// iterations; scrypt N=16384, r=8, p=1, about 16 MiB).
const (
	maxPBKDF2Iterations = 10_000_000
	maxScryptMemory     = 64 << 20  // bytes, 128*N*r
	maxScryptWork       = 256 << 20 // 128*N*r*p, proportional to time
)

// Object identifiers from RFC 8018 (PKCS #5), RFC 7914 (scrypt) and NIST.
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
)

// encryptedPrivateKeyInfo is RFC 5208 section 6.
type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte // the "otherSource" choice is not used in practice
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

type scryptParams struct {
	Salt            []byte
	CostParameter   int
	BlockSize       int
	Parallelization int
	KeyLength       int `asn1:"optional"`
}

// blockCipher describes a PBES2 encryption scheme.
type blockCipher struct {
	name    string
	keySize int
	newFunc func(key []byte) (cipher.Block, error)
}

var pbes2Ciphers = []struct {
	oid asn1.ObjectIdentifier
	blockCipher
}{
	{oidAES128CBC, blockCipher{"AES-128-CBC", 16, aes.NewCipher}},
	{oidAES192CBC, blockCipher{"AES-192-CBC", 24, aes.NewCipher}},
	{oidAES256CBC, blockCipher{"AES-256-CBC", 32, aes.NewCipher}},
	{oidDESEDE3CBC, blockCipher{"DES-EDE3-CBC", 24, des.NewTripleDESCipher}},
}

var pbkdf2PRFs = []struct {
	oid asn1.ObjectIdentifier
	new func() hash.Hash
}{
	{oidHMACSHA1, sha1.New},
	{oidHMACSHA224, sha256.New224},
	{oidHMACSHA256, sha256.New},
	{oidHMACSHA384, sha512.New384},
	{oidHMACSHA512, sha512.New},
}

// parseEncryptedPKCS8 decrypts an "ENCRYPTED PRIVATE KEY" (PKCS#8
// EncryptedPrivateKeyInfo with PBES2) and parses the RSA key inside.
func parseEncryptedPKCS8(der []byte, password []byte) (*rsa.PrivateKey, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("cannot parse encrypted private key: %w: bad EncryptedPrivateKeyInfo", ErrMalformed)
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		// PBES1 and PKCS#12 PBE (openssl pkcs8 -v1, OpenSSL 1.0 defaults)
		// use DES/RC2/MD5-era constructions; ask for a re-export instead.
		return nil, fmt.Errorf("cannot decrypt private key: %w: algorithm %s (only PBES2 is supported; re-export with `openssl pkcs8 -topk8 -v2 aes256`)",
			ErrUnsupported, info.Algorithm.Algorithm)
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("cannot parse encrypted private key: %w: bad PBES2 parameters", ErrMalformed)
	}
	bc, iv, err := pbes2Cipher(params.EncryptionScheme)
	if err != nil {
		return nil, err
	}
	// Check everything else before asking for a password, so an
	// unsupported file is reported as such even without one.
	derive, err := pbes2KDF(params.KeyDerivationFunc, bc.keySize)
	if err != nil {
		return nil, err
	}
	if len(password) == 0 {
		return nil, fmt.Errorf("cannot decrypt private key: %w", ErrPasswordRequired)
	}
	key, err := derive(password)
	if err != nil {
		return nil, fmt.Errorf("cannot derive key-encryption key: %w: %w", ErrUnsupported, err)
	}
	block, err := bc.newFunc(key)
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt private key: %w", err)
	}
	plain, err := decryptCBC(block, iv, info.EncryptedData)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	rsaKey, err := parseKeyDER(plain)
	if err != nil {
		if errors.Is(err, ErrNotRSA) {
			return nil, err
		}
		// Padding checked out by chance (about 1 in 256) but the
		// plaintext is garbage: still a wrong password.
		return nil, fmt.Errorf("cannot decrypt private key: %w", ErrWrongPassword)
	}
	return rsaKey, nil
}

// pbes2Cipher resolves the encryption scheme and its IV.
func pbes2Cipher(alg pkix.AlgorithmIdentifier) (blockCipher, []byte, error) {
	for _, c := range pbes2Ciphers {
		if !alg.Algorithm.Equal(c.oid) {
			continue
		}
		var iv []byte
		if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &iv); err != nil || len(rest) > 0 {
			return blockCipher{}, nil, fmt.Errorf("cannot parse encrypted private key: %w: bad %s IV", ErrMalformed, c.name)
		}
		probe, err := c.newFunc(make([]byte, c.keySize))
		if err != nil {
			return blockCipher{}, nil, fmt.Errorf("cannot set up %s: %w", c.name, err)
		}
		if len(iv) != probe.BlockSize() {
			return blockCipher{}, nil, fmt.Errorf("cannot parse encrypted private key: %w: %s IV is %d bytes", ErrMalformed, c.name, len(iv))
		}
		return c.blockCipher, iv, nil
	}
	return blockCipher{}, nil, fmt.Errorf("cannot decrypt private key: %w: PBES2 cipher %s", ErrUnsupported, alg.Algorithm)
}

// pbes2KDF resolves the key derivation function into a closure producing
// a keySize-byte key from the password.
func pbes2KDF(alg pkix.AlgorithmIdentifier, keySize int) (func(password []byte) ([]byte, error), error) {
	switch {
	case alg.Algorithm.Equal(oidPBKDF2):
		var p pbkdf2Params
		if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
			return nil, fmt.Errorf("cannot parse encrypted private key: %w: bad PBKDF2 parameters", ErrMalformed)
		}
		if p.IterationCount < 1 || p.IterationCount > maxPBKDF2Iterations {
			return nil, fmt.Errorf("cannot decrypt private key: %w: PBKDF2 iteration count %d outside 1..%d", ErrUnsupported, p.IterationCount, maxPBKDF2Iterations)
		}
		if p.KeyLength != 0 && p.KeyLength != keySize {
			return nil, fmt.Errorf("cannot parse encrypted private key: %w: PBKDF2 key length %d, cipher needs %d", ErrMalformed, p.KeyLength, keySize)
		}
		prf := sha1.New // RFC 8018 default when the field is absent
		if len(p.PRF.Algorithm) > 0 {
			prf = nil
			for _, candidate := range pbkdf2PRFs {
				if p.PRF.Algorithm.Equal(candidate.oid) {
					prf = candidate.new
				}
			}
			if prf == nil {
				return nil, fmt.Errorf("cannot decrypt private key: %w: PBKDF2 PRF %s", ErrUnsupported, p.PRF.Algorithm)
			}
		}
		return func(password []byte) ([]byte, error) {
			return pbkdf2.Key(prf, string(password), p.Salt, p.IterationCount, keySize)
		}, nil
	case alg.Algorithm.Equal(oidScrypt):
		var p scryptParams
		if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
			return nil, fmt.Errorf("cannot parse encrypted private key: %w: bad scrypt parameters", ErrMalformed)
		}
		if p.KeyLength != 0 && p.KeyLength != keySize {
			return nil, fmt.Errorf("cannot parse encrypted private key: %w: scrypt key length %d, cipher needs %d", ErrMalformed, p.KeyLength, keySize)
		}
		n, r, par := p.CostParameter, p.BlockSize, p.Parallelization
		if n < 2 || n&(n-1) != 0 || r < 1 || par < 1 {
			return nil, fmt.Errorf("cannot parse encrypted private key: %w: bad scrypt parameters N=%d r=%d p=%d", ErrMalformed, n, r, par)
		}
		// Divide rather than multiply so the checks cannot overflow.
		if n > maxScryptMemory/128/r || par > maxScryptWork/128/r/n {
			return nil, fmt.Errorf("cannot decrypt private key: %w: scrypt parameters N=%d r=%d p=%d exceed limits", ErrUnsupported, p.CostParameter, p.BlockSize, p.Parallelization)
		}
		return func(password []byte) ([]byte, error) {
			return scrypt.Key(password, p.Salt, p.CostParameter, p.BlockSize, p.Parallelization, keySize)
		}, nil
	}
	return nil, fmt.Errorf("cannot decrypt private key: %w: PBES2 key derivation %s", ErrUnsupported, alg.Algorithm)
}

// decryptCBC decrypts and removes PKCS#7 padding. A length that is not a
// whole number of blocks is a damaged file; bad padding after decryption
// is what a wrong password looks like.
func decryptCBC(block cipher.Block, iv, ciphertext []byte) ([]byte, error) {
	size := block.BlockSize()
	if len(ciphertext) == 0 || len(ciphertext)%size != 0 {
		return nil, fmt.Errorf("cannot decrypt private key: %w: ciphertext is not a whole number of blocks", ErrMalformed)
	}
	plain := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, ciphertext)
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > size || !validPadding(plain[len(plain)-pad:], byte(pad)) {
		clear(plain)
		return nil, fmt.Errorf("cannot decrypt private key: %w", ErrWrongPassword)
	}
	return plain[:len(plain)-pad], nil
}

func validPadding(tail []byte, pad byte) bool {
	want := make([]byte, len(tail))
	for i := range want {
		want[i] = pad
	}
	return subtle.ConstantTimeCompare(tail, want) == 1
}
