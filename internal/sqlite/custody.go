package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"callvault/internal/audit"
	"callvault/internal/vault"
)

// applyEffects queues fx's jobs and appends its audit entries inside tx.
func (s *Store) applyEffects(ctx context.Context, tx *sql.Tx, fx vault.Effects) error {
	if len(fx.Jobs) > 0 {
		if s.Enqueue == nil {
			return errors.New("sqlite: no job queue is wired to the store")
		}
		ids, err := s.Enqueue(ctx, tx, fx.Jobs)
		if err != nil {
			return fmt.Errorf("cannot queue jobs: %w", err)
		}
		if len(ids) != len(fx.Jobs) {
			return fmt.Errorf("cannot queue jobs: the queue returned %d ids for %d jobs", len(ids), len(fx.Jobs))
		}
		if fx.Queued != nil {
			fx.Queued(ids)
		}
		now := toMS(s.now())
		for i, id := range ids {
			j := fx.Jobs[i]
			if _, err := tx.ExecContext(ctx, `INSERT INTO job_progress (job_id, tenant, kind, created_by, created_ms, updated_ms)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING`, id, j.Tenant, j.Kind, j.CreatedBy, now, now); err != nil {
				return fmt.Errorf("cannot record job %d: %w", id, err)
			}
		}
	}
	var h audit.Hasher
	for i := range fx.Audit {
		if err := s.appendAudit(ctx, tx, &fx.Audit[i], &h); err != nil {
			return err
		}
	}
	return nil
}

// appendAudit links e to its tenant's chain and stores it. SQLite's single
// writer makes read-head, insert, move-head one step.
func (s *Store) appendAudit(ctx context.Context, tx *sql.Tx, e *vault.AuditEntry, h *audit.Hasher) error {
	var head vault.AuditHead
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_heads WHERE tenant = ?`, e.Tenant).Scan(&head.Seq, &head.Hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("cannot read the audit head of tenant %q: %w", e.Tenant, err)
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = audit.Truncate(e.Time)
	if len(e.Details) == 0 {
		e.Details = json.RawMessage("{}")
	}
	e.Seq, e.PrevHash = head.Seq+1, head.Hash
	e.Hash = h.Hash(e)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (tenant, seq, time_ms, user_name, role, ip, action, target, details, outcome, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Tenant, e.Seq, e.Time.UnixMilli(), e.User, e.Role, e.IP, e.Action, e.Target,
		string(e.Details), e.Outcome, e.PrevHash, e.Hash); err != nil {
		return fmt.Errorf("cannot append to the audit of tenant %q: %w", e.Tenant, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_heads (tenant, seq, hash) VALUES (?, ?, ?)
		ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, e.Tenant, e.Seq, e.Hash); err != nil {
		return fmt.Errorf("cannot move the audit head of tenant %q: %w", e.Tenant, err)
	}
	return nil
}

// Commit writes fx in a transaction of its own.
func (s *Store) Commit(ctx context.Context, fx vault.Effects) error {
	if len(fx.Audit) == 0 && len(fx.Jobs) == 0 {
		return nil
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return s.applyEffects(ctx, tx, fx) }); err != nil {
		return fmt.Errorf("sqlite: cannot commit: %w", err)
	}
	return nil
}

const auditColumns = `tenant, seq, time_ms, user_name, role, ip, action, target, details, outcome, prev_hash, hash`

func scanAudit(row interface{ Scan(...any) error }, e *vault.AuditEntry) error {
	var (
		timeMS  int64
		details string
	)
	if err := row.Scan(&e.Tenant, &e.Seq, &timeMS, &e.User, &e.Role, &e.IP, &e.Action, &e.Target, &details, &e.Outcome, &e.PrevHash, &e.Hash); err != nil {
		return err
	}
	e.Time = time.UnixMilli(timeMS).UTC()
	e.Details = json.RawMessage(details)
	return nil
}

// Audit lists a tenant's entries matching f, in seq order.
func (s *Store) Audit(ctx context.Context, tenant string, f vault.AuditFilter) ([]vault.AuditEntry, error) {
	where := []string{"tenant = ?", "seq > ?"}
	args := []any{tenant, f.AfterSeq}
	if !f.From.IsZero() {
		where, args = append(where, "time_ms >= ?"), append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where, args = append(where, "time_ms < ?"), append(args, f.To.UnixMilli())
	}
	if f.User != "" {
		where, args = append(where, "user_name = ?"), append(args, f.User)
	}
	if f.Target != "" {
		where, args = append(where, "target = ?"), append(args, f.Target)
	}
	if strings.HasSuffix(f.Action, ".") {
		where, args = append(where, "action >= ? AND action < ?"), append(args, f.Action, f.Action[:len(f.Action)-1]+"/")
	} else if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the audit of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var out []vault.AuditEntry
	for rows.Next() {
		var e vault.AuditEntry
		if err := scanAudit(rows, &e); err != nil {
			return nil, fmt.Errorf("sqlite: cannot list the audit of tenant %q: %w", tenant, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the audit of tenant %q: %w", tenant, err)
	}
	return out, nil
}

// ScanAudit calls fn for every stored entry of tenant in seq order, in
// batches of keyset-paged reads so no transaction stays open long.
func (s *Store) ScanAudit(ctx context.Context, tenant string, fn func(vault.AuditEntry) error) error {
	const batch = 10000
	after := int64(-1)
	for {
		rows, err := s.read.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?`, tenant, after, batch)
		if err != nil {
			return fmt.Errorf("sqlite: cannot read the audit of tenant %q: %w", tenant, err)
		}
		n := 0
		var e vault.AuditEntry
		for rows.Next() {
			if err := scanAudit(rows, &e); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: cannot read the audit of tenant %q: %w", tenant, err)
			}
			n++
			after = e.Seq
			if err := fn(e); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("sqlite: cannot read the audit of tenant %q: %w", tenant, err)
		}
		if n < batch {
			return nil
		}
	}
}

