package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"callvault/internal/record"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// baseURL is the scheme and host the caller used, for absolute URIs.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func mediaURI(r *http.Request, id string) func(string) string {
	base := baseURL(r) + "/api/v2/recordings/" + url.PathEscape(id) + "/media/"
	return func(mediaID string) string { return base + url.PathEscape(mediaID) }
}

// render gives a recording in the guide's format with its media completed
// (and, when media lie in S3, the object key backup clients can read).
func (s *Server) render(r *http.Request, rec *vault.Recording, media []vault.Media, compact bool) (json.RawMessage, error) {
	links := record.Links{MediaURI: mediaURI(r, rec.ID), Compact: compact}
	if s.Svc.MediaSource.S3 != nil {
		links.StorageKey = s.Svc.StorageKey
	}
	return record.RenderLinks(rec.Doc, rec.ID, media, links)
}

func (s *Server) putMedia(w http.ResponseWriter, r *http.Request, u *vault.User) {
	if r.ContentLength > s.MaxUpload {
		s.writeError(w, r, vault.Errorf(vault.ETOOLARGE, "the media file is larger than the limit of %d bytes", s.MaxUpload))
		return
	}
	res, err := s.Svc.PutMedia(r.Context(), u, service.PutMediaInput{
		RecordingID: r.PathValue("id"),
		MediaID:     r.PathValue("mediaId"),
		ContentType: r.Header.Get("Content-Type"),
		MediaType:   r.Header.Get("X-Media-Type"),
		Size:        r.ContentLength,
		Body:        limitBody(r.Body, s.MaxUpload),
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.stored.Add(float64(res.Media.Size))
	m := res.Media
	out := map[string]any{
		"mediaId": m.MediaID, "type": m.Type, "size": m.Size, "sha256": m.SHA256, "certAlias": nonNil(m.CertAliases),
		"encrypted": m.Encrypted, "mediaUri": mediaURI(r, m.RecordingID)(m.MediaID),
	}
	if res.Warning != "" {
		out["warning"] = res.Warning
	}
	status := http.StatusCreated
	if !res.Created {
		status = http.StatusOK // the same file was stored already
	}
	if m.ContentSHA256 != "" {
		out["contentSha256"] = m.ContentSHA256
	}
	writeJSON(w, status, out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) putMetadata(w http.ResponseWriter, r *http.Request, u *vault.User) {
	body, err := readBody(r, s.MaxMetadata)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rec, media, err := s.Svc.PutMetadata(r.Context(), u, r.PathValue("id"), body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRecording(w, r, rec, media)
}

func (s *Server) writeRecording(w http.ResponseWriter, r *http.Request, rec *vault.Recording, media []vault.Media) {
	doc, err := s.render(r, rec, media, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *Server) getRecording(w http.ResponseWriter, r *http.Request, u *vault.User) {
	rec, media, err := s.Svc.Recording(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeRecording(w, r, rec, media)
}

func (s *Server) deleteRecording(w http.ResponseWriter, r *http.Request, u *vault.User) {
	if err := s.Svc.DeleteRecording(r.Context(), u, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// searchParams are the query parameters of GET /recordings.
var searchParams = map[string]bool{
	"startTime": true, "endTime": true, "startTimeRange": true, "endTimeRange": true,
	"callerPhoneNumber": true, "dialedPhoneNumber": true, "userName": true, "partition": true,
	"mediaType": true, "limit": true, "cursor": true,
}

// parseTimeParam accepts RFC 3339 (and the guide's +0000 form) or epoch
// milliseconds.
func parseTimeParam(name, v string) (time.Time, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := record.ParseTime(v)
	if err != nil {
		return time.Time{}, vault.Errorf(vault.EINVALID, "%s %q: give RFC 3339 (2021-07-21T16:49:00Z) or epoch milliseconds", name, v)
	}
	return t, nil
}

// parseRange reads "fromMs,toMs" (half-open).
func parseRange(name, v string) (time.Time, time.Time, error) {
	from, to, ok := strings.Cut(v, ",")
	if !ok {
		return time.Time{}, time.Time{}, vault.Errorf(vault.EINVALID, "%s: give two epoch milliseconds, from,to", name)
	}
	f, err1 := parseTimeParam(name, strings.TrimSpace(from))
	t, err2 := parseTimeParam(name, strings.TrimSpace(to))
	if err1 != nil || err2 != nil {
		return time.Time{}, time.Time{}, vault.Errorf(vault.EINVALID, "%s %q: give two epoch milliseconds, from,to", name, v)
	}
	if !f.Before(t) {
		return time.Time{}, time.Time{}, vault.Errorf(vault.EINVALID, "%s: from must be before to", name)
	}
	return f, t, nil
}

type cursorJSON struct {
	StartMs int64  `json:"t"`
	ID      string `json:"i"`
}

func encodeCursor(c vault.Cursor) string {
	var ms int64
	if !c.StartTime.IsZero() {
		ms = c.StartTime.UnixMilli()
	}
	b, _ := json.Marshal(cursorJSON{StartMs: ms, ID: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(v string) (*vault.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	var c cursorJSON
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.ID == "" {
		return nil, vault.Errorf(vault.EINVALID, "cursor is not one this server gave")
	}
	cur := &vault.Cursor{ID: c.ID}
	if c.StartMs != 0 {
		cur.StartTime = time.UnixMilli(c.StartMs).UTC()
	}
	return cur, nil
}

// parseSearch turns the query into a filter. Unknown parameters are
// refused, so that a misspelt filter is not silently ignored.
func parseSearch(q url.Values) (vault.SearchFilter, error) {
	var f vault.SearchFilter
	for k := range q {
		if !searchParams[k] {
			return f, vault.Errorf(vault.EINVALID, "unknown parameter %q", k)
		}
	}
	var err error
	if v := q.Get("startTime"); v != "" {
		if f.StartFrom, err = parseTimeParam("startTime", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("endTime"); v != "" {
		if f.StopTo, err = parseTimeParam("endTime", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("startTimeRange"); v != "" {
		if q.Get("startTime") != "" {
			return f, vault.Errorf(vault.EINVALID, "give startTime or startTimeRange, not both")
		}
		if f.StartFrom, f.StartTo, err = parseRange("startTimeRange", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("endTimeRange"); v != "" {
		if q.Get("endTime") != "" {
			return f, vault.Errorf(vault.EINVALID, "give endTime or endTimeRange, not both")
		}
		if f.StopFrom, f.StopTo, err = parseRange("endTimeRange", v); err != nil {
			return f, err
		}
	}
	f.Caller = q.Get("callerPhoneNumber")
	f.Dialed = q.Get("dialedPhoneNumber")
	f.UserName = q.Get("userName")
	f.Partition = q.Get("partition")
	f.MediaType = q.Get("mediaType")
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > service.MaxSearchLimit {
			return f, vault.Errorf(vault.EINVALID, "limit must be a number from 1 to %d", service.MaxSearchLimit)
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		if f.After, err = decodeCursor(v); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (s *Server) searchRecordings(w http.ResponseWriter, r *http.Request, u *vault.User) {
	q := r.URL.Query()
	f, err := parseSearch(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	recs, media, err := s.Svc.Search(r.Context(), u, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	// Write the page as it is rendered: one record in memory at a time.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, `{"recordings":[`)
	for i := range recs {
		doc, err := s.render(r, &recs[i], media[recs[i].ID], true)
		if err != nil {
			s.Log.Error("cannot render recording", "tenant", u.Tenant, "recording", recs[i].ID, "err", err)
			doc = json.RawMessage(`{"id":` + strconv.Quote(recs[i].ID) + `,"error":"cannot render"}`)
		}
		if i > 0 {
			io.WriteString(w, ",")
		}
		w.Write(doc)
	}
	next := "null"
	if len(recs) == limit {
		last := recs[len(recs)-1]
		q.Set("cursor", encodeCursor(vault.Cursor{StartTime: last.StartTime, ID: last.ID}))
		q.Set("limit", strconv.Itoa(limit))
		u := baseURL(r) + "/api/v2/recordings?" + q.Encode()
		b, _ := json.Marshal(u)
		next = string(b)
	}
	io.WriteString(w, `],"next":`+next+"}\n")
}

// serveMedia answers a media read with Range support.
func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request, mr *service.MediaReader, contentType string) {
	defer mr.Close()
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(mr, 0, mr.Size))
}

// getMedia serves the stored bytes (encrypted as stored), with their
// SHA-256, for backup.
func (s *Server) getMedia(w http.ResponseWriter, r *http.Request, u *vault.User) {
	mr, err := s.Svc.OpenStored(r.Context(), u, r.PathValue("id"), r.PathValue("mediaId"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	m := mr.Media
	ct := m.Type
	if m.Encrypted {
		ct = service.CMSType
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	if sum, err := hex.DecodeString(m.SHA256); err == nil {
		w.Header().Set("X-Content-SHA256", m.SHA256)
		w.Header().Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
		w.Header().Set("ETag", `"`+m.SHA256+`"`)
	}
	if len(m.CertAliases) > 0 {
		w.Header().Set("X-Cert-Alias", strings.Join(m.CertAliases, ","))
	}
	s.serveMedia(w, r, mr, ct)
}

// playMedia serves the media decrypted, for the player, with Range.
func (s *Server) playMedia(w http.ResponseWriter, r *http.Request, u *vault.User) {
	mr, err := s.Svc.OpenPlay(r.Context(), u, r.PathValue("id"), r.PathValue("mediaId"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ct := mr.Media.Type
	switch ct {
	case "audio/mp3", "":
		ct = "audio/mpeg" // what browsers know
	}
	s.serveMedia(w, r, mr, ct)
}
