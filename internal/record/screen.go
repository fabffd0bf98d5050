package record

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"callvault/internal/vault"
)

// MediaEntry is what screen recording and muxing read of a mediaFiles
// entry of a stored document.
type MediaEntry struct {
	MediaID             string
	Type                string // normalised
	StartTime, StopTime time.Time
	// MuxedFrom is parameters.muxed_mediaIds: the sources of a muxed file.
	MuxedFrom []string
	// Masks are the pause/resume marks of a screen recording, in order.
	Masks []Mask
	// Raw is the entry as stored (compact JSON).
	Raw json.RawMessage
}

// Mask is one mark of the guide's masks list: "pause" or "resume" at Time.
type Mask struct {
	Time time.Time `json:"time"`
	Type string    `json:"type"`
}

// MediaEntries returns the mediaFiles entries of a stored document.
func MediaEntries(doc json.RawMessage) ([]MediaEntry, error) {
	d, err := decodeStored(doc)
	if err != nil {
		return nil, err
	}
	out := make([]MediaEntry, 0, len(d.MediaFiles))
	for _, m := range d.MediaFiles {
		e := MediaEntry{MediaID: mediaIDOf(m), StartTime: timeOf(m[keyStartTime]), StopTime: timeOf(m[keyStopTime])}
		typ, _ := stringOf(m["type"])
		e.Type = vault.NormalizeMediaType(typ)
		params, _ := looseObject(m[keyParameters])
		e.MuxedFrom = looseStrings(params["muxed_mediaIds"])
		var masks []map[string]json.RawMessage
		if json.Unmarshal(m["masks"], &masks) == nil {
			for _, mk := range masks {
				t := timeOf(mk["time"])
				kind, _ := stringOf(mk["type"])
				if !t.IsZero() && kind != "" {
					e.Masks = append(e.Masks, Mask{Time: t, Type: strings.ToLower(kind)})
				}
			}
			slices.SortStableFunc(e.Masks, func(a, b Mask) int { return a.Time.Compare(b.Time) })
		}
		if raw, err := json.Marshal(m); err == nil {
			e.Raw = raw
		}
		out = append(out, e)
	}
	return out, nil
}

// MuxedAway reports whether mediaID is a source of a muxed file of the
// document (the muxing job replaced it by that file), and names that file.
func MuxedAway(doc json.RawMessage, mediaID string) (string, bool) {
	entries, err := MediaEntries(doc)
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		if slices.Contains(e.MuxedFrom, mediaID) {
			return e.MediaID, true
		}
	}
	return "", false
}

// AgentsInCall returns the recorded agents (contacts of type "User") that
// have joined and not left since, replaying Joined and Left events in time
// order (at one instant Joined comes first, so an agent who joined and
// left at once is out). Sorted.
func AgentsInCall(doc json.RawMessage) ([]string, error) {
	d, err := decodeStored(doc)
	if err != nil {
		return nil, err
	}
	type change struct {
		at     time.Time
		joined bool
		user   string
	}
	var changes []change
	for _, e := range d.Events {
		name, _ := stringOf(e[keyEvent])
		joined := strings.EqualFold(name, "Joined")
		if !joined && !strings.EqualFold(name, "Left") {
			continue
		}
		contact, _ := looseObject(e[keyContact])
		if typ, _ := stringOf(contact["type"]); typ != "User" {
			continue
		}
		user, _ := stringOf(contact[keyUserName])
		if user == "" || user == unknownUser {
			continue
		}
		changes = append(changes, change{at: timeOf(e[keyOccurredAt]), joined: joined, user: user})
	}
	slices.SortStableFunc(changes, func(a, b change) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		switch {
		case a.joined == b.joined:
			return 0
		case a.joined:
			return -1
		}
		return 1
	})
	in := map[string]bool{}
	for _, c := range changes {
		in[c.user] = c.joined
	}
	var out []string
	for user, ok := range in {
		if ok {
			out = append(out, user)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ReplaceMedia returns the stored document with the entry of oldID
// removed and entry (a mediaFiles entry with a mediaId) merged in: the
// muxing job's swap of a screen file for the muxed file.
func ReplaceMedia(doc json.RawMessage, oldID string, entry map[string]json.RawMessage) (json.RawMessage, error) {
	d, err := decodeStored(doc)
	if err != nil {
		return nil, err
	}
	d.MediaFiles = slices.DeleteFunc(d.MediaFiles, func(m map[string]json.RawMessage) bool { return mediaIDOf(m) == oldID })
	if _, ok := entry[keyMediaID]; !ok {
		return nil, vault.Errorf(vault.EINTERNAL, "the replacing media entry has no mediaId")
	}
	newID := mediaIDOf(entry)
	d.MediaFiles = slices.DeleteFunc(d.MediaFiles, func(m map[string]json.RawMessage) bool { return mediaIDOf(m) == newID })
	d.MediaFiles = append(d.MediaFiles, entry)
	for _, m := range d.MediaFiles {
		dropServerOwned(m)
	}
	return d.encode(false)
}
