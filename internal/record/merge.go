package record

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"callvault/internal/vault"
)

// serverOwned are the media fields whose truth is what the server stores
// (vault.Media): Merge drops them from what recorders send, and Render
// fills them in from the stored media rows. "pending" is Render's own mark
// and is dropped so that a record fetched and sent back stays the same.
var serverOwned = []string{"size", "sha256", "contentSha256", "certAlias", "mediaUri", "storageKey", "pending"}

// Merge folds incoming into the stored document (nil, empty or JSON null
// stored: a new record) and returns the merged document in compact JSON:
//
//   - top-level attributes of incoming replace the stored ones; "id" is set
//     to incoming.ID when neither has one;
//   - mediaFiles entries are matched by mediaId: the incoming entry's fields
//     replace the stored entry's fields (a shallow merge: a new "parameters"
//     replaces the old one whole), new entries are appended;
//   - eventHistory entries are matched by "eventId" when they have one, and
//     otherwise by (event, occurredAt as an instant, calluuid, contact) —
//     the contact being its userName, or its phoneNumber when it has no
//     userName, or, for events without a contact, the event's data — so
//     that a re-sent Joined or Left event does not appear twice; matched
//     events merge their fields like media entries, others are appended;
//   - the server-owned media fields size, sha256, certAlias and mediaUri
//     are ignored: the server knows what it stores, and Render adds them.
//
// Merging the same piece again changes nothing. Attributes are written in
// a fixed order (the guide's order, then the others sorted), so a record
// merged from the same pieces is the same bytes whatever the order of the
// pieces, except for the order of list entries, which is arrival order.
// incoming is not modified.
func Merge(stored json.RawMessage, incoming *Doc) (json.RawMessage, error) {
	doc, err := decodeStored(stored)
	if err != nil {
		return nil, err
	}
	if incoming != nil {
		doc.fold(incoming)
	}
	for _, m := range doc.MediaFiles {
		dropServerOwned(m)
	}
	return doc.encode(false)
}

// fold merges in into d; d's maps are its own, in's are copied.
func (d *Doc) fold(in *Doc) {
	maps.Copy(d.Fields, in.Fields)
	if _, ok := d.Fields[keyID]; !ok && in.ID != "" {
		d.Fields[keyID] = jsonString(in.ID)
	}

	mediaAt := make(map[string]int, len(d.MediaFiles))
	for i, m := range d.MediaFiles {
		if id := mediaIDOf(m); id != "" {
			mediaAt[id] = i
		}
	}
	for _, m := range in.MediaFiles {
		id := mediaIDOf(m)
		i, ok := mediaAt[id]
		if !ok {
			i = len(d.MediaFiles)
			d.MediaFiles = append(d.MediaFiles, map[string]json.RawMessage{})
			if id != "" {
				mediaAt[id] = i
			}
		}
		for k, v := range m {
			if k == keyMediaIDAlt {
				k = keyMediaID
			}
			if !slices.Contains(serverOwned, k) {
				d.MediaFiles[i][k] = v
			}
		}
	}

	eventAt := make(map[eventKey]int, len(d.Events))
	for i, e := range d.Events {
		eventAt[keyOfEvent(e)] = i
	}
	for _, e := range in.Events {
		key := keyOfEvent(e)
		i, ok := eventAt[key]
		if !ok {
			i = len(d.Events)
			d.Events = append(d.Events, map[string]json.RawMessage{})
			eventAt[key] = i
		}
		maps.Copy(d.Events[i], e)
	}
}

func dropServerOwned(m map[string]json.RawMessage) {
	for _, k := range serverOwned {
		delete(m, k)
	}
}

// eventKey identifies an event across pieces: by id when it has one.
type eventKey struct {
	eventID    string
	event      string
	occurredAt string // the instant, normalised, or the text as sent
	callUUID   string
	userName   string // of the contact
	phone      string // of a contact without userName
	data       string // compact, of an event without contact
}

func keyOfEvent(e map[string]json.RawMessage) eventKey {
	if id, _ := stringOf(e[keyEventID]); id != "" {
		return eventKey{eventID: id}
	}
	key := eventKey{}
	key.event, _ = stringOf(e[keyEvent])
	key.callUUID, _ = stringOf(e[keyCallUUID])
	key.occurredAt, _ = stringOf(e[keyOccurredAt])
	if t, err := ParseTime(key.occurredAt); err == nil {
		key.occurredAt = t.Format(time.RFC3339Nano)
	}
	if contact, ok := looseObject(e[keyContact]); ok {
		key.userName, _ = stringOf(contact[keyUserName])
		if key.userName == "" {
			key.phone, _ = stringOf(contact[keyPhoneNumber])
		}
	} else if raw, ok := e[keyData]; ok {
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			key.data = b.String()
		}
	}
	return key
}

