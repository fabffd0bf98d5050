package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"callvault/internal/vault"
)

// PutCertificate stores a certificate; ErrConflict if the alias exists,
// ErrNotFound if the tenant does not.
func (s *Store) PutCertificate(ctx context.Context, c vault.Certificate) error {
	createdAt := c.CreatedAt
	if createdAt.IsZero() {
		createdAt = s.now()
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO certificates
		(tenant, alias, subject_name, serial_number, subject_dn, issuer_dn, not_before_ms, expires_ms,
		 fingerprint, key_bits, usage, cert_pem, created_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Tenant, c.Alias, c.SubjectName, c.SerialNumber, c.SubjectDN, c.IssuerDN, toMS(c.NotBefore), toMS(c.Expires),
		c.Fingerprint, c.KeyBits, marshalList(c.Usage), c.CertPEM, toMS(createdAt))
	if err != nil {
		return fmt.Errorf("sqlite: cannot store certificate %q of tenant %q: %w", c.Alias, c.Tenant, classify(err))
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
	row := s.read.QueryRowContext(ctx, certificateQuery+` WHERE c.tenant = ? AND c.alias = ?`, tenant, alias)
	c, err := scanCertificate(row)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Certificate{}, fmt.Errorf("sqlite: cannot find certificate %q of tenant %q: %w", alias, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.Certificate{}, fmt.Errorf("sqlite: cannot read certificate %q of tenant %q: %w", alias, tenant, err)
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
	rows, err := s.read.QueryContext(ctx, query+` WHERE c.tenant = ? ORDER BY c.alias`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list certificates of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var certs []vault.Certificate
	for rows.Next() {
		c, err := scanCertificate(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot list certificates of tenant %q: %w", tenant, err)
		}
		certs = append(certs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list certificates of tenant %q: %w", tenant, err)
	}
	return certs, nil
}

func scanCertificate(row interface{ Scan(...any) error }) (vault.Certificate, error) {
	var (
		c                                 vault.Certificate
		notBeforeMS, expiresMS, createdMS int64
		usage                             string
	)
	err := row.Scan(&c.Tenant, &c.Alias, &c.SubjectName, &c.SerialNumber, &c.SubjectDN, &c.IssuerDN,
		&notBeforeMS, &expiresMS, &c.Fingerprint, &c.KeyBits, &usage, &c.CertPEM, &createdMS, &c.DeployedCount)
	if err != nil {
		return vault.Certificate{}, err
	}
	if c.Usage, err = unmarshalList[vault.Usage](usage); err != nil {
		return vault.Certificate{}, err
	}
	c.NotBefore, c.Expires, c.CreatedAt = fromMS(notBeforeMS), fromMS(expiresMS), fromMS(createdMS)
	return c, nil
}

// SetCertificateUsage replaces which recordings a certificate encrypts;
// ErrNotFound.
func (s *Store) SetCertificateUsage(ctx context.Context, tenant, alias string, usage []vault.Usage) error {
	res, err := s.write.ExecContext(ctx, `UPDATE certificates SET usage = ? WHERE tenant = ? AND alias = ?`,
		marshalList(usage), tenant, alias)
	if err == nil {
		err = affectedOne(res)
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot set usage of certificate %q of tenant %q: %w", alias, tenant, err)
	}
	return nil
}

// DeleteCertificate removes it; ErrNotFound if absent, ErrConflict while
// any stored media file is encrypted for it. The check and the delete share
// one write transaction, so no PutMedia can slip in between.
func (s *Store) DeleteCertificate(ctx context.Context, tenant, alias string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var deployed int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM media_certs WHERE tenant = ? AND alias = ?`, tenant, alias).Scan(&deployed)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM certificates WHERE tenant = ? AND alias = ?`, tenant, alias)
		if err != nil {
			return err
		}
		if err := affectedOne(res); err != nil {
			return err
		}
		if deployed > 0 {
			return fmt.Errorf("%w: %d stored media files are encrypted for it", vault.ErrConflict, deployed)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: cannot delete certificate %q of tenant %q: %w", alias, tenant, err)
	}
	return nil
}
