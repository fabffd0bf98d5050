package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// MasterKeyEnv is the environment variable holding the master key (base64,
// standard encoding, of exactly 32 bytes). When set it wins over the file.
const MasterKeyEnv = "CALLVAULT_MASTER_KEY"

const (
	masterKeySize = 32 // AES-256
	sealVersion   = 1
	nonceSize     = 12 // AES-GCM standard nonce
)

// MasterKey seals and opens keystore entries with AES-256-GCM. Its
// formatting methods never reveal the key, so it is safe to pass to
// fmt and slog by mistake.
type MasterKey struct {
	aead cipher.AEAD
}

// NewMasterKey makes a MasterKey from 32 raw bytes; the caller may clear
// raw afterwards.
func NewMasterKey(raw []byte) (*MasterKey, error) {
	if len(raw) != masterKeySize {
		return nil, fmt.Errorf("cannot use master key: %d bytes, want %d", len(raw), masterKeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("cannot use master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("cannot use master key: %w", err)
	}
	return &MasterKey{aead: aead}, nil
}

// LoadMasterKey returns the master key from $CALLVAULT_MASTER_KEY if set,
// else from the file at path, which is created (32 random bytes, base64,
// mode 0600) if it does not exist. A file readable or writable by group or
// others is refused rather than silently used.
func LoadMasterKey(path string) (*MasterKey, error) {
	if text, ok := os.LookupEnv(MasterKeyEnv); ok && text != "" {
		key, err := decodeMasterKey(text)
		if err != nil {
			return nil, fmt.Errorf("cannot load master key from $%s: %w", MasterKeyEnv, err)
		}
		return key, nil
	}
	if path == "" {
		return nil, fmt.Errorf("cannot load master key: $%s is not set and no key file was given", MasterKeyEnv)
	}
	key, err := readMasterKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createMasterKeyFile(path)
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first; use theirs.
			key, err = readMasterKeyFile(path)
		}
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

func decodeMasterKey(text string) (*MasterKey, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		// The base64 error would quote the offending byte position only,
		// but keep the message free of key text entirely.
		return nil, errors.New("not valid base64 (standard encoding)")
	}
	defer clear(raw)
	return NewMasterKey(raw)
}

func readMasterKeyFile(path string) (*MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open master key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the check applies to what is read.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot stat master key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("cannot use master key file %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("cannot use master key file %s: mode %04o lets group or others access it; run chmod 600 %s", path, perm, path)
	}
	text, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("cannot read master key file: %w", err)
	}
	defer clear(text)
	key, err := decodeMasterKey(string(text))
	if err != nil {
		return nil, fmt.Errorf("cannot load master key from %s: %w", path, err)
	}
	return key, nil
}

// createMasterKeyFile writes a new random key with O_EXCL, so two
// processes starting at once cannot each create a different key.
func createMasterKeyFile(path string) (*MasterKey, error) {
	raw := make([]byte, masterKeySize)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("cannot generate master key: %w", err)
	}
	key, err := NewMasterKey(raw)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot create master key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		// A truncated key file would make every later start fail.
		os.Remove(path)
		return nil, fmt.Errorf("cannot write master key file: %w", err)
	}
	return key, nil
}

// Seal encrypts plaintext for the entry (tenant, alias). The result is
// version byte || 12-byte random nonce || AES-256-GCM ciphertext and tag;
// tenant and alias are bound as additional data, so a blob moved to
// another entry does not open.
func (m *MasterKey) Seal(plaintext []byte, tenant, alias string) ([]byte, error) {
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+m.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("cannot seal: cannot make nonce: %w", err)
	}
	return m.aead.Seal(out, out[1:], plaintext, additionalData(sealVersion, tenant, alias)), nil
}

// Open reverses Seal. Any tampering, a wrong master key or the wrong
// (tenant, alias) gives an error wrapping ErrSealBroken.
func (m *MasterKey) Open(sealed []byte, tenant, alias string) ([]byte, error) {
	if len(sealed) < 1+nonceSize+m.aead.Overhead() {
		return nil, fmt.Errorf("cannot open sealed key %q/%q: %w: %d bytes is too short", tenant, alias, ErrSealBroken, len(sealed))
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("cannot open sealed key %q/%q: %w: unknown format version %d", tenant, alias, ErrSealBroken, sealed[0])
	}
	nonce, ciphertext := sealed[1:1+nonceSize], sealed[1+nonceSize:]
	plain, err := m.aead.Open(nil, nonce, ciphertext, additionalData(sealed[0], tenant, alias))
	if err != nil {
		return nil, fmt.Errorf("cannot open sealed key %q/%q: %w (tampered, moved, or a different master key)", tenant, alias, ErrSealBroken)
	}
	return plain, nil
}

// additionalData encodes the entry's identity with length prefixes, so
// ("ab", "c") and ("a", "bc") differ.
func additionalData(version byte, tenant, alias string) []byte {
	const label = "callvault keystore"
	ad := make([]byte, 0, len(label)+1+8+len(tenant)+len(alias))
	ad = append(ad, label...)
	ad = append(ad, version)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(tenant)))
	ad = append(ad, tenant...)
	ad = binary.BigEndian.AppendUint32(ad, uint32(len(alias)))
	ad = append(ad, alias...)
	return ad
}

const redacted = "MasterKey(redacted)"

// The formatting methods have value receivers so that a dereferenced copy
// (fmt.Print(*key)) is redacted too; its fields hold the AES key schedule.

// String never reveals the key.
func (MasterKey) String() string { return redacted }

// GoString never reveals the key, also for %#v.
func (MasterKey) GoString() string { return redacted }

// Format never reveals the key, whatever the verb.
func (MasterKey) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// LogValue never reveals the key in slog output.
func (MasterKey) LogValue() slog.Value { return slog.StringValue(redacted) }
