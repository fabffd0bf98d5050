package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"callvault/internal/vault"
)

// Quality management, as in the sqlite store: every object is kept whole
// as a JSON document, with the columns lists, filters, the visibility rule
// and the reports need beside it; times are stored, in the documents too,
// in UTC to the millisecond. Where a read decides a write (UpdateForm,
// PublishForm, UpdateEvaluations, UpdatePlan) the row is locked FOR NO KEY
// UPDATE from the read to the commit, so concurrent changes, from any
// replica, run one after the other and none is lost; the lock leaves the
// key-share locks of foreign keys free. When PostgreSQL aborts such a
// transaction (a deadlock) it runs again, fn included: fn must depend only
// on what it is given.

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
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO qm_forms
				(tenant, id, name, description, doc, latest_version, updated_by, created_ms, updated_ms)
				VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $7)`,
				f.Tenant, f.ID, f.Name, f.Description, doc, f.UpdatedBy, toMS(f.UpdatedAt)); err != nil {
				return err
			}
			return s.applyEffects(ctx, tx, fx)
		})
	}
	if err != nil {
		return fmt.Errorf("postgres: cannot create form %q of tenant %q: %w", f.ID, f.Tenant, classify(err))
	}
	return nil
}

// readForm returns a form's draft and its latest version, or
// vault.ErrNotFound; lock is appended to the query ("" or a locking
// clause).
func readForm(ctx context.Context, q rowQuerier, tenant, id, lock string) (vault.Form, int, error) {
	var (
		doc    []byte
		latest int
	)
	err := q.QueryRow(ctx, `SELECT doc, latest_version FROM qm_forms WHERE tenant = $1 AND id = $2`+lock, tenant, id).Scan(&doc, &latest)
	if errors.Is(err, pgx.ErrNoRows) {
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

// UpdateForm changes a form's draft in one transaction that holds the
// form's row lock.
func (s *Store) UpdateForm(ctx context.Context, tenant, id string, fn func(f *vault.Form) (vault.Effects, error)) (vault.Form, error) {
	var (
		saved vault.Form
		fnErr error
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fnErr = nil
		f, _, err := readForm(ctx, tx, tenant, id, ` FOR NO KEY UPDATE`)
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
		if _, err := tx.Exec(ctx, `UPDATE qm_forms SET name = $1, description = $2, doc = $3, updated_by = $4, updated_ms = $5
			WHERE tenant = $6 AND id = $7`, f.Name, f.Description, doc, f.UpdatedBy, toMS(f.UpdatedAt), tenant, id); err != nil {
			return err
		}
		saved = f
		return s.applyEffects(ctx, tx, fx)
	})
	if fnErr != nil {
		return vault.Form{}, fnErr // the caller's own error, as it gave it
	}
	if err != nil {
		return vault.Form{}, fmt.Errorf("postgres: cannot update form %q of tenant %q: %w", id, tenant, err)
	}
	return saved, nil
}

const formInfoColumns = `id, name, description, latest_version, updated_by, created_ms, updated_ms`

func scanFormInfo(row scanner) (vault.FormInfo, error) {
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
func formVersions(ctx context.Context, tx pgx.Tx, tenant, id string) (map[string][]vault.FormVersion, error) {
	var a args
	query := `SELECT form_id, version, name, published_by, published_ms FROM qm_form_versions WHERE tenant = ` + a.add(tenant)
	if id != "" {
		query += ` AND form_id = ` + a.add(id)
	}
	rows, err := tx.Query(ctx, query+` ORDER BY form_id, version`, a...)
	if err != nil {
		return nil, err
	}
	type version struct {
		formID string
		v      vault.FormVersion
	}
	list, err := collect(rows, func(row scanner) (version, error) {
		var (
			fv          version
			publishedMS int64
		)
		err := row.Scan(&fv.formID, &fv.v.Version, &fv.v.Name, &fv.v.PublishedBy, &publishedMS)
		fv.v.PublishedAt = fromMS(publishedMS)
		return fv, err
	})
	if err != nil {
		return nil, err
	}
	versions := map[string][]vault.FormVersion{}
	for _, fv := range list {
		versions[fv.formID] = append(versions[fv.formID], fv.v)
	}
	return versions, nil
}

// Form returns a form's draft and what is known of its versions, read in
// one snapshot.
func (s *Store) Form(ctx context.Context, tenant, id string) (vault.Form, vault.FormInfo, error) {
	var (
		f  vault.Form
		fi vault.FormInfo
	)
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		var err error
		if f, _, err = readForm(ctx, tx, tenant, id, ""); err != nil {
			return err
		}
		if fi, err = scanFormInfo(tx.QueryRow(ctx, `SELECT `+formInfoColumns+` FROM qm_forms
			WHERE tenant = $1 AND id = $2`, tenant, id)); err != nil {
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
	})
	if err != nil {
		return vault.Form{}, vault.FormInfo{}, fmt.Errorf("postgres: cannot read form %q of tenant %q: %w", id, tenant, err)
	}
	return f, fi, nil
}

// Forms lists a tenant's forms by id, with their versions.
func (s *Store) Forms(ctx context.Context, tenant string) ([]vault.FormInfo, error) {
	var list []vault.FormInfo
	err := s.readOnly(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+formInfoColumns+` FROM qm_forms WHERE tenant = $1 ORDER BY id`, tenant)
		if err != nil {
			return err
		}
		if list, err = collect(rows, scanFormInfo); err != nil {
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
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot list the forms of tenant %q: %w", tenant, err)
	}
	return list, nil
}

// PublishForm stores the draft as the next version. The form's row lock
// orders concurrent publishes, so each gets a version of its own.
func (s *Store) PublishForm(ctx context.Context, tenant, id, by string, at time.Time, fx func(v vault.Form) vault.Effects) (vault.Form, error) {
	if at.IsZero() {
		at = s.now()
	}
	var v vault.Form
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		draft, latest, err := readForm(ctx, tx, tenant, id, ` FOR NO KEY UPDATE`)
		if err != nil {
			return err
		}
		v = draft
		v.Version, v.UpdatedBy, v.UpdatedAt = latest+1, by, msUTC(at)
		doc, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var batch pgx.Batch
		batch.Queue(`INSERT INTO qm_form_versions (tenant, form_id, version, name, doc, published_by, published_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, tenant, id, v.Version, v.Name, doc, by, toMS(v.UpdatedAt))
		batch.Queue(`UPDATE qm_forms SET latest_version = $1 WHERE tenant = $2 AND id = $3`, v.Version, tenant, id)
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return err
		}
		if fx == nil {
			return nil
		}
		return s.applyEffects(ctx, tx, fx(v))
	})
	if err != nil {
		return vault.Form{}, fmt.Errorf("postgres: cannot publish form %q of tenant %q: %w", id, tenant, classify(err))
	}
	return v, nil
}

