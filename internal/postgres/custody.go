package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"callvault/internal/audit"
	"callvault/internal/vault"
)

// applyEffects queues fx's jobs and appends its audit entries inside tx.
// Call it last in a transaction: appending locks the tenants' audit heads
// until the transaction ends, and every audited change of those tenants
// waits for them.
func (s *Store) applyEffects(ctx context.Context, tx pgx.Tx, fx vault.Effects) error {
	if len(fx.Jobs) > 0 {
		if s.Enqueue == nil {
			return errors.New("postgres: no job queue is wired to the store")
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
		tenants, kinds, createdBy := make([]string, len(ids)), make([]string, len(ids)), make([]string, len(ids))
		for i, j := range fx.Jobs {
			tenants[i], kinds[i], createdBy[i] = j.Tenant, j.Kind, j.CreatedBy
		}
		// A unique job already queued comes back with its own id: its
		// row stays as it is.
		if _, err := tx.Exec(ctx, `INSERT INTO job_progress (job_id, tenant, kind, created_by, created_ms, updated_ms)
			SELECT j.id, j.tenant, j.kind, j.created_by, $5::bigint, $5::bigint
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS j (id, tenant, kind, created_by)
			ON CONFLICT (job_id) DO NOTHING`, ids, tenants, kinds, createdBy, toMS(s.now())); err != nil {
			return fmt.Errorf("cannot record jobs %v: %w", ids, err)
		}
	}
	return s.appendAudit(ctx, tx, fx.Audit)
}

// appendAudit links entries to their tenants' chains and stores them.
// Writers run side by side, so each chain's head row is locked (created
// first if the tenant has none) before it is read, in tenant order so two
// transactions appending to the same tenants cannot deadlock; the locks
// hold until tx ends, which serialises appends per tenant.
//
// entries is copied: inTx may run the transaction again, and an attempt
// must not see the sequence numbers and hashes of one rolled back.
func (s *Store) appendAudit(ctx context.Context, tx pgx.Tx, entries []vault.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	entries = slices.Clone(entries)
	var tenants []string
	for i := range entries {
		storable(&entries[i])
		tenants = append(tenants, entries[i].Tenant)
	}
	slices.Sort(tenants)
	tenants = slices.Compact(tenants)

	var batch pgx.Batch
	for _, tenant := range tenants {
		batch.Queue(`INSERT INTO audit_heads (tenant) VALUES ($1) ON CONFLICT DO NOTHING`, tenant)
		batch.Queue(`SELECT seq, hash FROM audit_heads WHERE tenant = $1 FOR UPDATE`, tenant)
	}
	results := tx.SendBatch(ctx, &batch)
	heads := make(map[string]*vault.AuditHead, len(tenants))
	for _, tenant := range tenants {
		var head vault.AuditHead
		if _, err := results.Exec(); err != nil {
			results.Close()
			return fmt.Errorf("cannot lock the audit head of tenant %q: %w", tenant, err)
		}
		if err := results.QueryRow().Scan(&head.Seq, &head.Hash); err != nil {
			results.Close()
			return fmt.Errorf("cannot read the audit head of tenant %q: %w", tenant, err)
		}
		heads[tenant] = &head
	}
	if err := results.Close(); err != nil {
		return fmt.Errorf("cannot lock audit heads: %w", err)
	}

	n := len(entries)
	var (
		tenantCol, userCol, roleCol, ipCol, actionCol = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		targetCol, detailsCol, outcomeCol             = make([]string, n), make([]string, n), make([]string, n)
		prevCol, hashCol                              = make([]string, n), make([]string, n)
		seqCol, timeCol                               = make([]int64, n), make([]int64, n)
		h                                             audit.Hasher
	)
	now := s.now()
	for i := range entries {
		e := &entries[i]
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = audit.Truncate(e.Time)
		if len(e.Details) == 0 {
			e.Details = json.RawMessage("{}")
		}
		head := heads[e.Tenant]
		e.Seq, e.PrevHash = head.Seq+1, head.Hash
		e.Hash = h.Hash(e)
		head.Seq, head.Hash = e.Seq, e.Hash

		tenantCol[i], seqCol[i], timeCol[i] = e.Tenant, e.Seq, e.Time.UnixMilli()
		userCol[i], roleCol[i], ipCol[i], actionCol[i], targetCol[i] = e.User, e.Role, e.IP, e.Action, e.Target
		detailsCol[i], outcomeCol[i], prevCol[i], hashCol[i] = string(e.Details), e.Outcome, e.PrevHash, e.Hash
	}
	headTenants := make([]string, len(tenants))
	headSeqs := make([]int64, len(tenants))
	headHashes := make([]string, len(tenants))
	for i, tenant := range tenants {
		headTenants[i], headSeqs[i], headHashes[i] = tenant, heads[tenant].Seq, heads[tenant].Hash
	}
	batch = pgx.Batch{}
	batch.Queue(`INSERT INTO audit_log (tenant, seq, time_ms, user_name, role, ip, action, target, details, outcome, prev_hash, hash)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::text[], $10::text[], $11::text[], $12::text[])`,
		tenantCol, seqCol, timeCol, userCol, roleCol, ipCol, actionCol, targetCol, detailsCol, outcomeCol, prevCol, hashCol)
	batch.Queue(`UPDATE audit_heads h SET seq = v.seq, hash = v.hash
		FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v (tenant, seq, hash) WHERE h.tenant = v.tenant`,
		headTenants, headSeqs, headHashes)
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return fmt.Errorf("cannot append to the audit: %w", err)
	}
	return nil
}

