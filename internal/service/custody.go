package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"callvault/internal/audit"
	"callvault/internal/vault"
)

// LegalHoldInput is a hold to create: recordings by id, by filter, or
// both.
type LegalHoldInput struct {
	Name, Reason string
	RecordingIDs []string
	Filter       *vault.SearchFilter
	FilterQuery  string
}

// MaxHoldIDs bounds the ids one request may name (a request size guard;
// holds themselves have no limit: a filter holds any number).
const MaxHoldIDs = 100000

// CreateLegalHold holds the named recordings and every recording, now or
// later, that matches the filter (admins only).
func (s *Service) CreateLegalHold(ctx context.Context, caller *vault.User, in LegalHoldInput) (*vault.LegalHold, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "" || len(in.Name) > 200:
		return nil, vault.Errorf(vault.EINVALID, "a legal hold needs a name of 1 to 200 characters")
	case len(in.Reason) > 2000:
		return nil, vault.Errorf(vault.EINVALID, "the reason is longer than 2000 characters")
	case len(in.RecordingIDs) == 0 && in.Filter == nil:
		return nil, vault.Errorf(vault.EINVALID, "a legal hold needs recordingIds, a filter, or both")
	case in.Filter != nil && in.Filter.IsZero():
		return nil, vault.Errorf(vault.EINVALID, "the filter has no condition: it would hold every recording; name a condition")
	case len(in.RecordingIDs) > MaxHoldIDs:
		return nil, vault.Errorf(vault.EINVALID, "at most %d recordingIds per request; use a filter, or several holds", MaxHoldIDs)
	}
	for _, id := range in.RecordingIDs {
		if err := vault.CheckID("recordingId", id); err != nil {
			return nil, err
		}
	}
	ids := slices.Compact(slices.Sorted(slices.Values(in.RecordingIDs)))
	h := vault.LegalHold{Tenant: caller.Tenant, ID: newID(), Name: in.Name, Reason: in.Reason, RecordingIDs: ids,
		Filter: in.Filter, FilterQuery: in.FilterQuery, CreatedBy: caller.Name, CreatedAt: s.now()}
	fx := vault.Effects{}.Add(s.entry(ctx, "", caller, "legalhold.create", h.ID, vault.OutcomeOK,
		audit.Details("name", h.Name, "reason", h.Reason, "recordingIds", len(ids), "filter", h.FilterQuery)))
	if err := s.Store.CreateLegalHold(ctx, h, s.effects(fx)); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			// Say which: found by lookups only now that one is missing.
			for _, id := range ids {
				if _, _, err := s.Store.Recording(ctx, caller.Tenant, id, vault.Access{All: true}); errors.Is(err, vault.ErrNotFound) {
					return nil, vault.Errorf(vault.ENOTFOUND, "cannot create legal hold %q: no recording %q", h.Name, id)
				}
			}
		}
		return nil, errf(err, "cannot create legal hold %q", h.Name)
	}
	s.log().Info("legal hold created", "tenant", caller.Tenant, "hold", h.ID, "name", h.Name, "by", caller.Name)
	return s.LegalHold(ctx, caller, h.ID)
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// LegalHolds lists the tenant's holds with how many recordings each holds
// now (admins only).
func (s *Service) LegalHolds(ctx context.Context, caller *vault.User) ([]vault.LegalHold, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	holds, err := s.Store.LegalHolds(ctx, caller.Tenant)
	if err != nil {
		return nil, err
	}
	for i := range holds {
		if err := s.countHold(ctx, &holds[i]); err != nil {
			return nil, err
		}
	}
	return holds, nil
}

// countHold counts what a hold keeps: the filter's matches plus named
// recordings (that exist) the filter does not match.
func (s *Service) countHold(ctx context.Context, h *vault.LegalHold) error {
	named, err := s.Store.NamedCount(ctx, h.Tenant, h.ID)
	if err != nil {
		return err
	}
	if h.Filter == nil {
		h.Count = named
		return nil
	}
	n, err := s.Store.CountRecordings(ctx, h.Tenant, *h.Filter)
	if err != nil {
		return err
	}
	// Both: take out the named ones the filter counts already (one
	// lookup per named id; holds by ids and filter at once are rare).
	for _, id := range h.RecordingIDs {
		r, _, err := s.Store.Recording(ctx, h.Tenant, id, vault.Access{All: true})
		if errors.Is(err, vault.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !h.Filter.Matches(&r) {
			n++
		}
	}
	h.Count = n
	return nil
}

// LegalHold returns one hold with its count (admins only).
func (s *Service) LegalHold(ctx context.Context, caller *vault.User, id string) (*vault.LegalHold, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	h, err := s.Store.LegalHold(ctx, caller.Tenant, id)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, notVisible("legal hold", id)
	}
	if err != nil {
		return nil, err
	}
	if err := s.countHold(ctx, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// ReleaseLegalHold ends a hold (admins only); the recordings it kept fall
// back under retention.
func (s *Service) ReleaseLegalHold(ctx context.Context, caller *vault.User, id string) error {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return err
	}
	h, err := s.Store.LegalHold(ctx, caller.Tenant, id)
	if errors.Is(err, vault.ErrNotFound) || (err == nil && !h.Active()) {
		return notVisible("active legal hold", id)
	}
	if err != nil {
		return err
	}
	fx := vault.Effects{}.Add(s.entry(ctx, "", caller, "legalhold.release", id, vault.OutcomeOK, audit.Details("name", h.Name)))
	if err := s.Store.ReleaseLegalHold(ctx, caller.Tenant, id, caller.Name, s.now(), s.effects(fx)); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			return notVisible("active legal hold", id)
		}
		return err
	}
	s.log().Info("legal hold released", "tenant", caller.Tenant, "hold", id, "name", h.Name, "by", caller.Name)
	return nil
}

