package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"callvault/internal/vault"
)

// PutSealedKey stores a sealed private key, replacing any previous one.
func (s *Store) PutSealedKey(ctx context.Context, tenant, alias string, sealed []byte) error {
	if sealed == nil {
		sealed = []byte{} // the column is NOT NULL; an empty blob is still a blob
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO sealed_keys (tenant, alias, sealed) VALUES (?, ?, ?)
		ON CONFLICT (tenant, alias) DO UPDATE SET sealed = excluded.sealed`, tenant, alias, sealed)
	if err != nil {
		return fmt.Errorf("sqlite: cannot store sealed key %q of tenant %q: %w", alias, tenant, err)
	}
	return nil
}

// SealedKey returns a sealed private key; ErrNotFound.
func (s *Store) SealedKey(ctx context.Context, tenant, alias string) ([]byte, error) {
	var sealed []byte
	err := s.read.QueryRowContext(ctx, `SELECT sealed FROM sealed_keys WHERE tenant = ? AND alias = ?`, tenant, alias).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: cannot find sealed key %q of tenant %q: %w", alias, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot read sealed key %q of tenant %q: %w", alias, tenant, err)
	}
	return sealed, nil
}

// DeleteSealedKey removes a sealed private key; ErrNotFound.
func (s *Store) DeleteSealedKey(ctx context.Context, tenant, alias string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM sealed_keys WHERE tenant = ? AND alias = ?`, tenant, alias)
	if err == nil {
		err = affectedOne(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot delete sealed key %q of tenant %q: %w", alias, tenant, err)
	}
	return nil
}

// SealedKeyAliases lists the aliases of a tenant's sealed keys, sorted.
func (s *Store) SealedKeyAliases(ctx context.Context, tenant string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT alias FROM sealed_keys WHERE tenant = ? ORDER BY alias`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list sealed keys of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var aliases []string
	for rows.Next() {
		var alias string
		if err := rows.Scan(&alias); err != nil {
			return nil, fmt.Errorf("sqlite: cannot list sealed keys of tenant %q: %w", tenant, err)
		}
		aliases = append(aliases, alias)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list sealed keys of tenant %q: %w", tenant, err)
	}
	return aliases, nil
}

// CreateSession stores a browser login; ErrConflict if the token hash is
// taken.
func (s *Store) CreateSession(ctx context.Context, sess vault.Session) error {
	_, err := s.write.ExecContext(ctx, `INSERT INTO sessions (token_hash, tenant, user_name, csrf_token, expires_ms)
		VALUES (?, ?, ?, ?, ?)`, sess.TokenHash, sess.Tenant, sess.UserName, sess.CSRFToken, toMS(sess.ExpiresAt))
	if err != nil {
		// Never the token hash in an error: it is as good as the token
		// for finding the session.
		return fmt.Errorf("sqlite: cannot create session of %s@%s: %w", sess.UserName, sess.Tenant, classify(err))
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
	err := s.read.QueryRowContext(ctx, `SELECT token_hash, tenant, user_name, csrf_token, expires_ms
		FROM sessions WHERE token_hash = ?`, tokenHash).
		Scan(&sess.TokenHash, &sess.Tenant, &sess.UserName, &sess.CSRFToken, &expiresMS)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Session{}, fmt.Errorf("sqlite: cannot find session: %w", vault.ErrNotFound)
	}
	if err != nil {
		return vault.Session{}, fmt.Errorf("sqlite: cannot read session: %w", err)
	}
	sess.ExpiresAt = fromMS(expiresMS)
	return sess, nil
}

// DeleteSession removes a browser login; ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
	if err == nil {
		err = affectedOne(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot delete session: %w", err)
	}
	return nil
}

// DeleteUserSessions ends every session of one user.
func (s *Store) DeleteUserSessions(ctx context.Context, tenant, userName string) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM sessions WHERE tenant = ? AND user_name = ?`, tenant, userName); err != nil {
		return fmt.Errorf("sqlite: cannot end the sessions of %s@%s: %w", userName, tenant, err)
	}
	return nil
}
