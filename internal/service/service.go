// Package service is callvault's application logic: who may do what,
// ingest with encryption on the way in, certificates and keys, search,
// playback and retention. It speaks in vault's terms; the HTTP layer only
// translates.
package service

import (
	"callvault/internal/audit"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"callvault/internal/access"
	"callvault/internal/keystore"
	"callvault/internal/vault"
)

// Service holds the stores and the clock.
type Service struct {
	Store vault.Store
	Blobs vault.BlobStore
	Keys  *keystore.Keystore
	Log   *slog.Logger
	// Now is the clock; nil means time.Now. Retention and expiry use it.
	Now func() time.Time
	// MediaSource describes where backup clients fetch media from, for
	// GET /me/settings/rcbs. With S3, S3.Prefix is the bucket prefix of
	// the blob store (each tenant's media lie under Prefix + tenant + "/").
	MediaSource RCBSSettings

	// Queue is the job queue's view of its jobs; nil when none runs
	// (then nothing that needs a job can start).
	Queue JobQueue
	// DisableAudit turns the audit trail off. Only benchmarks that
	// measure the trail's cost set it; serve never does.
	DisableAudit bool
	// RewrapWorkers is how many files a re-wrap job works on at once
	// (0: the number of CPUs, at least 2).
	RewrapWorkers int

	// Video muxes and trims MP4 (ffmpeg); nil: no muxing, and cut-short
	// screen files are kept without trimming.
	Video VideoTool
	// Analytics is the speech analytics pipeline; nil: recordings are
	// not analysed and topics cannot be checked.
	Analytics Analyzer

	heldMu sync.Mutex
	held   map[string]int

	screen    screenHub
	verified  verifiedCache
	played    playCache
	dummyOnce sync.Once
	dummy     string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

var errForbidden = vault.Errorf(vault.EFORBIDDEN, "your role does not allow this")

// requireRole fails unless the caller holds one of the roles.
func requireRole(u *vault.User, roles ...vault.Role) error {
	if u == nil {
		return vault.Errorf(vault.EUNAUTHORIZED, "log in first")
	}
	for _, r := range roles {
		if u.HasRole(r) {
			return nil
		}
	}
	return errForbidden
}

// viewer fails for callers who may not search or play at all (recorders),
// and returns the access of the others.
func viewer(u *vault.User) (vault.Access, error) {
	if err := requireRole(u, vault.RoleAdmin, vault.RoleSupervisor, vault.RoleAgent); err != nil {
		return vault.Access{}, err
	}
	return access.ForUser(*u), nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)

// CheckName validates a tenant or user name: letters, digits, '.', '_',
// '+', '-', starting with a letter or digit.
func CheckName(kind, name string) error {
	if !namePattern.MatchString(name) {
		return vault.Errorf(vault.EINVALID, "%s %q: use 1-128 letters, digits, '.', '_', '+' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

// InitTenant creates a tenant and its first administrator, who belongs to
// access group "/" (sees everything).
func (s *Service) InitTenant(ctx context.Context, tenant, adminName, password string) (*vault.User, error) {
	if err := CheckName("tenant", tenant); err != nil {
		return nil, err
	}
	if err := CheckName("user", adminName); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	if err := s.Store.CreateTenant(ctx, vault.Tenant{Name: tenant, CreatedAt: s.now()}); err != nil {
		if errors.Is(err, vault.ErrConflict) {
			return nil, vault.Errorf(vault.ECONFLICT, "tenant %q exists already", tenant)
		}
		return nil, err
	}
	u := vault.User{Tenant: tenant, Name: adminName, Roles: []vault.Role{vault.RoleAdmin}, AccessGroups: []string{"/"},
		PasswordHash: hash, CreatedAt: s.now(), UpdatedAt: s.now()}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return &u, nil
}

// UserInput is what POST/PUT /users take.
type UserInput struct {
	UserName       string       `json:"userName"`
	Password       *string      `json:"password,omitempty"`
	Roles          []vault.Role `json:"roles"`
	AgentHierarchy *string      `json:"agentHierarchy,omitempty"`
	AccessGroups   []string     `json:"accessGroups"`
	FirstName      *string      `json:"firstName,omitempty"`
	LastName       *string      `json:"lastName,omitempty"`
	Email          *string      `json:"email,omitempty"`
	Disabled       *bool        `json:"disabled,omitempty"`
}

func normalizeUser(in UserInput, u *vault.User) error {
	if in.Roles != nil {
		if len(in.Roles) == 0 {
			return vault.Errorf(vault.EINVALID, "roles: give at least one of admin, supervisor, agent, recorder")
		}
		for _, r := range in.Roles {
			if !vault.ValidRole(r) {
				return vault.Errorf(vault.EINVALID, "roles: %q is not one of admin, supervisor, agent, recorder", r)
			}
		}
		u.Roles = slices.Compact(slices.Sorted(slices.Values(in.Roles)))
	}
	if in.AgentHierarchy != nil {
		u.AgentHierarchy = ""
		if *in.AgentHierarchy != "" {
			h, err := access.NormalizePath(*in.AgentHierarchy)
			if err != nil {
				return vault.Wrap(vault.EINVALID, err, "agentHierarchy %q is not a path like /Anthony/John", *in.AgentHierarchy)
			}
			u.AgentHierarchy = h
		}
	}
	if in.AccessGroups != nil {
		groups := make([]string, 0, len(in.AccessGroups))
		for _, g := range in.AccessGroups {
			n, err := access.NormalizePath(g)
			if err != nil {
				return vault.Wrap(vault.EINVALID, err, "accessGroups: %q is not a path like /sales or /Anthony", g)
			}
			groups = append(groups, n)
		}
		u.AccessGroups = slices.Compact(slices.Sorted(slices.Values(groups)))
	}
	for _, f := range []struct {
		name  string
		in    *string
		out   *string
		check func(string) bool
	}{
		{"firstName", in.FirstName, &u.FirstName, nil},
		{"lastName", in.LastName, &u.LastName, nil},
		{"email", in.Email, &u.Email, validEmail},
	} {
		if f.in == nil {
			continue
		}
		v := strings.TrimSpace(*f.in)
		switch {
		case len(v) > 200:
			return vault.Errorf(vault.EINVALID, "%s: at most 200 characters", f.name)
		case strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
			return vault.Errorf(vault.EINVALID, "%s must not contain control characters", f.name)
		case v != "" && f.check != nil && !f.check(v):
			return vault.Errorf(vault.EINVALID, "%s %q is not an e-mail address like jane@example.com", f.name, v)
		}
		*f.out = v
	}
	if in.Disabled != nil {
		u.Disabled = *in.Disabled
	}
	if in.Password != nil {
		hash, err := HashPassword(*in.Password)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
	}
	return nil
}

// validEmail is a sanity check (one '@', something on each side, a dot
// in the domain), not RFC 5322: the address is shown, never mailed.
func validEmail(v string) bool {
	local, domain, ok := strings.Cut(v, "@")
	return ok && local != "" && !strings.ContainsAny(v, " <>,;\\\"") && !strings.Contains(domain, "@") &&
		strings.Contains(strings.Trim(domain, "."), ".")
}

// CreateUser adds a user to the caller's tenant (admins only).
func (s *Service) CreateUser(ctx context.Context, caller *vault.User, in UserInput) (*vault.User, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	if err := CheckName("userName", in.UserName); err != nil {
		return nil, err
	}
	if in.Password == nil {
		return nil, vault.Errorf(vault.EINVALID, "password is required")
	}
	if in.Roles == nil {
		in.Roles = []vault.Role{vault.RoleAgent}
	}
	u := vault.User{Tenant: caller.Tenant, Name: in.UserName, AccessGroups: []string{}, CreatedAt: s.now(), UpdatedAt: s.now()}
	if err := normalizeUser(in, &u); err != nil {
		return nil, err
	}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, vault.ErrConflict) {
			return nil, vault.Errorf(vault.ECONFLICT, "user %q exists already", in.UserName)
		}
		return nil, err
	}
	s.audited(ctx, caller, "user.create", u.Name, audit.Details("roles", u.Roles, "accessGroups", u.AccessGroups, "agentHierarchy", u.AgentHierarchy))
	s.log().Info("user created", "tenant", u.Tenant, "user", u.Name, "by", caller.Name, "roles", u.Roles)
	return &u, nil
}

// UpdateUser changes the fields given (admins only).
func (s *Service) UpdateUser(ctx context.Context, caller *vault.User, name string, in UserInput) (*vault.User, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	if in.UserName != "" && in.UserName != name {
		return nil, vault.Errorf(vault.EINVALID, "userName %q in the body differs from %q in the URL", in.UserName, name)
	}
	u, err := s.Store.User(ctx, caller.Tenant, name)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, vault.Errorf(vault.ENOTFOUND, "no user %q", name)
	} else if err != nil {
		return nil, err
	}
	before := u
	if err := normalizeUser(in, &u); err != nil {
		return nil, err
	}
	if u.Name == caller.Name && !u.HasRole(vault.RoleAdmin) {
		return nil, vault.Errorf(vault.EINVALID, "you cannot take the admin role from yourself")
	}
	if u.Name == caller.Name && u.Disabled {
		return nil, vault.Errorf(vault.EINVALID, "you cannot disable yourself")
	}
	u.UpdatedAt = s.now()
	if err := s.Store.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	// A new password, other roles or a disabled account take effect at
	// once: the user's browser sessions end (Basic auth checks the
	// stored hash and roles on every request anyway).
	endSessions := in.Password != nil || !slices.Equal(before.Roles, u.Roles) || u.Disabled && !before.Disabled
	if endSessions {
		if err := s.Store.DeleteUserSessions(ctx, u.Tenant, u.Name); err != nil {
			return nil, errf(err, "cannot end the sessions of %s", u.Name)
		}
	}
	s.audited(ctx, caller, "user.update", u.Name, audit.Details("roles", u.Roles, "accessGroups", u.AccessGroups, "agentHierarchy", u.AgentHierarchy, "disabled", u.Disabled, "passwordChanged", in.Password != nil))
	s.log().Info("user updated", "tenant", u.Tenant, "user", u.Name, "by", caller.Name, "roles", u.Roles,
		"passwordChanged", in.Password != nil, "disabled", u.Disabled, "sessionsEnded", endSessions)
	return &u, nil
}

// DeleteUser removes a user of the caller's tenant and ends their
// sessions (admins only; not oneself). Recordings of the user stay: they
// name the agent, not the account.
func (s *Service) DeleteUser(ctx context.Context, caller *vault.User, name string) error {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return err
	}
	if name == caller.Name {
		return vault.Errorf(vault.EINVALID, "you cannot delete yourself")
	}
	if err := s.Store.DeleteUser(ctx, caller.Tenant, name); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			return vault.Errorf(vault.ENOTFOUND, "no user %q", name)
		}
		return err
	}
	s.audited(ctx, caller, "user.delete", name, nil)
	s.log().Info("user deleted", "tenant", caller.Tenant, "user", name, "by", caller.Name)
	return nil
}

