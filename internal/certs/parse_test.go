package certs

import (
	"errors"
	"math/big"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestGuideCommands(t *testing.T) {
	f := makeTenant(t)
	cert, err := ParseCertificatePEM(f.cert)
	if err != nil {
		t.Fatal(err)
	}
	info := Describe(cert)

	serialHex := strings.TrimPrefix(strings.TrimSpace(openssl(t, f.dir, "x509", "-in", "tenant.pem", "-noout", "-serial")), "serial=")
	serial, ok := new(big.Int).SetString(serialHex, 16)
	if !ok {
		t.Fatalf("cannot parse openssl serial %q", serialHex)
	}
	endText := strings.TrimPrefix(strings.TrimSpace(openssl(t, f.dir, "x509", "-in", "tenant.pem", "-noout", "-enddate")), "notAfter=")
	end, err := time.Parse("Jan _2 15:04:05 2006 MST", endText)
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := strings.TrimSpace(openssl(t, f.dir, "x509", "-in", "tenant.pem", "-noout", "-fingerprint", "-sha256"))
	fingerprint = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(fingerprint, "sha256 Fingerprint="), ":", ""))

	const dn = "CN=Genesys Recording,C=US,ST=California,O=Genesys"
	checks := []struct{ field, got, want string }{
		{"SubjectName", info.SubjectName, "Genesys Recording <Email not set>"},
		{"SubjectDN", info.SubjectDN, dn},
		{"IssuerDN", info.IssuerDN, dn},
		{"SerialNumber", info.SerialNumber, serial.String()},
		{"Fingerprint", info.Fingerprint, fingerprint},
		{"Alias", info.Alias, "cv_" + fingerprint[:12]},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if !info.Expires.Equal(end) {
		t.Errorf("Expires = %v, want %v (openssl)", info.Expires, end)
	}
	if info.KeyBits != 2048 {
		t.Errorf("KeyBits = %d, want 2048", info.KeyBits)
	}
	if got := info.Expires.Sub(info.NotBefore); got != 3650*24*time.Hour {
		t.Errorf("validity = %v, want 3650 days", got)
	}

	for name, keyPEM := range map[string][]byte{"tenant.key": f.key, "private.pem": f.pkcs8Key} {
		pair, err := LoadPair(f.cert, keyPEM, nil)
		if err != nil {
			t.Errorf("LoadPair with %s: %v", name, err)
			continue
		}
		if pair.Info != info {
			t.Errorf("LoadPair with %s: Info = %+v, want %+v", name, pair.Info, info)
		}
	}
}