// FormVersion returns one published version, 0 the latest.
func (s *Store) FormVersion(ctx context.Context, tenant, id string, version int) (vault.Form, error) {
	query, queryArgs := `SELECT doc FROM qm_form_versions WHERE tenant = $1 AND form_id = $2`, []any{tenant, id}
	if version == 0 {
		query += ` ORDER BY version DESC LIMIT 1`
	} else {
		query, queryArgs = query+` AND version = $3`, append(queryArgs, version)
	}
	var doc []byte
	err := s.pool.QueryRow(ctx, query, queryArgs...).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.Form{}, fmt.Errorf("postgres: cannot find version %d of form %q of tenant %q: %w", version, id, tenant, vault.ErrNotFound)
	}
	var f vault.Form
	if err == nil {
		f, err = decodeForm(tenant, doc)
	}
	if err != nil {
		return vault.Form{}, fmt.Errorf("postgres: cannot read version %d of form %q of tenant %q: %w", version, id, tenant, err)
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

// evaluationFields are the columns written from an Evaluation, with their
// types (INSERT … SELECT does not infer its parameters' types from the
// columns), in the order of evaluationValues.
var evaluationFields = []struct{ column, sqlType string }{
	{"agent", "text"}, {"team", "text"}, {"evaluator", "text"}, {"form_id", "text"}, {"version", "integer"},
	{"kind", "text"}, {"calibration_id", "text"}, {"plan_id", "text"}, {"supersedes", "text"}, {"state", "text"},
	{"total", "float8"}, {"critical", "float8"}, {"fatal", "boolean"},
	{"created_ms", "bigint"}, {"updated_ms", "bigint"}, {"submitted_ms", "bigint"},
	{"week_ms", "bigint"}, {"month_ms", "bigint"}, {"doc", "bytea"},
}

// insertEvaluationSQL inserts an evaluation of tenant $1, id $2, of the
// recording id $3, from evaluationValues as $4 on; it inserts nothing when
// the recording does not exist.
var insertEvaluationSQL = func() string {
	columns, values := []string{"tenant", "id", "rid"}, []string{"$1::text", "$2::text", "r.rid"}
	for i, f := range evaluationFields {
		columns = append(columns, f.column)
		values = append(values, "$"+strconv.Itoa(i+4)+"::"+f.sqlType)
	}
	return `INSERT INTO qm_evaluations (` + strings.Join(columns, ", ") + `)
		SELECT ` + strings.Join(values, ", ") + ` FROM recordings r WHERE r.tenant = $1 AND r.id = $3`
}()

// updateEvaluationSQL writes evaluationValues as $2 on over the row of
// eid $1.
var updateEvaluationSQL = func() string {
	set := make([]string, len(evaluationFields))
	for i, f := range evaluationFields {
		set[i] = f.column + " = $" + strconv.Itoa(i+2)
	}
	return `UPDATE qm_evaluations SET ` + strings.Join(set, ", ") + ` WHERE eid = $1`
}()

// evaluationValues are the values of evaluationFields for e, its document
// last.
func evaluationValues(e *vault.Evaluation) ([]any, error) {
	doc, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("cannot encode evaluation %q: %w", e.ID, err)
	}
	var total, critical *float64 // NULL when nothing counts
	fatal := false
	if e.Score != nil {
		total, critical, fatal = e.Score.Total, e.Score.Critical, e.Score.Fatal
	}
	var week, month int64 // the report's intervals of the submission
	if !e.SubmittedAt.IsZero() {
		week, month = toMS(vault.IntervalStart(vault.IntervalWeek, e.SubmittedAt)), toMS(vault.IntervalStart(vault.IntervalMonth, e.SubmittedAt))
	}
	return []any{e.Agent, e.Team, e.Evaluator, e.FormID, e.Version, e.Kind, e.CalibrationID, e.PlanID, e.Supersedes,
		e.State, total, critical, fatal, toMS(e.CreatedAt), toMS(e.UpdatedAt), toMS(e.SubmittedAt), week, month, doc}, nil
}

