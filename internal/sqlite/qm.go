package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"callvault/internal/vault"
)

// Quality management: every object is kept whole as a JSON document, with
// the columns lists, filters, the visibility rule and the reports need
// beside it. Times are stored, in the documents too, in UTC to the
// millisecond, as the columns keep them. SQLite's single writer makes
// every read-change-write below one step: concurrent updates wait.

// msUTC is t as the store keeps it: UTC, to the millisecond.
func msUTC(t time.Time) time.Time { return fromMS(toMS(t)) }

// storedNote is a copy of n with its time as stored (the caller's note is
// left alone).
func storedNote(n *vault.Note) *vault.Note {
	if n == nil {
		return nil
	}
	c := *n
	c.At = msUTC(c.At)
	return &c
}

// CreateForm stores a new form's draft.
func (s *Store) CreateForm(ctx context.Context, f vault.Form, fx vault.Effects) error {
	f.Version = 0
	if f.UpdatedAt.IsZero() {
		f.UpdatedAt = s.now()
	}
	f.UpdatedAt = msUTC(f.UpdatedAt)
	doc, err := json.Marshal(f)
	if err == nil {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO qm_forms
				(tenant, id, name, description, doc, latest_version, updated_by, created_ms, updated_ms)
				VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)`,
				f.Tenant, f.ID, f.Name, f.Description, doc, f.UpdatedBy, toMS(f.UpdatedAt), toMS(f.UpdatedAt)); err != nil {
				return err
			}
			return s.applyEffects(ctx, tx, fx)
		})
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot create form %q of tenant %q: %w", f.ID, f.Tenant, classify(err))
	}
	return nil
}

// readForm returns a form's draft and its latest version, or
// vault.ErrNotFound.
func readForm(ctx context.Context, q querier, tenant, id string) (vault.Form, int, error) {
	var (
		doc    []byte
		latest int
	)
	err := q.QueryRowContext(ctx, `SELECT doc, latest_version FROM qm_forms WHERE tenant = ? AND id = ?`, tenant, id).Scan(&doc, &latest)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Form{}, 0, vault.ErrNotFound
	}
	if err != nil {
		return vault.Form{}, 0, err
	}
	f, err := decodeForm(tenant, doc)
	return f, latest, err
}

func decodeForm(tenant string, doc []byte) (vault.Form, error) {
	var f vault.Form
	if err := json.Unmarshal(doc, &f); err != nil {
		return vault.Form{}, fmt.Errorf("cannot decode a form: %w", err)
	}
	f.Tenant = tenant
	return f, nil
}

// UpdateForm changes a form's draft in one transaction.
func (s *Store) UpdateForm(ctx context.Context, tenant, id string, fn func(f *vault.Form) (vault.Effects, error)) (vault.Form, error) {
	var (
		saved vault.Form
		fnErr error
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		f, _, err := readForm(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		fx, err := fn(&f)
		if err != nil {
			fnErr = err
			return err
		}
		// fn changes the draft, never which form it is.
		f.Tenant, f.ID, f.Version = tenant, id, 0
		if f.UpdatedAt.IsZero() {
			f.UpdatedAt = s.now()
		}
		f.UpdatedAt = msUTC(f.UpdatedAt)
		doc, err := json.Marshal(f)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE qm_forms SET name = ?, description = ?, doc = ?, updated_by = ?, updated_ms = ?
			WHERE tenant = ? AND id = ?`, f.Name, f.Description, doc, f.UpdatedBy, toMS(f.UpdatedAt), tenant, id); err != nil {
			return err
		}
		saved = f
		return s.applyEffects(ctx, tx, fx)
	})
	if fnErr != nil {
		return vault.Form{}, fnErr // the caller's own error, as it gave it
	}
	if err != nil {
		return vault.Form{}, fmt.Errorf("sqlite: cannot update form %q of tenant %q: %w", id, tenant, err)
	}
	return saved, nil
}

const formInfoColumns = `id, name, description, latest_version, updated_by, created_ms, updated_ms`

func scanFormInfo(row interface{ Scan(...any) error }) (vault.FormInfo, error) {
	var (
		fi                   vault.FormInfo
		createdMS, updatedMS int64
	)
	err := row.Scan(&fi.ID, &fi.Name, &fi.Description, &fi.LatestVersion, &fi.UpdatedBy, &createdMS, &updatedMS)
	fi.CreatedAt, fi.UpdatedAt = fromMS(createdMS), fromMS(updatedMS)
	fi.Versions = []vault.FormVersion{}
	return fi, err
}