// storable makes e's text fields storable in PostgreSQL's TEXT, which
// takes neither invalid UTF-8 nor NUL: each becomes U+FFFD. It runs before
// the hash, so the chain is over what is stored, and an entry about a
// request with a hostile user name is kept, not lost with its transaction.
// (The sqlite store keeps such bytes as they are.)
func storable(e *vault.AuditEntry) {
	clean := func(s string) string {
		if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
			return s
		}
		return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	}
	for _, f := range []*string{&e.Tenant, &e.User, &e.Role, &e.IP, &e.Action, &e.Target, &e.Outcome} {
		*f = clean(*f)
	}
	if d := string(e.Details); !utf8.ValidString(d) || strings.ContainsRune(d, 0) {
		e.Details = json.RawMessage(clean(d))
	}
}

// Commit writes fx in a transaction of its own.
func (s *Store) Commit(ctx context.Context, fx vault.Effects) error {
	if len(fx.Audit) == 0 && len(fx.Jobs) == 0 {
		return nil
	}
	if err := s.inTx(ctx, func(tx pgx.Tx) error { return s.applyEffects(ctx, tx, fx) }); err != nil {
		return fmt.Errorf("postgres: cannot commit: %w", err)
	}
	return nil
}

const auditColumns = `tenant, seq, time_ms, user_name, role, ip, action, target, details, outcome, prev_hash, hash`

func scanAudit(row scanner) (vault.AuditEntry, error) {
	var (
		e       vault.AuditEntry
		timeMS  int64
		details string
	)
	if err := row.Scan(&e.Tenant, &e.Seq, &timeMS, &e.User, &e.Role, &e.IP, &e.Action, &e.Target, &details, &e.Outcome, &e.PrevHash, &e.Hash); err != nil {
		return vault.AuditEntry{}, err
	}
	e.Time = time.UnixMilli(timeMS).UTC()
	e.Details = json.RawMessage(details)
	return e, nil
}

