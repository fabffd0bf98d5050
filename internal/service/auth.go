package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"callvault/internal/vault"
)

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1
// lane). Stored with each hash, so they can be raised later.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	minPassword  = 8
)

// HashPassword returns a PHC-format argon2id hash of password.
func HashPassword(password string) (string, error) {
	if len(password) < minPassword {
		return "", vault.Errorf(vault.EINVALID, "the password must have at least %d characters", minPassword)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("cannot make a salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// checkPassword reports whether password matches a hash from HashPassword.
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	var memory, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || memory > 1<<20 || passes > 16 || threads == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, passes, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// SplitLogin splits "user@tenant" at its last '@'.
func SplitLogin(login string) (user, tenant string, err error) {
	i := strings.LastIndexByte(login, '@')
	if i <= 0 || i == len(login)-1 {
		return "", "", vault.Errorf(vault.EUNAUTHORIZED, "log in as user@tenant")
	}
	return login[:i], login[i+1:], nil
}

var (
	errBadLogin = vault.Errorf(vault.EUNAUTHORIZED, "wrong user name or password")
	errDisabled = vault.Errorf(vault.EUNAUTHORIZED, "this account is disabled; ask an administrator")
)

// Logging in (checking a password against the limiter, under the bound
// on parallel checks) is Logins.Authenticate in login.go: the one login
// path of the API and the UI.

func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() { s.dummy, _ = HashPassword("not a real password") })
	return s.dummy
}

// verifiedCache remembers recent successful checks, so that HTTP Basic auth
// (a password on every request, as rcbs sends it) does not pay for argon2id
// each time. Entries are keyed by a hash of the stored hash and the
// password: a changed password or hash misses, and the password itself is
// not kept.
type verifiedCache struct {
	mu      sync.Mutex
	entries map[[32]byte]time.Time
}

const verifiedTTL = 5 * time.Minute

func verifiedKey(hash, password string) [32]byte {
	return sha256.Sum256([]byte(hash + "\x00" + password))
}

func (c *verifiedCache) check(hash, password string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp, ok := c.entries[verifiedKey(hash, password)]
	return ok && now.Before(exp)
}

func (c *verifiedCache) add(hash, password string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) > 10000 {
		c.entries = map[[32]byte]time.Time{} // crude bound; entries are cheap to redo
	}
	c.entries[verifiedKey(hash, password)] = now.Add(verifiedTTL)
}

// NewToken returns a random token for sessions and CSRF, and the hex
// SHA-256 under which a session is stored (the token itself is not).
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("cannot make a token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, TokenHash(token), nil
}

// TokenHash is the stored form of a session token.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SessionTTL is how long a browser session lasts.
const SessionTTL = 12 * time.Hour

// openSession opens a browser session for a user Logins authenticated.
// It returns the session token (for the cookie) and the session (with its
// CSRF token).
func (s *Service) openSession(ctx context.Context, u *vault.User) (string, vault.Session, error) {
	token, hash, err := NewToken()
	if err != nil {
		return "", vault.Session{}, err
	}
	csrf, _, err := NewToken()
	if err != nil {
		return "", vault.Session{}, err
	}
	sess := vault.Session{TokenHash: hash, Tenant: u.Tenant, UserName: u.Name, CSRFToken: csrf, ExpiresAt: s.now().Add(SessionTTL)}
	if err := s.Store.CreateSession(ctx, sess); err != nil {
		return "", vault.Session{}, err
	}
	return token, sess, nil
}

// SessionUser returns the session of a token and its user; EUNAUTHORIZED
// when unknown or expired.
func (s *Service) SessionUser(ctx context.Context, token string) (vault.Session, *vault.User, error) {
	sess, err := s.Store.Session(ctx, TokenHash(token))
	if errors.Is(err, vault.ErrNotFound) || err == nil && !s.now().Before(sess.ExpiresAt) {
		return vault.Session{}, nil, vault.Errorf(vault.EUNAUTHORIZED, "the session has expired; log in again")
	}
	if err != nil {
		return vault.Session{}, nil, err
	}
	u, err := s.Store.User(ctx, sess.Tenant, sess.UserName)
	if errors.Is(err, vault.ErrNotFound) {
		return vault.Session{}, nil, vault.Errorf(vault.EUNAUTHORIZED, "the session's user no longer exists")
	}
	if err != nil {
		return vault.Session{}, nil, err
	}
	if u.Disabled {
		return vault.Session{}, nil, errDisabled
	}
	return sess, &u, nil
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, token string) error {
	err := s.Store.DeleteSession(ctx, TokenHash(token))
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	return err
}
