package record

import (
	"time"

	"callvault/internal/vault"
)

// timeLayouts are the date-time forms the guide's records use. When
// parsing, Go accepts a fractional second after the seconds even where the
// layout has none, so ".000" and RFC 3339 fractions need no layout of their
// own.
var timeLayouts = []string{
	"2006-01-02T15:04:05Z07:00", // RFC 3339: "…Z", "…+00:00"
	"2006-01-02T15:04:05Z0700",  // the guide's records: "2021-07-21T16:49:00.000+0000"
}

// ParseTime accepts the guide's date-time forms —
// "2021-07-21T16:49:00.000+0000", "2021-07-21T16:49:00Z", and RFC 3339 with
// or without a fraction and with "+00:00" — and returns the instant in UTC.
// Instants outside the years 1 to 9999 (UTC) are refused, since they could
// not be written back in the same forms.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		t = t.UTC()
		if y := t.Year(); y < 1 || y > 9999 {
			break
		}
		return t, nil
	}
	return time.Time{}, vault.Errorf(vault.EINVALID, "cannot read %s as a date-time such as 2021-07-21T16:49:00.000+0000", quote(s))
}