// insertEvaluations stores new evaluations of tenant (the Tenant fields
// when tenant is empty), in one round trip, and returns them as stored:
// ErrNotFound when a recording is missing (or deleted meanwhile: the
// foreign key), ErrConflict (by classify) for an id taken or a plan's
// second evaluation of a recording.
func (s *Store) insertEvaluations(ctx context.Context, tx pgx.Tx, tenant string, list []vault.Evaluation) ([]vault.Evaluation, error) {
	if len(list) == 0 {
		return nil, nil
	}
	now := s.now()
	out := make([]vault.Evaluation, 0, len(list))
	var batch pgx.Batch
	for _, e := range list {
		if tenant != "" {
			e.Tenant = tenant
		}
		e = storedEvaluation(e, now)
		values, err := evaluationValues(&e)
		if err != nil {
			return nil, err
		}
		batch.Queue(insertEvaluationSQL, append([]any{e.Tenant, e.ID, e.RecordingID}, values...)...)
		out = append(out, e)
	}
	results := tx.SendBatch(ctx, &batch)
	for _, e := range out {
		tag, err := results.Exec()
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("recording %q of evaluation %q: %w", e.RecordingID, e.ID, vault.ErrNotFound)
		}
		if err != nil {
			_ = results.Close() // the error that matters is the statement's
			return nil, classify(err)
		}
	}
	return out, results.Close()
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.insertEvaluations(ctx, tx, "", list); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot create %d evaluations: %w", len(list), err)
	}
	return nil
}

