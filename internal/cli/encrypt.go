package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"

	"callvault/internal/certs"
	"callvault/internal/cms"
)

// encryptMain is "callvault encrypt", the counterpart of
// openssl cms -encrypt -binary -outform DER [-aes128|-aes256] cert.pem.
type encryptMain struct {
	app     *App
	in      string
	out     string
	recips  stringList
	aes128  bool
	aes256  bool
	stream  bool
	outform string
}

func (m *encryptMain) ParseFlags(args []string) error {
	fs := newFlagSet("encrypt")
	fs.StringVar(&m.in, "in", "", `file to encrypt, "-" for stdin (required)`)
	fs.StringVar(&m.out, "out", "", `encrypted file to write, "-" for stdout (required)`)
	fs.Var(&m.recips, "recip", "recipient certificate, PEM; repeat for more (certificate files may also follow the flags, as with openssl)")
	fs.BoolVar(&m.aes128, "aes128", false, "encrypt the content with AES-128-CBC (the default)")
	fs.BoolVar(&m.aes256, "aes256", false, "encrypt the content with AES-256-CBC")
	fs.BoolVar(&m.stream, "stream", false, "write indefinite-length BER without reading the input size first (implied by -in -)")
	fs.StringVar(&m.outform, "outform", "DER", "output format; only DER (accepted for openssl compatibility)")
	fs.Bool("binary", false, "ignored (accepted for openssl compatibility: input is always binary)")
	positional, err := m.app.parseFlags(fs, "-in FILE -out FILE.bin -recip CERT.pem [-recip CERT.pem …] [-aes128|-aes256] [-stream]", args)
	if err != nil {
		return err
	}
	m.recips = append(m.recips, positional...)
	switch {
	case m.in == "":
		return usagef("-in is required")
	case m.out == "":
		return usagef("-out is required")
	case len(m.recips) == 0:
		return usagef("-recip is required")
	case m.aes128 && m.aes256:
		return usagef("give -aes128 or -aes256, not both")
	case !strings.EqualFold(m.outform, "DER"):
		return usagef("-outform %s is not supported; only DER", m.outform)
	}
	return nil
}

func (m *encryptMain) Run(ctx context.Context) error {
	recipients := make([]*x509.Certificate, 0, len(m.recips))
	now := m.app.Now()
	for _, path := range m.recips {
		cert, err := readCertificate(path)
		if err != nil {
			return err
		}
		if err := certs.CanEncrypt(cert, now); err != nil {
			return fmt.Errorf("cannot encrypt for %s: %w", path, err)
		}
		recipients = append(recipients, cert)
	}
	opts := cms.Options{Cipher: cms.AES128CBC}
	if m.aes256 {
		opts.Cipher = cms.AES256CBC
	}

	src, size, closeSrc, err := m.app.openInput(m.in)
	if err != nil {
		return err
	}
	defer closeSrc()
	if m.stream {
		size = -1
	}
	out, err := m.app.createOutput(m.out, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()

	var enc io.WriteCloser
	if size < 0 {
		enc, err = cms.NewStreamWriter(out, recipients, opts)
	} else {
		enc, err = cms.NewWriter(out, size, recipients, opts)
	}
	if err != nil {
		return fmt.Errorf("cannot encrypt %s: %w", m.in, err)
	}
	if _, err := io.CopyBuffer(enc, ctxReader{ctx, src}, make([]byte, bufSize)); err != nil {
		return fmt.Errorf("cannot encrypt %s: %w", m.in, err)
	}
	// Close checks that exactly size bytes came in, so a file that changed
	// while it was read fails here instead of producing a corrupt output.
	if err := enc.Close(); err != nil {
		return fmt.Errorf("cannot encrypt %s: %w", m.in, err)
	}
	return out.Commit()
}

func readCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read certificate %s: %w", path, pathless(err))
	}
	cert, err := certs.ParseCertificatePEM(data)
	if err != nil {
		return nil, fmt.Errorf("cannot read certificate %s: %w", path, err)
	}
	return cert, nil
}
