// Package access decides who may see which recording, after the guide's
// "Access control for Recording users". A user may see a recording when
//
//   - the user is in access group "/", or
//   - an access group of the user is a prefix, by whole path segments, of
//     the hierarchy of an agent on the recording (group /Anthony covers
//     /Anthony and /Anthony/John, not /Anthony2 or /Ant), or
//   - an access group of the user equals one of the recording's partitions
//     (GRECORD_PARTITIONS, comma-separated; no prefix rule here), or
//   - the user is the recorded agent.
//
// Stores match only by equality, so the rule is split in two: when a
// recording is stored, RecordingGroups lists every group that may see it
// (each hierarchy prefix, each partition); when a user asks, ForUser lists
// the user's groups. The recording is visible when the lists meet, which
// CanSee decides in memory and the stores decide in SQL.
//
// Paths are case-sensitive (hierarchy segments are user names) and
// compared after NormalizePath. The package does no I/O.
package access

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"callvault/internal/vault"
)

// Root is the access group that sees every recording.
const Root = "/"

// ErrInvalidPath is returned by NormalizePath for a path that cannot name
// a group.
var ErrInvalidPath = errors.New("access: invalid group path")

// NormalizePath returns the canonical form of an access group, agent
// hierarchy or partition: a leading "/", no trailing "/", no empty
// segments, spaces trimmed around the whole and around each segment.
// "/Anthony/John/" and "Anthony//John" become "/Anthony/John"; "/" (and
// "//") stays "/". A "." or ".." segment, a control character, invalid
// UTF-8 or an empty string is an error.
func NormalizePath(p string) (string, error) {
	bad := func(reason string) (string, error) { return "", fmt.Errorf("%w %q: %s", ErrInvalidPath, p, reason) }
	if !utf8.ValidString(p) {
		return bad("not UTF-8")
	}
	if strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return bad("control character")
	}
	trimmed := strings.TrimSpace(p)
	if trimmed == "" {
		return bad("empty")
	}
	var b strings.Builder
	for seg := range strings.SplitSeq(trimmed, "/") {
		seg = strings.TrimSpace(seg)
		switch seg {
		case "":
			continue
		case ".", "..":
			return bad("relative segment " + seg)
		}
		b.WriteByte('/')
		b.WriteString(seg)
	}
	if b.Len() == 0 {
		return Root, nil
	}
	return b.String(), nil
}

// Prefixes returns the groups that cover an agent hierarchy, shortest
// first: "/Anthony/John" gives ["/Anthony", "/Anthony/John"].
//
// The root is never listed: group "/" sees every recording through
// vault.Access.All, and no other group may see by it. So Prefixes("/") is
// empty, and a recording whose only group would be "/" is visible to
// group "/" users (and its own agent) only. An invalid hierarchy gives
// nothing too: visibility fails closed.
func Prefixes(hierarchy string) []string {
	norm, err := NormalizePath(hierarchy)
	if err != nil || norm == Root {
		return nil
	}
	var prefixes []string
	for i := 1; i < len(norm); i++ {
		if norm[i] == '/' {
			prefixes = append(prefixes, norm[:i])
		}
	}
	return append(prefixes, norm)
}

// RecordingGroups returns the groups that may see a recording, sorted and
// without duplicates: the Prefixes of each agent hierarchy and of each
// entry of the record's accessgroups, and each partition as it is (a
// partition is matched by equality only: group /sales does not see
// partition /sales/emea). Everything is normalised; invalid entries and
// the root are left out. It becomes vault.Recording.Groups.
func RecordingGroups(agentHierarchies, accessGroups, partitions []string) []string {
	var groups []string
	for _, h := range agentHierarchies {
		groups = append(groups, Prefixes(h)...)
	}
	for _, g := range accessGroups {
		groups = append(groups, Prefixes(g)...)
	}
	for _, p := range partitions {
		if norm, err := NormalizePath(p); err == nil && norm != Root {
			groups = append(groups, norm)
		}
	}
	slices.Sort(groups)
	return slices.Compact(groups)
}

// SplitPartitions parses a GRECORD_PARTITIONS value: comma-separated
// partition names, normalised ("/sales, support ," gives ["/sales",
// "/support"]), in their first order, without duplicates; empty and
// invalid names are dropped.
func SplitPartitions(v string) []string {
	var partitions []string
	for name := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(name) == "" {
			continue
		}
		norm, err := NormalizePath(name)
		if err != nil || slices.Contains(partitions, norm) {
			continue
		}
		partitions = append(partitions, norm)
	}
	return partitions
}

// ForUser reduces a user to what decides visibility: All when "/" is among
// the access groups; the access groups normalised, sorted and without
// duplicates (invalid ones dropped); the user name, which sees the user's
// own recordings as an agent. The user's own agent hierarchy grants
// nothing: a team lead sees the team through an access group, as in the
// guide.
func ForUser(u vault.User) vault.Access {
	a := vault.Access{UserName: u.Name}
	for _, g := range u.AccessGroups {
		norm, err := NormalizePath(g)
		if err != nil {
			continue
		}
		if norm == Root {
			a.All = true
		}
		a.Groups = append(a.Groups, norm)
	}
	slices.Sort(a.Groups)
	a.Groups = slices.Compact(a.Groups)
	return a
}

// CanSee applies the rule in memory to a recording with the given groups
// (from RecordingGroups) and recorded agents (user names; IVR segments
// have none). Like the stores' queries it matches by equality only, so
// the two can be checked against each other.
func CanSee(a vault.Access, groups []string, agents []string) bool {
	if a.All {
		return true
	}
	if a.UserName != "" && slices.Contains(agents, a.UserName) {
		return true
	}
	for _, g := range a.Groups {
		if slices.Contains(groups, g) {
			return true
		}
	}
	return false
}