// Custody is what the vault knows about a recording beyond its record:
// the holds that keep it and whether it is backed up.
type Custody struct {
	LegalHolds []string
	Backup     vault.BackupState
}

// CustodyOf returns the custody of each recording (already visible to the
// caller): holds by id, holds by filter, receipts.
func (s *Service) CustodyOf(ctx context.Context, tenant string, recs []vault.Recording) (map[string]Custody, error) {
	out := make(map[string]Custody, len(recs))
	if len(recs) == 0 {
		return out, nil
	}
	ids := make([]string, len(recs))
	for i := range recs {
		ids[i] = recs[i].ID
	}
	byID, err := s.Store.HeldByID(ctx, tenant, ids)
	if err != nil {
		return nil, err
	}
	holds, err := s.Store.FilterHolds(ctx, tenant)
	if err != nil {
		return nil, err
	}
	states, err := s.Store.BackupStates(ctx, tenant, ids)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		r := &recs[i]
		names := slices.Clone(byID[r.ID])
		for _, h := range holds {
			if h.Filter != nil && h.Filter.Matches(r) && !slices.Contains(names, h.Name) {
				names = append(names, h.Name)
			}
		}
		slices.Sort(names)
		out[r.ID] = Custody{LegalHolds: names, Backup: states[r.ID]}
	}
	return out, nil
}

// ReceiptResult says which receipts were kept.
type ReceiptResult struct {
	Accepted int               `json:"accepted"`
	Rejected []RejectedReceipt `json:"rejected"`
}

// RejectedReceipt is a receipt the server did not keep, and why.
type RejectedReceipt struct {
	RecordingID string `json:"recordingId"`
	MediaID     string `json:"mediaId"`
	Code        string `json:"code"`
	Message     string `json:"message"`
}

// MaxReceipts bounds one batch.
const MaxReceipts = 1000

// PutReceipts keeps a backup client's receipts for media files the caller
// may see whose hash matches the stored file (or a file a re-wrap
// replaced); one audit entry per batch.
func (s *Service) PutReceipts(ctx context.Context, caller *vault.User, receipts []vault.Receipt) (*ReceiptResult, error) {
	acc, err := viewer(caller)
	if err != nil {
		return nil, err
	}
	if len(receipts) > MaxReceipts {
		return nil, vault.Errorf(vault.EINVALID, "at most %d receipts per request", MaxReceipts)
	}
	res := &ReceiptResult{Rejected: []RejectedReceipt{}}
	var keep []vault.Receipt
	visible := map[string]bool{}
	now := s.now()
	for _, rc := range receipts {
		reject := func(code, msg string) {
			res.Rejected = append(res.Rejected, RejectedReceipt{RecordingID: rc.RecordingID, MediaID: rc.MediaID, Code: code, Message: msg})
		}
		if vault.CheckID("recordingId", rc.RecordingID) != nil || vault.CheckMediaID("mediaId", rc.RecordingID, rc.MediaID) != nil {
			reject(vault.EINVALID, "not a valid recording or media id")
			continue
		}
		if len(rc.SHA256) != 64 || strings.Trim(strings.ToLower(rc.SHA256), "0123456789abcdef") != "" {
			reject(vault.EINVALID, "sha256 must be 64 hex digits")
			continue
		}
		seen, ok := visible[rc.RecordingID]
		if !ok {
			_, _, err := s.Store.Recording(ctx, caller.Tenant, rc.RecordingID, acc)
			if err != nil && !errors.Is(err, vault.ErrNotFound) {
				return nil, err
			}
			seen = err == nil
			visible[rc.RecordingID] = seen
		}
		if !seen {
			reject(vault.ENOTFOUND, "no such recording")
			continue
		}
		rc.SHA256, rc.By, rc.At = strings.ToLower(rc.SHA256), caller.Name, now
		keep = append(keep, rc)
	}
	if len(keep) == 0 && len(receipts) > 0 {
		return res, nil
	}
	fx := vault.Effects{}.Add(s.entry(ctx, "", caller, "backup.receipt", "", vault.OutcomeOK,
		audit.Details("receipts", len(receipts), "rejected", len(res.Rejected))))
	refused, err := s.Store.PutReceipts(ctx, caller.Tenant, keep, s.effects(fx))
	if err != nil {
		return nil, err
	}
	for i, why := range refused {
		if why == "" {
			res.Accepted++
			continue
		}
		res.Rejected = append(res.Rejected, RejectedReceipt{RecordingID: keep[i].RecordingID, MediaID: keep[i].MediaID, Code: vault.ECONFLICT, Message: why})
	}
	return res, nil
}

