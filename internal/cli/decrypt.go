package cli

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"callvault/internal/certs"
	"callvault/internal/cms"
)

// decryptMain is "callvault decrypt", the counterpart of the guide's
// openssl cms -decrypt -inform DER -in F -binary -inkey tenant.key -out OUT.
type decryptMain struct {
	app    *App
	in     string
	out    string
	inkey  string
	passin string
	recip  string
	inform string
}

func (m *decryptMain) ParseFlags(args []string) error {
	fs := newFlagSet("decrypt")
	fs.StringVar(&m.in, "in", "", `encrypted file, "-" for stdin (required)`)
	fs.StringVar(&m.out, "out", "", `decrypted file to write, mode 0600, "-" for stdout (required)`)
	fs.StringVar(&m.inkey, "inkey", "", "recipient private key, PEM: PKCS#1, PKCS#8 or encrypted (required)")
	fs.StringVar(&m.passin, "passin", "", "private key password source: pass:PASSWORD, env:VAR, file:PATH, fd:N or stdin")
	fs.StringVar(&m.recip, "recip", "", "recipient certificate, PEM, to pick the matching recipient")
	fs.StringVar(&m.inform, "inform", "DER", "input format; only DER (accepted for openssl compatibility)")
	fs.Bool("binary", false, "ignored (accepted for openssl compatibility: output is always binary)")
	positional, err := m.app.parseFlags(fs, "-in FILE.bin -inkey KEY.pem -out FILE [-passin SOURCE] [-recip CERT.pem]", args)
	if err != nil {
		return err
	}
	switch {
	case m.in == "":
		return usagef("-in is required")
	case m.out == "":
		return usagef("-out is required")
	case m.inkey == "":
		return usagef("-inkey is required")
	case !strings.EqualFold(m.inform, "DER"):
		return usagef("-inform %s is not supported; only DER", m.inform)
	case m.in == "-" && m.passin == "stdin":
		return usagef("-in - and -passin stdin cannot both read stdin")
	}
	if err := checkPassSource(m.passin); err != nil {
		return err
	}
	return noPositional(positional)
}

func (m *decryptMain) Run(ctx context.Context) error {
	key, err := m.readKey()
	if err != nil {
		return err
	}
	var cert *x509.Certificate
	if m.recip != "" {
		if cert, err = readCertificate(m.recip); err != nil {
			return err
		}
	}

	src, _, closeSrc, err := m.app.openInput(m.in)
	if err != nil {
		return err
	}
	defer closeSrc()
	// Decrypted recordings are as sensitive as the key: owner only.
	out, err := m.app.createOutput(m.out, 0o600)
	if err != nil {
		return err
	}
	// On failure Decrypt may already have written plaintext; Abort removes it.
	defer out.Abort()
	if _, err := cms.Decrypt(out, bufio.NewReaderSize(ctxReader{ctx, src}, bufSize), key, cert); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot decrypt %s: %w", m.in, err)
	}
	return out.Commit()
}

func (m *decryptMain) readKey() (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(m.inkey)
	if err != nil {
		return nil, fmt.Errorf("cannot read key %s: %w", m.inkey, pathless(err))
	}
	password, err := m.app.readPassword(m.passin)
	if err != nil {
		return nil, err
	}
	key, err := certs.ParsePrivateKeyPEM(data, password)
	clear(password)
	switch {
	case errors.Is(err, certs.ErrPasswordRequired):
		return nil, fmt.Errorf("cannot read key %s: %w (give it with -passin)", m.inkey, err)
	case err != nil:
		return nil, fmt.Errorf("cannot read key %s: %w", m.inkey, err)
	}
	return key, nil
}
