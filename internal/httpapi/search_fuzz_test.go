package httpapi

import (
	"net/url"
	"testing"

	"callvault/internal/httpx"
	"callvault/internal/vault"
)

// FuzzParseSearch: any query string gives a filter or a caller error,
// never a panic; a cursor the server wrote reads back the same.
func FuzzParseSearch(f *testing.F) {
	f.Add("startTime=2021-07-21T16:49:00Z&endTime=1626886177000&limit=10")
	f.Add("startTimeRange=1,2&endTimeRange=1626886128888,1626886135124&callerPhoneNumber=%2B1905*")
	f.Add("cursor=" + httpx.EncodeCursor(vault.Cursor{ID: "021L6BI58K8FH7R5USI402LAES00000A"}))
	f.Add("cursor=%%%&limit=-1&colour=red")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := parseSearch(q)
		if err != nil {
			if vault.ErrorCode(err) != vault.EINVALID {
				t.Fatalf("error of code %s: %v", vault.ErrorCode(err), err)
			}
			return
		}
		if flt.After != nil {
			again, err := httpx.DecodeCursor(httpx.EncodeCursor(*flt.After))
			if err != nil || again.ID != flt.After.ID || !again.StartTime.Equal(flt.After.StartTime) {
				t.Fatalf("cursor does not round-trip: %+v, %v", flt.After, err)
			}
		}
	})
}