// Retention returns the tenant's retention settings (admins only).
func (s *Service) Retention(ctx context.Context, caller *vault.User) (vault.RetentionSettings, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return vault.RetentionSettings{}, err
	}
	return s.Store.RetentionSettings(ctx, caller.Tenant)
}

// MaxRetentionDays bounds every period of the retention settings (a
// guard against unit mistakes, not a legal limit).
const MaxRetentionDays = 36500

// SetRetention replaces the tenant's retention settings (admins only):
// whole days, retentionDays at least 1 or 0 to keep recordings for ever.
func (s *Service) SetRetention(ctx context.Context, caller *vault.User, rs vault.RetentionSettings) error {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		days int
	}{{"retentionDays", rs.RetentionDays}, {"maxBackupWaitDays", rs.MaxBackupWaitDays}, {"auditRetentionDays", rs.AuditRetentionDays}} {
		if p.days < 0 || p.days > MaxRetentionDays {
			return vault.Errorf(vault.EINVALID, "%s must be a whole number of days from 1 to %d, or 0", p.name, MaxRetentionDays)
		}
	}
	old, err := s.Store.RetentionSettings(ctx, caller.Tenant)
	if err != nil {
		return err
	}
	fx := vault.Effects{}.Add(s.entry(ctx, "", caller, "settings.retention", caller.Tenant, vault.OutcomeOK,
		audit.Canonical(map[string]any{"from": old, "to": rs})))
	if err := s.Store.SetRetentionSettings(ctx, caller.Tenant, rs, s.effects(fx)); err != nil {
		return err
	}
	s.log().Info("retention changed", "tenant", caller.Tenant, "by", caller.Name, "retentionDays", rs.RetentionDays,
		"requireBackup", rs.RequireBackup, "maxBackupWaitDays", rs.MaxBackupWaitDays, "auditRetentionDays", rs.AuditRetentionDays)
	return nil
}

// deleteRecording removes a recording's metadata with its audit entry and
// the job that deletes its blobs, in one transaction; then deletes the
// blobs at once (the job is the safety net for a crash in between).
// caller nil is the retention sweeper.
func (s *Service) deleteRecording(ctx context.Context, tenant, id string, caller *vault.User, details map[string]any) error {
	media, err := s.Store.DeleteRecordingFx(ctx, tenant, id, func(media []vault.Media) vault.Effects {
		keys := make([]string, len(media))
		mediaIDs := make([]string, len(media))
		for i, m := range media {
			keys[i], mediaIDs[i] = m.BlobKey, m.MediaID
		}
		d := map[string]any{"mediaIds": mediaIDs}
		for k, v := range details {
			d[k] = v
		}
		fx := vault.Effects{}.Add(s.entry(ctx, tenant, caller, "recording.delete", id, vault.OutcomeOK, audit.Canonical(d)))
		if s.Queue != nil && len(keys) > 0 {
			fx.Jobs = append(fx.Jobs, vault.Job{Tenant: tenant, Kind: KindDeleteBlobs, Args: jobArgs(DeleteBlobsArgs{Tenant: tenant, Keys: keys}),
				CreatedBy: nameOf(caller)})
		}
		return s.effects(fx)
	})
	if err != nil {
		if held := (*vault.HeldError)(nil); errors.As(err, &held) {
			return vault.Wrap(vault.ECONFLICT, err, "recording %s is under legal hold (%s)", id, strings.Join(held.Holds, ", "))
		}
		if errors.Is(err, vault.ErrNotFound) {
			return notVisible("recording", id)
		}
		return err
	}
	for _, m := range media {
		s.deleteBlob(m.BlobKey)
	}
	return nil
}

func nameOf(u *vault.User) string {
	if u == nil {
		return ""
	}
	return u.Name
}

