package httpapi

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"

	"callvault/internal/vault"
)

// FuzzParseAuditFilter: any query gives a filter or a caller error.
func FuzzParseAuditFilter(f *testing.F) {
	f.Add("from=2026-01-01T00:00:00Z&to=1767225600000&user=admin&action=media.&target=R1&limit=10&cursor=5")
	f.Add("cursor=-1&limit=0&bogus=1")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := ParseAuditFilter(q)
		if err != nil {
			if vault.ErrorCode(err) != vault.EINVALID {
				t.Fatalf("error of code %s: %v", vault.ErrorCode(err), err)
			}
			return
		}
		if flt.AfterSeq < 0 || flt.Limit < 0 {
			t.Fatalf("negative cursor or limit accepted: %+v", flt)
		}
	})
}

// FuzzLegalHoldBody: any body gives a hold's filter or a caller error, and
// the filter's query form (what the hold keeps and shows) reads back as the
// same filter.
func FuzzLegalHoldBody(f *testing.F) {
	f.Add(`{"name":"Case 1","reason":"r","recordingIds":["a","b"],"filter":{"callerPhoneNumber":"555*","startTimeRange":"1,2"}}`)
	f.Add(`{"name":"x","filter":{"limit":"5"}}`)
	f.Add(`{"filter":{"endTime":"2015-09-01T16:42:58.000+0000","userName":"john"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in legalHoldJSON
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		flt, query, err := holdFilter(in.Filter)
		if err != nil {
			if vault.ErrorCode(err) != vault.EINVALID {
				t.Fatalf("error of code %s: %v", vault.ErrorCode(err), err)
			}
			return
		}
		if flt == nil {
			return
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatalf("the stored query %q does not parse: %v", query, err)
		}
		again, err := parseSearch(q)
		if err != nil || !reflect.DeepEqual(again, *flt) {
			t.Fatalf("query %q reads back as %+v (%v), want %+v", query, again, err, *flt)
		}
	})
}
