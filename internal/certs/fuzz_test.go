package certs

import (
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"testing"
)

// fuzzSeeds makes real openssl files to start the fuzzers from. The
// encrypted keys use few KDF iterations so each fuzz input stays fast.
func fuzzSeeds(f *testing.F) (certs, keys [][]byte) {
	t := makeTenant(f)
	dir := f.TempDir()
	in := filepath.Join(t.dir, "tenant.key")
	openssl(f, dir, "pkcs8", "-topk8", "-in", in, "-v2", "aes256", "-iter", "1", "-passout", "pass:pw", "-out", "pbes2.pem")
	openssl(f, dir, "pkcs8", "-topk8", "-in", in, "-v2", "des3", "-v2prf", "hmacWithSHA1", "-iter", "1", "-passout", "pass:pw", "-out", "des3.pem")
	openssl(f, dir, "pkcs8", "-topk8", "-in", in, "-scrypt", "-scrypt_N", "2", "-scrypt_r", "1", "-scrypt_p", "1", "-passout", "pass:pw", "-out", "scrypt.pem")
	openssl(f, dir, "rsa", "-in", in, "-aes128", "-traditional", "-passout", "pass:pw", "-out", "legacy.pem")
	openssl(f, dir, "rsa", "-in", in, "-traditional", "-out", "pkcs1.pem")
	certs = [][]byte{t.cert, append(append([]byte(nil), t.cert...), t.cert...)}
	keys = [][]byte{t.key, t.pkcs8Key}
	for _, name := range []string{"pbes2.pem", "des3.pem", "scrypt.pem", "legacy.pem", "pkcs1.pem"} {
		keys = append(keys, readFile(f, filepath.Join(dir, name)))
	}
	return certs, keys
}

func FuzzParseCertificatePEM(f *testing.F) {
	certs, _ := fuzzSeeds(f)
	for _, c := range certs {
		f.Add(c)
	}
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cert, err := ParseCertificatePEM(data)
		if err == nil {
			info := Describe(cert)
			if info.Alias == "" || info.KeyBits < MinRSABits {
				t.Errorf("accepted certificate with Info %+v", info)
			}
		}
		// Describe must cope with every certificate x509 parses, even ones
		// refused above (EC keys, odd names).
		if block, _ := pem.Decode(data); block != nil {
			if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
				_ = Describe(cert)
			}
		}
	})
}

func FuzzParsePrivateKeyPEM(f *testing.F) {
	_, keys := fuzzSeeds(f)
	for _, k := range keys {
		f.Add(k, []byte("pw"))
		f.Add(k, []byte(nil))
	}
	f.Fuzz(func(t *testing.T, data, password []byte) {
		key, err := ParsePrivateKeyPEM(data, password)
		if err == nil && key.N.BitLen() < MinRSABits {
			t.Errorf("accepted %d-bit key", key.N.BitLen())
		}
	})
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{guideSubject, "/CN=x/emailAddress=a@b.c", `/CN=a\/b+UID=c/`, "/1.2.3.4=x", "/C=US/DC=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rdns, err := ParseSubject(s)
		if err != nil {
			return
		}
		// Whatever ParseSubject accepts, Generate must be able to encode,
		// and the encoding must print back as a DN.
		der, err := encodeName(rdns)
		if err != nil {
			t.Fatalf("ParseSubject(%q) accepted what encodeName refuses: %v", s, err)
		}
		_ = formatDN(der)
	})
}
