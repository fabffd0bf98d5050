package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"callvault/internal/vault"
)

// Term kinds of recording_terms.
const (
	termAgent     = "a"
	termGroup     = "g"
	termPartition = "p"
	termMediaType = "m"
)

const recordingColumns = `r.rid, r.tenant, r.id, r.start_ms, r.stop_ms, r.caller, r.dialed,
	r.agents, r.access_groups, r.partitions, r.media_types, r.doc, r.created_ms, r.updated_ms`

// UpdateRecording reads the recording, lets fn change it and saves it, in
// one write transaction. Writes go through a single connection, so
// concurrent merges of one recording run one after the other and none is
// lost. fn must not call the store: the store's writer is busy with it.
func (s *Store) UpdateRecording(ctx context.Context, tenant, id string, fn func(r *vault.Recording, media []vault.Media) error) error {
	var fnErr error
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, _, err := getRecording(ctx, tx, tenant, id, vault.Access{All: true})
		var media []vault.Media
		switch {
		case errors.Is(err, sql.ErrNoRows):
			r = vault.Recording{Tenant: tenant, ID: id}
		case err != nil:
			return err
		default:
			if media, err = listMedia(ctx, tx, tenant, id); err != nil {
				return err
			}
		}
		if err := fn(&r, media); err != nil {
			fnErr = err
			return err
		}
		// fn changes the content, never which recording it is.
		r.Tenant, r.ID = tenant, id
		now := s.now()
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now
		}
		r.UpdatedAt = now
		return saveRecording(ctx, tx, &r)
	})
	if fnErr != nil {
		return fnErr // the caller's own error, as it gave it
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot update recording %q of tenant %q: %w", id, tenant, classify(err))
	}
	return nil
}

// saveRecording inserts or replaces r and its terms. r.CreatedAt and
// r.UpdatedAt are stored as given.
func saveRecording(ctx context.Context, tx *sql.Tx, r *vault.Recording) error {
	var doc any // NULL for a nil Doc, so it reads back nil
	if r.Doc != nil {
		doc = []byte(r.Doc)
	}
	var rid int64
	err := tx.QueryRowContext(ctx, `INSERT INTO recordings
		(tenant, id, start_ms, stop_ms, caller, dialed, agents, access_groups, partitions, media_types, doc, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, id) DO UPDATE SET
			start_ms = excluded.start_ms, stop_ms = excluded.stop_ms,
			caller = excluded.caller, dialed = excluded.dialed,
			agents = excluded.agents, access_groups = excluded.access_groups,
			partitions = excluded.partitions, media_types = excluded.media_types,
			doc = excluded.doc, created_ms = excluded.created_ms, updated_ms = excluded.updated_ms
		RETURNING rid`,
		r.Tenant, r.ID, toMS(r.StartTime), toMS(r.StopTime), r.CallerPhoneNumber, r.DialedPhoneNumber,
		marshalList(r.Agents), marshalList(r.Groups), marshalList(r.Partitions), marshalList(r.MediaTypes),
		doc, toMS(r.CreatedAt), toMS(r.UpdatedAt)).Scan(&rid)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recording_terms WHERE rid = ?`, rid); err != nil {
		return err
	}
	var (
		values strings.Builder
		args   []any
	)
	addTerms := func(kind string, list []string) {
		for _, v := range list {
			if v == "" {
				continue // an empty name would match an empty access.UserName
			}
			if len(args) > 0 {
				values.WriteString(", ")
			}
			values.WriteString("(?, ?, ?)")
			args = append(args, rid, kind, v)
		}
	}
	addTerms(termAgent, r.Agents)
	addTerms(termGroup, r.Groups)
	addTerms(termPartition, r.Partitions)
	addTerms(termMediaType, r.MediaTypes)
	if len(args) == 0 {
		return nil
	}
	// One statement for all terms; OR IGNORE drops duplicates in a list.
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO recording_terms (rid, kind, value) VALUES `+values.String(), args...)
	return err
}

