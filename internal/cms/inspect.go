package cms

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
)

// RecipientID names one recipient of a message, as the message does: by
// issuer and serial number, or by subject key identifier.
type RecipientID struct {
	Issuer []byte // DER Name
	Serial *big.Int
	KeyID  []byte
}

// Matches reports whether the certificate is the one the recipient names.
func (id RecipientID) Matches(cert *x509.Certificate) bool {
	if id.KeyID != nil {
		return len(cert.SubjectKeyId) > 0 && bytes.Equal(id.KeyID, cert.SubjectKeyId)
	}
	return bytes.Equal(id.Issuer, cert.RawIssuer) && id.Serial != nil && id.Serial.Cmp(cert.SerialNumber) == 0
}

// Inspect reads the header of a CMS EnvelopedData message, without any
// key, and returns the RSA key-transport recipients it names. It reads only
// up to the recipient infos. It lets a server accept a file encrypted
// elsewhere and record which of its certificates can open it.
func Inspect(src io.Reader) ([]RecipientID, error) {
	d := &Reader{r: &berReader{br: bufio.NewReaderSize(src, 4096)}}
	if err := d.readHeaderPart(nil, nil); err != nil {
		return nil, err
	}
	recipients, others, err := parseRecipients(d.riSet)
	if err != nil {
		return nil, err
	}
	if len(recipients) == 0 {
		return nil, fmt.Errorf("%w: no RSA key-transport recipient (%d of other kinds)", ErrUnsupported, others)
	}
	ids := make([]RecipientID, len(recipients))
	for i, r := range recipients {
		ids[i] = RecipientID{Issuer: r.issuer, Serial: r.serial, KeyID: r.keyID}
	}
	return ids, nil
}
