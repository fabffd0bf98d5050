package cms

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestInspect(t *testing.T) {
	fixtures(t)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("hello"), 0o600)
	cases := map[string][]byte{
		"ours":           encryptBytes(t, []byte("hello"), false, AES128CBC, alice.cert, bob.cert),
		"ours, stream":   encryptBytes(t, []byte("hello"), true, AES128CBC, alice.cert, bob.cert),
		"openssl -keyid": openssl(t, "cms", "-encrypt", "-binary", "-outform", "DER", "-keyid", "-in", plain, alice.certFile, bob.certFile),
	}
	for name, msg := range cases {
		ids, err := Inspect(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(ids) != 2 {
			t.Fatalf("%s: %d recipients, want 2", name, len(ids))
		}
		var sawAlice, sawBob bool
		for _, id := range ids {
			sawAlice = sawAlice || id.Matches(alice.cert)
			sawBob = sawBob || id.Matches(bob.cert)
		}
		if !sawAlice || !sawBob {
			t.Errorf("%s: recipients do not match both certificates", name)
		}
	}
	if _, err := Inspect(bytes.NewReader([]byte("ID3 mp3 data"))); !errors.Is(err, ErrNotCMS) {
		t.Errorf("plain audio: %v, want ErrNotCMS", err)
	}
	// Only the header is needed: the first bytes of a message suffice.
	msg := cases["ours"]
	if _, err := Inspect(bytes.NewReader(msg[:len(msg)-20])); err != nil {
		t.Errorf("header prefix: %v", err)
	}
}