// UpdateEvaluations changes evaluations and creates new ones in one
// transaction that holds the named evaluations' row locks, taken in id
// order so two calls naming the same evaluations cannot deadlock. An id
// named twice is one evaluation, at both places. New ones are of tenant,
// whatever their Tenant field says.
func (s *Store) UpdateEvaluations(ctx context.Context, tenant string, ids []string, fn func(list []*vault.Evaluation) ([]vault.Evaluation, vault.Effects, error)) ([]vault.Evaluation, error) {
	var (
		out   []vault.Evaluation
		fnErr error
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fnErr, out = nil, nil
		type lockedRow struct {
			eid             int64
			doc             []byte
			e               *vault.Evaluation
			id, recordingID string
		}
		rows, err := tx.Query(ctx, `SELECT id, eid, doc FROM qm_evaluations WHERE tenant = $1 AND id = ANY($2)
			ORDER BY id FOR NO KEY UPDATE`, tenant, textArray(ids))
		if err != nil {
			return err
		}
		locked, err := collect(rows, func(row scanner) (*lockedRow, error) {
			r := &lockedRow{}
			return r, row.Scan(&r.id, &r.eid, &r.doc)
		})
		if err != nil {
			return err
		}
		byID := make(map[string]*lockedRow, len(locked))
		for _, r := range locked {
			e, err := decodeEvaluation(tenant, r.doc)
			if err != nil {
				return err
			}
			r.e, r.recordingID = &e, e.RecordingID
			byID[r.id] = r
		}
		list := make([]*vault.Evaluation, len(ids))
		for i, id := range ids {
			r, ok := byID[id]
			if !ok {
				return fmt.Errorf("evaluation %q: %w", id, vault.ErrNotFound)
			}
			list[i] = r.e
		}
		created, fx, err := fn(list)
		if err != nil {
			fnErr = err
			return err
		}
		now := s.now()
		saved := make(map[*vault.Evaluation]vault.Evaluation, len(locked))
		var batch pgx.Batch
		for _, r := range locked {
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
			batch.Queue(updateEvaluationSQL, append([]any{r.eid}, values...)...)
		}
		if batch.Len() > 0 {
			if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
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
		return nil, fmt.Errorf("postgres: cannot update evaluations %q of tenant %q: %w", ids, tenant, err)
	}
	return out, nil
}

// Evaluation returns one evaluation.
func (s *Store) Evaluation(ctx context.Context, tenant, id string) (vault.Evaluation, error) {
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT doc FROM qm_evaluations WHERE tenant = $1 AND id = $2`, tenant, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.Evaluation{}, fmt.Errorf("postgres: cannot find evaluation %q of tenant %q: %w", id, tenant, vault.ErrNotFound)
	}
	var e vault.Evaluation
	if err == nil {
		e, err = decodeEvaluation(tenant, doc)
	}
	if err != nil {
		return vault.Evaluation{}, fmt.Errorf("postgres: cannot read evaluation %q of tenant %q: %w", id, tenant, err)
	}
	return e, nil
}

// viewerCondition is the visibility rule as SQL on qm_evaluations e, its
// arguments added to a: the recording access rule, or the viewer is the
// evaluator, or the agent of a finished evaluation. The access rule is
// one alternative among them, left out when Access sees no recording at
// all, so it adds nothing then.
func viewerCondition(v vault.EvaluationViewer, a *args) string {
	if v.Access.All {
		return ""
	}
	var alternatives []string
	if seesRecordings(v.Access) {
		// The recordings access may see, as one set for the query (a
		// hashed subplan), not a lookup per evaluation: a report reads
		// every row of its range.
		var terms []string
		if len(v.Access.Groups) > 0 {
			terms = append(terms, "(t.kind = '"+termGroup+"' AND t.value = ANY("+a.add(v.Access.Groups)+"))")
		}
		if v.Access.UserName != "" {
			terms = append(terms, "(t.kind = '"+termAgent+"' AND t.value = "+a.add(v.Access.UserName)+")")
		}
		alternatives = append(alternatives, "e.rid IN (SELECT t.rid FROM recording_terms t WHERE "+strings.Join(terms, " OR ")+")")
	}
	if v.Self != "" {
		self := a.add(v.Self)
		alternatives = append(alternatives, "e.evaluator = "+self, "(e.agent = "+self+" AND e.kind = '"+vault.KindEvaluation+
			"' AND e.state NOT IN ('"+vault.EvalAssigned+"', '"+vault.EvalDraft+"'))")
	}
	if len(alternatives) == 0 {
		return " AND false" // no access, no self: sees nothing
	}
	return " AND (" + strings.Join(alternatives, " OR ") + ")"
}

// seesRecordings tells whether access may see any recording: it has All,
// a group or a user name (accessCondition is false without them).
func seesRecordings(access vault.Access) bool {
	return access.All || len(access.Groups) > 0 || access.UserName != ""
}

// evaluationsFrom is the FROM of a query on evaluations e.
func evaluationsFrom(vault.EvaluationViewer) string {
	return ` FROM qm_evaluations e`
}

// evaluationsWhere is the WHERE clause of f (its cursor and viewer
// included) on evaluations e, its arguments added to a.
func evaluationsWhere(tenant string, f vault.EvaluationFilter, a *args) string {
	var where strings.Builder
	tenantArg := a.add(tenant)
	where.WriteString(` WHERE e.tenant = ` + tenantArg)
	if f.RecordingID != "" {
		where.WriteString(` AND e.rid = (SELECT rid FROM recordings WHERE tenant = ` + tenantArg + ` AND id = ` + a.add(f.RecordingID) + `)`)
	}
	for _, eq := range []struct{ column, value string }{
		{"agent", f.Agent}, {"evaluator", f.Evaluator}, {"form_id", f.FormID}, {"plan_id", f.PlanID},
		{"calibration_id", f.CalibrationID}, {"kind", f.Kind},
	} {
		if eq.value != "" {
			where.WriteString(` AND e.` + eq.column + ` = ` + a.add(eq.value))
		}
	}
	if len(f.States) > 0 {
		where.WriteString(` AND e.state = ANY(` + a.add(textArray(f.States)) + `)`)
	}
	if !f.CreatedFrom.IsZero() {
		where.WriteString(` AND e.created_ms >= ` + a.add(f.CreatedFrom.UnixMilli()))
	}
	if !f.CreatedTo.IsZero() {
		where.WriteString(` AND e.created_ms < ` + a.add(f.CreatedTo.UnixMilli()))
	}
	if f.After != nil {
		where.WriteString(` AND (e.created_ms, e.id) < (` + a.add(toMS(f.After.StartTime)) + `, ` + a.add(f.After.ID) + `)`)
	}
	where.WriteString(viewerCondition(f.Viewer, a))
	return where.String()
}

// Evaluations lists the evaluations matching f that f.Viewer may see,
// newest first.
func (s *Store) Evaluations(ctx context.Context, tenant string, f vault.EvaluationFilter) ([]vault.Evaluation, error) {
	var a args
	query := `SELECT e.doc` + evaluationsFrom(f.Viewer) + evaluationsWhere(tenant, f, &a) + ` ORDER BY e.created_ms DESC, e.id DESC`
	if f.Limit > 0 {
		query += ` LIMIT ` + a.add(f.Limit)
	}
	rows, err := s.pool.Query(ctx, query, a...)
	var list []vault.Evaluation
	if err == nil {
		list, err = collect(rows, func(row scanner) (vault.Evaluation, error) {
			var doc []byte
			if err := row.Scan(&doc); err != nil {
				return vault.Evaluation{}, err
			}
			return decodeEvaluation(tenant, doc)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot list the evaluations of tenant %q: %w", tenant, err)
	}
	return list, nil
}

// EvaluationCounts counts the evaluations matching f by state.
func (s *Store) EvaluationCounts(ctx context.Context, tenant string, f vault.EvaluationFilter) (map[string]int64, error) {
	f.After, f.Limit = nil, 0
	var a args
	rows, err := s.pool.Query(ctx, `SELECT e.state, count(*)`+evaluationsFrom(f.Viewer)+evaluationsWhere(tenant, f, &a)+` GROUP BY e.state`, a...)
	counts := map[string]int64{}
	if err == nil {
		_, err = collect(rows, func(row scanner) (struct{}, error) {
			var (
				state string
				n     int64
			)
			err := row.Scan(&state, &n)
			counts[state] = n
			return struct{}{}, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot count the evaluations of tenant %q: %w", tenant, err)
	}
	return counts, nil
}

// ScoreBuckets sums scores per agent, team and interval (UTC). A zero to
// is no upper bound. Weeks and months are grouped in the order of their
// covering index (week_ms or month_ms, agent, team), so no row is sorted;
// days by an expression of submitted_ms.
func (s *Store) ScoreBuckets(ctx context.Context, tenant string, from, to time.Time, interval string, viewer vault.EvaluationViewer) ([]vault.ScoreBucket, error) {
	var a args
	start := `(e.submitted_ms / ` + strconv.FormatInt(dayMS, 10) + `) * ` + strconv.FormatInt(dayMS, 10)
	var bounds string
	switch interval {
	case vault.IntervalWeek, vault.IntervalMonth:
		start = "e.week_ms"
		if interval == vault.IntervalMonth {
			start = "e.month_ms"
		}
		bounds = ` AND ` + start + ` >= ` + a.add(toMS(vault.IntervalStart(interval, from)))
		if !to.IsZero() {
			bounds += ` AND ` + start + ` <= ` + a.add(toMS(vault.IntervalStart(interval, to)))
		}
	}
	query := `SELECT ` + start + ` AS start, e.agent, e.team, count(*),
		count(e.total), coalesce(sum(e.total), 0), count(e.critical), coalesce(sum(e.critical), 0), count(*) FILTER (WHERE e.fatal)` +
		evaluationsFrom(viewer) + `
		WHERE e.tenant = ` + a.add(tenant) + ` AND e.kind = '` + vault.KindEvaluation + `'` + bounds + `
		AND e.state IN ('` + vault.EvalSubmitted + `', '` + vault.EvalSignedOff + `', '` + vault.EvalDisputed + `')
		AND e.submitted_ms >= ` + a.add(toMS(from))
	if !to.IsZero() {
		query += ` AND e.submitted_ms < ` + a.add(toMS(to))
	}
	query += viewerCondition(viewer, &a) + ` GROUP BY 1, e.agent, e.team`
	rows, err := s.pool.Query(ctx, query, a...)
	var out []vault.ScoreBucket
	if err == nil {
		out, err = collect(rows, func(row scanner) (vault.ScoreBucket, error) {
			var (
				b     vault.ScoreBucket
				start int64
			)
			err := row.Scan(&start, &b.Agent, &b.Team, &b.Count, &b.Totals, &b.TotalSum, &b.Criticals, &b.CriticalSum, &b.Fatal)
			b.Start = time.UnixMilli(start).UTC()
			return b, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot sum the scores of tenant %q: %w", tenant, err)
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
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO qm_calibrations (tenant, id, rid, created_ms, doc)
				SELECT $1::text, $2::text, r.rid, $3::bigint, $4::bytea FROM recordings r WHERE r.tenant = $1 AND r.id = $5`,
				c.Tenant, c.ID, toMS(c.CreatedAt), doc, c.RecordingID)
			if err != nil {
				return classify(err)
			}
			if err := affectedOne(tag); err != nil {
				return fmt.Errorf("recording %q: %w", c.RecordingID, err)
			}
			if _, err := s.insertEvaluations(ctx, tx, c.Tenant, list); err != nil {
				return err
			}
			return s.applyEffects(ctx, tx, fx)
		})
	}
	if err != nil {
		return fmt.Errorf("postgres: cannot create calibration %q of tenant %q: %w", c.ID, c.Tenant, err)
	}
	return nil
}