// Users lists the caller's tenant's users (admins only).
func (s *Service) Users(ctx context.Context, caller *vault.User) ([]vault.User, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	return s.Store.Users(ctx, caller.Tenant)
}

// User returns one user of the caller's tenant (admins only).
func (s *Service) User(ctx context.Context, caller *vault.User, name string) (*vault.User, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	u, err := s.Store.User(ctx, caller.Tenant, name)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, vault.Errorf(vault.ENOTFOUND, "no user %q", name)
	}
	return &u, err
}

// RCBSSettings tells a backup client where media can be fetched from.
type RCBSSettings struct {
	MediaSource string      `json:"mediaSource"` // "api" or "s3"
	S3          *S3Location `json:"s3"`
}

// S3Location is a bucket and prefix media can be read from directly.
type S3Location struct {
	Bucket   string `json:"bucket"`
	Prefix   string `json:"prefix"`
	Region   string `json:"region"`
	Endpoint string `json:"endpoint,omitempty"`
}

// Settings returns the backup settings of the caller's tenant.
func (s *Service) Settings(caller *vault.User) (RCBSSettings, error) {
	if _, err := viewer(caller); err != nil {
		return RCBSSettings{}, err
	}
	out := s.MediaSource
	if out.MediaSource == "" {
		out.MediaSource = "api"
	}
	if out.S3 != nil {
		loc := *out.S3
		loc.Prefix = s.StorageKey(caller.Tenant + "/")
		out.S3 = &loc
	}
	return out, nil
}

// StorageKey is the object key, in the S3 bucket backup clients may read,
// of a blob key; "" when media is not in S3.
func (s *Service) StorageKey(blobKey string) string {
	if s.MediaSource.S3 == nil {
		return ""
	}
	return s.MediaSource.S3.Prefix + blobKey
}

func notVisible(kind, id string) error {
	return vault.Errorf(vault.ENOTFOUND, "no %s %q", kind, id)
}

// errf wraps a store error with context unless it is already a caller error.
func errf(err error, format string, args ...any) error {
	var ve *vault.Error
	if errors.As(err, &ve) && ve != vault.ErrNotFound && ve != vault.ErrConflict {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
