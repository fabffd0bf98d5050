package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// custodyJSON is what a recording's answer says beyond the guide's format.
type custodyJSON struct {
	LegalHolds []string   `json:"legalHolds"`
	BackedUp   bool       `json:"backedUp"`
	BackedUpAt *time.Time `json:"backedUpAt,omitempty"`
	BackedUpBy string     `json:"backedUpBy,omitempty"`
}

// withCustody adds the custody fields to a rendered record (a JSON object).
func withCustody(doc json.RawMessage, c service.Custody) json.RawMessage {
	out := custodyJSON{LegalHolds: nonNil(c.LegalHolds), BackedUp: c.Backup.BackedUp}
	if c.Backup.BackedUp {
		at := c.Backup.At
		out.BackedUpAt, out.BackedUpBy = &at, c.Backup.By
	}
	extra, err := json.Marshal(out)
	end := bytes.LastIndexByte(doc, '}')
	if err != nil || end < 0 || len(extra) < 2 {
		return doc
	}
	body := bytes.TrimSpace(doc[:end])
	var b bytes.Buffer
	b.Write(body)
	if len(body) > 1 { // not "{"
		b.WriteByte(',')
	}
	b.Write(extra[1 : len(extra)-1])
	b.WriteByte('}')
	return b.Bytes()
}

type auditPageJSON struct {
	Entries []vault.AuditEntry `json:"entries"`
	Next    *string            `json:"next"`
}

var auditParams = map[string]bool{"from": true, "to": true, "user": true, "action": true, "target": true, "cursor": true, "limit": true}

