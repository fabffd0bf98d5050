package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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

// insertTermsSQL inserts the recording_terms rows of the recordings that
// cond (a condition on recordings r) selects, from their list columns: the
// one place that says which list is searched as which kind. Empty values
// are left out (an empty agent would match an empty access.UserName), and
// a value repeated in a list gives one row.
func insertTermsSQL(cond string) string {
	return `INSERT INTO recording_terms (rid, kind, value)
		SELECT r.rid, t.kind, t.value FROM recordings r
		CROSS JOIN LATERAL (
			          SELECT '` + termAgent + `', unnest(r.agents)
			UNION ALL SELECT '` + termGroup + `', unnest(r.access_groups)
			UNION ALL SELECT '` + termPartition + `', unnest(r.partitions)
			UNION ALL SELECT '` + termMediaType + `', unnest(r.media_types)
		) AS t (kind, value)
		WHERE (` + cond + `) AND t.value <> ''
		ON CONFLICT DO NOTHING`
}

// UpdateRecording reads the recording, lets fn change it and saves it, in
// one transaction that holds the recording's row lock throughout, so
// concurrent merges of one recording, from any replica, run one after the
// other and none is lost. When PostgreSQL aborts the transaction (a
// deadlock) it runs again, fn included: fn must depend only on what it is
// given. fn must not write the same recording through the store, which
// would wait for this transaction's lock.
func (s *Store) UpdateRecording(ctx context.Context, tenant, id string, fn func(r *vault.Recording, media []vault.Media) error) error {
	var fnErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fnErr = nil
		r, rid, media, err := lockRecording(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		// fn may change list elements in place; keep what was stored
		// to see whether the terms need rewriting.
		stored := vault.Recording{Agents: slices.Clone(r.Agents), Groups: slices.Clone(r.Groups),
			Partitions: slices.Clone(r.Partitions), MediaTypes: slices.Clone(r.MediaTypes)}
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
		return saveRecording(ctx, tx, rid, &stored, &r)
	})
	if fnErr != nil {
		return fnErr // the caller's own error, as it gave it
	}
	if err != nil {
		return fmt.Errorf("postgres: cannot update recording %q of tenant %q: %w", id, tenant, classify(err))
	}
	return nil
}

// lockRecording returns the recording with its rid and media, its row
// locked until tx ends. An absent recording is inserted empty (and
// locked, being uncommitted) and returned as a zero Recording that knows
// its tenant and id; ErrNotFound (by foreign key) if the tenant is absent.
func lockRecording(ctx context.Context, tx pgx.Tx, tenant, id string) (vault.Recording, int64, []vault.Media, error) {
	for range 2 {
		r, rid, err := scanRecording(tx.QueryRow(ctx, `SELECT `+recordingColumns+` FROM recordings r
			WHERE r.tenant = $1 AND r.id = $2 FOR UPDATE`, tenant, id))
		if err == nil {
			media, err := listMedia(ctx, tx, tenant, id)
			return r, rid, media, err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return vault.Recording{}, 0, nil, err
		}
		// A writer racing to create the same id makes this wait for
		// it to commit, and then insert nothing: read its row instead.
		err = tx.QueryRow(ctx, `INSERT INTO recordings (tenant, id, created_ms, updated_ms) VALUES ($1, $2, 0, 0)
			ON CONFLICT (tenant, id) DO NOTHING RETURNING rid`, tenant, id).Scan(&rid)
		if err == nil {
			return vault.Recording{Tenant: tenant, ID: id}, rid, nil, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return vault.Recording{}, 0, nil, err
		}
	}
	return vault.Recording{}, 0, nil, errRetry // created and deleted again between our statements
}