// AuditHead returns the recorded ends of a tenant's chain.
func (s *Store) AuditHead(ctx context.Context, tenant string) (vault.AuditHead, error) {
	var h vault.AuditHead
	err := s.read.QueryRowContext(ctx, `SELECT seq, hash, pruned_seq, pruned_hash FROM audit_heads WHERE tenant = ?`, tenant).
		Scan(&h.Seq, &h.Hash, &h.PrunedSeq, &h.PrunedHash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("sqlite: cannot read the audit head of tenant %q: %w", tenant, err)
	}
	return h, nil
}

// DeleteAuditBefore deletes a tenant's entries older than cutoff, but
// never the newest, and records the last one deleted as the anchor where
// the stored chain now starts.
func (s *Store) DeleteAuditBefore(ctx context.Context, tenant string, cutoff time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var lastSeq int64
		var lastHash string
		err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log WHERE tenant = ? AND time_ms < ?
			AND seq < (SELECT seq FROM audit_heads WHERE tenant = ?) ORDER BY seq DESC LIMIT 1`, tenant, cutoff.UnixMilli(), tenant).Scan(&lastSeq, &lastHash)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE tenant = ? AND seq <= ?`, tenant, lastSeq)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, `UPDATE audit_heads SET pruned_seq = ?, pruned_hash = ? WHERE tenant = ?`, lastSeq, lastHash, tenant)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: cannot delete old audit entries of tenant %q: %w", tenant, err)
	}
	return n, nil
}

// CreateLegalHold stores a hold; ErrNotFound if a recording it names
// does not exist.
func (s *Store) CreateLegalHold(ctx context.Context, h vault.LegalHold, fx vault.Effects) error {
	filter, err := marshalFilter(h.Filter)
	if err != nil {
		return err
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = s.now()
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO legal_holds (tenant, id, name, reason, filter, filter_query, created_by, created_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, h.Tenant, h.ID, h.Name, h.Reason, filter, h.FilterQuery, h.CreatedBy, toMS(h.CreatedAt)); err != nil {
			return classify(err)
		}
		for _, id := range h.RecordingIDs {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM recordings WHERE tenant = ? AND id = ?`, h.Tenant, id).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%w: recording %q", vault.ErrNotFound, id)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO legal_hold_recordings (tenant, hold_id, recording_id) VALUES (?, ?, ?)
				ON CONFLICT DO NOTHING`, h.Tenant, h.ID, id); err != nil {
				return err
			}
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("sqlite: cannot create legal hold %q of tenant %q: %w", h.Name, h.Tenant, err)
	}
	return nil
}