// formVersions returns the published versions of the tenant's form id, or
// of all its forms when id is empty, by form id, in version order.
func formVersions(ctx context.Context, q querier, tenant, id string) (map[string][]vault.FormVersion, error) {
	query, args := `SELECT form_id, version, name, published_by, published_ms FROM qm_form_versions WHERE tenant = ?`, []any{tenant}
	if id != "" {
		query, args = query+` AND form_id = ?`, append(args, id)
	}
	rows, err := q.QueryContext(ctx, query+` ORDER BY form_id, version`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	versions := map[string][]vault.FormVersion{}
	for rows.Next() {
		var (
			formID      string
			v           vault.FormVersion
			publishedMS int64
		)
		if err := rows.Scan(&formID, &v.Version, &v.Name, &v.PublishedBy, &publishedMS); err != nil {
			return nil, err
		}
		v.PublishedAt = fromMS(publishedMS)
		versions[formID] = append(versions[formID], v)
	}
	return versions, rows.Err()
}

// Form returns a form's draft and what is known of its versions, read in
// one snapshot.
func (s *Store) Form(ctx context.Context, tenant, id string) (vault.Form, vault.FormInfo, error) {
	var (
		f  vault.Form
		fi vault.FormInfo
	)
	err := func() error {
		tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback() // read-only: nothing to undo
		if f, _, err = readForm(ctx, tx, tenant, id); err != nil {
			return err
		}
		if fi, err = scanFormInfo(tx.QueryRowContext(ctx, `SELECT `+formInfoColumns+` FROM qm_forms
			WHERE tenant = ? AND id = ?`, tenant, id)); err != nil {
			return err
		}
		versions, err := formVersions(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if list := versions[id]; list != nil {
			fi.Versions = list
		}
		return nil
	}()
	if err != nil {
		return vault.Form{}, vault.FormInfo{}, fmt.Errorf("sqlite: cannot read form %q of tenant %q: %w", id, tenant, err)
	}
	return f, fi, nil
}

// Forms lists a tenant's forms by id, with their versions.
func (s *Store) Forms(ctx context.Context, tenant string) ([]vault.FormInfo, error) {
	var list []vault.FormInfo
	err := func() error {
		tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback() // read-only: nothing to undo
		rows, err := tx.QueryContext(ctx, `SELECT `+formInfoColumns+` FROM qm_forms WHERE tenant = ? ORDER BY id`, tenant)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			fi, err := scanFormInfo(rows)
			if err != nil {
				return err
			}
			list = append(list, fi)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		versions, err := formVersions(ctx, tx, tenant, "")
		if err != nil {
			return err
		}
		for i := range list {
			if v := versions[list[i].ID]; v != nil {
				list[i].Versions = v
			}
		}
		return nil
	}()
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the forms of tenant %q: %w", tenant, err)
	}
	return list, nil
}

// PublishForm stores the draft as the next version.
func (s *Store) PublishForm(ctx context.Context, tenant, id, by string, at time.Time, fx func(v vault.Form) vault.Effects) (vault.Form, error) {
	if at.IsZero() {
		at = s.now()
	}
	var v vault.Form
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		draft, latest, err := readForm(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		v = draft
		v.Version, v.UpdatedBy, v.UpdatedAt = latest+1, by, msUTC(at)
		doc, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO qm_form_versions (tenant, form_id, version, name, doc, published_by, published_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, tenant, id, v.Version, v.Name, doc, by, toMS(v.UpdatedAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE qm_forms SET latest_version = ? WHERE tenant = ? AND id = ?`, v.Version, tenant, id); err != nil {
			return err
		}
		if fx == nil {
			return nil
		}
		return s.applyEffects(ctx, tx, fx(v))
	})
	if err != nil {
		return vault.Form{}, fmt.Errorf("sqlite: cannot publish form %q of tenant %q: %w", id, tenant, classify(err))
	}
	return v, nil
}

// FormVersion returns one published version, 0 the latest.
func (s *Store) FormVersion(ctx context.Context, tenant, id string, version int) (vault.Form, error) {
	query, args := `SELECT doc FROM qm_form_versions WHERE tenant = ? AND form_id = ?`, []any{tenant, id}
	if version == 0 {
		query += ` ORDER BY version DESC LIMIT 1`
	} else {
		query, args = query+` AND version = ?`, append(args, version)
	}
	var doc []byte
	err := s.read.QueryRowContext(ctx, query, args...).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Form{}, fmt.Errorf("sqlite: cannot find version %d of form %q of tenant %q: %w", version, id, tenant, vault.ErrNotFound)
	}
	var f vault.Form
	if err == nil {
		f, err = decodeForm(tenant, doc)
	}
	if err != nil {
		return vault.Form{}, fmt.Errorf("sqlite: cannot read version %d of form %q of tenant %q: %w", version, id, tenant, err)
	}
	return f, nil
}

// storedEvaluation is e as stored: its times in UTC to the millisecond,
// CreatedAt stamped with now when zero and UpdatedAt with CreatedAt.
func storedEvaluation(e vault.Evaluation, now time.Time) vault.Evaluation {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.CreatedAt
	}
	e.CreatedAt, e.UpdatedAt = msUTC(e.CreatedAt), msUTC(e.UpdatedAt)
	e.SubmittedAt, e.PeriodStart = msUTC(e.SubmittedAt), msUTC(e.PeriodStart)
	e.SignOff, e.Dispute, e.Declined = storedNote(e.SignOff), storedNote(e.Dispute), storedNote(e.Declined)
	return e
}

// evaluationValues are the values of evaluationSetColumns for e, its
// document last.
func evaluationValues(e *vault.Evaluation) ([]any, error) {
	doc, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("cannot encode evaluation %q: %w", e.ID, err)
	}
	var total, critical any // NULL when nothing counts
	fatal := false
	if e.Score != nil {
		if e.Score.Total != nil {
			total = *e.Score.Total
		}
		if e.Score.Critical != nil {
			critical = *e.Score.Critical
		}
		fatal = e.Score.Fatal
	}
	var week, month int64 // the report's intervals of the submission
	if !e.SubmittedAt.IsZero() {
		week, month = toMS(vault.IntervalStart(vault.IntervalWeek, e.SubmittedAt)), toMS(vault.IntervalStart(vault.IntervalMonth, e.SubmittedAt))
	}
	return []any{e.Agent, e.Team, e.Evaluator, e.FormID, e.Version, e.Kind, e.CalibrationID, e.PlanID, e.Supersedes,
		e.State, total, critical, fatal, toMS(e.CreatedAt), toMS(e.UpdatedAt), toMS(e.SubmittedAt), week, month, doc}, nil
}

// evaluationSetColumns are the columns written from an Evaluation.
const evaluationSetColumns = `agent, team, evaluator, form_id, version, kind, calibration_id, plan_id, supersedes,
	state, total, critical, fatal, created_ms, updated_ms, submitted_ms, week_ms, month_ms, doc`

// insertEvaluations stores new evaluations of tenant (the Tenant fields
// when tenant is empty) and returns them as stored: ErrNotFound when a
// recording is missing, ErrConflict (by classify) for an id taken or a
// plan's second evaluation of a recording.
func (s *Store) insertEvaluations(ctx context.Context, tx *sql.Tx, tenant string, list []vault.Evaluation) ([]vault.Evaluation, error) {
	now := s.now()
	out := make([]vault.Evaluation, 0, len(list))
	for _, e := range list {
		if tenant != "" {
			e.Tenant = tenant
		}
		e = storedEvaluation(e, now)
		values, err := evaluationValues(&e)
		if err != nil {
			return nil, err
		}
		args := append(append([]any{e.Tenant, e.ID}, values...), e.Tenant, e.RecordingID)
		res, err := tx.ExecContext(ctx, `INSERT INTO qm_evaluations (tenant, id, rid, `+evaluationSetColumns+`)
			SELECT ?, ?, r.rid, `+placeholders(len(values))+` FROM recordings r WHERE r.tenant = ? AND r.id = ?`, args...)
		if err != nil {
			return nil, classify(err)
		}
		if err := affectedOne(res); err != nil {
			return nil, fmt.Errorf("recording %q of evaluation %q: %w", e.RecordingID, e.ID, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func decodeEvaluation(tenant string, doc []byte) (vault.Evaluation, error) {
	var e vault.Evaluation
	if err := json.Unmarshal(doc, &e); err != nil {
		return vault.Evaluation{}, fmt.Errorf("cannot decode an evaluation: %w", err)
	}
	e.Tenant = tenant
	return e, nil
}

// CreateEvaluations stores new evaluations, all or none.
func (s *Store) CreateEvaluations(ctx context.Context, list []vault.Evaluation, fx vault.Effects) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.insertEvaluations(ctx, tx, "", list); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("sqlite: cannot create %d evaluations: %w", len(list), err)
	}
	return nil
}

// UpdateEvaluations changes evaluations and creates new ones in one
// transaction. An id named twice is one evaluation, at both places. New
// ones are of tenant, whatever their Tenant field says.
func (s *Store) UpdateEvaluations(ctx context.Context, tenant string, ids []string, fn func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error)) ([]vault.Evaluation, error) {
	var (
		out   []vault.Evaluation
		fnErr error
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		type row struct {
			eid             int64
			doc             []byte
			e               *vault.Evaluation
			id, recordingID string
		}
		byID := map[string]*row{}
		list := make([]*vault.Evaluation, len(ids))
		var order []*row // each evaluation once, in the order first named
		for i, id := range ids {
			if r, ok := byID[id]; ok {
				list[i] = r.e
				continue
			}
			r := &row{id: id}
			err := tx.QueryRowContext(ctx, `SELECT eid, doc FROM qm_evaluations WHERE tenant = ? AND id = ?`, tenant, id).Scan(&r.eid, &r.doc)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("evaluation %q: %w", id, vault.ErrNotFound)
			}
			if err != nil {
				return err
			}
			e, err := decodeEvaluation(tenant, r.doc)
			if err != nil {
				return err
			}
			r.e, r.recordingID = &e, e.RecordingID
			byID[id], list[i] = r, &e
			order = append(order, r)
		}
		created, fx, err := fn(list)
		if err != nil {
			fnErr = err
			return err
		}
		now := s.now()
		saved := map[*vault.Evaluation]vault.Evaluation{}
		for _, r := range order {
			// fn changes an evaluation, never which one it is or of what.
			r.e.Tenant, r.e.ID, r.e.RecordingID = tenant, r.id, r.recordingID
			e := storedEvaluation(*r.e, now)
			values, err := evaluationValues(&e)
			if err != nil {
				return err
			}
			saved[r.e] = e
			if bytes.Equal(values[len(values)-1].([]byte), r.doc) {
				continue // unchanged
			}
			if _, err := tx.ExecContext(ctx, `UPDATE qm_evaluations SET (`+evaluationSetColumns+`) = (`+
				placeholders(len(values))+`) WHERE eid = ?`, append(values, r.eid)...); err != nil {
				return classify(err)
			}
		}
		inserted, err := s.insertEvaluations(ctx, tx, tenant, created)
		if err != nil {
			return err
		}
		out = make([]vault.Evaluation, 0, len(list)+len(inserted))
		for _, e := range list {
			out = append(out, saved[e])
		}
		out = append(out, inserted...)
		return s.applyEffects(ctx, tx, fx)
	})
	if fnErr != nil {
		return nil, fnErr // the caller's own error, as it gave it
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot update evaluations %q of tenant %q: %w", ids, tenant, err)
	}
	return out, nil
}

// Evaluation returns one evaluation.
func (s *Store) Evaluation(ctx context.Context, tenant, id string) (vault.Evaluation, error) {
	var doc []byte
	err := s.read.QueryRowContext(ctx, `SELECT doc FROM qm_evaluations WHERE tenant = ? AND id = ?`, tenant, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Evaluation{}, fmt.Errorf("sqlite: cannot find evaluation %q of tenant %q: %w", id, tenant, vault.ErrNotFound)
	}
	var e vault.Evaluation
	if err == nil {
		e, err = decodeEvaluation(tenant, doc)
	}
	if err != nil {
		return vault.Evaluation{}, fmt.Errorf("sqlite: cannot read evaluation %q of tenant %q: %w", id, tenant, err)
	}
	return e, nil
}

// viewerCondition is the visibility rule as SQL on qm_evaluations e:
// the recording access rule, or the viewer is the evaluator, or the agent
// of a finished evaluation. The access rule is a set of recordings built
// once per query (not a lookup per evaluation: a report reads every row
// in its range), left out when Access sees no recording at all.
func viewerCondition(v vault.EvaluationViewer) (string, []any) {
	if v.Access.All {
		return "", nil
	}
	var (
		alternatives []string
		args         []any
	)
	if seesRecordings(v.Access) {
		var terms []string
		if len(v.Access.Groups) > 0 {
			terms = append(terms, "(t.kind = '"+termGroup+"' AND t.value IN ("+placeholders(len(v.Access.Groups))+"))")
			for _, g := range v.Access.Groups {
				args = append(args, g)
			}
		}
		if v.Access.UserName != "" {
			terms = append(terms, "(t.kind = '"+termAgent+"' AND t.value = ?)")
			args = append(args, v.Access.UserName)
		}
		alternatives = append(alternatives, "e.rid IN (SELECT t.rid FROM recording_terms t WHERE "+strings.Join(terms, " OR ")+")")
	}
	if v.Self != "" {
		alternatives = append(alternatives, "e.evaluator = ?", "(e.agent = ? AND e.kind = '"+vault.KindEvaluation+
			"' AND e.state NOT IN ('"+vault.EvalAssigned+"', '"+vault.EvalDraft+"'))")
		args = append(args, v.Self, v.Self)
	}
	if len(alternatives) == 0 {
		return " AND FALSE", nil // no access, no self: sees nothing
	}
	return " AND (" + strings.Join(alternatives, " OR ") + ")", args
}

// seesRecordings tells whether access may see any recording: it has All,
// a group or a user name.
func seesRecordings(access vault.Access) bool {
	return access.All || len(access.Groups) > 0 || access.UserName != ""
}

// evaluationsFrom is the FROM of a query on evaluations e.
func evaluationsFrom(vault.EvaluationViewer) string {
	return ` FROM qm_evaluations e`
}

// evaluationsWhere is the WHERE clause of f (its cursor and viewer
// included) on evaluations e, with its arguments.
func evaluationsWhere(tenant string, f vault.EvaluationFilter) (string, []any) {
	var (
		where strings.Builder
		args  = []any{tenant}
	)
	where.WriteString(` WHERE e.tenant = ?`)
	if f.RecordingID != "" {
		where.WriteString(` AND e.rid = (SELECT rid FROM recordings WHERE tenant = ? AND id = ?)`)
		args = append(args, tenant, f.RecordingID)
	}
	for _, eq := range []struct{ column, value string }{
		{"agent", f.Agent}, {"evaluator", f.Evaluator}, {"form_id", f.FormID}, {"plan_id", f.PlanID},
		{"calibration_id", f.CalibrationID}, {"kind", f.Kind},
	} {
		if eq.value != "" {
			where.WriteString(` AND e.` + eq.column + ` = ?`)
			args = append(args, eq.value)
		}
	}
	if len(f.States) > 0 {
		where.WriteString(` AND e.state IN (` + placeholders(len(f.States)) + `)`)
		for _, state := range f.States {
			args = append(args, state)
		}
	}
	if !f.CreatedFrom.IsZero() {
		where.WriteString(` AND e.created_ms >= ?`)
		args = append(args, f.CreatedFrom.UnixMilli())
	}
	if !f.CreatedTo.IsZero() {
		where.WriteString(` AND e.created_ms < ?`)
		args = append(args, f.CreatedTo.UnixMilli())
	}
	if f.After != nil {
		where.WriteString(` AND (e.created_ms, e.id) < (?, ?)`)
		args = append(args, toMS(f.After.StartTime), f.After.ID)
	}
	viewerSQL, viewerArgs := viewerCondition(f.Viewer)
	where.WriteString(viewerSQL)
	return where.String(), append(args, viewerArgs...)
}

// Evaluations lists the evaluations matching f that f.Viewer may see,
// newest first.
func (s *Store) Evaluations(ctx context.Context, tenant string, f vault.EvaluationFilter) ([]vault.Evaluation, error) {
	where, args := evaluationsWhere(tenant, f)
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite's "no limit"
	}
	rows, err := s.read.QueryContext(ctx, `SELECT e.doc`+evaluationsFrom(f.Viewer)+where+
		` ORDER BY e.created_ms DESC, e.id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the evaluations of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var list []vault.Evaluation
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("sqlite: cannot list the evaluations of tenant %q: %w", tenant, err)
		}
		e, err := decodeEvaluation(tenant, doc)
		if err != nil {
			return nil, fmt.Errorf("sqlite: cannot list the evaluations of tenant %q: %w", tenant, err)
		}
		list = append(list, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the evaluations of tenant %q: %w", tenant, err)
	}
	return list, nil
}

// EvaluationCounts counts the evaluations matching f by state.
func (s *Store) EvaluationCounts(ctx context.Context, tenant string, f vault.EvaluationFilter) (map[string]int64, error) {
	f.After, f.Limit = nil, 0
	where, args := evaluationsWhere(tenant, f)
	from := evaluationsFrom(f.Viewer)
	if f.Kind != "" && f.Agent == "" && f.Evaluator == "" && f.RecordingID == "" && f.FormID == "" && f.PlanID == "" && f.CalibrationID == "" {
		// The report's counts (kind, a creation range, the viewer): the
		// states index gives them in order, one range per state; without
		// statistics SQLite would take the creation index and sort.
		from += ` INDEXED BY qm_evaluations_states`
	}
	rows, err := s.read.QueryContext(ctx, `SELECT e.state, count(*)`+from+where+` GROUP BY e.state`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot count the evaluations of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var (
			state string
			n     int64
		)
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("sqlite: cannot count the evaluations of tenant %q: %w", tenant, err)
		}
		counts[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot count the evaluations of tenant %q: %w", tenant, err)
	}
	return counts, nil
}

// ScoreBuckets sums scores per agent (and team) and UTC day. A zero to
// is no upper bound.
func (s *Store) ScoreBuckets(ctx context.Context, tenant string, from, to time.Time, interval string, viewer vault.EvaluationViewer) ([]vault.ScoreBucket, error) {
	if interval == vault.IntervalWeek || interval == vault.IntervalMonth {
		return s.intervalBuckets(ctx, tenant, from, to, interval, viewer)
	}
	args := []any{tenant, toMS(from)}
	// By day the rows are summed here rather than by GROUP BY: SQLite
	// would build a temporary b-tree of every row to group them; one pass
	// over the covering index and a map is faster.
	query := `SELECT e.agent, e.team, e.submitted_ms, e.total, e.critical, e.fatal` +
		evaluationsFrom(viewer) + `
		WHERE e.tenant = ? AND e.kind = '` + vault.KindEvaluation + `'
		AND e.state IN ('` + vault.EvalSubmitted + `', '` + vault.EvalSignedOff + `', '` + vault.EvalDisputed + `')
		AND e.submitted_ms >= ?`
	if !to.IsZero() {
		query += ` AND e.submitted_ms < ?`
		args = append(args, toMS(to))
	}
	viewerSQL, viewerArgs := viewerCondition(viewer)
	rows, err := s.read.QueryContext(ctx, query+viewerSQL, append(args, viewerArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot sum the scores of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	type key struct {
		agent, team string
		start       int64 // ms
	}
	sums := map[key]*vault.ScoreBucket{}
	var lastDay, lastStart int64 = -1, 0
	for rows.Next() {
		var (
			k               key
			submitted       int64
			total, critical sql.NullFloat64
			fatal           bool
		)
		if err := rows.Scan(&k.agent, &k.team, &submitted, &total, &critical, &fatal); err != nil {
			return nil, fmt.Errorf("sqlite: cannot sum the scores of tenant %q: %w", tenant, err)
		}
		if day := submitted / dayMS; day != lastDay { // rows come by time: one conversion per day
			lastDay, lastStart = day, toMS(vault.IntervalStart(interval, time.UnixMilli(day*dayMS)))
		}
		k.start = lastStart
		b := sums[k]
		if b == nil {
			b = &vault.ScoreBucket{Agent: k.agent, Team: k.team, Start: fromMS(k.start)}
			sums[k] = b
		}
		b.Count++
		if total.Valid {
			b.Totals++
			b.TotalSum += total.Float64
		}
		if critical.Valid {
			b.Criticals++
			b.CriticalSum += critical.Float64
		}
		if fatal {
			b.Fatal++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot sum the scores of tenant %q: %w", tenant, err)
	}
	out := make([]vault.ScoreBucket, 0, len(sums))
	for _, b := range sums {
		out = append(out, *b)
	}
	vault.SortScoreBuckets(out)
	return out, nil
}

// intervalBuckets sums by week or month with GROUP BY in the order of
// the interval's covering index (week_ms or month_ms, agent, team): SQLite
// groups the rows as it reads them, without sorting them first, and
// hands over one row per bucket.
func (s *Store) intervalBuckets(ctx context.Context, tenant string, from, to time.Time, interval string, viewer vault.EvaluationViewer) ([]vault.ScoreBucket, error) {
	column := "week_ms"
	if interval == vault.IntervalMonth {
		column = "month_ms"
	}
	args := []any{tenant, toMS(vault.IntervalStart(interval, from)), toMS(from)}
	query := `SELECT e.` + column + `, e.agent, e.team, count(*),
		count(e.total), coalesce(sum(e.total), 0), count(e.critical), coalesce(sum(e.critical), 0), sum(e.fatal)` +
		evaluationsFrom(viewer) + ` INDEXED BY qm_evaluations_` + strings.TrimSuffix(column, "_ms") + `s
		WHERE e.tenant = ? AND e.kind = '` + vault.KindEvaluation + `' AND e.` + column + ` >= ? AND e.submitted_ms >= ?
		AND e.state IN ('` + vault.EvalSubmitted + `', '` + vault.EvalSignedOff + `', '` + vault.EvalDisputed + `')`
	if !to.IsZero() {
		query += ` AND e.` + column + ` <= ? AND e.submitted_ms < ?`
		args = append(args, toMS(vault.IntervalStart(interval, to)), toMS(to))
	}
	viewerSQL, viewerArgs := viewerCondition(viewer)
	rows, err := s.read.QueryContext(ctx, query+viewerSQL+` GROUP BY e.`+column+`, e.agent, e.team`, append(args, viewerArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot sum the scores of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var out []vault.ScoreBucket
	for rows.Next() {
		var (
			b     vault.ScoreBucket
			start int64
		)
		if err := rows.Scan(&start, &b.Agent, &b.Team, &b.Count, &b.Totals, &b.TotalSum, &b.Criticals, &b.CriticalSum, &b.Fatal); err != nil {
			return nil, fmt.Errorf("sqlite: cannot sum the scores of tenant %q: %w", tenant, err)
		}
		b.Start = time.UnixMilli(start).UTC()
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot sum the scores of tenant %q: %w", tenant, err)
	}
	vault.SortScoreBuckets(out)
	return out, nil
}

// CreateCalibration stores a calibration and its evaluations.
func (s *Store) CreateCalibration(ctx context.Context, c vault.Calibration, list []vault.Evaluation, fx vault.Effects) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.now()
	}
	c.CreatedAt = msUTC(c.CreatedAt)
	doc, err := json.Marshal(c)
	if err == nil {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `INSERT INTO qm_calibrations (tenant, id, rid, created_ms, doc)
				SELECT ?, ?, r.rid, ?, ? FROM recordings r WHERE r.tenant = ? AND r.id = ?`,
				c.Tenant, c.ID, toMS(c.CreatedAt), doc, c.Tenant, c.RecordingID)
			if err != nil {
				return classify(err)
			}
			if err := affectedOne(res); err != nil {
				return fmt.Errorf("recording %q: %w", c.RecordingID, err)
			}
			if _, err := s.insertEvaluations(ctx, tx, c.Tenant, list); err != nil {
				return err
			}
			return s.applyEffects(ctx, tx, fx)
		})
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot create calibration %q of tenant %q: %w", c.ID, c.Tenant, err)
	}
	return nil
}

// Calibration returns one calibration.
func (s *Store) Calibration(ctx context.Context, tenant, id string) (vault.Calibration, error) {
	var doc []byte
	err := s.read.QueryRowContext(ctx, `SELECT doc FROM qm_calibrations WHERE tenant = ? AND id = ?`, tenant, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Calibration{}, fmt.Errorf("sqlite: cannot find calibration %q of tenant %q: %w", id, tenant, vault.ErrNotFound)
	}
	var c vault.Calibration
	if err == nil {
		err = json.Unmarshal(doc, &c)
	}
	if err != nil {
		return vault.Calibration{}, fmt.Errorf("sqlite: cannot read calibration %q of tenant %q: %w", id, tenant, err)
	}
	c.Tenant = tenant
	return c, nil
}

// Calibrations lists a tenant's calibrations, newest first.
func (s *Store) Calibrations(ctx context.Context, tenant string) ([]vault.Calibration, error) {
	list, err := listDocs[vault.Calibration](ctx, s.read, `SELECT doc FROM qm_calibrations WHERE tenant = ?
		ORDER BY created_ms DESC, id DESC`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the calibrations of tenant %q: %w", tenant, err)
	}
	for i := range list {
		list[i].Tenant = tenant
	}
	return list, nil
}

// listDocs decodes the documents the query (of one doc column) returns.
func listDocs[T any](ctx context.Context, q querier, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []T
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return nil, fmt.Errorf("cannot decode %T: %w", v, err)
		}
		list = append(list, v)
	}
	return list, rows.Err()
}

// storedPlan is p as stored: its times in UTC to the millisecond,
// CreatedAt stamped with now when zero and UpdatedAt with CreatedAt.
func storedPlan(p vault.Plan, now time.Time) vault.Plan {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	p.CreatedAt, p.UpdatedAt = msUTC(p.CreatedAt), msUTC(p.UpdatedAt)
	p.FirstPeriod, p.DoneThrough = msUTC(p.FirstPeriod), msUTC(p.DoneThrough)
	p.Filter.StartFrom, p.Filter.StartTo = msUTC(p.Filter.StartFrom), msUTC(p.Filter.StartTo)
	if p.LastRun != nil {
		run := *p.LastRun
		run.PeriodStart, run.PeriodEnd, run.At = msUTC(run.PeriodStart), msUTC(run.PeriodEnd), msUTC(run.At)
		p.LastRun = &run
	}
	return p
}

// CreatePlan stores a plan.
func (s *Store) CreatePlan(ctx context.Context, p vault.Plan, fx vault.Effects) error {
	p = storedPlan(p, s.now())
	doc, err := json.Marshal(p)
	if err == nil {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO qm_plans (tenant, id, created_ms, doc) VALUES (?, ?, ?, ?)`,
				p.Tenant, p.ID, toMS(p.CreatedAt), doc); err != nil {
				return err
			}
			return s.applyEffects(ctx, tx, fx)
		})
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot create plan %q of tenant %q: %w", p.ID, p.Tenant, classify(err))
	}
	return nil
}

func readPlan(ctx context.Context, q querier, tenant, id string) (vault.Plan, error) {
	var doc []byte
	err := q.QueryRowContext(ctx, `SELECT doc FROM qm_plans WHERE tenant = ? AND id = ?`, tenant, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Plan{}, vault.ErrNotFound
	}
	if err != nil {
		return vault.Plan{}, err
	}
	var p vault.Plan
	if err := json.Unmarshal(doc, &p); err != nil {
		return vault.Plan{}, fmt.Errorf("cannot decode a plan: %w", err)
	}
	p.Tenant = tenant
	return p, nil
}

// UpdatePlan changes a plan and creates its evaluations in one
// transaction. The evaluations are of tenant, whatever their Tenant field
// says.
func (s *Store) UpdatePlan(ctx context.Context, tenant, id string, fn func(p *vault.Plan) ([]vault.Evaluation, vault.Effects, error)) (vault.Plan, error) {
	var (
		saved vault.Plan
		fnErr error
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		p, err := readPlan(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		created, fx, err := fn(&p)
		if err != nil {
			fnErr = err
			return err
		}
		p.Tenant, p.ID = tenant, id // fn changes the plan, never which one it is
		p = storedPlan(p, s.now())
		doc, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE qm_plans SET created_ms = ?, doc = ? WHERE tenant = ? AND id = ?`,
			toMS(p.CreatedAt), doc, tenant, id); err != nil {
			return err
		}
		if _, err := s.insertEvaluations(ctx, tx, tenant, created); err != nil {
			return err
		}
		saved = p
		return s.applyEffects(ctx, tx, fx)
	})
	if fnErr != nil {
		return vault.Plan{}, fnErr // the caller's own error, as it gave it
	}
	if err != nil {
		return vault.Plan{}, fmt.Errorf("sqlite: cannot update plan %q of tenant %q: %w", id, tenant, err)
	}
	return saved, nil
}