// Calibration returns one calibration.
func (s *Store) Calibration(ctx context.Context, tenant, id string) (vault.Calibration, error) {
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT doc FROM qm_calibrations WHERE tenant = $1 AND id = $2`, tenant, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.Calibration{}, fmt.Errorf("postgres: cannot find calibration %q of tenant %q: %w", id, tenant, vault.ErrNotFound)
	}
	var c vault.Calibration
	if err == nil {
		err = json.Unmarshal(doc, &c)
	}
	if err != nil {
		return vault.Calibration{}, fmt.Errorf("postgres: cannot read calibration %q of tenant %q: %w", id, tenant, err)
	}
	c.Tenant = tenant
	return c, nil
}

// Calibrations lists a tenant's calibrations, newest first.
func (s *Store) Calibrations(ctx context.Context, tenant string) ([]vault.Calibration, error) {
	list, err := listDocs[vault.Calibration](ctx, s, `SELECT doc FROM qm_calibrations WHERE tenant = $1
		ORDER BY created_ms DESC, id DESC`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot list the calibrations of tenant %q: %w", tenant, err)
	}
	for i := range list {
		list[i].Tenant = tenant
	}
	return list, nil
}

// listDocs decodes the documents the query (of one doc column) returns.
func listDocs[T any](ctx context.Context, s *Store, query string, queryArgs ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, query, queryArgs...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(row scanner) (T, error) {
		var (
			doc []byte
			v   T
		)
		if err := row.Scan(&doc); err != nil {
			return v, err
		}
		if err := json.Unmarshal(doc, &v); err != nil {
			return v, fmt.Errorf("cannot decode %T: %w", v, err)
		}
		return v, nil
	})
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
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO qm_plans (tenant, id, created_ms, doc) VALUES ($1, $2, $3, $4)`,
				p.Tenant, p.ID, toMS(p.CreatedAt), doc); err != nil {
				return err
			}
			return s.applyEffects(ctx, tx, fx)
		})
	}
	if err != nil {
		return fmt.Errorf("postgres: cannot create plan %q of tenant %q: %w", p.ID, p.Tenant, classify(err))
	}
	return nil
}

