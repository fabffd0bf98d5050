package record

import (
	"bytes"
	"encoding/json"
	"strconv"

	"callvault/internal/vault"
)

// Render returns the record as the API and rcbs give it out (indented
// JSON): the merged document, with "id" set, with mediaFiles and
// eventHistory always present, and with each mediaFiles entry completed
// from the stored media rows:
//
//   - an entry whose media file is stored gets "size" (stored bytes, a
//     number), "sha256", "certAlias" (a list, empty when not encrypted) and
//     "mediaUri" (uri(mediaId)), and "type" when it has none;
//   - an entry not stored yet keeps its fields and gets "mediaUri": null
//     and "pending": true;
//   - a stored media row that metadata has not described yet is appended
//     as an entry with mediaId, type, size, sha256, certAlias and mediaUri.
//
// Rows of another recording (RecordingID set and not id) are left out.
// A nil uri gives "mediaUri": null.
func Render(doc json.RawMessage, id string, media []vault.Media, uri func(mediaID string) string) (json.RawMessage, error) {
	return RenderLinks(doc, id, media, Links{MediaURI: uri})
}

// Links say where a stored media file can be fetched from.
type Links struct {
	MediaURI func(mediaID string) string // the API; nil: "mediaUri": null
	// StorageKey, when set, gives the object key of a stored file in the
	// bucket backup clients may read directly ("storageKey").
	StorageKey func(blobKey string) string
	// Compact leaves the record unindented (search pages: smaller, and
	// faster to write).
	Compact bool
}

// RenderLinks is Render with the storage key too, for S3 deployments.
func RenderLinks(doc json.RawMessage, id string, media []vault.Media, links Links) (json.RawMessage, error) {
	d, events, err := decodeForRender(doc)
	if err != nil {
		return nil, err
	}
	if _, ok := d.Fields[keyID]; !ok && id != "" {
		d.Fields[keyID] = jsonString(id)
	}

	stored := map[string]*vault.Media{}
	var order []string
	for i := range media {
		m := &media[i]
		if m.MediaID == "" || (m.RecordingID != "" && m.RecordingID != id) {
			continue
		}
		if _, dup := stored[m.MediaID]; !dup {
			stored[m.MediaID] = m
			order = append(order, m.MediaID)
		}
	}

	described := map[string]bool{}
	for _, entry := range d.MediaFiles {
		mediaID := mediaIDOf(entry)
		dropServerOwned(entry)
		m, ok := stored[mediaID]
		// The stored row's type is the truth; either is normalised
		// (audio/mp3, never audio/mpeg) so that rcbs's mediaTypePattern
		// sees one name for MP3.
		if ok && m.Type != "" {
			entry["type"] = jsonString(vault.NormalizeMediaType(m.Type))
		} else if typ, isString := stringOf(entry["type"]); isString && typ != "" {
			entry["type"] = jsonString(vault.NormalizeMediaType(typ))
		}
		if !ok {
			entry["mediaUri"] = json.RawMessage("null")
			entry["pending"] = json.RawMessage("true")
			continue
		}
		described[mediaID] = true
		if err := completeMedia(entry, m, links); err != nil {
			return nil, err
		}
	}
	for _, mediaID := range order {
		if described[mediaID] {
			continue
		}
		m := stored[mediaID]
		entry := map[string]json.RawMessage{
			keyMediaID: jsonString(m.MediaID),
			"type":     jsonString(vault.NormalizeMediaType(m.Type)),
		}
		if err := completeMedia(entry, m, links); err != nil {
			return nil, err
		}
		d.MediaFiles = append(d.MediaFiles, entry)
	}

	// The events go back as stored, not decoded and re-encoded one by one
	// (they are most of a record's bytes).
	d.rawEvents = events
	compact, err := d.encode(true)
	if err != nil {
		return nil, err
	}
	if links.Compact {
		return compact, nil
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, vault.Wrap(vault.EINTERNAL, err, "cannot write the metadata record")
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// decodeForRender reads a stored record like decodeStored but leaves its
// eventHistory as raw bytes, which rendering passes through untouched.
func decodeForRender(raw json.RawMessage) (*Doc, json.RawMessage, error) {
	doc := &Doc{Fields: map[string]json.RawMessage{}}
	raw = bytes.TrimSpace(raw)
	events := json.RawMessage("[]")
	if len(raw) == 0 || string(raw) == "null" {
		return doc, events, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return nil, nil, vault.Wrap(vault.EINTERNAL, err, "cannot read the stored metadata record")
	}
	var err error
	if doc.MediaFiles, err = storedList(top[keyMediaFiles]); err != nil {
		return nil, nil, vault.Wrap(vault.EINTERNAL, err, "cannot read the stored record's mediaFiles")
	}
	if e, ok := top[keyEvents]; ok && kindOf(e) == kindArray {
		events = e
	}
	delete(top, keyMediaFiles)
	delete(top, keyEvents)
	doc.Fields = top
	return doc, events, nil
}

// completeMedia sets the server-owned fields of entry from the stored row.
func completeMedia(entry map[string]json.RawMessage, m *vault.Media, links Links) error {
	aliases := m.CertAliases
	if aliases == nil {
		aliases = []string{}
	}
	certAlias, err := json.Marshal(aliases)
	if err != nil {
		return vault.Wrap(vault.EINTERNAL, err, "cannot write the certificate aliases")
	}
	entry["size"] = json.RawMessage(strconv.FormatInt(m.Size, 10))
	entry["sha256"] = jsonString(m.SHA256)
	if m.ContentSHA256 != "" {
		entry["contentSha256"] = jsonString(m.ContentSHA256)
	}
	entry["certAlias"] = certAlias
	entry["mediaUri"] = json.RawMessage("null")
	if links.MediaURI != nil {
		entry["mediaUri"] = jsonString(links.MediaURI(m.MediaID))
	}
	if links.StorageKey != nil && m.BlobKey != "" {
		entry["storageKey"] = jsonString(links.StorageKey(m.BlobKey))
	}
	return nil
}