// Plan returns one plan.
func (s *Store) Plan(ctx context.Context, tenant, id string) (vault.Plan, error) {
	p, err := readPlan(ctx, s.read, tenant, id)
	if err != nil {
		return vault.Plan{}, fmt.Errorf("sqlite: cannot read plan %q of tenant %q: %w", id, tenant, err)
	}
	return p, nil
}

// Plans lists a tenant's plans by id.
func (s *Store) Plans(ctx context.Context, tenant string) ([]vault.Plan, error) {
	list, err := listDocs[vault.Plan](ctx, s.read, `SELECT doc FROM qm_plans WHERE tenant = ? ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the plans of tenant %q: %w", tenant, err)
	}
	for i := range list {
		list[i].Tenant = tenant
	}
	return list, nil
}

// DeletePlan removes a plan; its evaluations stay.
func (s *Store) DeletePlan(ctx context.Context, tenant, id string, fx vault.Effects) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM qm_plans WHERE tenant = ? AND id = ?`, tenant, id)
		if err != nil {
			return err
		}
		if err := affectedOne(res); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("sqlite: cannot delete plan %q of tenant %q: %w", id, tenant, err)
	}
	return nil
}

// PlanRecordings lists, by id, the recordings the plan has evaluations
// of.
func (s *Store) PlanRecordings(ctx context.Context, tenant, planID string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT DISTINCT r.id FROM qm_evaluations e JOIN recordings r ON r.rid = e.rid
		WHERE e.tenant = ? AND e.plan_id = ? ORDER BY r.id`, tenant, planID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the recordings of plan %q of tenant %q: %w", planID, tenant, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: cannot list the recordings of plan %q of tenant %q: %w", planID, tenant, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the recordings of plan %q of tenant %q: %w", planID, tenant, err)
	}
	return ids, nil
}