// mediaIDOf returns an entry's mediaId (or mediaID), or "".
func mediaIDOf(m map[string]json.RawMessage) string {
	if id, ok := stringOf(m[keyMediaID]); ok {
		return id
	}
	id, _ := stringOf(m[keyMediaIDAlt])
	return id
}

// decodeStored reads a document this package wrote (or nothing). It does
// not check attribute types: IndexOf and Render read what they need
// leniently. A stored document that is not an object with lists of objects
// is our fault, hence EINTERNAL.
func decodeStored(raw json.RawMessage) (*Doc, error) {
	doc := &Doc{Fields: map[string]json.RawMessage{}}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return doc, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return nil, vault.Wrap(vault.EINTERNAL, err, "cannot read the stored metadata record")
	}
	var err error
	if doc.MediaFiles, err = storedList(top[keyMediaFiles]); err != nil {
		return nil, vault.Wrap(vault.EINTERNAL, err, "cannot read the stored record's mediaFiles")
	}
	if doc.Events, err = storedList(top[keyEvents]); err != nil {
		return nil, vault.Wrap(vault.EINTERNAL, err, "cannot read the stored record's eventHistory")
	}
	delete(top, keyMediaFiles)
	delete(top, keyEvents)
	doc.Fields = top
	return doc, nil
}

// storedList decodes a list of objects; JSON null entries are dropped.
func storedList(raw json.RawMessage) ([]map[string]json.RawMessage, error) {
	if len(raw) == 0 || kindOf(raw) == kindNull {
		return nil, nil
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(list, func(m map[string]json.RawMessage) bool { return m == nil }), nil
}

// looseObject decodes raw when it is an object.
func looseObject(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	if kindOf(raw) != kindObject {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	return m, true
}

// The order attributes are written in: the guide's, then the rest sorted.
var (
	topOrder   = []string{keyID, "callRecordingId", "callerPhoneNumber", "dialedPhoneNumber", keyStartTime, keyStopTime, "screenRecording", keyMediaFiles, keyEvents, "callType", "region"}
	mediaOrder = []string{keyStartTime, keyStopTime, "callUUID", keyMediaID, "type", "duration", "tenant", "ivrprofile", "size", "sha256", keyParameters, "masks", "certAlias", "partitions", "accessgroups", "channels", "mediaUri", "storageKey", "pending"}
	eventOrder = []string{keyOccurredAt, keyEventID, keyEvent, keyCallUUID, keyContact, keyData}
)

// encode writes the document in compact JSON. With lists set, mediaFiles
// and eventHistory appear even when empty.
func (d *Doc) encode(lists bool) (json.RawMessage, error) {
	top := maps.Clone(d.Fields)
	if top == nil {
		top = map[string]json.RawMessage{}
	}
	for _, list := range []struct {
		key     string
		entries []map[string]json.RawMessage
		order   []string
	}{
		{keyMediaFiles, d.MediaFiles, mediaOrder},
		{keyEvents, d.Events, eventOrder},
	} {
		if list.key == keyEvents && d.rawEvents != nil {
			top[keyEvents] = d.rawEvents
			continue
		}
		if len(list.entries) == 0 && !lists {
			delete(top, list.key)
			continue
		}
		var b bytes.Buffer
		b.WriteByte('[')
		for i, entry := range list.entries {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeObject(&b, entry, list.order); err != nil {
				return nil, err
			}
		}
		b.WriteByte(']')
		top[list.key] = b.Bytes()
	}
	var b bytes.Buffer
	if err := writeObject(&b, top, topOrder); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeObject writes m with the keys of order first, in that order, then
// the others sorted. Values are compacted, which also checks them.
func writeObject(b *bytes.Buffer, m map[string]json.RawMessage, order []string) error {
	keys := make([]string, 0, len(m))
	for _, k := range order {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	rest := len(keys)
	for k := range m {
		if !slices.Contains(order, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys[rest:])

	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(k))
		b.WriteByte(':')
		if err := json.Compact(b, m[k]); err != nil {
			return vault.Wrap(vault.EINTERNAL, err, "cannot write the metadata record: bad value of %s", quote(k))
		}
	}
	b.WriteByte('}')
	return nil
}

// jsonString encodes s as a JSON string, without HTML escaping.
func jsonString(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