func marshalFilter(f *vault.SearchFilter) (string, error) {
	if f == nil {
		return "", nil
	}
	g := *f
	g.After, g.Limit = nil, 0
	b, err := json.Marshal(g)
	if err != nil {
		return "", fmt.Errorf("cannot encode a hold's filter: %w", err)
	}
	return string(b), nil
}

func unmarshalFilter(text string) (*vault.SearchFilter, error) {
	if text == "" {
		return nil, nil
	}
	var f vault.SearchFilter
	if err := json.Unmarshal([]byte(text), &f); err != nil {
		return nil, fmt.Errorf("cannot decode a hold's filter: %w", err)
	}
	return &f, nil
}

const holdColumns = `tenant, id, name, reason, filter, filter_query, created_by, created_ms, released_by, released_ms`

func scanHold(row interface{ Scan(...any) error }) (vault.LegalHold, error) {
	var (
		h                     vault.LegalHold
		filter                string
		createdMS, releasedMS int64
	)
	if err := row.Scan(&h.Tenant, &h.ID, &h.Name, &h.Reason, &filter, &h.FilterQuery, &h.CreatedBy, &createdMS, &h.ReleasedBy, &releasedMS); err != nil {
		return h, err
	}
	h.CreatedAt = fromMS(createdMS)
	if releasedMS != 0 {
		t := fromMS(releasedMS)
		h.ReleasedAt = &t
	}
	var err error
	h.Filter, err = unmarshalFilter(filter)
	return h, err
}

// LegalHolds lists a tenant's holds, newest first, with the ids they
// name.
func (s *Store) LegalHolds(ctx context.Context, tenant string) ([]vault.LegalHold, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+holdColumns+` FROM legal_holds WHERE tenant = ? ORDER BY created_ms DESC, id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list legal holds of tenant %q: %w", tenant, err)
	}
	var holds []vault.LegalHold
	for rows.Next() {
		h, err := scanHold(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: cannot list legal holds of tenant %q: %w", tenant, err)
		}
		holds = append(holds, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list legal holds of tenant %q: %w", tenant, err)
	}
	for i := range holds {
		if holds[i].RecordingIDs, err = s.holdIDs(ctx, s.read, tenant, holds[i].ID); err != nil {
			return nil, err
		}
	}
	return holds, nil
}

func (s *Store) holdIDs(ctx context.Context, q querier, tenant, holdID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT recording_id FROM legal_hold_recordings WHERE tenant = ? AND hold_id = ? ORDER BY recording_id`, tenant, holdID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the recordings of legal hold %q: %w", holdID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// LegalHold returns one hold; ErrNotFound.
func (s *Store) LegalHold(ctx context.Context, tenant, id string) (vault.LegalHold, error) {
	h, err := scanHold(s.read.QueryRowContext(ctx, `SELECT `+holdColumns+` FROM legal_holds WHERE tenant = ? AND id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("sqlite: cannot find legal hold %q: %w", id, vault.ErrNotFound)
	}
	if err != nil {
		return h, fmt.Errorf("sqlite: cannot read legal hold %q: %w", id, err)
	}
	h.RecordingIDs, err = s.holdIDs(ctx, s.read, tenant, id)
	return h, err
}

// ReleaseLegalHold marks an active hold released; ErrNotFound when there
// is no active hold of that id.
func (s *Store) ReleaseLegalHold(ctx context.Context, tenant, id, by string, at time.Time, fx vault.Effects) error {
	if at.IsZero() {
		at = s.now() // a zero time would leave the hold active
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE legal_holds SET released_by = ?, released_ms = ? WHERE tenant = ? AND id = ? AND released_ms = 0`,
			by, toMS(at), tenant, id)
		if err != nil {
			return err
		}
		if err := affectedOne(res); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("sqlite: cannot release legal hold %q: %w", id, err)
	}
	return nil
}

// HeldByID returns, for each of ids, the names of the active holds that
// name it.
func (s *Store) HeldByID(ctx context.Context, tenant string, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{tenant}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT r.recording_id, h.name FROM legal_hold_recordings r
		JOIN legal_holds h ON h.tenant = r.tenant AND h.id = r.hold_id AND h.released_ms = 0
		WHERE r.tenant = ? AND r.recording_id IN (`+placeholders(len(ids))+`) ORDER BY h.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot read legal holds of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		out[id] = append(out[id], name)
	}
	return out, rows.Err()
}

