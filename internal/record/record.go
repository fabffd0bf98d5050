// Package record reads, checks and merges recording metadata records in the
// guide's JSON format ("Recording metadata" in the RCBS guide): the
// interaction's top-level attributes, a mediaFiles list and an eventHistory
// list. Recorders send a record in pieces, in any order; the server folds
// each piece into what it holds (Merge), lifts out what search needs
// (IndexOf) and completes the media entries from the stored media files
// when it gives the record out (Render).
//
// Values are kept as the recorder sent them (json.RawMessage, compacted):
// only the attributes this package understands are checked, so that
// attributes of newer recorders pass through untouched.
package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"callvault/internal/vault"
)

// Doc is a metadata record, or a piece of one, being validated or merged.
// Unknown attributes are kept as they came.
type Doc struct {
	// ID is the recording the piece was parsed for.
	ID string
	// Fields are the top-level attributes other than mediaFiles and
	// eventHistory, with compact JSON values.
	Fields map[string]json.RawMessage
	// MediaFiles are the mediaFiles entries in the order sent; each has
	// a non-empty string "mediaId" (a "mediaID" is renamed).
	MediaFiles []map[string]json.RawMessage
	// Events is the eventHistory list in the order sent.
	Events []map[string]json.RawMessage
	// rawEvents, when set, is written for eventHistory instead of Events:
	// rendering passes the stored list through without decoding it.
	rawEvents json.RawMessage
}

// MediaIDs returns the mediaId of each mediaFiles entry, in order, so that
// callers can hold them to the same naming rule as uploaded media files.
func (d *Doc) MediaIDs() []string {
	ids := make([]string, 0, len(d.MediaFiles))
	for _, m := range d.MediaFiles {
		if id, ok := stringOf(m["mediaId"]); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// Attribute names the package understands.
const (
	keyID          = "id"
	keyMediaFiles  = "mediaFiles"
	keyEvents      = "eventHistory"
	keyMediaID     = "mediaId"
	keyMediaIDAlt  = "mediaID" // the spelling of the guide's property table
	keyStartTime   = "startTime"
	keyStopTime    = "stopTime"
	keyParameters  = "parameters"
	keyContact     = "contact"
	keyUserName    = "userName"
	keyPartitions  = "GRECORD_PARTITIONS"
	keyOccurredAt  = "occurredAt"
	keyEventID     = "eventId"
	keyEvent       = "event"
	keyData        = "data"
	keyCallUUID    = "calluuid"
	keyPhoneNumber = "phoneNumber"
)

// The JSON kinds, as the messages name them.
const (
	kindObject  = "object"
	kindArray   = "array"
	kindString  = "string"
	kindNumber  = "number"
	kindBoolean = "boolean"
	kindNull    = "null"
)

// Top-level attributes checked by Parse, in the order they are checked
// (so that the first error reported does not depend on map order).
var (
	topStrings = []string{keyID, "callRecordingId", "callerPhoneNumber", "dialedPhoneNumber", "region", "callType"}
	topTimes   = []string{keyStartTime, keyStopTime}
	topBools   = []string{"screenRecording"}
)

// Parse validates a PUT body for recording id: a JSON object whose known
// attributes have the guide's types. "id", when present, must equal id.
// Every error is a *vault.Error with code EINVALID and a message that names
// the JSON path, e.g. "mediaFiles[1].startTime: want a date-time string,
// got number". The size of body is the caller's limit; nesting is bounded
// by encoding/json.
func Parse(id string, body []byte) (*Doc, error) {
	if id == "" || !utf8.ValidString(id) {
		return nil, invalid("id", "the recording id is empty or not UTF-8")
	}
	if !utf8.Valid(body) {
		return nil, invalid("body", "not valid UTF-8")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, body); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, invalid("body", "not valid JSON at byte %d: %s", syntax.Offset, syntax)
		}
		return nil, invalid("body", "not valid JSON: %s", err)
	}
	top, err := objectAt("body", compact.Bytes())
	if err != nil {
		return nil, err
	}
	doc := &Doc{ID: id, Fields: top}

	for _, name := range topStrings {
		if _, err := optionalString(name, top, name); err != nil {
			return nil, err
		}
	}
	if raw, ok := top[keyID]; ok {
		if got, _ := stringOf(raw); got != id {
			return nil, invalid(keyID, "%s does not match the recording id %s", quote(got), quote(id))
		}
	}
	for _, name := range topTimes {
		if err := optionalTime(name, top, name); err != nil {
			return nil, err
		}
	}
	for _, name := range topBools {
		if err := optionalKind(name, top, name, kindBoolean); err != nil {
			return nil, err
		}
	}

	if raw, ok := top[keyMediaFiles]; ok {
		delete(top, keyMediaFiles)
		entries, err := objectsAt(keyMediaFiles, raw)
		if err != nil {
			return nil, err
		}
		seen := make(map[string]int, len(entries))
		for i, m := range entries {
			path := fmt.Sprintf("%s[%d]", keyMediaFiles, i)
			mediaID, err := checkMediaFile(path, m)
			if err != nil {
				return nil, err
			}
			if first, dup := seen[mediaID]; dup {
				return nil, invalid(path+"."+keyMediaID, "%s is also the mediaId of mediaFiles[%d]", quote(mediaID), first)
			}
			seen[mediaID] = i
		}
		doc.MediaFiles = entries
	}

	if raw, ok := top[keyEvents]; ok {
		delete(top, keyEvents)
		events, err := objectsAt(keyEvents, raw)
		if err != nil {
			return nil, err
		}
		for i, e := range events {
			if err := checkEvent(fmt.Sprintf("%s[%d]", keyEvents, i), e); err != nil {
				return nil, err
			}
		}
		doc.Events = events
	}
	return doc, nil
}

