package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Age is a non-negative length of time counted back from a moment, as minAge,
// maxAge and overlap give it. Years, months and days are calendar units and
// are kept apart from the clock part, because a month is not a fixed number
// of hours; Before applies them the way Java's Period does.
type Age struct {
	Years  int
	Months int
	Days   int           // weeks are folded in as 7 days
	Clock  time.Duration // the hours, minutes and seconds after the T
}

// Limits keep every Age far inside what time.Time and time.Duration can hold;
// no recording is older than 1970, so nothing useful is lost.
const (
	maxYears      = 10_000
	maxMonths     = 12 * maxYears
	maxDays       = 366 * maxYears
	maxClockHours = 1_000_000 // about 114 years; time.Duration ends at 292
	maxDigits     = 9         // per number, so no arithmetic below overflows
)

var (
	errAge     = errors.New("want whole days or an ISO 8601 duration such as P30D, PT30M or P1Y2DT4H30M")
	errAgeSize = errors.New("too large: an age may not exceed 10000 years")
)

// ParseAge reads an age: whole days ("2"), or an ISO 8601 duration
// P[n]Y[n]M[n]W[n]DT[n]H[n]M[n]S with at least one component, the time part
// after a T, and a fraction allowed on the seconds only ("PT1.5S"). Signs are
// refused: an age is never negative. "P" and "p" both start the ISO form. The
// error says what is wanted; it does not repeat the input.
func ParseAge(s string) (Age, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Age{}, errAge
	}
	if allDigits(s) {
		days, err := boundedInt(s, maxDays)
		if err != nil {
			return Age{}, err
		}
		return Age{Days: days}, nil
	}
	if s[0] == 'P' || s[0] == 'p' {
		return parseISODuration(s)
	}
	return Age{}, errAge
}

// parseOverlap reads overlap: whole hours ("6"), or an ISO 8601 duration.
func parseOverlap(s string) (Age, error) {
	s = strings.TrimSpace(s)
	if allDigits(s) && s != "" {
		hours, err := boundedInt(s, maxClockHours)
		if err != nil {
			return Age{}, err
		}
		return Age{Clock: time.Duration(hours) * time.Hour}, nil
	}
	if s != "" && (s[0] == 'P' || s[0] == 'p') {
		return parseISODuration(s)
	}
	return Age{}, errors.New("want whole hours or an ISO 8601 duration such as PT6H or P1D")
}

func parseISODuration(s string) (Age, error) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return Age{}, errAge
		}
	}
	body := strings.ToUpper(s[1:])
	datePart, timePart, hasT := strings.Cut(body, "T")
	if datePart == "" && !hasT {
		return Age{}, errors.New("want at least one component after P, such as P30D or PT30M")
	}
	if hasT && timePart == "" {
		return Age{}, errors.New("want hours, minutes or seconds after T, such as PT30M")
	}

	var age Age
	var weeks int
	next := 0 // components must come in this order, each at most once
	const dateUnits = "YMWD"
	for datePart != "" {
		digits, unit, rest, ok := component(datePart)
		if !ok || strings.IndexByte(digits, '.') >= 0 {
			return Age{}, errAge
		}
		i := strings.IndexByte(dateUnits[next:], unit)
		if i < 0 {
			if unit == 'H' || unit == 'S' {
				return Age{}, errors.New("hours, minutes and seconds come after T, as in PT1H or P1DT1H")
			}
			return Age{}, errAge
		}
		next += i + 1
		n, err := boundedInt(digits, maxDays)
		if err != nil {
			return Age{}, err
		}
		switch unit {
		case 'Y':
			age.Years = n
		case 'M':
			age.Months = n
		case 'W':
			weeks = n
		case 'D':
			age.Days = n
		}
		datePart = rest
	}
	if age.Years > maxYears || age.Months > maxMonths || age.Days+7*weeks > maxDays {
		return Age{}, errAgeSize
	}
	age.Days += 7 * weeks

	next = 0
	const timeUnits = "HMS"
	var seconds int64 // whole seconds of the clock part
	var nanos int64
	for timePart != "" {
		digits, unit, rest, ok := component(timePart)
		if !ok {
			return Age{}, errAge
		}
		i := strings.IndexByte(timeUnits[next:], unit)
		if i < 0 {
			return Age{}, errAge
		}
		next += i + 1
		whole, frac, hasFrac := strings.Cut(digits, ".")
		if hasFrac && unit != 'S' {
			return Age{}, errors.New("only seconds may have a fraction, as in PT1.5S")
		}
		n, err := boundedInt(whole, 1e9-1)
		if err != nil {
			return Age{}, err
		}
		switch unit {
		case 'H':
			seconds += int64(n) * 3600
		case 'M':
			seconds += int64(n) * 60
		case 'S':
			seconds += int64(n)
			if hasFrac {
				if frac == "" || len(frac) > 9 || !allDigits(frac) {
					return Age{}, errAge
				}
				v, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
				nanos = v
			}
		}
		timePart = rest
	}
	if seconds > maxClockHours*3600 {
		return Age{}, errAgeSize
	}
	age.Clock = time.Duration(seconds)*time.Second + time.Duration(nanos)
	return age, nil
}

