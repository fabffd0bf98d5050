package service

import (
	"callvault/internal/audit"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"time"

	"callvault/internal/certs"
	"callvault/internal/keystore"
	"callvault/internal/vault"
)

// certError turns a certs error into a message for the uploader; certs
// messages never hold key material or passwords.
func certError(err error) error {
	switch {
	case errors.Is(err, certs.ErrPasswordRequired):
		return vault.Wrap(vault.EINVALID, err, "the private key is encrypted: give its password")
	case errors.Is(err, certs.ErrWrongPassword):
		return vault.Wrap(vault.EINVALID, err, "the private key password is wrong")
	case errors.Is(err, certs.ErrKeyMismatch):
		return vault.Wrap(vault.EINVALID, err, "the private key does not belong to the certificate")
	case errors.Is(err, certs.ErrKeyTooSmall):
		return vault.Wrap(vault.EINVALID, err, "the RSA key is smaller than 2048 bits")
	}
	return vault.Wrap(vault.EINVALID, err, "%s", err.Error())
}

// UploadCertificate validates a PEM certificate and its private key, seals
// the key in the keystore and records the certificate, optionally
// assigning it for voice and/or screen recordings.
func (s *Service) UploadCertificate(ctx context.Context, caller *vault.User, certPEM, keyPEM, password []byte, assign []vault.Usage) (*vault.Certificate, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	if len(certPEM) == 0 {
		return nil, vault.Errorf(vault.EINVALID, "certificate: choose the certificate file (PEM)")
	}
	if len(keyPEM) == 0 {
		return nil, vault.Errorf(vault.EINVALID, "key: choose the private key file (PEM)")
	}
	usage, err := checkUsages(assign)
	if err != nil {
		return nil, err
	}
	pair, err := certs.LoadPair(certPEM, keyPEM, password)
	if err != nil {
		return nil, certError(err)
	}
	if len(usage) > 0 {
		if err := s.canEncrypt(pair.Cert); err != nil {
			return nil, vault.Wrap(vault.EINVALID, err, "the certificate is expired or not yet valid: it can be stored to decrypt old recordings, but not assigned")
		}
	}
	info := pair.Info
	c := vault.Certificate{
		Tenant: caller.Tenant, Alias: info.Alias, SubjectName: info.SubjectName, SerialNumber: info.SerialNumber,
		SubjectDN: info.SubjectDN, IssuerDN: info.IssuerDN, NotBefore: info.NotBefore, Expires: info.Expires,
		Fingerprint: info.Fingerprint, KeyBits: info.KeyBits, Usage: usage,
		CertPEM: string(certs.EncodeCertificatePEM(pair.Cert)), CreatedAt: s.now(),
	}
	// Key first: a certificate row must never exist without its key.
	if err := s.Keys.PutKey(ctx, caller.Tenant, c.Alias, pair.Key); err != nil {
		return nil, errf(err, "cannot store the private key")
	}
	if err := s.Store.PutCertificate(ctx, c); err != nil {
		if errors.Is(err, vault.ErrConflict) {
			return nil, vault.Errorf(vault.ECONFLICT, "this certificate is uploaded already (alias %s)", c.Alias)
		}
		return nil, err
	}
	s.audited(ctx, caller, "certificate.upload", c.Alias, audit.Details("subjectDN", c.SubjectDN, "serialNumber", c.SerialNumber, "usage", c.Usage))
	s.log().Info("certificate uploaded", "tenant", c.Tenant, "alias", c.Alias, "subject", c.SubjectDN, "by", caller.Name, "usage", c.Usage)
	return &c, nil
}

