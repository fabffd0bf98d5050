package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"callvault/internal/vault"
)

// PutCertificate stores a certificate; ErrConflict if the alias exists,
// ErrNotFound if the tenant does not.
func (s *Store) PutCertificate(ctx context.Context, c vault.Certificate) error {
	createdAt := c.CreatedAt
	if createdAt.IsZero() {
		createdAt = s.now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO certificates
		(tenant, alias, subject_name, serial_number, subject_dn, issuer_dn, not_before_ms, expires_ms,
		 fingerprint, key_bits, usage, cert_pem, created_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		c.Tenant, c.Alias, c.SubjectName, c.SerialNumber, c.SubjectDN, c.IssuerDN, toMS(c.NotBefore), toMS(c.Expires),
		c.Fingerprint, c.KeyBits, textArray(c.Usage), c.CertPEM, toMS(createdAt))
	if err != nil {
		return fmt.Errorf("postgres: cannot store certificate %q of tenant %q: %w", c.Alias, c.Tenant, classify(err))
	}
	return nil
}

// certificateQuery selects certificates with their DeployedCount, which
// the media_certs primary key answers without a scan.
const certificateQuery = `SELECT c.tenant, c.alias, c.subject_name, c.serial_number, c.subject_dn, c.issuer_dn,
	c.not_before_ms, c.expires_ms, c.fingerprint, c.key_bits, c.usage, c.cert_pem, c.created_ms,
	(SELECT count(*) FROM media_certs m WHERE m.tenant = c.tenant AND m.alias = c.alias)
	FROM certificates c`

// uncountedCertificateQuery is certificateQuery with 0 for DeployedCount.
const uncountedCertificateQuery = `SELECT c.tenant, c.alias, c.subject_name, c.serial_number, c.subject_dn, c.issuer_dn,
	c.not_before_ms, c.expires_ms, c.fingerprint, c.key_bits, c.usage, c.cert_pem, c.created_ms, 0
	FROM certificates c`

// Certificate returns one, with DeployedCount; ErrNotFound.
func (s *Store) Certificate(ctx context.Context, tenant, alias string) (vault.Certificate, error) {
	c, err := scanCertificate(s.pool.QueryRow(ctx, certificateQuery+` WHERE c.tenant = $1 AND c.alias = $2`, tenant, alias))
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.Certificate{}, fmt.Errorf("postgres: cannot find certificate %q of tenant %q: %w", alias, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.Certificate{}, fmt.Errorf("postgres: cannot read certificate %q of tenant %q: %w", alias, tenant, err)
	}
	return c, nil
}

// RecipientCertificates lists a tenant's certificates without
// DeployedCount, sorted by alias: the ingest path's query.
func (s *Store) RecipientCertificates(ctx context.Context, tenant string) ([]vault.Certificate, error) {
	return s.listCertificates(ctx, uncountedCertificateQuery, tenant)
}

// Certificates lists a tenant's certificates with DeployedCount, sorted by
// alias.
func (s *Store) Certificates(ctx context.Context, tenant string) ([]vault.Certificate, error) {
	return s.listCertificates(ctx, certificateQuery, tenant)
}

// listCertificates runs query (certificateQuery or its uncounted form)
// for one tenant's certificates, sorted by alias.
func (s *Store) listCertificates(ctx context.Context, query, tenant string) ([]vault.Certificate, error) {
	rows, err := s.pool.Query(ctx, query+` WHERE c.tenant = $1 ORDER BY c.alias`, tenant)
	if err == nil {
		var certs []vault.Certificate
		if certs, err = collect(rows, scanCertificate); err == nil {
			return certs, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list certificates of tenant %q: %w", tenant, err)
}

func scanCertificate(row scanner) (vault.Certificate, error) {
	var (
		c                                 vault.Certificate
		notBeforeMS, expiresMS, createdMS int64
		usage                             []string
		deployed                          int64
	)
	err := row.Scan(&c.Tenant, &c.Alias, &c.SubjectName, &c.SerialNumber, &c.SubjectDN, &c.IssuerDN,
		&notBeforeMS, &expiresMS, &c.Fingerprint, &c.KeyBits, &usage, &c.CertPEM, &createdMS, &deployed)
	if err != nil {
		return vault.Certificate{}, err
	}
	c.Usage = fromTextArray[vault.Usage](usage)
	c.NotBefore, c.Expires, c.CreatedAt = fromMS(notBeforeMS), fromMS(expiresMS), fromMS(createdMS)
	c.DeployedCount = int(deployed)
	return c, nil
}

// SetCertificateUsage replaces which recordings a certificate encrypts;
// ErrNotFound.
func (s *Store) SetCertificateUsage(ctx context.Context, tenant, alias string, usage []vault.Usage) error {
	tag, err := s.pool.Exec(ctx, `UPDATE certificates SET usage = $1 WHERE tenant = $2 AND alias = $3`,
		textArray(usage), tenant, alias)
	if err == nil {
		err = affectedOne(tag)
	}
	if err != nil {
		return fmt.Errorf("postgres: cannot set usage of certificate %q of tenant %q: %w", alias, tenant, err)
	}
	return nil
}

// DeleteCertificate removes it; ErrNotFound if absent, ErrConflict while
// any stored media file is encrypted for it. The certificate's row stays
// locked from the check to the delete, and PutMedia share-locks the
// certificates it records, so a media file stored by another replica is
// either counted or waits for the delete.
func (s *Store) DeleteCertificate(ctx context.Context, tenant, alias string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		err := tx.QueryRow(ctx, `SELECT true FROM certificates WHERE tenant = $1 AND alias = $2 FOR UPDATE`, tenant, alias).Scan(&exists)
		if errors.Is(err, pgx.ErrNoRows) {
			return vault.ErrNotFound
		}
		if err != nil {
			return err
		}
		var deployed int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM media_certs WHERE tenant = $1 AND alias = $2`, tenant, alias).Scan(&deployed); err != nil {
			return err
		}
		if deployed > 0 {
			return fmt.Errorf("%w: %d stored media files are encrypted for it", vault.ErrConflict, deployed)
		}
		_, err = tx.Exec(ctx, `DELETE FROM certificates WHERE tenant = $1 AND alias = $2`, tenant, alias)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot delete certificate %q of tenant %q: %w", alias, tenant, err)
	}
	return nil
}