// getRecording returns the recording when access allows, or sql.ErrNoRows.
func getRecording(ctx context.Context, q querier, tenant, id string, access vault.Access) (vault.Recording, int64, error) {
	accessSQL, accessArgs := accessCondition(access)
	args := append([]any{tenant, id}, accessArgs...)
	row := q.QueryRowContext(ctx, `SELECT `+recordingColumns+` FROM recordings r WHERE r.tenant = ? AND r.id = ?`+accessSQL, args...)
	return scanRecording(row)
}

func scanRecording(row interface{ Scan(...any) error }) (vault.Recording, int64, error) {
	var (
		r                                      vault.Recording
		rid, startMS, stopMS                   int64
		createdMS, updatedMS                   int64
		agents, groups, partitions, mediaTypes string
		doc                                    []byte
	)
	err := row.Scan(&rid, &r.Tenant, &r.ID, &startMS, &stopMS, &r.CallerPhoneNumber, &r.DialedPhoneNumber,
		&agents, &groups, &partitions, &mediaTypes, &doc, &createdMS, &updatedMS)
	if err != nil {
		return vault.Recording{}, 0, err
	}
	for _, list := range []struct {
		text string
		dst  *[]string
	}{{agents, &r.Agents}, {groups, &r.Groups}, {partitions, &r.Partitions}, {mediaTypes, &r.MediaTypes}} {
		if *list.dst, err = unmarshalList[string](list.text); err != nil {
			return vault.Recording{}, 0, err
		}
	}
	if doc != nil {
		r.Doc = json.RawMessage(doc)
	}
	r.StartTime, r.StopTime = fromMS(startMS), fromMS(stopMS)
	r.CreatedAt, r.UpdatedAt = fromMS(createdMS), fromMS(updatedMS)
	return r, rid, nil
}

// accessCondition is the access rule as SQL on recordings r: everything
// for All; otherwise a recording one of whose groups is one of the
// caller's, or whose agents include the caller. Being in the query, it
// keeps pages full and counts honest.
func accessCondition(access vault.Access) (string, []any) {
	if access.All {
		return "", nil
	}
	var (
		alternatives []string
		args         []any
	)
	if len(access.Groups) > 0 {
		alternatives = append(alternatives, "(t.kind = '"+termGroup+"' AND t.value IN ("+placeholders(len(access.Groups))+"))")
		for _, g := range access.Groups {
			args = append(args, g)
		}
	}
	if access.UserName != "" {
		alternatives = append(alternatives, "(t.kind = '"+termAgent+"' AND t.value = ?)")
		args = append(args, access.UserName)
	}
	if len(alternatives) == 0 {
		return " AND 0", nil // no groups, no name: sees nothing
	}
	return " AND EXISTS (SELECT 1 FROM recording_terms t WHERE t.rid = r.rid AND (" +
		strings.Join(alternatives, " OR ") + "))", args
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Recording returns one recording and its media, when access allows;
// ErrNotFound otherwise. Both are read in one snapshot.
func (s *Store) Recording(ctx context.Context, tenant, id string, access vault.Access) (vault.Recording, []vault.Media, error) {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return vault.Recording{}, nil, fmt.Errorf("sqlite: cannot read recording %q of tenant %q: %w", id, tenant, err)
	}
	defer tx.Rollback() // read-only: nothing to undo
	r, _, err := getRecording(ctx, tx, tenant, id, access)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Recording{}, nil, fmt.Errorf("sqlite: cannot find recording %q of tenant %q: %w", id, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.Recording{}, nil, fmt.Errorf("sqlite: cannot read recording %q of tenant %q: %w", id, tenant, err)
	}
	media, err := listMedia(ctx, tx, tenant, id)
	if err != nil {
		return vault.Recording{}, nil, fmt.Errorf("sqlite: cannot read media of recording %q of tenant %q: %w", id, tenant, err)
	}
	return r, media, nil
}

