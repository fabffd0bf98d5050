package keystore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const sealedSuffix = ".sealed"

// DirBackend stores each blob as DIR/<tenant>/<alias>.sealed. Writes go to
// a hidden temporary file that is fsynced and renamed into place, so a
// crash never leaves a half-written file under the final name.
type DirBackend struct {
	dir string
}

// NewDirBackend returns a backend rooted at dir, creating it with mode 0700
// if needed.
func NewDirBackend(dir string) (*DirBackend, error) {
	if dir == "" {
		return nil, errors.New("cannot open key directory: no path given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create key directory: %w", err)
	}
	return &DirBackend{dir: dir}, nil
}

func (d *DirBackend) path(tenant, alias string) string {
	return filepath.Join(d.dir, tenant, alias+sealedSuffix)
}

// Put implements Backend.
func (d *DirBackend) Put(ctx context.Context, tenant, alias string, sealed []byte) error {
	if err := checkNames(tenant, alias); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tenantDir := filepath.Join(d.dir, tenant)
	if err := os.MkdirAll(tenantDir, 0o700); err != nil {
		return fmt.Errorf("cannot create tenant directory: %w", err)
	}
	// CreateTemp uses mode 0600.
	tmp, err := os.CreateTemp(tenantDir, "."+alias+".*.tmp")
	if err != nil {
		return fmt.Errorf("cannot create temporary key file: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(sealed); err != nil {
		return fmt.Errorf("cannot write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("cannot sync key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot close key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.path(tenant, alias)); err != nil {
		return fmt.Errorf("cannot move key file into place: %w", err)
	}
	committed = true
	return syncDir(tenantDir)
}

// Get implements Backend.
func (d *DirBackend) Get(ctx context.Context, tenant, alias string) ([]byte, error) {
	if err := checkNames(tenant, alias); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(d.path(tenant, alias))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot read %s/%s: %w", tenant, alias, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read key file: %w", err)
	}
	return data, nil
}

// Delete implements Backend.
func (d *DirBackend) Delete(ctx context.Context, tenant, alias string) error {
	if err := checkNames(tenant, alias); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := os.Remove(d.path(tenant, alias))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot delete %s/%s: %w", tenant, alias, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("cannot delete key file: %w", err)
	}
	return syncDir(filepath.Join(d.dir, tenant))
}

// List implements Backend.
func (d *DirBackend) List(ctx context.Context, tenant string) ([]string, error) {
	if err := CheckName("tenant", tenant); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(d.dir, tenant))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list tenant directory: %w", err)
	}
	aliases := []string{}
	for _, e := range entries {
		name := e.Name()
		// Skips temporary files (leading '.') and anything not ours.
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, sealedSuffix) {
			continue
		}
		aliases = append(aliases, strings.TrimSuffix(name, sealedSuffix))
	}
	slices.Sort(aliases)
	return aliases, nil
}

// syncDir makes a rename or removal in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open directory to sync: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot sync directory: %w", err)
	}
	return nil
}