// rowQuerier is what a transaction and the pool share for one-row reads.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readPlan returns a plan or vault.ErrNotFound; lock is appended to the
// query ("" or a locking clause).
func readPlan(ctx context.Context, q rowQuerier, tenant, id, lock string) (vault.Plan, error) {
	var doc []byte
	err := q.QueryRow(ctx, `SELECT doc FROM qm_plans WHERE tenant = $1 AND id = $2`+lock, tenant, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
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
// transaction that holds the plan's row lock, so two runs of one period
// cannot both create its evaluations. The evaluations are of tenant,
// whatever their Tenant field says.
func (s *Store) UpdatePlan(ctx context.Context, tenant, id string, fn func(p *vault.Plan) ([]vault.Evaluation, vault.Effects, error)) (vault.Plan, error) {
	var (
		saved vault.Plan
		fnErr error
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fnErr = nil
		p, err := readPlan(ctx, tx, tenant, id, ` FOR NO KEY UPDATE`)
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
		if _, err := tx.Exec(ctx, `UPDATE qm_plans SET created_ms = $1, doc = $2 WHERE tenant = $3 AND id = $4`,
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
		return vault.Plan{}, fmt.Errorf("postgres: cannot update plan %q of tenant %q: %w", id, tenant, err)
	}
	return saved, nil
}

// Plan returns one plan.
func (s *Store) Plan(ctx context.Context, tenant, id string) (vault.Plan, error) {
	p, err := readPlan(ctx, s.pool, tenant, id, "")
	if err != nil {
		return vault.Plan{}, fmt.Errorf("postgres: cannot read plan %q of tenant %q: %w", id, tenant, err)
	}
	return p, nil
}

// Plans lists a tenant's plans by id.
func (s *Store) Plans(ctx context.Context, tenant string) ([]vault.Plan, error) {
	list, err := listDocs[vault.Plan](ctx, s, `SELECT doc FROM qm_plans WHERE tenant = $1 ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot list the plans of tenant %q: %w", tenant, err)
	}
	for i := range list {
		list[i].Tenant = tenant
	}
	return list, nil
}

// DeletePlan removes a plan; its evaluations stay.
func (s *Store) DeletePlan(ctx context.Context, tenant, id string, fx vault.Effects) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM qm_plans WHERE tenant = $1 AND id = $2`, tenant, id)
		if err != nil {
			return err
		}
		if err := affectedOne(tag); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot delete plan %q of tenant %q: %w", id, tenant, err)
	}
	return nil
}

// PlanRecordings lists, by id, the recordings the plan has evaluations
// of.
func (s *Store) PlanRecordings(ctx context.Context, tenant, planID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT r.id FROM qm_evaluations e JOIN recordings r ON r.rid = e.rid
		WHERE e.tenant = $1 AND e.plan_id = $2 ORDER BY r.id`, tenant, planID)
	if err == nil {
		var ids []string
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err == nil {
			return ids, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list the recordings of plan %q of tenant %q: %w", planID, tenant, err)
}
