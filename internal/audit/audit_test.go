package audit

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"callvault/internal/vault"
)

func chain(n int) []vault.AuditEntry {
	var out []vault.AuditEntry
	prev := ""
	for i := 1; i <= n; i++ {
		e := vault.AuditEntry{Seq: int64(i), Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC), Tenant: "acme", User: "admin",
			Role: "admin", IP: "127.0.0.1", Action: "media.play", Target: "R1", Details: Details("mediaId", "a.mp3", "rangeStart", i),
			Outcome: vault.OutcomeOK, PrevHash: prev}
		e.Hash = Hash(&e)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func TestVerifier(t *testing.T) {
	entries := chain(5)
	head := Anchor{Seq: 5, Hash: entries[4].Hash}
	v := NewVerifier("acme", Anchor{})
	for i := range entries {
		if err := v.Check(&entries[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.End(head); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		edit func([]vault.AuditEntry) []vault.AuditEntry
		at   int64
	}{
		"edited target":  {func(es []vault.AuditEntry) []vault.AuditEntry { es[2].Target = "R2"; return es }, 3},
		"edited details": {func(es []vault.AuditEntry) []vault.AuditEntry { es[1].Details = json.RawMessage(`{}`); return es }, 2},
		"removed row":    {func(es []vault.AuditEntry) []vault.AuditEntry { return append(es[:2], es[3:]...) }, 3},
		"swapped rows":   {func(es []vault.AuditEntry) []vault.AuditEntry { es[1], es[2] = es[2], es[1]; return es }, 2},
		"cut off end":    {func(es []vault.AuditEntry) []vault.AuditEntry { return es[:4] }, 5},
	} {
		es := c.edit(chain(5))
		v := NewVerifier("acme", Anchor{})
		var err error
		for i := range es {
			if err = v.Check(&es[i]); err != nil {
				break
			}
		}
		if err == nil {
			err = v.End(head)
		}
		var broken *BrokenError
		if !errors.As(err, &broken) || broken.Seq != c.at {
			t.Errorf("%s: %v; want broken at %d", name, err, c.at)
		}
	}
}

// FuzzCanonical: whatever the strings (they come from clients: user
// names, targets), the canonical form is valid JSON that reads back as
// the entry, so the hash covers exactly what is shown.
func FuzzCanonical(f *testing.F) {
	f.Add("admin", "R1", "1.2.3.4", "\x00\"\\\xff<>&\u2028")
	f.Fuzz(func(t *testing.T, user, target, ip, action string) {
		e := vault.AuditEntry{Seq: 7, Time: time.UnixMilli(1767225600123).UTC(), Tenant: "t", User: user, IP: ip, Action: action,
			Target: target, Details: Details("k", user), Outcome: "ok", PrevHash: "p"}
		b := AppendCanonical(nil, &e)
		var back struct {
			Seq                      int64
			User, Target, IP, Action string
			Time                     string
			Details                  map[string]any
			PrevHash                 string
		}
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("canonical form is not JSON: %v: %q", err, b)
		}
		for _, f := range [][2]string{{user, back.User}, {target, back.Target}, {ip, back.IP}, {action, back.Action}} {
			if utf8.ValidString(f[0]) && f[0] != f[1] {
				t.Fatalf("%q reads back as %q", f[0], f[1])
			}
		}
		if back.Seq != 7 || back.Time != "2026-01-01T00:00:00.123Z" || back.PrevHash != "p" {
			t.Fatalf("read back %+v", back)
		}
		copied := e
		if Hash(&e) != Hash(&copied) {
			t.Fatal("hash is not deterministic")
		}
	})
}
