package vault

import (
	"slices"
	"strings"
	"time"
)

// Matches reports whether recording r matches f's conditions (Limit and
// After aside), as the stores' searches decide: a time bound never
// matches an unknown time; '*' in a phone pattern is any run of
// characters. Legal holds by filter use it to hold future recordings.
func (f *SearchFilter) Matches(r *Recording) bool {
	within := func(t, from, to time.Time) bool {
		if from.IsZero() && to.IsZero() {
			return true
		}
		if t.IsZero() {
			return false
		}
		return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
	}
	has := func(list []string, v string) bool { return v == "" || slices.Contains(list, v) }
	return within(r.StartTime, f.StartFrom, f.StartTo) &&
		within(r.StopTime, f.StopFrom, f.StopTo) &&
		PhoneMatches(f.Caller, r.CallerPhoneNumber) &&
		PhoneMatches(f.Dialed, r.DialedPhoneNumber) &&
		has(r.Agents, f.UserName) && has(r.Partitions, f.Partition) && has(r.MediaTypes, f.MediaType)
}

// IsZero reports whether f has no condition at all (it would match every
// recording). The analytics conditions are not counted: holds never use
// them.
func (f *SearchFilter) IsZero() bool {
	return f.StartFrom.IsZero() && f.StartTo.IsZero() && f.StopFrom.IsZero() && f.StopTo.IsZero() &&
		f.Caller == "" && f.Dialed == "" && f.UserName == "" && f.Partition == "" && f.MediaType == ""
}

// PhoneMatches matches a phone number against a search pattern: "" matches
// everything, '*' any run of characters, everything else literally.
func PhoneMatches(pattern, number string) bool {
	if pattern == "" {
		return true
	}
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == number
	}
	if !strings.HasPrefix(number, parts[0]) {
		return false
	}
	rest := number[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return len(rest) >= len(last) && strings.HasSuffix(rest, last)
}