// saveRecording writes r over the row rid, and rewrites its terms when
// the lists differ from stored's, in one round trip. r.CreatedAt and
// r.UpdatedAt are stored as given.
func saveRecording(ctx context.Context, tx pgx.Tx, rid int64, stored, r *vault.Recording) error {
	var doc []byte // nil is NULL, so a nil Doc reads back nil
	if r.Doc != nil {
		doc = []byte(r.Doc)
	}
	var batch pgx.Batch
	batch.Queue(`UPDATE recordings SET
		start_ms = $2, stop_ms = $3, caller = $4, dialed = $5,
		agents = $6, access_groups = $7, partitions = $8, media_types = $9,
		doc = $10, created_ms = $11, updated_ms = $12
		WHERE rid = $1`,
		rid, toMS(r.StartTime), toMS(r.StopTime), r.CallerPhoneNumber, r.DialedPhoneNumber,
		textArray(r.Agents), textArray(r.Groups), textArray(r.Partitions), textArray(r.MediaTypes),
		doc, toMS(r.CreatedAt), toMS(r.UpdatedAt))
	if !slices.Equal(stored.Agents, r.Agents) || !slices.Equal(stored.Groups, r.Groups) ||
		!slices.Equal(stored.Partitions, r.Partitions) || !slices.Equal(stored.MediaTypes, r.MediaTypes) {
		batch.Queue(`DELETE FROM recording_terms WHERE rid = $1`, rid)
		batch.Queue(insertTermsSQL(`r.rid = $1`), rid)
	}
	return tx.SendBatch(ctx, &batch).Close()
}

func scanRecording(row scanner) (vault.Recording, int64, error) {
	var (
		r                                      vault.Recording
		rid, startMS, stopMS                   int64
		createdMS, updatedMS                   int64
		agents, groups, partitions, mediaTypes []string
		doc                                    []byte
	)
	err := row.Scan(&rid, &r.Tenant, &r.ID, &startMS, &stopMS, &r.CallerPhoneNumber, &r.DialedPhoneNumber,
		&agents, &groups, &partitions, &mediaTypes, &doc, &createdMS, &updatedMS)
	if err != nil {
		return vault.Recording{}, 0, err
	}
	r.Agents = fromTextArray[string](agents)
	r.Groups = fromTextArray[string](groups)
	r.Partitions = fromTextArray[string](partitions)
	r.MediaTypes = fromTextArray[string](mediaTypes)
	if doc != nil {
		r.Doc = json.RawMessage(doc)
	}
	r.StartTime, r.StopTime = fromMS(startMS), fromMS(stopMS)
	r.CreatedAt, r.UpdatedAt = fromMS(createdMS), fromMS(updatedMS)
	return r, rid, nil
}

// args collects the arguments of a query built piece by piece.
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// accessCondition is the access rule as SQL on recordings r: everything
// for All; otherwise a recording one of whose groups is one of the
// caller's, or whose agents include the caller. Being in the query, it
// keeps pages full and counts honest.
func accessCondition(access vault.Access, a *args) string {
	if access.All {
		return ""
	}
	var alternatives []string
	if len(access.Groups) > 0 {
		alternatives = append(alternatives, "(t.kind = '"+termGroup+"' AND t.value = ANY("+a.add(access.Groups)+"))")
	}
	if access.UserName != "" {
		alternatives = append(alternatives, "(t.kind = '"+termAgent+"' AND t.value = "+a.add(access.UserName)+")")
	}
	if len(alternatives) == 0 {
		return " AND false" // no groups, no name: sees nothing
	}
	return " AND EXISTS (SELECT 1 FROM recording_terms t WHERE t.rid = r.rid AND (" +
		strings.Join(alternatives, " OR ") + "))"
}

