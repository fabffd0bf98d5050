package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"callvault/internal/vault"
)

// CreateTenant adds a tenant; ErrConflict if it exists.
func (s *Store) CreateTenant(ctx context.Context, t vault.Tenant) error {
	createdAt := t.CreatedAt
	if createdAt.IsZero() {
		createdAt = s.now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO tenants (name, retention_ms, created_ms) VALUES ($1, $2, $3)`,
		t.Name, t.Retention.Milliseconds(), toMS(createdAt))
	if err != nil {
		return fmt.Errorf("postgres: cannot create tenant %q: %w", t.Name, classify(err))
	}
	return nil
}

// Tenant returns one tenant; ErrNotFound.
func (s *Store) Tenant(ctx context.Context, name string) (vault.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, `SELECT name, retention_ms, created_ms FROM tenants WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.Tenant{}, fmt.Errorf("postgres: cannot find tenant %q: %w", name, vault.ErrNotFound)
	}
	if err != nil {
		return vault.Tenant{}, fmt.Errorf("postgres: cannot read tenant %q: %w", name, err)
	}
	return t, nil
}

// Tenants lists all tenants, sorted by name.
func (s *Store) Tenants(ctx context.Context) ([]vault.Tenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, retention_ms, created_ms FROM tenants ORDER BY name`)
	if err == nil {
		var tenants []vault.Tenant
		if tenants, err = collect(rows, scanTenant); err == nil {
			return tenants, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list tenants: %w", err)
}

func scanTenant(row scanner) (vault.Tenant, error) {
	var (
		t                      vault.Tenant
		retentionMS, createdMS int64
	)
	if err := row.Scan(&t.Name, &retentionMS, &createdMS); err != nil {
		return vault.Tenant{}, err
	}
	t.Retention = time.Duration(retentionMS) * time.Millisecond
	t.CreatedAt = fromMS(createdMS)
	return t, nil
}

// SetRetention changes a tenant's retention period; ErrNotFound.
func (s *Store) SetRetention(ctx context.Context, tenant string, retention time.Duration) error {
	tag, err := s.pool.Exec(ctx, `UPDATE tenants SET retention_ms = $1 WHERE name = $2`, retention.Milliseconds(), tenant)
	if err == nil {
		err = affectedOne(tag)
	}
	if err != nil {
		return fmt.Errorf("postgres: cannot set retention of tenant %q: %w", tenant, err)
	}
	return nil
}

// CreateUser adds a user; ErrConflict if the name is taken, ErrNotFound if
// the tenant does not exist.
func (s *Store) CreateUser(ctx context.Context, u vault.User) error {
	createdAt := u.CreatedAt
	if createdAt.IsZero() {
		createdAt = s.now()
	}
	updatedAt := u.UpdatedAt
	if updatedAt.IsZero() {
		updatedAt = createdAt
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO users
		(tenant, name, roles, agent_hierarchy, access_groups, password_hash, created_ms, updated_ms,
		 first_name, last_name, email, disabled)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		u.Tenant, u.Name, textArray(u.Roles), u.AgentHierarchy, textArray(u.AccessGroups), u.PasswordHash,
		toMS(createdAt), toMS(updatedAt), u.FirstName, u.LastName, u.Email, u.Disabled)
	if err != nil {
		return fmt.Errorf("postgres: cannot create user %q of tenant %q: %w", u.Name, u.Tenant, classify(err))
	}
	return nil
}

const userColumns = `tenant, name, roles, agent_hierarchy, access_groups, password_hash, created_ms, updated_ms,
	first_name, last_name, email, disabled`

// User returns one user; ErrNotFound.
func (s *Store) User(ctx context.Context, tenant, name string) (vault.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE tenant = $1 AND name = $2`, tenant, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.User{}, fmt.Errorf("postgres: cannot find user %q of tenant %q: %w", name, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.User{}, fmt.Errorf("postgres: cannot read user %q of tenant %q: %w", name, tenant, err)
	}
	return u, nil
}

// Users lists a tenant's users, sorted by name.
func (s *Store) Users(ctx context.Context, tenant string) ([]vault.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE tenant = $1 ORDER BY name`, tenant)
	if err == nil {
		var users []vault.User
		if users, err = collect(rows, scanUser); err == nil {
			return users, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list users of tenant %q: %w", tenant, err)
}

func scanUser(row scanner) (vault.User, error) {
	var (
		u                    vault.User
		roles, groups        []string
		createdMS, updatedMS int64
	)
	err := row.Scan(&u.Tenant, &u.Name, &roles, &u.AgentHierarchy, &groups, &u.PasswordHash, &createdMS, &updatedMS,
		&u.FirstName, &u.LastName, &u.Email, &u.Disabled)
	if err != nil {
		return vault.User{}, err
	}
	u.Roles = fromTextArray[vault.Role](roles)
	u.AccessGroups = fromTextArray[string](groups)
	u.CreatedAt, u.UpdatedAt = fromMS(createdMS), fromMS(updatedMS)
	return u, nil
}

// UpdateUser replaces a user's roles, hierarchy, groups, names, e-mail,
// disabled flag and (when not empty) password hash; ErrNotFound.
func (s *Store) UpdateUser(ctx context.Context, u vault.User) error {
	// The caller's UpdatedAt is what it read; the change happens now.
	tag, err := s.pool.Exec(ctx, `UPDATE users SET
		roles = $1, agent_hierarchy = $2, access_groups = $3,
		password_hash = CASE WHEN $4::text = '' THEN password_hash ELSE $4::text END,
		updated_ms = $5, first_name = $8, last_name = $9, email = $10, disabled = $11
		WHERE tenant = $6 AND name = $7`,
		textArray(u.Roles), u.AgentHierarchy, textArray(u.AccessGroups), u.PasswordHash, toMS(s.now()), u.Tenant, u.Name,
		u.FirstName, u.LastName, u.Email, u.Disabled)
	if err == nil {
		err = affectedOne(tag)
	}
	if err != nil {
		return fmt.Errorf("postgres: cannot update user %q of tenant %q: %w", u.Name, u.Tenant, err)
	}
	return nil
}

// DeleteUser removes a user and their sessions; ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, tenant, name string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE tenant = $1 AND name = $2`, tenant, name)
		if err == nil {
			err = affectedOne(tag)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE tenant = $1 AND user_name = $2`, tenant, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot delete user %q of tenant %q: %w", name, tenant, err)
	}
	return nil
}
