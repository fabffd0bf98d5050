// Package audit is the hash-chained audit trail: the canonical form of an
// entry, its hash, and the verifier that walks a tenant's chain.
//
// Each entry's hash is SHA-256 over the previous entry's hash (its 64 hex
// characters; "" before the first entry) followed by the entry's canonical
// JSON: the fields in the order of vault.AuditEntry, without "hash", the
// time in UTC with milliseconds, details as stored (compact JSON). The
// store computes it in the transaction that appends the entry, so any
// edit of a stored field, any removed or reordered row, breaks the chain
// at that entry.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"callvault/internal/vault"
)

// TimeFormat is the canonical time: UTC, milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// AppendCanonical appends e's canonical JSON (without Hash) to dst.
func AppendCanonical(dst []byte, e *vault.AuditEntry) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendInt(dst, e.Seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = e.Time.UTC().AppendFormat(dst, TimeFormat)
	dst = append(dst, '"')
	for _, f := range [...]struct{ name, value string }{
		{"tenant", e.Tenant}, {"user", e.User}, {"role", e.Role}, {"ip", e.IP},
		{"action", e.Action}, {"target", e.Target},
	} {
		dst = append(dst, ',', '"')
		dst = append(dst, f.name...)
		dst = append(dst, '"', ':')
		dst = appendString(dst, f.value)
	}
	dst = append(dst, `,"details":`...)
	if len(e.Details) == 0 {
		dst = append(dst, "{}"...)
	} else {
		dst = append(dst, e.Details...)
	}
	dst = append(dst, `,"outcome":`...)
	dst = appendString(dst, e.Outcome)
	dst = append(dst, `,"prevHash":`...)
	dst = appendString(dst, e.PrevHash)
	return append(dst, '}')
}

// appendString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 as U+FFFD.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// Hasher computes entry hashes, reusing its buffer.
type Hasher struct{ buf []byte }

// Hash returns the hex hash of e chained to e.PrevHash.
func (h *Hasher) Hash(e *vault.AuditEntry) string {
	h.buf = append(h.buf[:0], e.PrevHash...)
	h.buf = AppendCanonical(h.buf, e)
	sum := sha256.Sum256(h.buf)
	return hex.EncodeToString(sum[:])
}

// Hash returns the hex hash of e chained to e.PrevHash.
func Hash(e *vault.AuditEntry) string {
	var h Hasher
	return h.Hash(e)
}

// Details encodes key/value pairs as canonical details: a compact JSON
// object with sorted keys. Pairs with an empty or nil value are left out.
func Details(kv ...any) json.RawMessage {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		key, _ := kv[i].(string)
		switch v := kv[i+1].(type) {
		case nil:
			continue
		case string:
			if v == "" {
				continue
			}
		case []string:
			if len(v) == 0 {
				continue
			}
		}
		m[key] = kv[i+1]
	}
	return Canonical(m)
}

// Canonical encodes v as canonical details (encoding/json sorts map keys
// and writes compact JSON); a value that cannot be encoded becomes {}.
func Canonical(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil || len(b) == 0 || b[0] != '{' {
		return json.RawMessage("{}")
	}
	return b
}

// Truncate puts t on the audit's millisecond grain, in UTC, as stored.
func Truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// Anchor is where a tenant's stored chain starts: the seq and hash of the
// last entry deleted by audit retention (0, "" when none was).
type Anchor struct {
	Seq  int64
	Hash string
}

// BrokenError names the first entry whose hash does not follow.
type BrokenError struct {
	Tenant string
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain of tenant %q is broken at entry %d: %s", e.Tenant, e.Seq, e.Reason)
}

// Verifier walks one tenant's entries in seq order.
type Verifier struct {
	Tenant string
	next   int64
	prev   string
	hasher Hasher
	// Verified counts the entries checked so far.
	Verified int64
}

// NewVerifier starts a walk after anchor.
func NewVerifier(tenant string, anchor Anchor) *Verifier {
	return &Verifier{Tenant: tenant, next: anchor.Seq + 1, prev: anchor.Hash}
}

// Check checks the next entry; a *BrokenError when it does not follow.
func (v *Verifier) Check(e *vault.AuditEntry) error {
	switch {
	case e.Seq != v.next:
		return &BrokenError{Tenant: v.Tenant, Seq: v.next, Reason: fmt.Sprintf("entry %d is missing (next stored entry is %d)", v.next, e.Seq)}
	case e.PrevHash != v.prev:
		return &BrokenError{Tenant: v.Tenant, Seq: e.Seq, Reason: "its prevHash is not the hash of the entry before it"}
	case e.Tenant != v.Tenant:
		return &BrokenError{Tenant: v.Tenant, Seq: e.Seq, Reason: "it names another tenant"}
	}
	if got := v.hasher.Hash(e); got != e.Hash {
		return &BrokenError{Tenant: v.Tenant, Seq: e.Seq, Reason: "its hash does not match its contents"}
	}
	v.prev, v.next = e.Hash, e.Seq+1
	v.Verified++
	return nil
}

// End checks that the walk reached the head the store records (the last
// seq and hash appended): entries cut off the end are a break too.
func (v *Verifier) End(head Anchor) error {
	if head.Seq != v.next-1 {
		return &BrokenError{Tenant: v.Tenant, Seq: v.next, Reason: fmt.Sprintf("the chain ends at entry %d but %d were written", v.next-1, head.Seq)}
	}
	if head.Hash != v.prev {
		return &BrokenError{Tenant: v.Tenant, Seq: head.Seq, Reason: "the last entry's hash is not the one recorded when it was written"}
	}
	return nil
}
