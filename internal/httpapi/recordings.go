package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"callvault/internal/httpx"
	"callvault/internal/record"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// mediaURI builds the absolute URLs of a recording's media on the public
// URL (-public-url), never on the request's Host: a client must not be able
// to make the server hand out links to another host.
func (s *Server) mediaURI(r *http.Request, id string) func(string) string {
	base := s.Site.Base(r) + "/api/v2/recordings/" + url.PathEscape(id) + "/media/"
	return func(mediaID string) string { return base + url.PathEscape(mediaID) }
}

// render gives a recording in the guide's format with its media completed
// (and, when media lie in S3, the object key backup clients can read).
func (s *Server) render(r *http.Request, rec *vault.Recording, media []vault.Media, compact bool) (json.RawMessage, error) {
	links := record.Links{MediaURI: s.mediaURI(r, rec.ID), Compact: compact}
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
	body := &readErrors{r: limitBody(r.Body, s.MaxUpload)}
	res, err := s.Svc.PutMedia(r.Context(), u, service.PutMediaInput{
		RecordingID: r.PathValue("id"),
		MediaID:     r.PathValue("mediaId"),
		ContentType: r.Header.Get("Content-Type"),
		MediaType:   r.Header.Get("X-Media-Type"),
		Truncated:   strings.EqualFold(r.Header.Get("X-Media-Truncated"), "true"),
		Size:        r.ContentLength,
		Body:        body,
	})
	if err != nil {
		var ve *vault.Error
		if body.err != nil && !errors.As(body.err, &ve) {
			// The client's side failed (stalled past the idle deadline,
			// or went away): nothing was stored, and it is not ours.
			err = vault.Wrap(vault.EINVALID, body.err, "the upload broke off (no bytes for %v, or the connection failed); nothing was stored", s.UploadIdle)
		}
		s.writeError(w, r, err)
		return
	}
	s.stored.Add(float64(res.Media.Size))
	m := res.Media
	out := map[string]any{
		"mediaId": m.MediaID, "type": m.Type, "size": m.Size, "sha256": m.SHA256, "certAlias": nonNil(m.CertAliases),
		"encrypted": m.Encrypted, "mediaUri": s.mediaURI(r, m.RecordingID)(m.MediaID),
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

// readErrors remembers the first error of reading a body other than EOF.
type readErrors struct {
	r   io.Reader
	err error
}

func (b *readErrors) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
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
	id := r.PathValue("id")
	if _, _, err := s.Svc.PutMetadata(r.Context(), u, id, body); err != nil {
		s.writeError(w, r, err)
		return
	}
	// The merged record is shown only to a caller who may read it: a
	// recorder (the media side) stores records but may not read them,
	// and learns nothing of what others stored.
	if readable, media, err := s.Svc.Recording(r.Context(), u, id); err == nil {
		s.writeRecording(w, r, readable, media)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": "stored"})
}

func (s *Server) writeRecording(w http.ResponseWriter, r *http.Request, rec *vault.Recording, media []vault.Media) {
	doc, err := s.render(r, rec, media, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	custody, err := s.Svc.CustodyOf(r.Context(), rec.Tenant, []vault.Recording{*rec})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, withCustody(doc, custody[rec.ID]))
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
	"topic": true, "category": true, "minSilenceMs": true,
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
	f.Topic = q.Get("topic")
	f.Category = q.Get("category")
	if v := q.Get("minSilenceMs"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 24*3600*1000 {
			return f, vault.Errorf(vault.EINVALID, "minSilenceMs must be a number of milliseconds from 1 to 86400000")
		}
		f.MinSilenceMs = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > service.MaxSearchLimit {
			return f, vault.Errorf(vault.EINVALID, "limit must be a number from 1 to %d", service.MaxSearchLimit)
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		if f.After, err = httpx.DecodeCursor(v); err != nil {
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
	custody, err := s.Svc.CustodyOf(r.Context(), u.Tenant, recs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// Write the page as it is rendered: one record in memory at a time.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
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
		w.Write(withCustody(doc, custody[recs[i].ID]))
	}
	next := "null"
	if len(recs) == limit {
		last := recs[len(recs)-1]
		q.Set("cursor", httpx.EncodeCursor(vault.Cursor{StartTime: last.StartTime, ID: last.ID}))
		q.Set("limit", strconv.Itoa(limit))
		u := s.Site.Base(r) + "/api/v2/recordings?" + q.Encode()
		b, _ := json.Marshal(u)
		next = string(b)
	}
	io.WriteString(w, `],"next":`+next+"}\n")
}

// serveMedia answers a media read with Range support. Media are bytes
// from recorders, never a page: the browser must not sniff them into HTML
// (nosniff), run anything in them even when opened directly (a CSP that
// allows nothing, in a sandbox), and shows them inline only when
// disposition says so (players); everything else is a download.
func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request, mr *service.MediaReader, contentType, disposition string) {
	defer mr.Close()
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Content-Disposition", contentDisposition(disposition, mr.Media.MediaID))
	http.ServeContent(w, r, "", time.Time{}, io.NewSectionReader(mr, 0, mr.Size))
}

// contentDisposition is "attachment" or "inline" with the media id as a
// file name, quoted (or RFC 2231-encoded) by mime; without one if it
// cannot be written safely.
func contentDisposition(disposition, mediaID string) string {
	if v := mime.FormatMediaType(disposition, map[string]string{"filename": mediaID}); v != "" {
		return v
	}
	return disposition
}

// playableType is the Content-Type the player gets for a stored type: one
// of the audio and video types the service accepts (under the names
// browsers know), or "" for anything else.
func playableType(stored string) string {
	if stored == "" {
		return "audio/mpeg" // rows from before types were kept: MP3
	}
	t := vault.NormalizeMediaType(stored)
	if !service.AcceptedMediaType(t) || !strings.HasPrefix(t, "audio/") && !strings.HasPrefix(t, "video/") {
		return ""
	}
	if t == "audio/mp3" {
		return "audio/mpeg" // what browsers know
	}
	return t
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
	if !m.Encrypted && playableType(ct) == "" {
		ct = "application/octet-stream" // an old row of a type no longer accepted
	}
	if err := s.Svc.RecordMediaAccess(r.Context(), u, false, r.PathValue("id"), m.MediaID, r.Header.Get("Range")); err != nil {
		mr.Close()
		s.writeError(w, r, err)
		return
	}
	s.serveMedia(w, r, mr, ct, "attachment")
}

// playMedia serves the media decrypted, for the player, with Range.
func (s *Server) playMedia(w http.ResponseWriter, r *http.Request, u *vault.User) {
	mr, err := s.Svc.OpenPlay(r.Context(), u, r.PathValue("id"), r.PathValue("mediaId"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Svc.RecordMediaAccess(r.Context(), u, true, r.PathValue("id"), mr.Media.MediaID, r.Header.Get("Range")); err != nil {
		mr.Close()
		s.writeError(w, r, err)
		return
	}
	// Only audio and video of the accepted types play inline; anything
	// else (an old row of another type) is a download of opaque bytes.
	if ct := playableType(mr.Media.Type); ct != "" {
		s.serveMedia(w, r, mr, ct, "inline")
		return
	}
	s.serveMedia(w, r, mr, "application/octet-stream", "attachment")
}
