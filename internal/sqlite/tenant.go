package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"callvault/internal/vault"
)

// CreateTenant adds a tenant; ErrConflict if it exists.
func (s *Store) CreateTenant(ctx context.Context, t vault.Tenant) error {
	createdAt := t.CreatedAt
	if createdAt.IsZero() {
		createdAt = s.now()
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO tenants (name, retention_ms, created_ms) VALUES (?, ?, ?)`,
		t.Name, t.Retention.Milliseconds(), toMS(createdAt))
	if err != nil {
		return fmt.Errorf("sqlite: cannot create tenant %q: %w", t.Name, classify(err))
	}
	return nil
}

// Tenant returns one tenant; ErrNotFound.
func (s *Store) Tenant(ctx context.Context, name string) (vault.Tenant, error) {
	row := s.read.QueryRowContext(ctx, `SELECT name, retention_ms, created_ms FROM tenants WHERE name = ?`, name)
	t, err := scanTenant(row)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Tenant{}, fmt.Errorf("sqlite: cannot find tenant %q: %w", name, vault.ErrNotFound)
	}
	if err != nil {
		return vault.Tenant{}, fmt.Errorf("sqlite: cannot read tenant %q: %w", name, err)
	}
	return t, nil
}

// Tenants lists all tenants, sorted by name.
func (s *Store) Tenants(ctx context.Context) ([]vault.Tenant, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT name, retention_ms, created_ms FROM tenants ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list tenants: %w", err)
	}
	defer rows.Close()
	var tenants []vault.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot list tenants: %w", err)
		}
		tenants = append(tenants, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list tenants: %w", err)
	}
	return tenants, nil
}

func scanTenant(row interface{ Scan(...any) error }) (vault.Tenant, error) {
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
	res, err := s.write.ExecContext(ctx, `UPDATE tenants SET retention_ms = ? WHERE name = ?`, retention.Milliseconds(), tenant)
	if err == nil {
		err = affectedOne(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot set retention of tenant %q: %w", tenant, err)
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
	_, err := s.write.ExecContext(ctx, `INSERT INTO users
		(tenant, name, roles, agent_hierarchy, access_groups, password_hash, created_ms, updated_ms,
		 first_name, last_name, email, disabled)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.Tenant, u.Name, marshalList(u.Roles), u.AgentHierarchy, marshalList(u.AccessGroups), u.PasswordHash,
		toMS(createdAt), toMS(updatedAt), u.FirstName, u.LastName, u.Email, u.Disabled)
	if err != nil {
		return fmt.Errorf("sqlite: cannot create user %q of tenant %q: %w", u.Name, u.Tenant, classify(err))
	}
	return nil
}

const userColumns = `tenant, name, roles, agent_hierarchy, access_groups, password_hash, created_ms, updated_ms,
	first_name, last_name, email, disabled`

// User returns one user; ErrNotFound.
func (s *Store) User(ctx context.Context, tenant, name string) (vault.User, error) {
	row := s.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant = ? AND name = ?`, tenant, name)
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.User{}, fmt.Errorf("sqlite: cannot find user %q of tenant %q: %w", name, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.User{}, fmt.Errorf("sqlite: cannot read user %q of tenant %q: %w", name, tenant, err)
	}
	return u, nil
}

// Users lists a tenant's users, sorted by name.
func (s *Store) Users(ctx context.Context, tenant string) ([]vault.User, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant = ? ORDER BY name`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list users of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var users []vault.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot list users of tenant %q: %w", tenant, err)
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list users of tenant %q: %w", tenant, err)
	}
	return users, nil
}

func scanUser(row interface{ Scan(...any) error }) (vault.User, error) {
	var (
		u                    vault.User
		roles, groups        string
		createdMS, updatedMS int64
	)
	err := row.Scan(&u.Tenant, &u.Name, &roles, &u.AgentHierarchy, &groups, &u.PasswordHash, &createdMS, &updatedMS,
		&u.FirstName, &u.LastName, &u.Email, &u.Disabled)
	if err != nil {
		return vault.User{}, err
	}
	if u.Roles, err = unmarshalList[vault.Role](roles); err != nil {
		return vault.User{}, err
	}
	if u.AccessGroups, err = unmarshalList[string](groups); err != nil {
		return vault.User{}, err
	}
	u.CreatedAt, u.UpdatedAt = fromMS(createdMS), fromMS(updatedMS)
	return u, nil
}

// UpdateUser replaces a user's roles, hierarchy, groups, names, e-mail,
// disabled flag and (when not empty) password hash; ErrNotFound.
func (s *Store) UpdateUser(ctx context.Context, u vault.User) error {
	// The caller's UpdatedAt is what it read; the change happens now.
	updatedAt := s.now()
	res, err := s.write.ExecContext(ctx, `UPDATE users SET
		roles = ?, agent_hierarchy = ?, access_groups = ?,
		password_hash = CASE WHEN ? = '' THEN password_hash ELSE ? END,
		first_name = ?, last_name = ?, email = ?, disabled = ?,
		updated_ms = ?
		WHERE tenant = ? AND name = ?`,
		marshalList(u.Roles), u.AgentHierarchy, marshalList(u.AccessGroups),
		u.PasswordHash, u.PasswordHash, u.FirstName, u.LastName, u.Email, u.Disabled,
		toMS(updatedAt), u.Tenant, u.Name)
	if err == nil {
		err = affectedOne(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot update user %q of tenant %q: %w", u.Name, u.Tenant, err)
	}
	return nil
}

// DeleteUser removes a user and their sessions; ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, tenant, name string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE tenant = ? AND name = ?`, tenant, name)
		if err == nil {
			err = affectedOne(res)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE tenant = ? AND user_name = ?`, tenant, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: cannot delete user %q of tenant %q: %w", name, tenant, err)
	}
	return nil
}