func checkUsages(in []vault.Usage) ([]vault.Usage, error) {
	out := []vault.Usage{}
	for _, u := range in {
		if u != vault.UsageVoice && u != vault.UsageScreen {
			return nil, vault.Errorf(vault.EINVALID, "usage %q: use voice or screen", u)
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Certificates lists the tenant's certificates; q, when given, keeps those
// whose alias, subject, issuer or serial contains it (case-insensitive), as
// the guide's Quick Filter does.
func (s *Service) Certificates(ctx context.Context, caller *vault.User, q string) ([]vault.Certificate, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	list, err := s.Store.Certificates(ctx, caller.Tenant)
	if err != nil {
		return nil, err
	}
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return list, nil
	}
	out := list[:0]
	for _, c := range list {
		hay := strings.ToLower(strings.Join([]string{c.Alias, c.SubjectName, c.SubjectDN, c.IssuerDN, c.SerialNumber, c.Expires.Format("2006-01-02")}, "\n"))
		if strings.Contains(hay, q) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Certificate returns one certificate.
func (s *Service) Certificate(ctx context.Context, caller *vault.User, alias string) (*vault.Certificate, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	c, err := s.Store.Certificate(ctx, caller.Tenant, alias)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("certificate", alias)
	}
	return &c, err
}

// SetUsage assigns (on) or unassigns a certificate for voice or screen
// recordings. It affects only recordings stored from now on.
func (s *Service) SetUsage(ctx context.Context, caller *vault.User, alias string, usage vault.Usage, on bool) (*vault.Certificate, error) {
	c, err := s.Certificate(ctx, caller, alias)
	if err != nil {
		return nil, err
	}
	if _, err := checkUsages([]vault.Usage{usage}); err != nil {
		return nil, err
	}
	next := slices.DeleteFunc(slices.Clone(c.Usage), func(u vault.Usage) bool { return u == usage })
	if on {
		cert, err := certs.ParseCertificatePEM([]byte(c.CertPEM))
		if err != nil {
			return nil, err
		}
		if err := s.canEncrypt(cert); err != nil {
			return nil, vault.Wrap(vault.EINVALID, err, "certificate %s has expired (or is not valid yet): it cannot encrypt new recordings", alias)
		}
		next = append(next, usage)
	}
	slices.Sort(next)
	if err := s.Store.SetCertificateUsage(ctx, caller.Tenant, alias, next); err != nil {
		return nil, err
	}
	c.Usage = next
	s.audited(ctx, caller, map[bool]string{true: "certificate.assign", false: "certificate.unassign"}[on], alias, audit.Details("usage", string(usage)))
	s.log().Info("certificate usage changed", "tenant", caller.Tenant, "alias", alias, "usage", string(usage), "assigned", on, "by", caller.Name)
	return c, nil
}

// DeleteCertificate removes a certificate and its key, refused while any
// stored media file is encrypted for it.
func (s *Service) DeleteCertificate(ctx context.Context, caller *vault.User, alias string) error {
	if _, err := s.Certificate(ctx, caller, alias); err != nil {
		return err
	}
	if err := s.Store.DeleteCertificate(ctx, caller.Tenant, alias); err != nil {
		if errors.Is(err, vault.ErrConflict) {
			return vault.Errorf(vault.ECONFLICT, "certificate %s still encrypts stored recordings; deleting it would make them unplayable", alias)
		}
		return err
	}
	if err := s.Keys.DeleteKey(ctx, caller.Tenant, alias); err != nil && !errors.Is(err, keystore.ErrNotFound) {
		return errf(err, "cannot delete the private key of %s", alias)
	}
	s.audited(ctx, caller, "certificate.delete", alias, nil)
	s.log().Info("certificate deleted", "tenant", caller.Tenant, "alias", alias, "by", caller.Name)
	return nil
}

// encryptionCerts returns the certificates assigned for usage that can
// encrypt now.
func (s *Service) encryptionCerts(ctx context.Context, tenant string, usage vault.Usage) ([]*x509.Certificate, []string, error) {
	list, err := s.Store.RecipientCertificates(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	var out []*x509.Certificate
	var aliases []string
	for _, c := range list {
		if !slices.Contains(c.Usage, usage) {
			continue
		}
		cert, err := certs.ParseCertificatePEM([]byte(c.CertPEM))
		if err != nil {
			return nil, nil, errf(err, "cannot read certificate %s", c.Alias)
		}
		if s.canEncrypt(cert) != nil {
			s.log().Warn("assigned certificate has expired and no longer encrypts", "tenant", tenant, "alias", c.Alias, "expires", c.Expires)
			continue
		}
		out = append(out, cert)
		aliases = append(aliases, c.Alias)
	}
	return out, aliases, nil
}

// keyFor returns a private key of the tenant for one of the aliases.
func (s *Service) keyFor(ctx context.Context, tenant string, aliases []string) (*rsa.PrivateKey, error) {
	for _, alias := range aliases {
		key, err := s.Keys.Key(ctx, tenant, alias)
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, keystore.ErrNotFound) {
			return nil, errf(err, "cannot open the key of %s", alias)
		}
	}
	return nil, vault.Errorf(vault.ECONFLICT, "no private key of this tenant opens the file (certificates %s)", strings.Join(aliases, ", "))
}

// StoreBackend keeps sealed keys in the metadata store, so every replica
// sees the same keys. It adapts vault.Store to keystore.Backend.
type StoreBackend struct{ Store vault.Store }

func mapKeyErr(err error) error {
	if errors.Is(err, vault.ErrNotFound) {
		return keystore.ErrNotFound
	}
	return err
}

// Put implements keystore.Backend.
func (b StoreBackend) Put(ctx context.Context, tenant, alias string, sealed []byte) error {
	return b.Store.PutSealedKey(ctx, tenant, alias, sealed)
}

// Get implements keystore.Backend.
func (b StoreBackend) Get(ctx context.Context, tenant, alias string) ([]byte, error) {
	sealed, err := b.Store.SealedKey(ctx, tenant, alias)
	return sealed, mapKeyErr(err)
}

// Delete implements keystore.Backend.
func (b StoreBackend) Delete(ctx context.Context, tenant, alias string) error {
	return mapKeyErr(b.Store.DeleteSealedKey(ctx, tenant, alias))
}

// List implements keystore.Backend.
func (b StoreBackend) List(ctx context.Context, tenant string) ([]string, error) {
	return b.Store.SealedKeyAliases(ctx, tenant)
}

// clockSkew is how far in the future a certificate's start of validity may
// lie and still count as valid: a certificate made a moment ago on a
// machine whose clock runs ahead must be usable at once.
const clockSkew = time.Hour

// canEncrypt reports whether cert may encrypt new media now.
func (s *Service) canEncrypt(cert *x509.Certificate) error {
	now := s.now()
	if now.Before(cert.NotBefore) && cert.NotBefore.Sub(now) < clockSkew {
		now = cert.NotBefore
	}
	return certs.CanEncrypt(cert, now)
}