// checkMediaFile checks one mediaFiles entry, renames "mediaID" to
// "mediaId", and returns the mediaId.
func checkMediaFile(path string, m map[string]json.RawMessage) (string, error) {
	var mediaID string
	for _, name := range []string{keyMediaID, keyMediaIDAlt} {
		raw, ok := m[name]
		if !ok {
			continue
		}
		s, err := stringAt(path+"."+name, raw)
		if err != nil {
			return "", err
		}
		if s == "" {
			return "", invalid(path+"."+name, "empty")
		}
		if mediaID != "" && s != mediaID {
			return "", invalid(path, "mediaId %s and mediaID %s differ", quote(mediaID), quote(s))
		}
		mediaID = s
	}
	if mediaID == "" {
		return "", invalid(path+"."+keyMediaID, "missing")
	}
	if _, ok := m[keyMediaIDAlt]; ok {
		m[keyMediaID] = m[keyMediaIDAlt]
		delete(m, keyMediaIDAlt)
	}

	if _, err := optionalString(path+".type", m, "type"); err != nil {
		return "", err
	}
	for _, name := range []string{keyStartTime, keyStopTime} {
		if err := optionalTime(path+"."+name, m, name); err != nil {
			return "", err
		}
	}
	for _, name := range []string{"partitions", "accessgroups", "certAlias"} {
		if raw, ok := m[name]; ok {
			if _, err := stringsAt(path+"."+name, raw); err != nil {
				return "", err
			}
		}
	}
	if err := optionalKind(path+".channels", m, "channels", kindNumber); err != nil {
		return "", err
	}
	// The parameters feed search (caller, dialed number, agents), so the
	// ones it reads must be strings.
	if raw, ok := m[keyParameters]; ok {
		params, err := objectAt(path+"."+keyParameters, raw)
		if err != nil {
			return "", err
		}
		for _, name := range []string{"ani", "dnis", "username"} {
			if _, err := optionalString(path+".parameters."+name, params, name); err != nil {
				return "", err
			}
		}
		if err := checkContact(path+".parameters."+keyContact, params); err != nil {
			return "", err
		}
	}
	return mediaID, nil
}

// checkEvent checks one eventHistory entry.
func checkEvent(path string, e map[string]json.RawMessage) error {
	if err := optionalTime(path+"."+keyOccurredAt, e, keyOccurredAt); err != nil {
		return err
	}
	raw, ok := e[keyEvent]
	if !ok {
		return invalid(path+"."+keyEvent, "missing")
	}
	if _, err := stringAt(path+"."+keyEvent, raw); err != nil {
		return err
	}
	for _, name := range []string{keyEventID, keyCallUUID} {
		if _, err := optionalString(path+"."+name, e, name); err != nil {
			return err
		}
	}
	if err := checkContact(path+"."+keyContact, e); err != nil {
		return err
	}
	raw, ok = e[keyData]
	if !ok {
		return nil
	}
	data, err := objectAt(path+"."+keyData, raw)
	if err != nil {
		return err
	}
	// Partitions decide who may see the recording: a value search cannot
	// read must be refused, not silently ignored.
	for _, change := range dataChanges {
		raw, ok := data[change]
		if !ok {
			continue
		}
		values, err := objectAt(path+".data."+change, raw)
		if err != nil {
			return err
		}
		if _, err := optionalString(path+".data."+change+"."+keyPartitions, values, keyPartitions); err != nil {
			return err
		}
	}
	return nil
}