// holdsOf names the active holds that keep r: by id or by filter.
func holdsOf(ctx context.Context, q querier, r *vault.Recording) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT h.name, h.filter, EXISTS (SELECT 1 FROM legal_hold_recordings x
			WHERE x.tenant = h.tenant AND x.hold_id = h.id AND x.recording_id = ?)
		FROM legal_holds h WHERE h.tenant = ? AND h.released_ms = 0 ORDER BY h.name`, r.ID, r.Tenant)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var (
			name, filter string
			byID         bool
		)
		if err := rows.Scan(&name, &filter, &byID); err != nil {
			return nil, err
		}
		f, err := unmarshalFilter(filter)
		if err != nil {
			return nil, err
		}
		if byID || (f != nil && f.Matches(r)) {
			names = append(names, name)
		}
	}
	return names, rows.Err()
}

// PutReceipts keeps each receipt whose hash is the stored file's or one
// it replaced.
func (s *Store) PutReceipts(ctx context.Context, tenant string, receipts []vault.Receipt, fx vault.Effects) ([]string, error) {
	refused := make([]string, len(receipts))
	now := s.now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i, rc := range receipts {
			if rc.At.IsZero() {
				rc.At = now
			}
			var current string
			err := tx.QueryRowContext(ctx, `SELECT sha256 FROM media WHERE tenant = ? AND recording_id = ? AND media_id = ?`,
				tenant, rc.RecordingID, rc.MediaID).Scan(&current)
			if errors.Is(err, sql.ErrNoRows) {
				refused[i] = "no such media file"
				continue
			}
			if err != nil {
				return err
			}
			if current != rc.SHA256 {
				var prior int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM media_prior_hashes WHERE tenant = ? AND recording_id = ? AND media_id = ? AND sha256 = ?`,
					tenant, rc.RecordingID, rc.MediaID, rc.SHA256).Scan(&prior); err != nil {
					return err
				}
				if prior == 0 {
					refused[i] = "sha256 differs from the stored file"
					continue
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO backup_receipts (tenant, recording_id, media_id, sha256, user_name, received_ms)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, recording_id, media_id) DO UPDATE
				SET sha256 = excluded.sha256, user_name = excluded.user_name, received_ms = excluded.received_ms`,
				tenant, rc.RecordingID, rc.MediaID, rc.SHA256, rc.By, toMS(rc.At)); err != nil {
				return err
			}
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot keep backup receipts of tenant %q: %w", tenant, err)
	}
	return refused, nil
}

// BackupStates says, for each of ids, whether every media file has a
// receipt, and when and by whom the newest came.
func (s *Store) BackupStates(ctx context.Context, tenant string, ids []string) (map[string]vault.BackupState, error) {
	out := map[string]vault.BackupState{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{tenant}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT m.recording_id, count(*), count(b.media_id), coalesce(max(b.received_ms), 0),
			coalesce((SELECT b2.user_name FROM backup_receipts b2 WHERE b2.tenant = m.tenant AND b2.recording_id = m.recording_id
				ORDER BY b2.received_ms DESC LIMIT 1), '')
		FROM media m LEFT JOIN backup_receipts b ON b.tenant = m.tenant AND b.recording_id = m.recording_id AND b.media_id = m.media_id
		WHERE m.tenant = ? AND m.recording_id IN (`+placeholders(len(ids))+`) GROUP BY m.recording_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot read backup receipts of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id               string
			media, receipted int
			atMS             int64
			by               string
		)
		if err := rows.Scan(&id, &media, &receipted, &atMS, &by); err != nil {
			return nil, err
		}
		out[id] = vault.BackupState{BackedUp: media > 0 && receipted == media, At: fromMS(atMS), By: by}
	}
	return out, rows.Err()
}

// SetRetentionSettings replaces a tenant's retention settings;
// ErrNotFound.
func (s *Store) SetRetentionSettings(ctx context.Context, tenant string, rs vault.RetentionSettings, fx vault.Effects) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET retention_ms = ?, require_backup = ?, max_backup_wait_days = ?, audit_retention_days = ?
			WHERE name = ?`, int64(rs.RetentionDays)*dayMS, rs.RequireBackup, rs.MaxBackupWaitDays, rs.AuditRetentionDays, tenant)
		if err != nil {
			return err
		}
		if err := affectedOne(res); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("sqlite: cannot set the retention of tenant %q: %w", tenant, err)
	}
	return nil
}