// ParseAuditFilter reads GET /audit's parameters (shared with the UI).
func ParseAuditFilter(q url.Values) (vault.AuditFilter, error) {
	var f vault.AuditFilter
	for k := range q {
		if !auditParams[k] {
			return f, vault.Errorf(vault.EINVALID, "unknown parameter %q", k)
		}
	}
	var err error
	if v := q.Get("from"); v != "" {
		if f.From, err = parseTimeParam("from", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("to"); v != "" {
		if f.To, err = parseTimeParam("to", v); err != nil {
			return f, err
		}
	}
	f.User, f.Action, f.Target = q.Get("user"), q.Get("action"), q.Get("target")
	if v := q.Get("cursor"); v != "" {
		if f.AfterSeq, err = strconv.ParseInt(v, 10, 64); err != nil || f.AfterSeq < 0 {
			return f, vault.Errorf(vault.EINVALID, "cursor must be the next link's cursor")
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 {
			return f, vault.Errorf(vault.EINVALID, "limit must be a whole number from 1 to %d", service.MaxSearchLimit)
		}
	}
	return f, nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, u *vault.User) {
	q := r.URL.Query()
	f, err := ParseAuditFilter(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.Svc.Audit(r.Context(), u, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := auditPageJSON{Entries: page.Entries}
	if out.Entries == nil {
		out.Entries = []vault.AuditEntry{}
	}
	if page.Next > 0 {
		q.Set("cursor", strconv.FormatInt(page.Next, 10))
		next := s.Site.Base(r) + "/api/v2/audit?" + q.Encode()
		out.Next = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// legalHoldJSON is a hold to create.
type legalHoldJSON struct {
	Name         string            `json:"name"`
	Reason       string            `json:"reason"`
	RecordingIDs []string          `json:"recordingIds"`
	Filter       map[string]string `json:"filter"`
}

// holdFilter parses a hold's filter: the search parameters of GET
// /recordings (without limit and cursor), as a JSON object.
func holdFilter(in map[string]string) (*vault.SearchFilter, string, error) {
	if in == nil {
		return nil, "", nil
	}
	q := url.Values{}
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "limit" || k == "cursor" {
			return nil, "", vault.Errorf(vault.EINVALID, "filter.%s: a hold's filter takes search conditions only", k)
		}
		if in[k] != "" {
			q.Set(k, in[k])
		}
	}
	f, err := parseSearch(q)
	if err != nil {
		return nil, "", vault.Wrap(vault.EINVALID, err, "filter: %s", vault.ErrorMessage(err))
	}
	return &f, q.Encode(), nil
}

func (s *Server) createLegalHold(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in legalHoldJSON
	if err := decodeJSON(r, 16<<20, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	f, query, err := holdFilter(in.Filter)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h, err := s.Svc.CreateLegalHold(r.Context(), u, service.LegalHoldInput{Name: in.Name, Reason: in.Reason,
		RecordingIDs: in.RecordingIDs, Filter: f, FilterQuery: query})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, h)
}

func (s *Server) listLegalHolds(w http.ResponseWriter, r *http.Request, u *vault.User) {
	holds, err := s.Svc.LegalHolds(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if holds == nil {
		holds = []vault.LegalHold{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"legalHolds": holds})
}

func (s *Server) getLegalHold(w http.ResponseWriter, r *http.Request, u *vault.User) {
	h, err := s.Svc.LegalHold(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) releaseLegalHold(w http.ResponseWriter, r *http.Request, u *vault.User) {
	if err := s.Svc.ReleaseLegalHold(r.Context(), u, r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) putReceipts(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in []vault.Receipt
	if err := decodeJSON(r, 1<<20, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Svc.PutReceipts(r.Context(), u, in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

type rewrapJSON struct {
	To     string `json:"to"`
	Verify string `json:"verify"`
}

func (s *Server) rewrapCertificate(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in rewrapJSON
	if err := decodeJSON(r, 4<<10, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	job, err := s.Svc.StartRewrap(r.Context(), u, r.PathValue("alias"), in.To, in.Verify)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v2/jobs/"+strconv.FormatInt(job.ID, 10))
	writeJSON(w, http.StatusAccepted, job)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request, u *vault.User) {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("cursor"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	list, err := s.Svc.Jobs(r.Context(), u, before, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := map[string]any{"jobs": list, "next": nil}
	if list == nil {
		out["jobs"] = []vault.JobInfo{}
	}
	if len(list) == limit {
		q.Set("cursor", strconv.FormatInt(list[len(list)-1].ID, 10))
		out["next"] = s.Site.Base(r) + "/api/v2/jobs?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request, u *vault.User) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.writeError(w, r, vault.Errorf(vault.ENOTFOUND, "no job %q", r.PathValue("id")))
		return
	}
	j, err := s.Svc.Job(r.Context(), u, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

type retentionJSON struct {
	Days               *int  `json:"retentionDays"`
	RequireBackup      *bool `json:"requireBackup,omitempty"`
	MaxBackupWaitDays  *int  `json:"maxBackupWaitDays,omitempty"`
	AuditRetentionDays *int  `json:"auditRetentionDays,omitempty"`
}

func (s *Server) getRetention(w http.ResponseWriter, r *http.Request, u *vault.User) {
	rs, err := s.Svc.Retention(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

// putRetention changes the settings given and keeps the others.
func (s *Server) putRetention(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in retentionJSON
	if err := decodeJSON(r, 4<<10, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	rs, err := s.Svc.Retention(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.Days == nil && in.RequireBackup == nil && in.MaxBackupWaitDays == nil && in.AuditRetentionDays == nil {
		s.writeError(w, r, vault.Errorf(vault.EINVALID, "give retentionDays (whole days from 1 to %d, or 0 to keep recordings for ever), requireBackup, maxBackupWaitDays or auditRetentionDays", service.MaxRetentionDays))
		return
	}
	if in.Days != nil {
		rs.RetentionDays = *in.Days
	}
	if in.RequireBackup != nil {
		rs.RequireBackup = *in.RequireBackup
	}
	if in.MaxBackupWaitDays != nil {
		rs.MaxBackupWaitDays = *in.MaxBackupWaitDays
	}
	if in.AuditRetentionDays != nil {
		rs.AuditRetentionDays = *in.AuditRetentionDays
	}
	if err := s.Svc.SetRetention(r.Context(), u, rs); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}