// Audit lists a tenant's entries matching f, in seq order.
func (s *Store) Audit(ctx context.Context, tenant string, f vault.AuditFilter) ([]vault.AuditEntry, error) {
	var a args
	where := []string{"tenant = " + a.add(tenant), "seq > " + a.add(f.AfterSeq)}
	if !f.From.IsZero() {
		where = append(where, "time_ms >= "+a.add(f.From.UnixMilli()))
	}
	if !f.To.IsZero() {
		where = append(where, "time_ms < "+a.add(f.To.UnixMilli()))
	}
	if f.User != "" {
		where = append(where, "user_name = "+a.add(f.User))
	}
	if f.Target != "" {
		where = append(where, "target = "+a.add(f.Target))
	}
	if strings.HasSuffix(f.Action, ".") {
		// A range, bytewise (COLLATE "C"): '/' follows '.'.
		where = append(where, "action >= "+a.add(f.Action)+" AND action < "+a.add(f.Action[:len(f.Action)-1]+"/"))
	} else if f.Action != "" {
		where = append(where, "action = "+a.add(f.Action))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE `+strings.Join(where, " AND ")+
		` ORDER BY seq LIMIT `+a.add(limit), a...)
	if err == nil {
		var out []vault.AuditEntry
		if out, err = collect(rows, scanAudit); err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list the audit of tenant %q: %w", tenant, err)
}

// auditBatch is how many entries ScanAudit reads at a time.
const auditBatch = 5000

// ScanAudit calls fn for every stored entry of tenant in seq order. It
// reads keyset-paged batches and calls fn between reads, so no connection
// or transaction stays open while fn works (fn may use the store).
func (s *Store) ScanAudit(ctx context.Context, tenant string, fn func(vault.AuditEntry) error) error {
	after := int64(-1)
	for {
		rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_log WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
			tenant, after, auditBatch)
		var entries []vault.AuditEntry
		if err == nil {
			entries, err = collect(rows, scanAudit)
		}
		if err != nil {
			return fmt.Errorf("postgres: cannot read the audit of tenant %q: %w", tenant, err)
		}
		for _, e := range entries {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(entries) < auditBatch {
			return nil
		}
		after = entries[len(entries)-1].Seq
	}
}

// AuditHead returns the recorded ends of a tenant's chain (zero for a
// tenant without entries).
func (s *Store) AuditHead(ctx context.Context, tenant string) (vault.AuditHead, error) {
	var h vault.AuditHead
	err := s.pool.QueryRow(ctx, `SELECT seq, hash, pruned_seq, pruned_hash FROM audit_heads WHERE tenant = $1`, tenant).
		Scan(&h.Seq, &h.Hash, &h.PrunedSeq, &h.PrunedHash)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return vault.AuditHead{}, fmt.Errorf("postgres: cannot read the audit head of tenant %q: %w", tenant, err)
	}
	return h, nil
}

// DeleteAuditBefore deletes a tenant's entries older than cutoff, but
// never the newest, and records the last one deleted as the anchor where
// the stored chain now starts. It does not take the head's lock until its
// last statement, so appends go on while it deletes; of two prunes at once
// the anchor keeps the later one (each deletes a prefix of the chain).
func (s *Store) DeleteAuditBefore(ctx context.Context, tenant string, cutoff time.Time) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		var (
			lastSeq  int64
			lastHash string
		)
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_log WHERE tenant = $1 AND time_ms < $2
			AND seq < (SELECT seq FROM audit_heads WHERE tenant = $1) ORDER BY seq DESC LIMIT 1`, tenant, cutoff.UnixMilli()).
			Scan(&lastSeq, &lastHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM audit_log WHERE tenant = $1 AND seq <= $2`, tenant, lastSeq)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `UPDATE audit_heads SET pruned_seq = $2, pruned_hash = $3 WHERE tenant = $1 AND pruned_seq < $2`,
			tenant, lastSeq, lastHash)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: cannot delete old audit entries of tenant %q: %w", tenant, err)
	}
	return n, nil
}

// CreateLegalHold stores a hold; ErrConflict if its id is taken,
// ErrNotFound if the tenant or a recording it names does not exist. The
// named recordings are share-locked until the hold commits, so a
// DeleteRecording of one either waits and then sees the hold, or has
// deleted it first and this fails.
func (s *Store) CreateLegalHold(ctx context.Context, h vault.LegalHold, fx vault.Effects) error {
	filter, err := marshalFilter(h.Filter)
	if err != nil {
		return err
	}
	if h.CreatedAt.IsZero() {
		h.CreatedAt = s.now()
	}
	ids := slices.Compact(slices.Sorted(slices.Values(h.RecordingIDs)))
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO legal_holds (tenant, id, name, reason, filter, filter_query, created_by, created_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, h.Tenant, h.ID, h.Name, h.Reason, filter, h.FilterQuery, h.CreatedBy, toMS(h.CreatedAt)); err != nil {
			return classify(err)
		}
		if len(ids) > 0 {
			rows, err := tx.Query(ctx, `SELECT id FROM recordings WHERE tenant = $1 AND id = ANY($2) ORDER BY id FOR KEY SHARE`, h.Tenant, ids)
			if err != nil {
				return err
			}
			present, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			if len(present) != len(ids) {
				for _, id := range ids {
					if !slices.Contains(present, id) {
						return fmt.Errorf("%w: recording %q", vault.ErrNotFound, id)
					}
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO legal_hold_recordings (tenant, hold_id, recording_id)
				SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`, h.Tenant, h.ID, ids); err != nil {
				return err
			}
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot create legal hold %q of tenant %q: %w", h.Name, h.Tenant, err)
	}
	return nil
}