// SearchRecordings returns up to f.Limit recordings that match f and
// access, in (start time, id) order, after f.After. Recordings whose start
// (stop) time is not known yet match no start (stop) time bound.
func (s *Store) SearchRecordings(ctx context.Context, tenant string, f vault.SearchFilter, access vault.Access) ([]vault.Recording, error) {
	where, args := searchWhere(tenant, f, access)
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite's "no limit"; zero fields do not filter
	}
	args = append(args, limit)

	rows, err := s.read.QueryContext(ctx, `SELECT `+recordingColumns+` FROM recordings r`+where+
		` ORDER BY r.start_ms, r.id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot search recordings of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var recordings []vault.Recording
	if f.Limit > 0 {
		recordings = make([]vault.Recording, 0, min(f.Limit, 1000)) // the limit is the caller's, not a size hint
	}
	for rows.Next() {
		r, _, err := scanRecording(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot search recordings of tenant %q: %w", tenant, err)
		}
		recordings = append(recordings, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot search recordings of tenant %q: %w", tenant, err)
	}
	return recordings, nil
}

// CountRecordings counts the recordings matching f (Limit and After
// ignored), whoever may see them.
func (s *Store) CountRecordings(ctx context.Context, tenant string, f vault.SearchFilter) (int64, error) {
	f.After = nil
	where, args := searchWhere(tenant, f, vault.Access{All: true})
	var n int64
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM recordings r`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: cannot count recordings of tenant %q: %w", tenant, err)
	}
	return n, nil
}

// searchWhere is the WHERE clause of a search on recordings r, with its
// arguments.
func searchWhere(tenant string, f vault.SearchFilter, access vault.Access) (string, []any) {
	var (
		where strings.Builder
		args  = []any{tenant}
	)
	where.WriteString(` WHERE r.tenant = ?`)
	timeRange := func(column string, from, to time.Time) {
		if from.IsZero() && to.IsZero() {
			return
		}
		where.WriteString(" AND r." + column + " <> 0")
		if !from.IsZero() {
			where.WriteString(" AND r." + column + " >= ?")
			args = append(args, from.UnixMilli())
		}
		if !to.IsZero() {
			where.WriteString(" AND r." + column + " < ?")
			args = append(args, to.UnixMilli())
		}
	}
	timeRange("start_ms", f.StartFrom, f.StartTo)
	timeRange("stop_ms", f.StopFrom, f.StopTo)
	phone := func(column, pattern string) {
		switch {
		case pattern == "":
		case strings.Contains(pattern, "*"):
			where.WriteString(" AND r." + column + " GLOB ?")
			args = append(args, globPattern(pattern))
		default:
			where.WriteString(" AND r." + column + " = ?")
			args = append(args, pattern)
		}
	}
	phone("caller", f.Caller)
	phone("dialed", f.Dialed)
	term := func(kind, value string) {
		if value == "" {
			return
		}
		where.WriteString(" AND EXISTS (SELECT 1 FROM recording_terms f WHERE f.rid = r.rid AND f.kind = '" + kind + "' AND f.value = ?)")
		args = append(args, value)
	}
	term(termAgent, f.UserName)
	term(termPartition, f.Partition)
	term(termMediaType, f.MediaType)
	found := func(kind, name string) {
		if name == "" {
			return
		}
		where.WriteString(" AND EXISTS (SELECT 1 FROM analysis_terms x WHERE x.rid = r.rid AND x.kind = '" + kind + "' AND x.name = ?)")
		args = append(args, name)
	}
	found(vault.EventTopic, f.Topic)
	found("category", f.Category)
	if f.MinSilenceMs > 0 {
		where.WriteString(" AND EXISTS (SELECT 1 FROM analyses a WHERE a.rid = r.rid AND a.longest_silence_ms >= ?)")
		args = append(args, f.MinSilenceMs)
	}
	if f.After != nil {
		// A row value, so SQLite seeks the (tenant, start_ms, id)
		// index to the cursor instead of filtering from the start.
		where.WriteString(" AND (r.start_ms, r.id) > (?, ?)")
		args = append(args, toMS(f.After.StartTime), f.After.ID)
	}
	accessSQL, accessArgs := accessCondition(access)
	where.WriteString(accessSQL)
	args = append(args, accessArgs...)
	return where.String(), args
}