// SweepResult is what one retention pass over a tenant did.
type SweepResult struct {
	Tenant  string `json:"tenant"`
	Deleted int    `json:"deleted"`
	// HeldByHold are past retention but under a legal hold.
	HeldByHold int `json:"heldByHold"`
	// HeldForBackup are past retention but lack a receipt (requireBackup).
	HeldForBackup int `json:"heldForBackup"`
	// Forced were deleted without a receipt after maxBackupWaitDays.
	Forced int `json:"forced"`
	// AuditDeleted counts audit entries past auditRetentionDays.
	AuditDeleted int64 `json:"auditDeleted"`
}

// Held is every recording the pass kept past its period.
func (r SweepResult) Held() int { return r.HeldByHold + r.HeldForBackup }

// SweepTenant runs one retention pass over a tenant: deletes the
// recordings past retentionDays, except those a legal hold keeps and,
// with requireBackup, those without a receipt for every media file until
// maxBackupWaitDays have passed. progress, when set, is told as it goes.
func (s *Service) SweepTenant(ctx context.Context, tenant string, progress func(SweepResult)) (SweepResult, error) {
	res := SweepResult{Tenant: tenant}
	rs, err := s.Store.RetentionSettings(ctx, tenant)
	if err != nil {
		return res, err
	}
	now := s.now()
	if rs.AuditRetentionDays > 0 {
		n, err := s.Store.DeleteAuditBefore(ctx, tenant, now.AddDate(0, 0, -rs.AuditRetentionDays))
		if err != nil {
			return res, err
		}
		res.AuditDeleted = n
	}
	if rs.RetentionDays <= 0 {
		s.setHeld(tenant, 0)
		return res, nil
	}
	retention := time.Duration(rs.RetentionDays) * 24 * time.Hour
	cutoff := now.Add(-retention)
	after := ""
	for {
		cands, err := s.Store.SweepCandidates(ctx, tenant, cutoff, after, 200)
		if err != nil {
			return res, err
		}
		if len(cands) == 0 {
			break
		}
		for _, c := range cands {
			after = c.ID
			details := map[string]any{"reason": "retention", "retentionDays": rs.RetentionDays, "backedUp": c.Backup.BackedUp}
			if rs.RequireBackup && !c.Backup.BackedUp {
				due := c.StopTime.Add(retention)
				if rs.MaxBackupWaitDays == 0 || now.Before(due.AddDate(0, 0, rs.MaxBackupWaitDays)) {
					res.HeldForBackup++
					continue
				}
				details["forcedAfterMaxBackupWaitDays"] = rs.MaxBackupWaitDays
				s.log().Error("deleting a recording that was never backed up: maxBackupWaitDays passed", "tenant", tenant, "recording", c.ID,
					"dueSince", due, "maxBackupWaitDays", rs.MaxBackupWaitDays)
				res.Forced++
			}
			err := s.deleteRecording(ctx, tenant, c.ID, nil, details)
			switch {
			case err == nil:
				res.Deleted++
				s.log().Info("recording deleted by retention", "tenant", tenant, "recording", c.ID, "cutoff", cutoff, "retentionDays", rs.RetentionDays)
			case vault.ErrorCode(err) == vault.ECONFLICT:
				res.HeldByHold++
				if details["forcedAfterMaxBackupWaitDays"] != nil {
					res.Forced--
				}
			case vault.ErrorCode(err) == vault.ENOTFOUND:
				// another replica was first
			default:
				return res, err
			}
		}
		if progress != nil {
			progress(res)
		}
	}
	s.setHeld(tenant, res.Held())
	if res.Held() > 0 {
		s.log().Info("retention held recordings back", "tenant", tenant, "heldByHold", res.HeldByHold, "heldForBackup", res.HeldForBackup)
	}
	return res, nil
}

// Sweep runs one retention pass over every tenant.
func (s *Service) Sweep(ctx context.Context) ([]SweepResult, error) {
	tenants, err := s.Store.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	var out []SweepResult
	for _, t := range tenants {
		r, err := s.SweepTenant(ctx, t.Name, nil)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// setHeld keeps the number of recordings the last pass held per tenant,
// for the callvault_retention_held gauge.
func (s *Service) setHeld(tenant string, n int) {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	if s.held == nil {
		s.held = map[string]int{}
	}
	s.held[tenant] = n
}

// RetentionHeld returns, per tenant, how many recordings past retention
// the last pass in this process held back.
func (s *Service) RetentionHeld() map[string]int {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	out := make(map[string]int, len(s.held))
	for k, v := range s.held {
		out[k] = v
	}
	return out
}

// Deleted is how many recordings the passes deleted in all.
func Deleted(results []SweepResult) int {
	n := 0
	for _, r := range results {
		n += r.Deleted
	}
	return n
}
