package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

var errDate = errors.New("want YYYY-MM-DD (GMT) or 13-digit epoch milliseconds such as 1438300800000")

// ParseDate reads minDate or maxDate: YYYY-MM-DD, meaning 00:00 GMT that day
// ("minDate includes recordings up to 12 AM GMT on the specified date"), or
// UNIX epoch time in milliseconds, which the guide calls "a 13 digit integer
// value". Only 13 digits are taken as milliseconds: that covers 2001 to 2286,
// a 10-digit value is almost surely epoch seconds (1438300800 read as
// milliseconds would be January 1970), and any other length is a typo. The
// result is in UTC. The error says what is wanted; it does not repeat the
// input.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if allDigits(s) && s != "" {
		switch len(s) {
		case 13:
			ms, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return time.Time{}, errDate
			}
			return time.UnixMilli(ms).UTC(), nil
		case 10:
			return time.Time{}, errors.New("looks like epoch seconds; want 13-digit epoch milliseconds such as 1438300800000, or YYYY-MM-DD")
		default:
			return time.Time{}, errDate
		}
	}
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !allDigits(s[:4]) || !allDigits(s[5:7]) || !allDigits(s[8:]) {
		return time.Time{}, errDate
	}
	year, _ := strconv.Atoi(s[:4])
	month, _ := strconv.Atoi(s[5:7])
	day, _ := strconv.Atoi(s[8:])
	if month < 1 || month > 12 {
		return time.Time{}, errors.New("month out of range; want YYYY-MM-DD (GMT)")
	}
	if day < 1 || day > daysIn(year, time.Month(month)) {
		return time.Time{}, errors.New("day out of range for its month; want YYYY-MM-DD (GMT)")
	}
	return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC), nil
}

// formatDate is the inverse of ParseDate for the summary: a day when the
// time is midnight, else RFC 3339 with milliseconds.
func formatDate(t *time.Time) string {
	if t == nil {
		return ""
	}
	u := t.UTC()
	if u.Equal(u.Truncate(24 * time.Hour)) {
		return u.Format("2006-01-02")
	}
	return u.Format("2006-01-02T15:04:05.000Z")
}
