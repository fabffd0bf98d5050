package record

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"callvault/internal/vault"
)

// Index is what search needs, lifted out of a merged document.
type Index struct {
	// StartTime and StopTime are the top-level ones; without them, the
	// earliest start and latest stop of the mediaFiles other than screen
	// recordings (video/*); zero if none.
	StartTime, StopTime time.Time
	// Caller and Dialed are callerPhoneNumber and dialedPhoneNumber;
	// without them, the ani and dnis parameters of the earliest media
	// file that has them.
	Caller, Dialed string
	// Agents are the user names of the recorded agents: the username and
	// contact.userName parameters of the media files, and the contacts of
	// type "User" of Joined and Left events; never "UNKNOWN". Sorted,
	// unique.
	Agents []string
	// AccessGroups is the union of the media files' accessgroups.
	AccessGroups []string
	// Partitions is the union of the media files' partitions and of the
	// GRECORD_PARTITIONS values (comma-separated) the events add or
	// update; a later event that deletes the value removes its partitions.
	Partitions []string
	// MediaTypes are the media files' types, sorted, unique.
	MediaTypes []string
	// ScreenRecording is the older edition's screenRecording attribute,
	// or true when any media file is video/*.
	ScreenRecording bool
}

// unknownUser is how the guide's records name a party that is not a user.
const unknownUser = "UNKNOWN"

// IndexOf lifts what search needs out of a merged document. Attributes of
// the wrong type are ignored: the document was checked when it came in.
// The result does not depend on the order of list entries, so a record
// merged from pieces in any order indexes the same.
func IndexOf(doc json.RawMessage) (Index, error) {
	d, err := decodeStored(doc)
	if err != nil {
		return Index{}, err
	}
	var idx Index
	idx.StartTime = timeOf(d.Fields[keyStartTime])
	idx.StopTime = timeOf(d.Fields[keyStopTime])
	idx.Caller, _ = stringOf(d.Fields["callerPhoneNumber"])
	idx.Dialed, _ = stringOf(d.Fields["dialedPhoneNumber"])
	idx.ScreenRecording = string(d.Fields["screenRecording"]) == "true"

	media := slices.Clone(d.MediaFiles)
	// The earliest media file first, so that the fallbacks do not depend
	// on the order the pieces came in.
	slices.SortStableFunc(media, func(a, b map[string]json.RawMessage) int {
		return cmp.Or(timeOf(a[keyStartTime]).Compare(timeOf(b[keyStartTime])), strings.Compare(mediaIDOf(a), mediaIDOf(b)))
	})
	var agents, groups, partitions, types []string
	var minStart, maxStop time.Time
	caller, dialed := idx.Caller, idx.Dialed
	for _, m := range media {
		typ, _ := stringOf(m["type"])
		typ = vault.NormalizeMediaType(typ)
		// A screen file's times are its capture's, not the call's: a part
		// uploaded mid-call (srs restarted) must not stop the call.
		if !strings.HasPrefix(typ, "video/") {
			if t := timeOf(m[keyStartTime]); !t.IsZero() && (minStart.IsZero() || t.Before(minStart)) {
				minStart = t
			}
			if t := timeOf(m[keyStopTime]); t.After(maxStop) {
				maxStop = t
			}
		}
		if typ != "" {
			types = append(types, typ)
			if strings.HasPrefix(typ, "video/") {
				idx.ScreenRecording = true
			}
		}
		groups = append(groups, looseStrings(m["accessgroups"])...)
		partitions = append(partitions, looseStrings(m["partitions"])...)
		params, _ := looseObject(m[keyParameters])
		if caller == "" {
			caller, _ = stringOf(params["ani"])
		}
		if dialed == "" {
			dialed, _ = stringOf(params["dnis"])
		}
		name, _ := stringOf(params["username"])
		agents = append(agents, name)
		contact, _ := looseObject(params[keyContact])
		name, _ = stringOf(contact[keyUserName])
		agents = append(agents, name)
	}
	if idx.StartTime.IsZero() {
		idx.StartTime = minStart
	}
	if idx.StopTime.IsZero() {
		idx.StopTime = maxStop
	}
	idx.Caller, idx.Dialed = caller, dialed

	for _, e := range d.Events {
		name, _ := stringOf(e[keyEvent])
		if !strings.EqualFold(name, "Joined") && !strings.EqualFold(name, "Left") {
			continue
		}
		contact, _ := looseObject(e[keyContact])
		if typ, _ := stringOf(contact["type"]); typ == "User" {
			name, _ := stringOf(contact[keyUserName])
			agents = append(agents, name)
		}
	}
	partitions = append(partitions, eventPartitions(d.Events)...)

	idx.Agents = sortedSet(slices.DeleteFunc(agents, func(s string) bool { return s == unknownUser }))
	idx.AccessGroups = sortedSet(groups)
	idx.Partitions = sortedSet(partitions)
	idx.MediaTypes = sortedSet(types)
	return idx, nil
}

// eventPartitions replays the GRECORD_PARTITIONS changes of the events in
// time order: added and updated values add their partitions, deleted
// values remove theirs. At the same instant removals come first, so the
// outcome does not depend on the order of the events in the list.
func eventPartitions(events []map[string]json.RawMessage) []string {
	type change struct {
		at        time.Time
		remove    bool
		partition string
	}
	var changes []change
	for _, e := range events {
		data, ok := looseObject(e[keyData])
		if !ok {
			continue
		}
		at := timeOf(e[keyOccurredAt])
		for _, section := range dataChanges {
			values, _ := looseObject(data[section])
			value, ok := stringOf(values[keyPartitions])
			if !ok {
				continue
			}
			for _, p := range splitPartitions(value) {
				changes = append(changes, change{at: at, remove: section == "deleted", partition: p})
			}
		}
	}
	slices.SortFunc(changes, func(a, b change) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if a.remove != b.remove {
			if a.remove {
				return -1
			}
			return 1
		}
		return strings.Compare(a.partition, b.partition)
	})
	set := map[string]bool{}
	for _, c := range changes {
		if c.remove {
			delete(set, c.partition)
		} else {
			set[c.partition] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	return out
}

// splitPartitions splits a GRECORD_PARTITIONS value: comma-separated,
// blanks around names ignored.
func splitPartitions(value string) []string {
	var out []string
	for p := range strings.SplitSeq(value, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// timeOf reads a date-time attribute; zero when absent or unreadable.
func timeOf(raw json.RawMessage) time.Time {
	s, ok := stringOf(raw)
	if !ok {
		return time.Time{}
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// looseStrings reads an array of strings, skipping what is not a string.
func looseStrings(raw json.RawMessage) []string {
	if kindOf(raw) != kindArray {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []string
	for _, item := range items {
		if s, ok := stringOf(item); ok {
			out = append(out, s)
		}
	}
	return out
}

// sortedSet sorts, removes duplicates and empty strings; nil when empty.
func sortedSet(list []string) []string {
	list = slices.DeleteFunc(list, func(s string) bool { return s == "" })
	if len(list) == 0 {
		return nil
	}
	slices.Sort(list)
	return slices.Compact(list)
}
