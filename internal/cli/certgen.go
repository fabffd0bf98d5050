package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"callvault/internal/certs"
)

// certgenMain is "callvault certgen": openssl genrsa followed by
// openssl req -new -x509, as the guide's "Generating a self-signed
// certificate key pair using OpenSSL".
type certgenMain struct {
	app      *App
	subject  string
	days     int
	bits     int
	certPath string
	keyPath  string
	pkcs8    bool
	force    bool
}

func (m *certgenMain) ParseFlags(args []string) error {
	fs := newFlagSet("certgen")
	fs.StringVar(&m.subject, "subj", "", `certificate subject, e.g. "/CN=Genesys Recording/C=US/ST=California/O=Genesys" (required)`)
	fs.IntVar(&m.days, "days", 3650, "validity period in days")
	fs.IntVar(&m.bits, "bits", 2048, "RSA key size in bits (2048 or more)")
	fs.StringVar(&m.certPath, "out", "", "certificate file to write, PEM (required)")
	fs.StringVar(&m.keyPath, "keyout", "", "private key file to write, PEM, mode 0600 (required)")
	fs.BoolVar(&m.pkcs8, "pkcs8", false, `write the key as PKCS#8 ("PRIVATE KEY") instead of PKCS#1 ("RSA PRIVATE KEY")`)
	fs.BoolVar(&m.force, "force", false, "overwrite existing files")
	positional, err := m.app.parseFlags(fs, "-subj SUBJECT -out CERT.pem -keyout KEY.pem [-days N] [-bits N] [-pkcs8] [-force]", args)
	if err != nil {
		return err
	}
	switch {
	case m.subject == "":
		return usagef("-subj is required")
	case m.certPath == "":
		return usagef("-out is required")
	case m.keyPath == "":
		return usagef("-keyout is required")
	case m.certPath == "-" || m.keyPath == "-":
		return usagef("-out and -keyout must be files")
	case filepath.Clean(m.certPath) == filepath.Clean(m.keyPath):
		return usagef("-out and -keyout must be different files")
	case m.days < 1:
		return usagef("-days must be 1 or more")
	case m.bits < 2048 || m.bits > 16384:
		return usagef("-bits must be between 2048 and 16384")
	}
	if _, err := certs.ParseSubject(m.subject); err != nil {
		return usagef("-subj: %v", err)
	}
	return noPositional(positional)
}

func (m *certgenMain) Run(ctx context.Context) error {
	if !m.force {
		for _, path := range []string{m.certPath, m.keyPath} {
			if _, err := os.Lstat(path); err == nil {
				return fmt.Errorf("%s already exists; use -force to overwrite it", path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("cannot check %s: %w", path, pathless(err))
			}
		}
	}
	pair, err := certs.Generate(certs.GenerateOptions{Subject: m.subject, Days: m.days, Bits: m.bits, Now: m.app.Now()})
	if err != nil {
		return fmt.Errorf("cannot generate certificate: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	keyPEM, err := certs.EncodePrivateKeyPEM(pair.Key, m.pkcs8)
	if err != nil {
		return fmt.Errorf("cannot encode private key: %w", err)
	}
	// Both files are complete on disk before either gets its final name, so
	// a failure cannot leave a certificate without its key.
	keyFile, err := writeTemp(m.keyPath, keyPEM, 0o600)
	if err != nil {
		return err
	}
	defer keyFile.Abort()
	certFile, err := writeTemp(m.certPath, certs.EncodeCertificatePEM(pair.Cert), 0o644)
	if err != nil {
		return err
	}
	defer certFile.Abort()
	if err := keyFile.Commit(); err != nil {
		return err
	}
	if err := certFile.Commit(); err != nil {
		return err
	}

	info := pair.Info
	fmt.Fprintf(m.app.Stdout, "Alias:          %s\n", info.Alias)
	fmt.Fprintf(m.app.Stdout, "Subject Name:   %s\n", info.SubjectName)
	fmt.Fprintf(m.app.Stdout, "Serial Number:  %s\n", info.SerialNumber)
	fmt.Fprintf(m.app.Stdout, "Subject DN:     %s\n", info.SubjectDN)
	fmt.Fprintf(m.app.Stdout, "Issuer DN:      %s\n", info.IssuerDN)
	fmt.Fprintf(m.app.Stdout, "Expires:        %s\n", info.Expires.UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(m.app.Stdout, "Certificate:    %s\n", m.certPath)
	fmt.Fprintf(m.app.Stdout, "Private key:    %s (keep it safe: recordings cannot be played without it)\n", m.keyPath)
	return nil
}

// writeTemp writes data to the temporary file of path; the caller commits it.
func writeTemp(path string, data []byte, perm fs.FileMode) (*atomicFile, error) {
	f, err := createAtomic(path, perm)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return nil, fmt.Errorf("cannot write %s: %w", path, pathless(err))
	}
	return f, nil
}