// dataChanges are the sections of an attached-data event.
var dataChanges = []string{"added", "updated", "deleted"}

// checkContact checks parent's "contact", if present: an object whose
// type, userName and phoneNumber are strings.
func checkContact(path string, parent map[string]json.RawMessage) error {
	raw, ok := parent[keyContact]
	if !ok {
		return nil
	}
	contact, err := objectAt(path, raw)
	if err != nil {
		return err
	}
	for _, name := range []string{"type", keyUserName, keyPhoneNumber} {
		if _, err := optionalString(path+"."+name, contact, name); err != nil {
			return err
		}
	}
	return nil
}

// invalid returns an EINVALID error about the value at path.
func invalid(path, format string, args ...any) error {
	return vault.Errorf(vault.EINVALID, "%s: %s", path, fmt.Sprintf(format, args...))
}

// kindOf names the JSON kind of a valid, compact value.
func kindOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return kindNull
	}
	switch raw[0] {
	case '{':
		return kindObject
	case '[':
		return kindArray
	case '"':
		return kindString
	case 't', 'f':
		return kindBoolean
	case 'n':
		return kindNull
	}
	return kindNumber
}

// article returns the kind with its indefinite article.
func article(kind string) string {
	switch kind {
	case kindObject, kindArray:
		return "an " + kind
	}
	return "a " + kind
}

func wantKind(path string, raw json.RawMessage, kind string) error {
	if got := kindOf(raw); got != kind {
		return invalid(path, "want %s, got %s", article(kind), got)
	}
	return nil
}

func optionalKind(path string, parent map[string]json.RawMessage, name, kind string) error {
	if raw, ok := parent[name]; ok {
		return wantKind(path, raw, kind)
	}
	return nil
}

func stringAt(path string, raw json.RawMessage) (string, error) {
	if err := wantKind(path, raw, kindString); err != nil {
		return "", err
	}
	s, ok := stringOf(raw)
	if !ok {
		return "", invalid(path, "not a valid JSON string")
	}
	return s, nil
}

func optionalString(path string, parent map[string]json.RawMessage, name string) (string, error) {
	if raw, ok := parent[name]; ok {
		return stringAt(path, raw)
	}
	return "", nil
}

func optionalTime(path string, parent map[string]json.RawMessage, name string) error {
	raw, ok := parent[name]
	if !ok {
		return nil
	}
	if kind := kindOf(raw); kind != kindString {
		return invalid(path, "want a date-time string, got %s", kind)
	}
	s, _ := stringOf(raw)
	if _, err := ParseTime(s); err != nil {
		return invalid(path, "%s", vault.ErrorMessage(err))
	}
	return nil
}

func stringsAt(path string, raw json.RawMessage) ([]string, error) {
	if err := wantKind(path, raw, kindArray); err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid(path, "not a valid JSON array")
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		s, err := stringAt(fmt.Sprintf("%s[%d]", path, i), item)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func objectAt(path string, raw json.RawMessage) (map[string]json.RawMessage, error) {
	if err := wantKind(path, raw, kindObject); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid(path, "not a valid JSON object")
	}
	return m, nil
}

func objectsAt(path string, raw json.RawMessage) ([]map[string]json.RawMessage, error) {
	if err := wantKind(path, raw, kindArray); err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid(path, "not a valid JSON array")
	}
	out := make([]map[string]json.RawMessage, 0, len(items))
	for i, item := range items {
		m, err := objectAt(fmt.Sprintf("%s[%d]", path, i), item)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// stringOf decodes a JSON string; false for anything else.
func stringOf(raw json.RawMessage) (string, bool) {
	if kindOf(raw) != kindString {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// quote quotes s for a message, cut short so that a message never echoes
// a whole body back.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
