// Package keystore keeps tenant RSA private keys sealed under a master key
// (AES-256-GCM). Keys enter and leave only as *rsa.PrivateKey inside the
// process; what a Backend stores is opaque ciphertext bound to its tenant
// and alias.
package keystore

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Sentinel errors; test with errors.Is.
var (
	ErrNotFound    = errors.New("key not found")
	ErrInvalidName = errors.New("invalid tenant or alias name")
	ErrSealBroken  = errors.New("sealed key cannot be opened")
)

// Backend stores opaque sealed blobs by tenant and alias. Implementations
// must be safe for concurrent use and must never expose a partly written
// blob. Every implementation runs the suite in package keystoretest.
type Backend interface {
	// Put stores sealed under (tenant, alias), replacing any previous blob.
	Put(ctx context.Context, tenant, alias string, sealed []byte) error
	// Get returns the blob, or an error wrapping ErrNotFound.
	Get(ctx context.Context, tenant, alias string) ([]byte, error)
	// Delete removes the blob, or returns an error wrapping ErrNotFound.
	Delete(ctx context.Context, tenant, alias string) error
	// List returns the tenant's aliases in sorted order; an unknown tenant
	// has none.
	List(ctx context.Context, tenant string) ([]string, error)
}

// maxNameLen keeps "<alias>.sealed" and its temporary name under the
// 255-byte file name limit of common file systems.
const maxNameLen = 200

// CheckName reports whether s is usable as a tenant or alias: non-empty,
// at most 200 bytes of UTF-8, no leading '.', no "..", no '/' or '\', no
// control characters. Backends call it so every backend accepts the same
// names.
func CheckName(kind, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("cannot use %s name: %w: empty", kind, ErrInvalidName)
	case len(s) > maxNameLen:
		return fmt.Errorf("cannot use %s name: %w: longer than %d bytes", kind, ErrInvalidName, maxNameLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("cannot use %s name: %w: not UTF-8", kind, ErrInvalidName)
	case s[0] == '.':
		// Also rules out "." and "..", and keeps names apart from the
		// backend's hidden temporary files.
		return fmt.Errorf("cannot use %s name %q: %w: starts with '.'", kind, s, ErrInvalidName)
	case strings.Contains(s, ".."):
		return fmt.Errorf("cannot use %s name %q: %w: contains \"..\"", kind, s, ErrInvalidName)
	case strings.ContainsAny(s, `/\`):
		return fmt.Errorf("cannot use %s name %q: %w: contains a path separator", kind, s, ErrInvalidName)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("cannot use %s name %q: %w: contains a control character", kind, s, ErrInvalidName)
		}
	}
	return nil
}

func checkNames(tenant, alias string) error {
	if err := CheckName("tenant", tenant); err != nil {
		return err
	}
	return CheckName("alias", alias)
}

// Keystore stores tenant private keys sealed in a Backend.
type Keystore struct {
	master  *MasterKey
	backend Backend
}

// New returns a Keystore sealing with master and storing in b.
func New(master *MasterKey, b Backend) *Keystore {
	return &Keystore{master: master, backend: b}
}

// PutKey seals key (as PKCS#8 DER) and stores it under (tenant, alias),
// replacing any previous key there.
func (k *Keystore) PutKey(ctx context.Context, tenant, alias string, key *rsa.PrivateKey) error {
	if err := checkNames(tenant, alias); err != nil {
		return err
	}
	if key == nil {
		return errors.New("cannot store key: key is nil")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("cannot store key %s/%s: %w", tenant, alias, err)
	}
	defer clear(der)
	sealed, err := k.master.Seal(der, tenant, alias)
	if err != nil {
		return fmt.Errorf("cannot store key %s/%s: %w", tenant, alias, err)
	}
	if err := k.backend.Put(ctx, tenant, alias, sealed); err != nil {
		return fmt.Errorf("cannot store key %s/%s: %w", tenant, alias, err)
	}
	return nil
}

// Key returns the private key stored under (tenant, alias). Errors wrap
// ErrNotFound when there is none and ErrSealBroken when the stored blob
// does not open with this master key for this entry.
func (k *Keystore) Key(ctx context.Context, tenant, alias string) (*rsa.PrivateKey, error) {
	if err := checkNames(tenant, alias); err != nil {
		return nil, err
	}
	sealed, err := k.backend.Get(ctx, tenant, alias)
	if err != nil {
		return nil, fmt.Errorf("cannot load key %s/%s: %w", tenant, alias, err)
	}
	der, err := k.master.Open(sealed, tenant, alias)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// Authenticated, so this is a bug in whatever sealed it, not tampering.
		return nil, fmt.Errorf("cannot load key %s/%s: sealed entry is not PKCS#8: %w", tenant, alias, err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("cannot load key %s/%s: sealed entry holds %T, not an RSA key", tenant, alias, parsed)
	}
	return key, nil
}

// DeleteKey removes the key stored under (tenant, alias); the error wraps
// ErrNotFound when there is none.
func (k *Keystore) DeleteKey(ctx context.Context, tenant, alias string) error {
	if err := checkNames(tenant, alias); err != nil {
		return err
	}
	if err := k.backend.Delete(ctx, tenant, alias); err != nil {
		return fmt.Errorf("cannot delete key %s/%s: %w", tenant, alias, err)
	}
	return nil
}

// Aliases lists the tenant's key aliases in sorted order.
func (k *Keystore) Aliases(ctx context.Context, tenant string) ([]string, error) {
	if err := CheckName("tenant", tenant); err != nil {
		return nil, err
	}
	aliases, err := k.backend.List(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("cannot list keys of tenant %s: %w", tenant, err)
	}
	return aliases, nil
}
