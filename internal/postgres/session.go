package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"callvault/internal/vault"
)

// PutSealedKey stores a sealed private key, replacing any previous one.
func (s *Store) PutSealedKey(ctx context.Context, tenant, alias string, sealed []byte) error {
	if sealed == nil {
		sealed = []byte{} // the column is NOT NULL and pgx sends nil as NULL
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sealed_keys (tenant, alias, sealed) VALUES ($1, $2, $3)
		ON CONFLICT (tenant, alias) DO UPDATE SET sealed = EXCLUDED.sealed`, tenant, alias, sealed)
	if err != nil {
		return fmt.Errorf("postgres: cannot store sealed key %q of tenant %q: %w", alias, tenant, err)
	}
	return nil
}

// SealedKey returns a sealed private key; ErrNotFound.
func (s *Store) SealedKey(ctx context.Context, tenant, alias string) ([]byte, error) {
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT sealed FROM sealed_keys WHERE tenant = $1 AND alias = $2`, tenant, alias).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: cannot find sealed key %q of tenant %q: %w", alias, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot read sealed key %q of tenant %q: %w", alias, tenant, err)
	}
	return sealed, nil
}

// DeleteSealedKey removes a sealed private key; ErrNotFound.
func (s *Store) DeleteSealedKey(ctx context.Context, tenant, alias string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sealed_keys WHERE tenant = $1 AND alias = $2`, tenant, alias)
	if err == nil {
		err = affectedOne(tag)
	}
	if err != nil {
		return fmt.Errorf("postgres: cannot delete sealed key %q of tenant %q: %w", alias, tenant, err)
	}
	return nil
}

// SealedKeyAliases lists the aliases of a tenant's sealed keys, sorted.
func (s *Store) SealedKeyAliases(ctx context.Context, tenant string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT alias FROM sealed_keys WHERE tenant = $1 ORDER BY alias`, tenant)
	if err == nil {
		var aliases []string
		if aliases, err = pgx.CollectRows(rows, pgx.RowTo[string]); err == nil {
			return aliases, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list sealed keys of tenant %q: %w", tenant, err)
}

// CreateSession stores a browser login; ErrConflict if the token hash is
// taken.
func (s *Store) CreateSession(ctx context.Context, sess vault.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (token_hash, tenant, user_name, csrf_token, expires_ms)
		VALUES ($1, $2, $3, $4, $5)`, sess.TokenHash, sess.Tenant, sess.UserName, sess.CSRFToken, toMS(sess.ExpiresAt))
	if err != nil {
		// Never the token hash in an error: it is as good as the token
		// for finding the session. (pgconn.PgError's text leaves out
		// the Detail that names the duplicate key.)
		return fmt.Errorf("postgres: cannot create session of %s@%s: %w", sess.UserName, sess.Tenant, classify(err))
	}
	return nil
}

// Session returns a browser login by the SHA-256 of its token, expired or
// not (the caller decides); ErrNotFound.
func (s *Store) Session(ctx context.Context, tokenHash string) (vault.Session, error) {
	var (
		sess      vault.Session
		expiresMS int64
	)
	err := s.pool.QueryRow(ctx, `SELECT token_hash, tenant, user_name, csrf_token, expires_ms
		FROM sessions WHERE token_hash = $1`, tokenHash).
		Scan(&sess.TokenHash, &sess.Tenant, &sess.UserName, &sess.CSRFToken, &expiresMS)
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.Session{}, fmt.Errorf("postgres: cannot find session: %w", vault.ErrNotFound)
	}
	if err != nil {
		return vault.Session{}, fmt.Errorf("postgres: cannot read session: %w", err)
	}
	sess.ExpiresAt = fromMS(expiresMS)
	return sess, nil
}

// DeleteSession removes a browser login; ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
	if err == nil {
		err = affectedOne(tag)
	}
	if err != nil {
		return fmt.Errorf("postgres: cannot delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of one user.
func (s *Store) DeleteUserSessions(ctx context.Context, tenant, userName string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE tenant = $1 AND user_name = $2`, tenant, userName); err != nil {
		return fmt.Errorf("postgres: cannot end the sessions of %s@%s: %w", userName, tenant, err)
	}
	return nil
}