func TestPrivateKeyFormats(t *testing.T) {
	f := makeTenant(t)
	want, err := ParsePrivateKeyPEM(f.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	const password = "s3cret-Pa55"
	tests := []struct {
		name      string
		args      []string // openssl command writing out.pem from tenant.key
		encrypted bool
		sameKey   bool // out.pem holds tenant.key's key
	}{
		{name: "genrsa -traditional PKCS#1", args: []string{"genrsa", "-traditional", "-out", "out.pem", "2048"}},
		{name: "rsa -traditional PKCS#1", args: []string{"rsa", "-in", "tenant.key", "-traditional", "-out", "out.pem"}, sameKey: true},
		{name: "pkcs8 -nocrypt", args: []string{"pkcs8", "-topk8", "-in", "tenant.key", "-nocrypt", "-out", "out.pem"}, sameKey: true},
		{name: "pkcs8 default (PBES2 aes256 sha256)", args: []string{"pkcs8", "-topk8", "-in", "tenant.key", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "pkcs8 -v2 aes256", args: []string{"pkcs8", "-topk8", "-in", "tenant.key", "-v2", "aes256", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "pkcs8 -v2 aes128 hmacWithSHA1", args: []string{"pkcs8", "-topk8", "-in", "tenant.key", "-v2", "aes128", "-v2prf", "hmacWithSHA1", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "pkcs8 -v2 aes192 hmacWithSHA224", args: []string{"pkcs8", "-topk8", "-in", "tenant.key", "-v2", "aes192", "-v2prf", "hmacWithSHA224", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "pkcs8 -v2 aes256 hmacWithSHA384", args: []string{"pkcs8", "-topk8", "-in", "tenant.key", "-v2", "aes256", "-v2prf", "hmacWithSHA384", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "pkcs8 -v2 aes256 hmacWithSHA512", args: []string{"pkcs8", "-topk8", "-in", "tenant.key", "-v2", "aes256", "-v2prf", "hmacWithSHA512", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "pkcs8 -v2 des3", args: []string{"pkcs8", "-topk8", "-in", "tenant.key", "-v2", "des3", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "pkcs8 -scrypt", args: []string{"pkcs8", "-topk8", "-in", "tenant.key", "-scrypt", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "genpkey -aes256", args: []string{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-aes256", "-pass", "pass:" + password, "-out", "out.pem"}, encrypted: true},
		{name: "legacy rsa -aes256 -traditional", args: []string{"rsa", "-in", "tenant.key", "-aes256", "-traditional", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "legacy rsa -des3 -traditional", args: []string{"rsa", "-in", "tenant.key", "-des3", "-traditional", "-passout", "pass:" + password, "-out", "out.pem"}, encrypted: true, sameKey: true},
		{name: "legacy genrsa -aes128 -traditional", args: []string{"genrsa", "-aes128", "-traditional", "-passout", "pass:" + password, "-out", "out.pem", "2048"}, encrypted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "tenant.key"), f.key)
			openssl(t, dir, tt.args...)
			data := readFile(t, filepath.Join(dir, "out.pem"))

			pw := []byte(nil)
			if tt.encrypted {
				pw = []byte(password)
			}
			key, err := ParsePrivateKeyPEM(data, pw)
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if tt.sameKey && !key.Equal(want) {
				t.Error("decoded key differs from tenant.key")
			}
			if !tt.encrypted {
				return
			}
			for _, bad := range []struct {
				password string
				want     error
			}{
				{"", ErrPasswordRequired},
				{"wr0ng-Guess", ErrWrongPassword},
				{password + "x", ErrWrongPassword},
			} {
				_, err := ParsePrivateKeyPEM(data, []byte(bad.password))
				if !errors.Is(err, bad.want) {
					t.Errorf("password %q: err = %v, want %v", bad.password, err, bad.want)
				}
				if err != nil && (bad.password != "" && strings.Contains(err.Error(), bad.password) || strings.Contains(err.Error(), password)) {
					t.Errorf("error message leaks the password: %v", err)
				}
			}
		})
	}
}

func TestBadInputs(t *testing.T) {
	f := makeTenant(t)
	dir := t.TempDir()
	openssl(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ec.key", "-out", "ec.pem", "-days", "1", "-subj", "/CN=ec")
	openssl(t, dir, "req", "-x509", "-newkey", "rsa:1024", "-nodes",
		"-keyout", "small.key", "-out", "small.pem", "-days", "1", "-subj", "/CN=small")
	openssl(t, dir, "genrsa", "-out", "other.key", "2048")
	openssl(t, dir, "x509", "-in", filepath.Join(f.dir, "tenant.pem"), "-outform", "der", "-out", "tenant.der")
	openssl(t, dir, "pkcs8", "-topk8", "-in", filepath.Join(f.dir, "tenant.key"), "-v1", "PBE-SHA1-3DES", "-passout", "pass:pw", "-out", "v1.pem")
	file := func(name string) []byte { return readFile(t, filepath.Join(dir, name)) }
	concat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	garbageCert := []byte("-----BEGIN CERTIFICATE-----\nAAECAwQ=\n-----END CERTIFICATE-----\n")

	tests := []struct {
		name     string
		cert     []byte
		key      []byte
		password string
		want     error
	}{
		{name: "ok", cert: f.cert, key: f.key},
		{name: "ok with text around PEM", cert: concat([]byte("Certificate:\n  made by openssl\n"), f.cert, []byte("trailing\n")), key: f.key},
		{name: "ok key and cert in one file", cert: f.cert, key: concat(f.cert, f.key)},
		{name: "cert not PEM", cert: []byte("hello"), key: f.key, want: ErrNotPEM},
		{name: "cert empty", cert: nil, key: f.key, want: ErrNotPEM},
		{name: "cert DER", cert: file("tenant.der"), key: f.key, want: ErrNotPEM},
		{name: "cert is a key", cert: f.key, key: f.key, want: ErrNotPEM},
		{name: "two certs", cert: concat(f.cert, f.cert), key: f.key, want: ErrChain},
		{name: "cert not X.509", cert: garbageCert, key: f.key, want: ErrMalformed},
		{name: "EC cert", cert: file("ec.pem"), key: f.key, want: ErrNotRSA},
		{name: "EC key", cert: f.cert, key: file("ec.key"), want: ErrNotRSA},
		{name: "1024-bit cert", cert: file("small.pem"), key: file("small.key"), want: ErrKeyTooSmall},
		{name: "1024-bit key", cert: f.cert, key: file("small.key"), want: ErrKeyTooSmall},
		{name: "key not PEM", cert: f.cert, key: []byte("not a key"), want: ErrNotPEM},
		{name: "key file holds only a cert", cert: f.cert, key: f.cert, want: ErrNotPEM},
		{name: "two keys", cert: f.cert, key: concat(f.key, file("other.key")), want: ErrTooManyKeys},
		{name: "mismatched key", cert: f.cert, key: file("other.key"), want: ErrKeyMismatch},
		{name: "PBES1 key", cert: f.cert, key: file("v1.pem"), password: "pw", want: ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pair, err := LoadPair(tt.cert, tt.key, []byte(tt.password))
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadPair: err = %v, want %v", err, tt.want)
			}
			if err == nil && pair.Info.SubjectName != "Genesys Recording <Email not set>" {
				t.Errorf("SubjectName = %q", pair.Info.SubjectName)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestCanEncrypt(t *testing.T) {
	f := makeTenant(t)
	cert, err := ParseCertificatePEM(f.cert)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"at NotBefore", cert.NotBefore, nil},
		{"inside", cert.NotBefore.Add(24 * time.Hour), nil},
		{"at NotAfter", cert.NotAfter, nil},
		{"after NotAfter", cert.NotAfter.Add(time.Second), ErrExpired},
		{"before NotBefore", cert.NotBefore.Add(-time.Second), ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CanEncrypt(cert, tt.now); !errors.Is(err, tt.want) {
				t.Errorf("CanEncrypt = %v, want %v", err, tt.want)
			}
		})
	}
}

// An expired certificate must still load so old recordings can be played.
func TestLoadPairAcceptsExpired(t *testing.T) {
	old, err := Generate(GenerateOptions{Subject: "/CN=old", Days: 1, Now: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := EncodePrivateKeyPEM(old.Key, true)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := LoadPair(EncodeCertificatePEM(old.Cert), keyPEM, nil)
	if err != nil {
		t.Fatalf("LoadPair of expired certificate: %v", err)
	}
	if err := CanEncrypt(pair.Cert, time.Now()); !errors.Is(err, ErrExpired) {
		t.Errorf("CanEncrypt = %v, want ErrExpired", err)
	}
}

func TestDescribeSubjects(t *testing.T) {
	tests := []struct {
		subject  string // openssl -subj
		wantName string
		wantDN   string
		utf8     bool // needs openssl -utf8, else openssl reads the bytes as Latin-1
	}{
		{"/CN=x/emailAddress=a@b.c", "x <a@b.c>", "CN=x,emailAddress=a@b.c", false},
		{"/CN=a+UID=b/O=x\\/y", "a <Email not set>", "CN=a+UID=b,O=x/y", false},
		{"/CN=Doe, John <j>/O=A;B\\+C/OU= padded ", "Doe, John <j> <Email not set>", `CN=Doe\, John \<j\>,O=A\;B\+C,OU=\ padded\ `, false},
		{`/CN=#1 "quoted" back\\slash`, `#1 "quoted" back\slash <Email not set>`, `CN=\#1 \"quoted\" back\\slash`, false},
		{"/O=no common name/C=DE", "O=no common name,C=DE <Email not set>", "O=no common name,C=DE", false},
		{"/CN=Zoë Ångström/L=Köln", "Zoë Ångström <Email not set>", "CN=Zoë Ångström,L=Köln", true},
		{"/DC=example/DC=com/CN=dc", "dc <Email not set>", "DC=example,DC=com,CN=dc", false},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "c.pem",
				"-days", "1", "-subj", tt.subject}
			if tt.utf8 {
				args = append(args, "-utf8")
			}
			openssl(t, dir, args...)
			cert, err := ParseCertificatePEM(readFile(t, filepath.Join(dir, "c.pem")))
			if err != nil {
				t.Fatal(err)
			}
			info := Describe(cert)
			if info.SubjectName != tt.wantName {
				t.Errorf("SubjectName = %q, want %q", info.SubjectName, tt.wantName)
			}
			if info.SubjectDN != tt.wantDN || info.IssuerDN != tt.wantDN {
				t.Errorf("SubjectDN = %q, IssuerDN = %q, want %q", info.SubjectDN, info.IssuerDN, tt.wantDN)
			}
			// Generate must encode the same subject byte for byte, string
			// types included.
			pair, err := Generate(GenerateOptions{Subject: tt.subject, Days: 1})
			if err != nil {
				t.Fatal(err)
			}
			if string(pair.Cert.RawSubject) != string(cert.RawSubject) {
				t.Errorf("Generate subject DER differs from openssl's:\n got %x\nwant %x", pair.Cert.RawSubject, cert.RawSubject)
			}
		})
	}
}

// openssl skips attributes it has no name for, so unknown OIDs are
// checked with Generate only.
func TestDescribeUnknownOID(t *testing.T) {
	pair, err := Generate(GenerateOptions{Subject: "/CN=x/1.2.3.4=custom", Days: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := "CN=x,1.2.3.4=custom"; pair.Info.SubjectDN != want {
		t.Errorf("SubjectDN = %q, want %q", pair.Info.SubjectDN, want)
	}
}

func TestEscapeDNValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a,b+c", `a\,b\+c`},
		{`"<>;\`, `\"\<\>\;\\`},
		{" lead", `\ lead`},
		{"trail ", `trail\ `},
		{"#hash", `\#hash`},
		{"mid#dle", "mid#dle"},
		{"line\nbreak", `line\0Abreak`},
		{"nul\x00", `nul\00`},
		{"bad\xffutf8", `bad\FFutf8`},
	}
	for _, tt := range tests {
		if got := escapeDNValue(tt.in); got != tt.want {
			t.Errorf("escapeDNValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodePrivateKeyPEM(t *testing.T) {
	pair, err := Generate(GenerateOptions{Subject: "/CN=enc", Days: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		pkcs8 bool
		label string
	}{{false, "RSA PRIVATE KEY"}, {true, "PRIVATE KEY"}} {
		data, err := EncodePrivateKeyPEM(pair.Key, tt.pkcs8)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^-----BEGIN ` + tt.label + `-----\n`).Match(data) {
			t.Errorf("pkcs8=%v: PEM starts %q", tt.pkcs8, data[:30])
		}
		key, err := ParsePrivateKeyPEM(data, nil)
		if err != nil || !key.Equal(pair.Key) {
			t.Errorf("pkcs8=%v: round trip failed: %v", tt.pkcs8, err)
		}
	}
	if _, err := EncodePrivateKeyPEM(nil, true); err == nil {
		t.Error("EncodePrivateKeyPEM(nil) succeeded")
	}
}