// globPattern turns a search pattern, where '*' is any run of characters
// and everything else is literal, into a GLOB pattern. GLOB rather than
// LIKE because LIKE ignores ASCII case in SQLite, and an exact match (and
// PostgreSQL's LIKE) does not; GLOB's own metacharacters '?' and '[' are
// made literal by bracketing them ('%' and '_' mean nothing to GLOB).
func globPattern(pattern string) string {
	var b strings.Builder
	for _, c := range pattern {
		switch c {
		case '?', '[':
			b.WriteByte('[')
			b.WriteRune(c)
			b.WriteByte(']')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// DeleteRecording removes a recording, its terms, media and media_certs
// rows (by cascade) and returns the media rows removed; ErrNotFound, or
// ErrHeld when a legal hold keeps it.
func (s *Store) DeleteRecording(ctx context.Context, tenant, id string) ([]vault.Media, error) {
	return s.DeleteRecordingFx(ctx, tenant, id, nil)
}

// DeleteRecordingFx is DeleteRecording with effects written in its
// transaction; the hold check is in it too, so a hold made meanwhile
// either comes first (and the delete is refused) or after.
func (s *Store) DeleteRecordingFx(ctx context.Context, tenant, id string, fx func([]vault.Media) vault.Effects) ([]vault.Media, error) {
	var media []vault.Media
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		r, _, err := getRecording(ctx, tx, tenant, id, vault.Access{All: true})
		if errors.Is(err, sql.ErrNoRows) {
			return vault.ErrNotFound
		}
		if err != nil {
			return err
		}
		if holds, err := holdsOf(ctx, tx, &r); err != nil {
			return err
		} else if len(holds) > 0 {
			return &vault.HeldError{Holds: holds}
		}
		if media, err = listMedia(ctx, tx, tenant, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM recordings WHERE tenant = ? AND id = ?`, tenant, id)
		if err != nil {
			return err
		}
		if err := affectedOne(res); err != nil {
			return err
		}
		if fx != nil {
			return s.applyEffects(ctx, tx, fx(media))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot delete recording %q of tenant %q: %w", id, tenant, err)
	}
	return media, nil
}

// ExpiredRecordings lists up to limit (no limit when limit <= 0) ids of
// recordings whose stop time, or without one, creation time, is before
// cutoff.
func (s *Store) ExpiredRecordings(ctx context.Context, tenant string, cutoff time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		limit = -1
	}
	cutoffMS := cutoff.UnixMilli()
	// Two halves so each can use an index on stop_ms.
	rows, err := s.read.QueryContext(ctx, `
		SELECT id FROM recordings WHERE tenant = ? AND stop_ms <> 0 AND stop_ms < ?
		UNION ALL
		SELECT id FROM recordings WHERE tenant = ? AND stop_ms = 0 AND created_ms < ?
		LIMIT ?`, tenant, cutoffMS, tenant, cutoffMS, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list expired recordings of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: cannot list expired recordings of tenant %q: %w", tenant, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list expired recordings of tenant %q: %w", tenant, err)
	}
	return ids, nil
}

// checkAliases fails with ErrConflict unless every alias is still a
// certificate of the tenant (one deleted while a file was encrypted for it).
func checkAliases(ctx context.Context, tx *sql.Tx, tenant string, aliases []string) error {
	if len(aliases) == 0 {
		return nil
	}
	args := []any{tenant}
	for _, a := range aliases {
		args = append(args, a)
	}
	var present int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM certificates WHERE tenant = ? AND alias IN (`+
		placeholders(len(aliases))+`)`, args...).Scan(&present); err != nil {
		return err
	}
	if present != len(slices.Compact(slices.Sorted(slices.Values(aliases)))) {
		return fmt.Errorf("%w: a certificate the file is encrypted for was deleted", vault.ErrConflict)
	}
	return nil
}

// PutMedia records a stored media file, creating the recording row if
// metadata has not arrived yet. A stored row is never replaced: it is
// returned with stored=false. ErrNotFound if the tenant does not exist;
// ErrConflict if a certificate of m.CertAliases is gone (deleted while the
// file was encrypted for it). SQLite's single writer makes the check and
// the insert one step for DeleteCertificate too.
func (s *Store) PutMedia(ctx context.Context, m vault.Media) (vault.Media, bool, error) {
	var existing vault.Media
	stored := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		now := toMS(s.now())
		row := tx.QueryRowContext(ctx, `SELECT `+mediaColumns+` FROM media
			WHERE tenant = ? AND recording_id = ? AND media_id = ?`, m.Tenant, m.RecordingID, m.MediaID)
		previous, err := scanMedia(row)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			existing = previous
			return nil
		}
		if err := checkAliases(ctx, tx, m.Tenant, m.CertAliases); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO recordings (tenant, id, created_ms, updated_ms) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant, id) DO UPDATE SET updated_ms = excluded.updated_ms`,
			m.Tenant, m.RecordingID, now, now); err != nil {
			return err
		}
		createdMS := toMS(m.CreatedAt)
		if createdMS == 0 {
			createdMS = now
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO media
			(tenant, recording_id, media_id, type, encrypted, cert_aliases, size, sha256, blob_key, created_ms, content_sha256)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.Tenant, m.RecordingID, m.MediaID, m.Type, m.Encrypted, marshalList(m.CertAliases),
			m.Size, m.SHA256, m.BlobKey, createdMS, m.ContentSHA256); err != nil {
			return err
		}
		for _, alias := range m.CertAliases {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO media_certs (tenant, alias, recording_id, media_id)
				VALUES (?, ?, ?, ?)`, m.Tenant, alias, m.RecordingID, m.MediaID); err != nil {
				return err
			}
		}
		existing, stored = m, true
		existing.CreatedAt = fromMS(createdMS)
		return nil
	})
	if err != nil {
		return vault.Media{}, false, fmt.Errorf("sqlite: cannot store media %q of recording %q of tenant %q: %w",
			m.MediaID, m.RecordingID, m.Tenant, classify(err))
	}
	return existing, stored, nil
}