// Recording returns one recording and its media, when access allows;
// ErrNotFound otherwise. Both are read in one snapshot.
func (s *Store) Recording(ctx context.Context, tenant, id string, access vault.Access) (vault.Recording, []vault.Media, error) {
	var (
		r     vault.Recording
		media []vault.Media
	)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var a args
		query := `SELECT ` + recordingColumns + ` FROM recordings r WHERE r.tenant = ` + a.add(tenant) +
			` AND r.id = ` + a.add(id) + accessCondition(access, &a)
		var err error
		if r, _, err = scanRecording(tx.QueryRow(ctx, query, a...)); err != nil {
			return err
		}
		media, err = listMedia(ctx, tx, tenant, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.Recording{}, nil, fmt.Errorf("postgres: cannot find recording %q of tenant %q: %w", id, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.Recording{}, nil, fmt.Errorf("postgres: cannot read recording %q of tenant %q: %w", id, tenant, err)
	}
	return r, media, nil
}

// SearchRecordings returns up to f.Limit recordings that match f and
// access, in (start time, id) order, after f.After. Recordings whose start
// (stop) time is not known yet match no start (stop) time bound.
func (s *Store) SearchRecordings(ctx context.Context, tenant string, f vault.SearchFilter, access vault.Access) ([]vault.Recording, error) {
	var a args
	query := `SELECT ` + recordingColumns + ` FROM recordings r` + searchWhere(tenant, f, access, &a) + " ORDER BY r.start_ms, r.id"
	if f.Limit > 0 { // zero fields do not filter
		query += " LIMIT " + a.add(f.Limit)
	}

	rows, err := s.pool.Query(ctx, query, a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot search recordings of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var recordings []vault.Recording
	if f.Limit > 0 {
		recordings = make([]vault.Recording, 0, min(f.Limit, 1000)) // the limit is the caller's, not a size hint
	}
	for rows.Next() {
		r, _, err := scanRecording(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: cannot search recordings of tenant %q: %w", tenant, err)
		}
		recordings = append(recordings, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: cannot search recordings of tenant %q: %w", tenant, err)
	}
	return recordings, nil
}

// CountRecordings counts the recordings matching f (Limit and After
// ignored), whoever may see them.
func (s *Store) CountRecordings(ctx context.Context, tenant string, f vault.SearchFilter) (int64, error) {
	f.After = nil
	var a args
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM recordings r`+searchWhere(tenant, f, vault.Access{All: true}, &a), a...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: cannot count recordings of tenant %q: %w", tenant, err)
	}
	return n, nil
}

// searchWhere is the WHERE clause of a search on recordings r (f's
// conditions, its cursor, the access rule), its arguments added to a.
func searchWhere(tenant string, f vault.SearchFilter, access vault.Access, a *args) string {
	var where strings.Builder
	where.WriteString(` WHERE r.tenant = ` + a.add(tenant))
	timeRange := func(column string, from, to time.Time) {
		if from.IsZero() && to.IsZero() {
			return
		}
		where.WriteString(" AND r." + column + " <> 0")
		if !from.IsZero() {
			where.WriteString(" AND r." + column + " >= " + a.add(from.UnixMilli()))
		}
		if !to.IsZero() {
			where.WriteString(" AND r." + column + " < " + a.add(to.UnixMilli()))
		}
	}
	timeRange("start_ms", f.StartFrom, f.StartTo)
	timeRange("stop_ms", f.StopFrom, f.StopTo)
	phone := func(column, pattern string) {
		switch {
		case pattern == "":
		case strings.Contains(pattern, "*"):
			where.WriteString(" AND r." + column + " LIKE " + a.add(likePattern(pattern)) + ` ESCAPE '\'`)
		default:
			where.WriteString(" AND r." + column + " = " + a.add(pattern))
		}
	}
	phone("caller", f.Caller)
	phone("dialed", f.Dialed)
	term := func(kind, value string) {
		if value == "" {
			return
		}
		where.WriteString(" AND EXISTS (SELECT 1 FROM recording_terms f WHERE f.rid = r.rid AND f.kind = '" + kind +
			"' AND f.value = " + a.add(value) + ")")
	}
	term(termAgent, f.UserName)
	term(termPartition, f.Partition)
	term(termMediaType, f.MediaType)
	found := func(kind, name string) {
		if name == "" {
			return
		}
		where.WriteString(" AND EXISTS (SELECT 1 FROM analysis_terms x WHERE x.rid = r.rid AND x.kind = '" + kind +
			"' AND x.name = " + a.add(name) + ")")
	}
	found(vault.EventTopic, f.Topic)
	found(termCategory, f.Category)
	if f.MinSilenceMs > 0 {
		where.WriteString(" AND EXISTS (SELECT 1 FROM analyses an WHERE an.rid = r.rid AND an.longest_silence_ms >= " +
			a.add(f.MinSilenceMs) + ")")
	}
	if f.After != nil {
		// A row comparison, which the (tenant, start_ms, id) index
		// seeks to instead of filtering from the start.
		where.WriteString(" AND (r.start_ms, r.id) > (" + a.add(toMS(f.After.StartTime)) + ", " + a.add(f.After.ID) + ")")
	}
	where.WriteString(accessCondition(access, a))
	return where.String()
}

// likePattern turns a search pattern, where '*' is any run of characters
// and everything else is literal, into a LIKE pattern with '\' as escape.
// PostgreSQL's LIKE is case-sensitive, as an exact match is.
func likePattern(pattern string) string {
	var b strings.Builder
	for _, c := range pattern {
		switch c {
		case '\\', '%', '_':
			b.WriteByte('\\')
			b.WriteRune(c)
		case '*':
			b.WriteByte('%')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// DeleteRecording removes a recording, its terms, media and media_certs
// rows and returns the media rows removed; ErrNotFound, or ErrHeld when a
// legal hold keeps it.
func (s *Store) DeleteRecording(ctx context.Context, tenant, id string) ([]vault.Media, error) {
	return s.DeleteRecordingFx(ctx, tenant, id, nil)
}

// DeleteRecordingFx is DeleteRecording with effects written in its
// transaction. It locks the recording first, as PutMedia and
// UpdateRecording do, so they wait for it rather than deadlock with it;
// the lock also orders it with CreateLegalHold, which share-locks the
// recordings it names: a hold by id either commits first (and the check
// below, a later statement, sees it) or finds the recording gone. A hold by
// filter made meanwhile comes after: it holds what exists when it commits.
// fx runs in every attempt, on that attempt's media.
func (s *Store) DeleteRecordingFx(ctx context.Context, tenant, id string, fx func([]vault.Media) vault.Effects) ([]vault.Media, error) {
	var media []vault.Media
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		media = nil
		r, rid, err := scanRecording(tx.QueryRow(ctx, `SELECT `+recordingColumns+` FROM recordings r
			WHERE r.tenant = $1 AND r.id = $2 FOR UPDATE`, tenant, id))
		if errors.Is(err, pgx.ErrNoRows) {
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
		rows, err := tx.Query(ctx, `DELETE FROM media WHERE tenant = $1 AND recording_id = $2 RETURNING `+mediaColumns, tenant, id)
		if err != nil {
			return err
		}
		if media, err = collect(rows, scanMedia); err != nil {
			return err
		}
		slices.SortFunc(media, func(a, b vault.Media) int { return strings.Compare(a.MediaID, b.MediaID) })
		// Terms and media_certs go by cascade.
		if _, err = tx.Exec(ctx, `DELETE FROM recordings WHERE rid = $1`, rid); err != nil {
			return err
		}
		if fx != nil {
			return s.applyEffects(ctx, tx, fx(media))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot delete recording %q of tenant %q: %w", id, tenant, err)
	}
	return media, nil
}

// ExpiredRecordings lists up to limit (no limit when limit <= 0) ids of
// recordings whose stop time, or without one, creation time, is before
// cutoff.
func (s *Store) ExpiredRecordings(ctx context.Context, tenant string, cutoff time.Time, limit int) ([]string, error) {
	// Two halves so each can use the (tenant, stop_ms) index.
	query := `(SELECT id FROM recordings WHERE tenant = $1 AND stop_ms <> 0 AND stop_ms < $2)
		UNION ALL
		(SELECT id FROM recordings WHERE tenant = $1 AND stop_ms = 0 AND created_ms < $2)`
	queryArgs := []any{tenant, cutoff.UnixMilli()}
	if limit > 0 {
		query += ` LIMIT $3`
		queryArgs = append(queryArgs, limit)
	}
	rows, err := s.pool.Query(ctx, query, queryArgs...)
	if err == nil {
		var ids []string
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err == nil {
			return ids, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list expired recordings of tenant %q: %w", tenant, err)
}

// PutMedia records a stored media file, creating the recording row if
// metadata has not arrived yet. A stored row is never replaced: it is
// returned with stored=false. ErrNotFound if the tenant does not exist. The
// recording's row is locked first, so media writes of one recording queue
// behind each other and behind UpdateRecording; the certificates the file
// is encrypted for are share-locked and must all still exist (else
// ErrConflict), so DeleteCertificate either counts the file or, having
// deleted the certificate first, makes this upload fail.
func (s *Store) PutMedia(ctx context.Context, m vault.Media) (vault.Media, bool, error) {
	var existing vault.Media
	var stored bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		stored = false
		now := toMS(s.now())
		createdMS := toMS(m.CreatedAt)
		if createdMS == 0 {
			createdMS = now
		}
		if _, err := tx.Exec(ctx, `INSERT INTO recordings (tenant, id, created_ms, updated_ms) VALUES ($1, $2, $3, $3)
			ON CONFLICT (tenant, id) DO UPDATE SET updated_ms = EXCLUDED.updated_ms`,
			m.Tenant, m.RecordingID, now); err != nil {
			return err
		}
		previous, err := scanMedia(tx.QueryRow(ctx, `SELECT `+mediaColumns+` FROM media
			WHERE tenant = $1 AND recording_id = $2 AND media_id = $3`, m.Tenant, m.RecordingID, m.MediaID))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			existing = previous
			return nil
		}
		if err := lockCertificates(ctx, tx, m.Tenant, m.CertAliases); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO media
			(tenant, recording_id, media_id, type, encrypted, cert_aliases, size, sha256, blob_key, created_ms, content_sha256)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			m.Tenant, m.RecordingID, m.MediaID, m.Type, m.Encrypted, textArray(m.CertAliases),
			m.Size, m.SHA256, m.BlobKey, createdMS, m.ContentSHA256); err != nil {
			return err
		}
		if len(m.CertAliases) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO media_certs (tenant, alias, recording_id, media_id)
				SELECT $1, alias, $3, $4 FROM unnest($2::text[]) AS alias
				ON CONFLICT DO NOTHING`, m.Tenant, textArray(m.CertAliases), m.RecordingID, m.MediaID); err != nil {
				return err
			}
		}
		existing, stored = m, true
		existing.CreatedAt = fromMS(createdMS)
		return nil
	})
	if err != nil {
		return vault.Media{}, false, fmt.Errorf("postgres: cannot store media %q of recording %q of tenant %q: %w",
			m.MediaID, m.RecordingID, m.Tenant, classify(err))
	}
	return existing, stored, nil
}

// lockCertificates share-locks the tenant's certificates of aliases until
// tx ends and fails with ErrConflict unless every one still exists (one
// deleted while a file was encrypted for it). DeleteCertificate locks its
// row for update, so it either sees the media row that names it or
// deletes first and makes this fail.
func lockCertificates(ctx context.Context, tx pgx.Tx, tenant string, aliases []string) error {
	if len(aliases) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT alias FROM certificates WHERE tenant = $1 AND alias = ANY($2) FOR SHARE`,
		tenant, textArray(aliases))
	if err != nil {
		return err
	}
	present, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(present) != len(slices.Compact(slices.Sorted(slices.Values(aliases)))) {
		return fmt.Errorf("%w: a certificate the file is encrypted for was deleted", vault.ErrConflict)
	}
	return nil
}

// MediaOf returns the media rows of the given recordings, by recording
// id, each list sorted by media id; ids without media have no entry. It
// applies no access rule: ids come from an access-controlled search.
func (s *Store) MediaOf(ctx context.Context, tenant string, ids []string) (map[string][]vault.Media, error) {
	byRecording := make(map[string][]vault.Media, len(ids))
	if len(ids) == 0 {
		return byRecording, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+mediaColumns+` FROM media
		WHERE tenant = $1 AND recording_id = ANY($2) ORDER BY recording_id, media_id`, tenant, ids)
	if err == nil {
		var media []vault.Media
		if media, err = collect(rows, scanMedia); err == nil {
			for _, m := range media {
				byRecording[m.RecordingID] = append(byRecording[m.RecordingID], m)
			}
			return byRecording, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot read media of %d recordings of tenant %q: %w", len(ids), tenant, err)
}

const mediaColumns = `tenant, recording_id, media_id, type, encrypted, cert_aliases, size, sha256, blob_key, created_ms, content_sha256`

// listMedia returns a recording's media sorted by media id.
func listMedia(ctx context.Context, tx pgx.Tx, tenant, recordingID string) ([]vault.Media, error) {
	rows, err := tx.Query(ctx, `SELECT `+mediaColumns+` FROM media
		WHERE tenant = $1 AND recording_id = $2 ORDER BY media_id`, tenant, recordingID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanMedia)
}

func scanMedia(row scanner) (vault.Media, error) {
	var (
		m           vault.Media
		certAliases []string
		createdMS   int64
	)
	err := row.Scan(&m.Tenant, &m.RecordingID, &m.MediaID, &m.Type, &m.Encrypted, &certAliases,
		&m.Size, &m.SHA256, &m.BlobKey, &createdMS, &m.ContentSHA256)
	if err != nil {
		return vault.Media{}, err
	}
	m.CertAliases = fromTextArray[string](certAliases)
	m.CreatedAt = fromMS(createdMS)
	return m, nil
}
