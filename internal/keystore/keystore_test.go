package keystore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"callvault/internal/keystore"
	"callvault/internal/keystore/keystoretest"
)

func TestDirBackend(t *testing.T) {
	keystoretest.TestBackend(t, func(t *testing.T) keystore.Backend {
		b, err := keystore.NewDirBackend(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// testKey returns one RSA key shared by the tests; generating is slow.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

func newMaster(t testing.TB) *keystore.MasterKey {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	m, err := keystore.NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newStore returns a keystore over a fresh directory and that directory.
func newStore(t *testing.T, master *keystore.MasterKey) (*keystore.Keystore, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := keystore.NewDirBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	return keystore.New(master, b), dir
}

func TestKeystoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	ks, dir := newStore(t, newMaster(t))
	key := testKey()
	if err := ks.PutKey(ctx, "tenant-1", "cv_0123456789ab", key); err != nil {
		t.Fatal(err)
	}
	got, err := ks.Key(ctx, "tenant-1", "cv_0123456789ab")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(key) {
		t.Error("key changed in the round trip")
	}
	aliases, err := ks.Aliases(ctx, "tenant-1")
	if err != nil || !slices.Equal(aliases, []string{"cv_0123456789ab"}) {
		t.Errorf("Aliases = %q, %v", aliases, err)
	}
	st, err := os.Stat(filepath.Join(dir, "tenant-1", "cv_0123456789ab.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("sealed file mode %v, want 0600", st.Mode().Perm())
	}
	if err := ks.DeleteKey(ctx, "tenant-1", "cv_0123456789ab"); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Key(ctx, "tenant-1", "cv_0123456789ab"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Key after delete: err = %v, want ErrNotFound", err)
	}
	if err := ks.DeleteKey(ctx, "tenant-1", "cv_0123456789ab"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("second DeleteKey: err = %v, want ErrNotFound", err)
	}
}

func TestKeystoreInvalidNames(t *testing.T) {
	ctx := context.Background()
	ks, _ := newStore(t, newMaster(t))
	for _, name := range []string{"", "..", "../etc", "a/b", "a\x00", "\x1b[31m"} {
		if err := ks.PutKey(ctx, name, "cv_a", testKey()); !errors.Is(err, keystore.ErrInvalidName) {
			t.Errorf("PutKey tenant %q: err = %v", name, err)
		}
		if _, err := ks.Key(ctx, "t", name); !errors.Is(err, keystore.ErrInvalidName) {
			t.Errorf("Key alias %q: err = %v", name, err)
		}
		if _, err := ks.Aliases(ctx, name); !errors.Is(err, keystore.ErrInvalidName) {
			t.Errorf("Aliases tenant %q: err = %v", name, err)
		}
	}
}

// A sealed entry opens only with its master key, unmodified, under its own
// tenant and alias.
func TestSealedEntryIsBound(t *testing.T) {
	ctx := context.Background()
	master := newMaster(t)
	ks, dir := newStore(t, master)
	if err := ks.PutKey(ctx, "t1", "cv_a", testKey()); err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(filepath.Join(dir, "t1", "cv_a.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := slices.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name           string
		blob           []byte
		tenant, alias  string
		master         *keystore.MasterKey
		wantSealBroken bool
	}{
		{"intact", sealed, "t1", "cv_a", master, false},
		{"version byte flipped", flip(0), "t1", "cv_a", master, true},
		{"nonce byte flipped", flip(5), "t1", "cv_a", master, true},
		{"ciphertext byte flipped", flip(len(sealed) / 2), "t1", "cv_a", master, true},
		{"tag byte flipped", flip(len(sealed) - 1), "t1", "cv_a", master, true},
		{"truncated", sealed[:len(sealed)-1], "t1", "cv_a", master, true},
		{"empty", nil, "t1", "cv_a", master, true},
		{"copied to another tenant", sealed, "t2", "cv_a", master, true},
		{"copied to another alias", sealed, "t1", "cv_b", master, true},
		{"name boundary shifted", sealed, "t1c", "v_a", master, true},
		{"wrong master key", sealed, "t1", "cv_a", newMaster(t), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Go through the file backend as an attacker with disk access would.
			if err := os.MkdirAll(filepath.Join(dir, tt.tenant), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tt.tenant, tt.alias+".sealed"), tt.blob, 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := keystore.NewDirBackend(dir)
			if err != nil {
				t.Fatal(err)
			}
			key, err := keystore.New(tt.master, b).Key(ctx, tt.tenant, tt.alias)
			if tt.wantSealBroken {
				if !errors.Is(err, keystore.ErrSealBroken) {
					t.Errorf("err = %v, want ErrSealBroken", err)
				}
				return
			}
			if err != nil || !key.Equal(testKey()) {
				t.Errorf("Key = %v", err)
			}
		})
	}
}

func TestSealedFileHoldsNoKeyMaterial(t *testing.T) {
	ctx := context.Background()
	ks, dir := newStore(t, newMaster(t))
	key := testKey()
	if err := ks.PutKey(ctx, "t1", "cv_a", key); err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(filepath.Join(dir, "t1", "cv_a.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(key)
	pemText := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	// Any 16-byte window of the secrets is enough to notice a leak.
	needles := map[string][]byte{
		"PEM label":      []byte("PRIVATE KEY"),
		"PKCS#8 start":   pkcs8[:16],
		"PKCS#8 middle":  pkcs8[len(pkcs8)/2 : len(pkcs8)/2+16],
		"PKCS#1 middle":  pkcs1[len(pkcs1)/2 : len(pkcs1)/2+16],
		"PEM base64":     pemText[40:72],
		"private exp D":  key.D.Bytes()[:16],
		"prime P":        key.Primes[0].Bytes()[:16],
		"prime Q":        key.Primes[1].Bytes()[:16],
		"base64 of DER":  []byte(base64.StdEncoding.EncodeToString(pkcs8)[40:72]),
		"PKCS#8 version": {0x30, 0x82},
	}
	for name, needle := range needles {
		if name == "PKCS#8 version" {
			// Two bytes can occur by chance; only the real prefix matters.
			if bytes.HasPrefix(sealed, pkcs8[:4]) {
				t.Errorf("sealed file starts like PKCS#8 DER")
			}
			continue
		}
		if bytes.Contains(sealed, needle) {
			t.Errorf("sealed file contains %s", name)
		}
	}
}

func TestLoadMasterKeyFile(t *testing.T) {
	t.Setenv(keystore.MasterKeyEnv, "")
	path := filepath.Join(t.TempDir(), "master.key")
	first, err := keystore.LoadMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("created master key file with mode %v, want 0600", st.Mode().Perm())
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text))); err != nil || len(raw) != 32 {
		t.Errorf("master key file is not base64 of 32 bytes: %v, %d bytes", err, len(raw))
	}

	second, err := keystore.LoadMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := first.Seal([]byte("secret"), "t", "a")
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := second.Open(sealed, "t", "a"); err != nil || string(plain) != "secret" {
		t.Errorf("second load is not the same key: %v", err)
	}
	if text2, _ := os.ReadFile(path); !bytes.Equal(text, text2) {
		t.Error("second load rewrote the key file")
	}
}

func TestLoadMasterKeyEnvWins(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	t.Setenv(keystore.MasterKeyEnv, "")
	fromFile, err := keystore.LoadMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	raw := bytes.Repeat([]byte{7}, 32)
	t.Setenv(keystore.MasterKeyEnv, base64.StdEncoding.EncodeToString(raw))
	fromEnv, err := keystore.LoadMasterKey(path)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := keystore.NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := direct.Seal([]byte("x"), "t", "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fromEnv.Open(sealed, "t", "a"); err != nil {
		t.Errorf("env key did not win: %v", err)
	}
	if _, err := fromFile.Open(sealed, "t", "a"); !errors.Is(err, keystore.ErrSealBroken) {
		t.Errorf("file key opened env-sealed data: %v", err)
	}
	// The env var wins even when no file path is configured.
	if _, err := keystore.LoadMasterKey(""); err != nil {
		t.Errorf("LoadMasterKey(\"\") with env set: %v", err)
	}
}

func TestLoadMasterKeyRefuses(t *testing.T) {
	dir := t.TempDir()
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	writeKey := func(name, text string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name    string
		env     string
		path    string
		wantMsg string
	}{
		{"group/other readable file", "", writeKey("open.key", good, 0o644), "chmod 600"},
		{"group readable file", "", writeKey("group.key", good, 0o640), "chmod 600"},
		{"file not base64", "", writeKey("text.key", "not base64!", 0o600), "base64"},
		{"file wrong length", "", writeKey("short.key", base64.StdEncoding.EncodeToString([]byte("short")), 0o600), "5 bytes"},
		{"path is a directory", "", dir, "regular file"},
		{"no env and no path", "", "", "not set"},
		{"env not base64", "%%%%secret-ish%%%%", "", "base64"},
		{"env wrong length", base64.StdEncoding.EncodeToString([]byte("sixteen byte key")), "", "16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(keystore.MasterKeyEnv, tt.env)
			_, err := keystore.LoadMasterKey(tt.path)
			if err == nil {
				t.Fatal("LoadMasterKey succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to mention %q", err, tt.wantMsg)
			}
			if tt.env != "" && strings.Contains(err.Error(), tt.env) {
				t.Errorf("error repeats the env value: %q", err)
			}
		})
	}
}

func TestMasterKeyNeverPrinted(t *testing.T) {
	raw := bytes.Repeat([]byte{0xAB}, 32)
	m, err := keystore.NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out = append(out, fmt.Sprintf(verb, m), fmt.Sprintf(verb, *m))
	}
	var logged bytes.Buffer
	dropTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{} // its digits could look like a leak
		}
		return a
	}
	slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{ReplaceAttr: dropTime})).Info("loaded", "key", m, "copy", *m)
	out = append(out, logged.String())
	for _, s := range out {
		if !strings.Contains(s, "MasterKey(redacted)") {
			t.Errorf("output %q is not redacted", s)
		}
		for _, leak := range []string{"ab", "AB", "171", base64.StdEncoding.EncodeToString(raw)[:8]} {
			if strings.Contains(strings.ReplaceAll(s, "MasterKey(redacted)", ""), leak) {
				t.Errorf("output %q may leak the key (%q)", s, leak)
			}
		}
	}
}

func FuzzOpen(f *testing.F) {
	m, err := keystore.NewMasterKey(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := m.Seal([]byte("plaintext"), "t1", "cv_a")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, "t1", "cv_a")
	f.Add([]byte{1}, "t1", "cv_a")
	f.Add([]byte{}, "", "")
	f.Add(append([]byte{2}, sealed[1:]...), "t1", "cv_a")
	f.Fuzz(func(t *testing.T, blob []byte, tenant, alias string) {
		plain, err := m.Open(blob, tenant, alias)
		// Only what m sealed for t1/cv_a may open (worker processes seal
		// with their own nonce, so compare the result, not the blob).
		// Anything else opening would be a forged GCM tag.
		if err == nil && (string(plain) != "plaintext" || tenant != "t1" || alias != "cv_a") {
			t.Fatalf("Open accepted a forged blob: %q for %q/%q", plain, tenant, alias)
		}
		if err != nil && !errors.Is(err, keystore.ErrSealBroken) {
			t.Fatalf("err = %v, want ErrSealBroken", err)
		}
	})
}