// component splits "12.5S…" into "12.5", 'S' and the rest. A ',' decimal
// mark (allowed by ISO 8601) reads as '.'.
func component(s string) (digits string, unit byte, rest string, ok bool) {
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.' || s[i] == ',') {
		i++
	}
	if i == 0 || i == len(s) || !isDigit(s[0]) {
		return "", 0, "", false
	}
	digits = strings.ReplaceAll(s[:i], ",", ".")
	if strings.Count(digits, ".") > 1 {
		return "", 0, "", false
	}
	return digits, s[i], s[i+1:], true
}

func boundedInt(digits string, limit int) (int, error) {
	if digits == "" || !allDigits(digits) {
		return 0, errAge
	}
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return 0, nil
	}
	if len(digits) > maxDigits {
		return 0, errAgeSize
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > limit {
		return 0, errAgeSize
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// IsZero reports whether the age is nothing at all (for maxAge: "0 is any
// age").
func (a Age) IsZero() bool { return a == Age{} }

// Before returns t minus the age, in UTC. Years and months go first, as one
// number of months with the day clamped to the end of a shorter month, as
// Java's Period.subtractFrom does: P1M before March 31 is February 28 (or
// 29), not March 3 as time.AddDate would give. Days follow as calendar days,
// then the clock part as elapsed time.
func (a Age) Before(t time.Time) time.Time {
	t = t.UTC()
	if months := a.Years*12 + a.Months; months != 0 {
		year, month, day := t.Date()
		total := year*12 + int(month) - 1 - months
		year, month = floorDiv(total, 12), time.Month(total-floorDiv(total, 12)*12+1)
		if last := daysIn(year, month); day > last {
			day = last
		}
		t = time.Date(year, month, day, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
	}
	return t.AddDate(0, 0, -a.Days).Add(-a.Clock)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// nominal is the age in seconds with a year of 365.2425 days and a month of
// a twelfth of that (Java's ChronoUnit estimates). It orders minAge and
// maxAge when the file is read, before any clock is known.
func (a Age) nominal() float64 {
	const day = 86400.0
	return float64(a.Years)*365.2425*day + float64(a.Months)*365.2425/12*day +
		float64(a.Days)*day + a.Clock.Seconds()
}

// String gives whole days as a plain number ("2", the guide's form) and
// anything else in ISO 8601 ("PT30M", "P1Y2DT4H30M"). ParseAge reads it back.
func (a Age) String() string {
	if a.Years == 0 && a.Months == 0 && a.Clock == 0 {
		return strconv.Itoa(a.Days)
	}
	var b strings.Builder
	b.WriteByte('P')
	for _, part := range []struct {
		n    int
		unit byte
	}{{a.Years, 'Y'}, {a.Months, 'M'}, {a.Days, 'D'}} {
		if part.n != 0 {
			b.WriteString(strconv.Itoa(part.n))
			b.WriteByte(part.unit)
		}
	}
	if a.Clock > 0 {
		b.WriteByte('T')
		hours := a.Clock / time.Hour
		minutes := (a.Clock % time.Hour) / time.Minute
		rest := a.Clock % time.Minute
		if hours > 0 {
			b.WriteString(strconv.FormatInt(int64(hours), 10) + "H")
		}
		if minutes > 0 {
			b.WriteString(strconv.FormatInt(int64(minutes), 10) + "M")
		}
		if rest > 0 {
			b.WriteString(strconv.FormatInt(int64(rest/time.Second), 10))
			if frac := rest % time.Second; frac > 0 {
				b.WriteString(strings.TrimRight(fmt.Sprintf(".%09d", int64(frac)), "0"))
			}
			b.WriteByte('S')
		}
	}
	return b.String()
}