const dayMS = int64(24 * time.Hour / time.Millisecond)

// RetentionSettings returns a tenant's retention settings; ErrNotFound.
func (s *Store) RetentionSettings(ctx context.Context, tenant string) (vault.RetentionSettings, error) {
	var (
		rs          vault.RetentionSettings
		retentionMS int64
	)
	err := s.read.QueryRowContext(ctx, `SELECT retention_ms, require_backup, max_backup_wait_days, audit_retention_days FROM tenants WHERE name = ?`, tenant).
		Scan(&retentionMS, &rs.RequireBackup, &rs.MaxBackupWaitDays, &rs.AuditRetentionDays)
	if errors.Is(err, sql.ErrNoRows) {
		return rs, fmt.Errorf("sqlite: cannot find tenant %q: %w", tenant, vault.ErrNotFound)
	}
	if err != nil {
		return rs, fmt.Errorf("sqlite: cannot read the retention of tenant %q: %w", tenant, err)
	}
	rs.RetentionDays = int((retentionMS + dayMS - 1) / dayMS)
	return rs, nil
}

// SweepCandidates lists recordings past cutoff in id order after afterID,
// with their backup state.
func (s *Store) SweepCandidates(ctx context.Context, tenant string, cutoff time.Time, afterID string, limit int) ([]vault.SweepCandidate, error) {
	cutoffMS := cutoff.UnixMilli()
	rows, err := s.read.QueryContext(ctx, `SELECT id, stop_ms FROM (
			SELECT id, stop_ms FROM recordings WHERE tenant = ? AND stop_ms <> 0 AND stop_ms < ? AND id > ?
			UNION ALL
			SELECT id, created_ms FROM recordings WHERE tenant = ? AND stop_ms = 0 AND created_ms < ? AND id > ?)
		ORDER BY id LIMIT ?`, tenant, cutoffMS, afterID, tenant, cutoffMS, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list expired recordings of tenant %q: %w", tenant, err)
	}
	var out []vault.SweepCandidate
	for rows.Next() {
		var (
			c  vault.SweepCandidate
			ms int64
		)
		if err := rows.Scan(&c.ID, &ms); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: cannot list expired recordings of tenant %q: %w", tenant, err)
		}
		c.StopTime = fromMS(ms)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list expired recordings of tenant %q: %w", tenant, err)
	}
	ids := make([]string, len(out))
	for i := range out {
		ids[i] = out[i].ID
	}
	states, err := s.BackupStates(ctx, tenant, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		st, ok := states[out[i].ID]
		if !ok {
			st.BackedUp = true // no media file: nothing to lose
		}
		out[i].Backup = st
	}
	return out, nil
}

// MediaForCertificate lists media rows encrypted for alias, in (recording
// id, media id) order after the given position.
func (s *Store) MediaForCertificate(ctx context.Context, tenant, alias, afterRecording, afterMedia string, limit int) ([]vault.Media, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+prefixed("m.", mediaColumns)+` FROM media_certs c
		JOIN media m ON m.tenant = c.tenant AND m.recording_id = c.recording_id AND m.media_id = c.media_id
		WHERE c.tenant = ? AND c.alias = ? AND (c.recording_id, c.media_id) > (?, ?)
		ORDER BY c.recording_id, c.media_id LIMIT ?`, tenant, alias, afterRecording, afterMedia, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list media for certificate %q: %w", alias, err)
	}
	defer rows.Close()
	var out []vault.Media
	for rows.Next() {
		m, err := scanMedia(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot list media for certificate %q: %w", alias, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// prefixed qualifies each column of a comma-separated list.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// SwapMedia re-points a media row to a re-wrapped object.
func (s *Store) SwapMedia(ctx context.Context, tenant string, sw vault.MediaSwap) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var oldSHA string
		err := tx.QueryRowContext(ctx, `SELECT sha256 FROM media WHERE tenant = ? AND recording_id = ? AND media_id = ? AND blob_key = ?`,
			tenant, sw.RecordingID, sw.MediaID, sw.OldBlobKey).Scan(&oldSHA)
		if errors.Is(err, sql.ErrNoRows) {
			return vault.ErrConflict
		}
		if err != nil {
			return err
		}
		if err := checkAliases(ctx, tx, tenant, sw.NewCertAliases); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO media_prior_hashes (tenant, recording_id, media_id, sha256) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, tenant, sw.RecordingID, sw.MediaID, oldSHA); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE media SET blob_key = ?, sha256 = ?, size = ?, cert_aliases = ?,
			content_sha256 = CASE WHEN content_sha256 = '' THEN ? ELSE content_sha256 END
			WHERE tenant = ? AND recording_id = ? AND media_id = ?`, sw.NewBlobKey, sw.NewSHA256, sw.NewSize, marshalList(sw.NewCertAliases),
			sw.ContentSHA256, tenant, sw.RecordingID, sw.MediaID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM media_certs WHERE tenant = ? AND recording_id = ? AND media_id = ?`,
			tenant, sw.RecordingID, sw.MediaID); err != nil {
			return err
		}
		for _, alias := range sw.NewCertAliases {
			if _, err := tx.ExecContext(ctx, `INSERT INTO media_certs (tenant, alias, recording_id, media_id) VALUES (?, ?, ?, ?)`,
				tenant, alias, sw.RecordingID, sw.MediaID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: cannot swap media %s/%s: %w", sw.RecordingID, sw.MediaID, err)
	}
	return nil
}

