package certs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseSubject(t *testing.T) {
	var (
		cn    = asn1.ObjectIdentifier{2, 5, 4, 3}
		c     = asn1.ObjectIdentifier{2, 5, 4, 6}
		st    = asn1.ObjectIdentifier{2, 5, 4, 8}
		o     = asn1.ObjectIdentifier{2, 5, 4, 10}
		uid   = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
		other = asn1.ObjectIdentifier{1, 2, 3, 4}
	)
	one := func(oid asn1.ObjectIdentifier, v string) pkix.RelativeDistinguishedNameSET {
		return pkix.RelativeDistinguishedNameSET{{Type: oid, Value: v}}
	}
	tests := []struct {
		in      string
		want    pkix.RDNSequence
		wantErr bool
	}{
		{in: guideSubject, want: pkix.RDNSequence{one(cn, "Genesys Recording"), one(c, "US"), one(st, "California"), one(o, "Genesys")}},
		{in: "/CN=x/", want: pkix.RDNSequence{one(cn, "x")}},
		{in: "/commonName=x/countryName=US", want: pkix.RDNSequence{one(cn, "x"), one(c, "US")}},
		{in: "/cn=x", want: pkix.RDNSequence{one(cn, "x")}},
		{in: `/CN=a\/b\+c\\d`, want: pkix.RDNSequence{one(cn, `a/b+c\d`)}},
		{in: `/CN=a=b`, want: pkix.RDNSequence{one(cn, "a=b")}},
		{in: `/CN=a+UID=b/O=c`, want: pkix.RDNSequence{{{Type: cn, Value: "a"}, {Type: uid, Value: "b"}}, one(o, "c")}},
		{in: "/1.2.3.4=v", want: pkix.RDNSequence{one(other, "v")}},
		{in: "/2.5.4.3=v", want: pkix.RDNSequence{one(cn, "v")}},
		{in: "", wantErr: true},
		{in: "/", wantErr: true},
		{in: "CN=x", wantErr: true},
		{in: "//CN=x", wantErr: true},
		{in: "/CN=x//O=y", wantErr: true},
		{in: "/CN", wantErr: true},
		{in: "/CN=", wantErr: true},
		{in: "/=x", wantErr: true},
		{in: "/CN=x+", wantErr: true},
		{in: `/CN=x\`, wantErr: true},
		{in: "/XX=x", wantErr: true},
		{in: "/1.2=x", wantErr: false, want: pkix.RDNSequence{one(asn1.ObjectIdentifier{1, 2}, "x")}},
		{in: "/3.1=x", wantErr: true},
		{in: "/1.=x", wantErr: true},
		{in: "/C=USA", wantErr: true},
		{in: "/C=U", wantErr: true},
		{in: "/C=ü1", wantErr: true},
		{in: "/emailAddress=ü@x", wantErr: true},
		{in: "/CN=a\nb", wantErr: true},
		{in: "/CN=" + strings.Repeat("x", 65), wantErr: true},
		{in: "/CN=\xff", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSubject(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadSubject) {
					t.Fatalf("err = %v, want ErrBadSubject", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