// MediaOf returns the media rows of the given recordings, by recording
// id, each list sorted by media id; ids without media have no entry. It
// applies no access rule: ids come from an access-controlled search.
func (s *Store) MediaOf(ctx context.Context, tenant string, ids []string) (map[string][]vault.Media, error) {
	byRecording := make(map[string][]vault.Media, len(ids))
	// Chunks keep each query under SQLite's limit on bound variables.
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		args := make([]any, 0, len(part)+1)
		args = append(args, tenant)
		for _, id := range part {
			args = append(args, id)
		}
		err := func() error {
			rows, err := s.read.QueryContext(ctx, `SELECT `+mediaColumns+` FROM media
				WHERE tenant = ? AND recording_id IN (`+placeholders(len(part))+`)
				ORDER BY recording_id, media_id`, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				m, err := scanMedia(rows)
				if err != nil {
					return err
				}
				byRecording[m.RecordingID] = append(byRecording[m.RecordingID], m)
			}
			return rows.Err()
		}()
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot read media of %d recordings of tenant %q: %w", len(ids), tenant, err)
		}
	}
	return byRecording, nil
}

const mediaColumns = `tenant, recording_id, media_id, type, encrypted, cert_aliases, size, sha256, blob_key, created_ms, content_sha256`

// listMedia returns a recording's media sorted by media id.
func listMedia(ctx context.Context, q querier, tenant, recordingID string) ([]vault.Media, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+mediaColumns+` FROM media
		WHERE tenant = ? AND recording_id = ? ORDER BY media_id`, tenant, recordingID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var media []vault.Media
	for rows.Next() {
		m, err := scanMedia(rows)
		if err != nil {
			return nil, err
		}
		media = append(media, m)
	}
	return media, rows.Err()
}

func scanMedia(row interface{ Scan(...any) error }) (vault.Media, error) {
	var (
		m           vault.Media
		certAliases string
		createdMS   int64
	)
	err := row.Scan(&m.Tenant, &m.RecordingID, &m.MediaID, &m.Type, &m.Encrypted, &certAliases,
		&m.Size, &m.SHA256, &m.BlobKey, &createdMS, &m.ContentSHA256)
	if err != nil {
		return vault.Media{}, err
	}
	if m.CertAliases, err = unmarshalList[string](certAliases); err != nil {
		return vault.Media{}, err
	}
	m.CreatedAt = fromMS(createdMS)
	return m, nil
}