// marshalFilter is a hold's filter as stored: JSON without cursor and
// limit, "" for none (as in the sqlite store).
func marshalFilter(f *vault.SearchFilter) (string, error) {
	if f == nil {
		return "", nil
	}
	g := *f
	g.After, g.Limit = nil, 0
	b, err := json.Marshal(g)
	if err != nil {
		return "", fmt.Errorf("postgres: cannot encode a hold's filter: %w", err)
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

func scanHold(row scanner) (vault.LegalHold, error) {
	var (
		h                     vault.LegalHold
		filter                string
		createdMS, releasedMS int64
	)
	if err := row.Scan(&h.Tenant, &h.ID, &h.Name, &h.Reason, &filter, &h.FilterQuery, &h.CreatedBy, &createdMS, &h.ReleasedBy, &releasedMS); err != nil {
		return vault.LegalHold{}, err
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

// readOnly runs fn in a read-only REPEATABLE READ transaction: one
// snapshot for several queries.
func (s *Store) readOnly(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// LegalHolds lists a tenant's holds, newest first, with the ids they
// name, read in one snapshot.
func (s *Store) LegalHolds(ctx context.Context, tenant string) ([]vault.LegalHold, error) {
	var holds []vault.LegalHold
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+holdColumns+` FROM legal_holds WHERE tenant = $1 ORDER BY created_ms DESC, id`, tenant)
		if err != nil {
			return err
		}
		if holds, err = collect(rows, scanHold); err != nil || len(holds) == 0 {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT hold_id, recording_id FROM legal_hold_recordings WHERE tenant = $1
			ORDER BY hold_id, recording_id`, tenant)
		if err != nil {
			return err
		}
		byHold := map[string][]string{}
		var holdID, recordingID string
		if _, err := pgx.ForEachRow(rows, []any{&holdID, &recordingID}, func() error {
			byHold[holdID] = append(byHold[holdID], recordingID)
			return nil
		}); err != nil {
			return err
		}
		for i := range holds {
			holds[i].RecordingIDs = byHold[holds[i].ID]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot list legal holds of tenant %q: %w", tenant, err)
	}
	return holds, nil
}

// LegalHold returns one hold with the ids it names; ErrNotFound.
func (s *Store) LegalHold(ctx context.Context, tenant, id string) (vault.LegalHold, error) {
	var h vault.LegalHold
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		var err error
		if h, err = scanHold(tx.QueryRow(ctx, `SELECT `+holdColumns+` FROM legal_holds WHERE tenant = $1 AND id = $2`, tenant, id)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT recording_id FROM legal_hold_recordings WHERE tenant = $1 AND hold_id = $2
			ORDER BY recording_id`, tenant, id)
		if err != nil {
			return err
		}
		h.RecordingIDs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if len(h.RecordingIDs) == 0 {
			h.RecordingIDs = nil
		}
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.LegalHold{}, fmt.Errorf("postgres: cannot find legal hold %q: %w", id, vault.ErrNotFound)
	}
	if err != nil {
		return vault.LegalHold{}, fmt.Errorf("postgres: cannot read legal hold %q: %w", id, err)
	}
	return h, nil
}

// ReleaseLegalHold marks an active hold released (at now when at is
// zero); ErrNotFound when there is no active hold of that id.
func (s *Store) ReleaseLegalHold(ctx context.Context, tenant, id, by string, at time.Time, fx vault.Effects) error {
	if at.IsZero() {
		at = s.now()
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE legal_holds SET released_by = $1, released_ms = $2
			WHERE tenant = $3 AND id = $4 AND released_ms = 0`, by, toMS(at), tenant, id)
		if err != nil {
			return err
		}
		if err := affectedOne(tag); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot release legal hold %q: %w", id, err)
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
	rows, err := s.pool.Query(ctx, `SELECT r.recording_id, h.name FROM legal_hold_recordings r
		JOIN legal_holds h ON h.tenant = r.tenant AND h.id = r.hold_id AND h.released_ms = 0
		WHERE r.tenant = $1 AND r.recording_id = ANY($2) ORDER BY h.name, h.id`, tenant, ids)
	if err == nil {
		var id, name string
		_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
			out[id] = append(out[id], name)
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot read legal holds of tenant %q: %w", tenant, err)
	}
	return out, nil
}

// holdsOf names the active holds that keep r: by id or by filter.
func holdsOf(ctx context.Context, tx pgx.Tx, r *vault.Recording) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT h.name, h.filter, EXISTS (SELECT 1 FROM legal_hold_recordings x
			WHERE x.tenant = h.tenant AND x.hold_id = h.id AND x.recording_id = $1)
		FROM legal_holds h WHERE h.tenant = $2 AND h.released_ms = 0 ORDER BY h.name, h.id`, r.ID, r.Tenant)
	if err != nil {
		return nil, err
	}
	var (
		names        []string
		name, filter string
		byID         bool
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &filter, &byID}, func() error {
		f, err := unmarshalFilter(filter)
		if err != nil {
			return err
		}
		if byID || (f != nil && f.Matches(r)) {
			names = append(names, name)
		}
		return nil
	})
	return names, err
}

// Refusal reasons of PutReceipts (as the sqlite store gives them).
const (
	refusedNoMedia  = "no such media file"
	refusedMismatch = "sha256 differs from the stored file"
)

// PutReceipts keeps each receipt whose hash is the stored file's or one
// it replaced (At is now when zero). The media rows are key-share-locked
// first, so none is deleted between the check and the receipt; a receipt
// repeated in the batch is kept once, as given last.
func (s *Store) PutReceipts(ctx context.Context, tenant string, receipts []vault.Receipt, fx vault.Effects) ([]string, error) {
	refused := make([]string, len(receipts))
	now := s.now()
	recordingIDs, mediaIDs := make([]string, len(receipts)), make([]string, len(receipts))
	for i, rc := range receipts {
		recordingIDs[i], mediaIDs[i] = rc.RecordingID, rc.MediaID
	}
	type key struct{ recording, media string }
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		clear(refused)
		current := map[key]string{}
		if len(receipts) > 0 {
			rows, err := tx.Query(ctx, `SELECT m.recording_id, m.media_id, m.sha256 FROM media m
				WHERE m.tenant = $1 AND (m.recording_id, m.media_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
				ORDER BY m.recording_id, m.media_id FOR KEY SHARE`, tenant, recordingIDs, mediaIDs)
			if err != nil {
				return err
			}
			var k key
			var sha string
			if _, err := pgx.ForEachRow(rows, []any{&k.recording, &k.media, &sha}, func() error {
				current[k] = sha
				return nil
			}); err != nil {
				return err
			}
		}
		// Hashes that differ from the stored file's may be of a file it
		// replaced.
		var priorRecordings, priorMedia, priorSHAs []string
		for _, rc := range receipts {
			if sha, ok := current[key{rc.RecordingID, rc.MediaID}]; ok && sha != rc.SHA256 {
				priorRecordings, priorMedia, priorSHAs = append(priorRecordings, rc.RecordingID), append(priorMedia, rc.MediaID), append(priorSHAs, rc.SHA256)
			}
		}
		type priorKey struct{ recording, media, sha string }
		prior := map[priorKey]bool{}
		if len(priorSHAs) > 0 {
			rows, err := tx.Query(ctx, `SELECT recording_id, media_id, sha256 FROM media_prior_hashes
				WHERE tenant = $1 AND (recording_id, media_id, sha256) IN (SELECT * FROM unnest($2::text[], $3::text[], $4::text[]))`,
				tenant, priorRecordings, priorMedia, priorSHAs)
			if err != nil {
				return err
			}
			var k priorKey
			if _, err := pgx.ForEachRow(rows, []any{&k.recording, &k.media, &k.sha}, func() error {
				prior[k] = true
				return nil
			}); err != nil {
				return err
			}
		}
		kept := map[key]int{} // index of the last receipt kept for each file
		for i, rc := range receipts {
			sha, ok := current[key{rc.RecordingID, rc.MediaID}]
			switch {
			case !ok:
				refused[i] = refusedNoMedia
			case sha != rc.SHA256 && !prior[priorKey{rc.RecordingID, rc.MediaID, rc.SHA256}]:
				refused[i] = refusedMismatch
			default:
				kept[key{rc.RecordingID, rc.MediaID}] = i
			}
		}
		if len(kept) > 0 {
			var keptRecordings, keptMedia, keptSHAs, keptBy []string
			var keptAt []int64
			for i, rc := range receipts {
				if j, ok := kept[key{rc.RecordingID, rc.MediaID}]; !ok || j != i {
					continue
				}
				at := rc.At
				if at.IsZero() {
					at = now
				}
				keptRecordings, keptMedia, keptSHAs = append(keptRecordings, rc.RecordingID), append(keptMedia, rc.MediaID), append(keptSHAs, rc.SHA256)
				keptBy, keptAt = append(keptBy, rc.By), append(keptAt, toMS(at))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO backup_receipts (tenant, recording_id, media_id, sha256, user_name, received_ms)
				SELECT $1, r.recording_id, r.media_id, r.sha256, r.user_name, r.received_ms
				FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS r (recording_id, media_id, sha256, user_name, received_ms)
				ON CONFLICT (tenant, recording_id, media_id) DO UPDATE
				SET sha256 = EXCLUDED.sha256, user_name = EXCLUDED.user_name, received_ms = EXCLUDED.received_ms`,
				tenant, keptRecordings, keptMedia, keptSHAs, keptBy, keptAt); err != nil {
				return err
			}
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot keep backup receipts of tenant %q: %w", tenant, err)
	}
	return refused, nil
}

// BackupStates says, for each of ids that has media files, whether every
// one has a receipt, and when and by whom the newest came.
func (s *Store) BackupStates(ctx context.Context, tenant string, ids []string) (map[string]vault.BackupState, error) {
	out := map[string]vault.BackupState{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT m.recording_id, count(*), count(b.media_id), coalesce(max(b.received_ms), 0),
			coalesce((SELECT b2.user_name FROM backup_receipts b2 WHERE b2.tenant = m.tenant AND b2.recording_id = m.recording_id
				ORDER BY b2.received_ms DESC, b2.media_id LIMIT 1), '')
		FROM media m LEFT JOIN backup_receipts b ON b.tenant = m.tenant AND b.recording_id = m.recording_id AND b.media_id = m.media_id
		WHERE m.tenant = $1 AND m.recording_id = ANY($2) GROUP BY m.tenant, m.recording_id`, tenant, ids)
	if err == nil {
		var (
			id               string
			media, receipted int64
			atMS             int64
			by               string
		)
		_, err = pgx.ForEachRow(rows, []any{&id, &media, &receipted, &atMS, &by}, func() error {
			out[id] = vault.BackupState{BackedUp: media > 0 && receipted == media, At: fromMS(atMS), By: by}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot read backup receipts of tenant %q: %w", tenant, err)
	}
	return out, nil
}

const dayMS = int64(24 * time.Hour / time.Millisecond)

// SetRetentionSettings replaces a tenant's retention settings;
// ErrNotFound.
func (s *Store) SetRetentionSettings(ctx context.Context, tenant string, rs vault.RetentionSettings, fx vault.Effects) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tenants SET retention_ms = $1, require_backup = $2, max_backup_wait_days = $3,
			audit_retention_days = $4 WHERE name = $5`,
			int64(rs.RetentionDays)*dayMS, rs.RequireBackup, rs.MaxBackupWaitDays, rs.AuditRetentionDays, tenant)
		if err != nil {
			return err
		}
		if err := affectedOne(tag); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot set the retention of tenant %q: %w", tenant, err)
	}
	return nil
}

// RetentionSettings returns a tenant's retention settings, the period in
// whole days rounded up; ErrNotFound.
func (s *Store) RetentionSettings(ctx context.Context, tenant string) (vault.RetentionSettings, error) {
	var (
		rs          vault.RetentionSettings
		retentionMS int64
	)
	err := s.pool.QueryRow(ctx, `SELECT retention_ms, require_backup, max_backup_wait_days, audit_retention_days FROM tenants WHERE name = $1`, tenant).
		Scan(&retentionMS, &rs.RequireBackup, &rs.MaxBackupWaitDays, &rs.AuditRetentionDays)
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.RetentionSettings{}, fmt.Errorf("postgres: cannot find tenant %q: %w", tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.RetentionSettings{}, fmt.Errorf("postgres: cannot read the retention of tenant %q: %w", tenant, err)
	}
	rs.RetentionDays = int((retentionMS + dayMS - 1) / dayMS)
	return rs, nil
}

// limitArg is a LIMIT argument: a negative limit is none (NULL), as in
// SQLite.
func limitArg(limit int) any {
	if limit < 0 {
		return nil
	}
	return limit
}

// SweepCandidates lists recordings past cutoff in id order after afterID,
// with their backup state.
func (s *Store) SweepCandidates(ctx context.Context, tenant string, cutoff time.Time, afterID string, limit int) ([]vault.SweepCandidate, error) {
	// Two halves so each can use the (tenant, stop_ms) index.
	rows, err := s.pool.Query(ctx, `SELECT id, ms FROM (
			(SELECT id, stop_ms AS ms FROM recordings WHERE tenant = $1 AND stop_ms <> 0 AND stop_ms < $2 AND id > $3)
			UNION ALL
			(SELECT id, created_ms FROM recordings WHERE tenant = $1 AND stop_ms = 0 AND created_ms < $2 AND id > $3)
		) AS expired ORDER BY id LIMIT $4`, tenant, cutoff.UnixMilli(), afterID, limitArg(limit))
	var out []vault.SweepCandidate
	if err == nil {
		out, err = collect(rows, func(row scanner) (vault.SweepCandidate, error) {
			var (
				c  vault.SweepCandidate
				ms int64
			)
			err := row.Scan(&c.ID, &ms)
			c.StopTime = fromMS(ms)
			return c, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot list expired recordings of tenant %q: %w", tenant, err)
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

// mediaColumnsOfM is mediaColumns of media m.
var mediaColumnsOfM = func() string {
	parts := strings.Split(mediaColumns, ",")
	for i, p := range parts {
		parts[i] = "m." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}()

// MediaForCertificate lists media rows encrypted for alias, in (recording
// id, media id) order after the given position.
func (s *Store) MediaForCertificate(ctx context.Context, tenant, alias, afterRecording, afterMedia string, limit int) ([]vault.Media, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+mediaColumnsOfM+` FROM media_certs c
		JOIN media m ON m.tenant = c.tenant AND m.recording_id = c.recording_id AND m.media_id = c.media_id
		WHERE c.tenant = $1 AND c.alias = $2 AND (c.recording_id, c.media_id) > ($3, $4)
		ORDER BY c.recording_id, c.media_id LIMIT $5`, tenant, alias, afterRecording, afterMedia, limitArg(limit))
	if err == nil {
		var media []vault.Media
		if media, err = collect(rows, scanMedia); err == nil {
			return media, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list media for certificate %q: %w", alias, err)
}

// SwapMedia re-points a media row to a re-wrapped object. The row is
// locked for update, and compared with OldBlobKey after any swap or
// delete before it has committed; the new certificates are share-locked
// as PutMedia does, so a DeleteCertificate of one either counts this file
// or makes the swap fail.
func (s *Store) SwapMedia(ctx context.Context, tenant string, sw vault.MediaSwap) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var oldSHA string
		err := tx.QueryRow(ctx, `SELECT sha256 FROM media WHERE tenant = $1 AND recording_id = $2 AND media_id = $3 AND blob_key = $4
			FOR UPDATE`, tenant, sw.RecordingID, sw.MediaID, sw.OldBlobKey).Scan(&oldSHA)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: the media row no longer points to %q", vault.ErrConflict, sw.OldBlobKey)
		}
		if err != nil {
			return err
		}
		if err := lockCertificates(ctx, tx, tenant, sw.NewCertAliases); err != nil {
			return err
		}
		var batch pgx.Batch
		batch.Queue(`INSERT INTO media_prior_hashes (tenant, recording_id, media_id, sha256) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, tenant, sw.RecordingID, sw.MediaID, oldSHA)
		batch.Queue(`UPDATE media SET blob_key = $1, sha256 = $2, size = $3, cert_aliases = $4,
			content_sha256 = CASE WHEN content_sha256 = '' THEN $5 ELSE content_sha256 END
			WHERE tenant = $6 AND recording_id = $7 AND media_id = $8`, sw.NewBlobKey, sw.NewSHA256, sw.NewSize,
			textArray(sw.NewCertAliases), sw.ContentSHA256, tenant, sw.RecordingID, sw.MediaID)
		batch.Queue(`DELETE FROM media_certs WHERE tenant = $1 AND recording_id = $2 AND media_id = $3`,
			tenant, sw.RecordingID, sw.MediaID)
		batch.Queue(`INSERT INTO media_certs (tenant, alias, recording_id, media_id)
			SELECT $1, alias, $3, $4 FROM unnest($2::text[]) AS alias ON CONFLICT DO NOTHING`,
			tenant, textArray(sw.NewCertAliases), sw.RecordingID, sw.MediaID)
		return tx.SendBatch(ctx, &batch).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot swap media %s/%s: %w", sw.RecordingID, sw.MediaID, err)
	}
	return nil
}

// SetJobProgress records a job's progress (nothing for a job without a
// progress row).
func (s *Store) SetJobProgress(ctx context.Context, jobID int64, p vault.JobProgress) error {
	_, err := s.pool.Exec(ctx, `UPDATE job_progress SET done = $1, total = $2, failed = $3, summary = $4, updated_ms = $5 WHERE job_id = $6`,
		p.Done, p.Total, p.Failed, p.Summary, toMS(s.now()), jobID)
	if err != nil {
		return fmt.Errorf("postgres: cannot record the progress of job %d: %w", jobID, err)
	}
	return nil
}

const jobColumns = `job_id, tenant, kind, created_by, done, total, failed, summary, created_ms, updated_ms`

func scanJob(row scanner) (vault.JobInfo, error) {
	var (
		j                    vault.JobInfo
		createdMS, updatedMS int64
	)
	if err := row.Scan(&j.ID, &j.Tenant, &j.Kind, &j.CreatedBy, &j.Done, &j.Total, &j.Failed, &j.Summary, &createdMS, &updatedMS); err != nil {
		return vault.JobInfo{}, err
	}
	j.CreatedAt, j.UpdatedAt = fromMS(createdMS), fromMS(updatedMS)
	return j, nil
}

// JobInfos lists a tenant's jobs, newest first, before beforeID.
func (s *Store) JobInfos(ctx context.Context, tenant string, beforeID int64, limit int) ([]vault.JobInfo, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM job_progress WHERE tenant = $1 AND job_id < $2 ORDER BY job_id DESC LIMIT $3`,
		tenant, beforeID, limitArg(limit))
	if err == nil {
		var jobs []vault.JobInfo
		if jobs, err = collect(rows, scanJob); err == nil {
			return jobs, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list jobs of tenant %q: %w", tenant, err)
}

// JobInfo returns one job of a tenant; ErrNotFound.
func (s *Store) JobInfo(ctx context.Context, tenant string, id int64) (vault.JobInfo, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM job_progress WHERE tenant = $1 AND job_id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.JobInfo{}, fmt.Errorf("postgres: cannot find job %d: %w", id, vault.ErrNotFound)
	}
	if err != nil {
		return vault.JobInfo{}, fmt.Errorf("postgres: cannot read job %d: %w", id, err)
	}
	return j, nil
}

// FilterHolds lists the active holds with a filter, without their ids.
func (s *Store) FilterHolds(ctx context.Context, tenant string) ([]vault.LegalHold, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+holdColumns+` FROM legal_holds WHERE tenant = $1 AND released_ms = 0 AND filter <> ''
		ORDER BY name, id`, tenant)
	var holds []vault.LegalHold
	if err == nil {
		holds, err = collect(rows, scanHold)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot list legal holds of tenant %q: %w", tenant, err)
	}
	return holds, nil
}

// NamedCount counts the recordings a hold names that exist.
func (s *Store) NamedCount(ctx context.Context, tenant, holdID string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM legal_hold_recordings x
		JOIN recordings r ON r.tenant = x.tenant AND r.id = x.recording_id
		WHERE x.tenant = $1 AND x.hold_id = $2`, tenant, holdID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: cannot count the recordings of legal hold %q: %w", holdID, err)
	}
	return n, nil
}