// SetJobProgress records a job's progress.
func (s *Store) SetJobProgress(ctx context.Context, jobID int64, p vault.JobProgress) error {
	_, err := s.write.ExecContext(ctx, `UPDATE job_progress SET done = ?, total = ?, failed = ?, summary = ?, updated_ms = ? WHERE job_id = ?`,
		p.Done, p.Total, p.Failed, p.Summary, toMS(s.now()), jobID)
	if err != nil {
		return fmt.Errorf("sqlite: cannot record the progress of job %d: %w", jobID, err)
	}
	return nil
}

const jobColumns = `job_id, tenant, kind, created_by, done, total, failed, summary, created_ms, updated_ms`

func scanJob(row interface{ Scan(...any) error }) (vault.JobInfo, error) {
	var (
		j                    vault.JobInfo
		createdMS, updatedMS int64
	)
	err := row.Scan(&j.ID, &j.Tenant, &j.Kind, &j.CreatedBy, &j.Done, &j.Total, &j.Failed, &j.Summary, &createdMS, &updatedMS)
	j.CreatedAt, j.UpdatedAt = fromMS(createdMS), fromMS(updatedMS)
	return j, err
}

// JobInfos lists a tenant's jobs, newest first, before beforeID.
func (s *Store) JobInfos(ctx context.Context, tenant string, beforeID int64, limit int) ([]vault.JobInfo, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+jobColumns+` FROM job_progress WHERE tenant = ? AND job_id < ? ORDER BY job_id DESC LIMIT ?`,
		tenant, beforeID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list jobs of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var out []vault.JobInfo
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot list jobs of tenant %q: %w", tenant, err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// JobInfo returns one job of a tenant; ErrNotFound.
func (s *Store) JobInfo(ctx context.Context, tenant string, id int64) (vault.JobInfo, error) {
	j, err := scanJob(s.read.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM job_progress WHERE tenant = ? AND job_id = ?`, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("sqlite: cannot find job %d: %w", id, vault.ErrNotFound)
	}
	if err != nil {
		return j, fmt.Errorf("sqlite: cannot read job %d: %w", id, err)
	}
	return j, nil
}

// FilterHolds lists the active holds with a filter, without their ids.
func (s *Store) FilterHolds(ctx context.Context, tenant string) ([]vault.LegalHold, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+holdColumns+` FROM legal_holds WHERE tenant = ? AND released_ms = 0 AND filter <> ''
		ORDER BY name, id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list legal holds of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var holds []vault.LegalHold
	for rows.Next() {
		h, err := scanHold(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot list legal holds of tenant %q: %w", tenant, err)
		}
		holds = append(holds, h)
	}
	return holds, rows.Err()
}

// NamedCount counts the recordings a hold names that exist.
func (s *Store) NamedCount(ctx context.Context, tenant, holdID string) (int64, error) {
	var n int64
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM legal_hold_recordings x
		JOIN recordings r ON r.tenant = x.tenant AND r.id = x.recording_id
		WHERE x.tenant = ? AND x.hold_id = ?`, tenant, holdID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: cannot count the recordings of legal hold %q: %w", holdID, err)
	}
	return n, nil
}
