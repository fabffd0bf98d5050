package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"callvault/internal/vault"
)

// AnalyticsConfig returns a tenant's analytics configuration.
func (s *Store) AnalyticsConfig(ctx context.Context, tenant string) (vault.AnalyticsConfig, error) {
	c, err := readAnalyticsConfig(ctx, s.read, tenant)
	if err != nil {
		return c, fmt.Errorf("sqlite: cannot read the analytics configuration of tenant %q: %w", tenant, err)
	}
	return c, nil
}

func readAnalyticsConfig(ctx context.Context, q querier, tenant string) (vault.AnalyticsConfig, error) {
	var text string
	err := q.QueryRowContext(ctx, `SELECT analytics FROM tenants WHERE name = ?`, tenant).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.AnalyticsConfig{}, vault.ErrNotFound
	}
	if err != nil {
		return vault.AnalyticsConfig{}, err
	}
	return vault.DecodeAnalyticsConfig([]byte(text))
}

// UpdateAnalyticsConfig changes a tenant's configuration in one
// transaction (SQLite has one writer: concurrent updates wait).
func (s *Store) UpdateAnalyticsConfig(ctx context.Context, tenant string, fn func(c *vault.AnalyticsConfig) (vault.Effects, error)) (vault.AnalyticsConfig, error) {
	var saved vault.AnalyticsConfig
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		c, err := readAnalyticsConfig(ctx, tx, tenant)
		if err != nil {
			return err
		}
		fx, err := fn(&c)
		if err != nil {
			return err
		}
		c.Version++
		doc, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tenants SET analytics = ? WHERE name = ?`, string(doc), tenant); err != nil {
			return err
		}
		saved = c
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return vault.AnalyticsConfig{}, errf(err, "sqlite: cannot change the analytics configuration of tenant %q", tenant)
	}
	return saved, nil
}

// errf wraps err with a message, keeping domain errors (a *vault.Error
// from a callback) as they are so their code and message reach the user.
func errf(err error, format string, args ...any) error {
	var domain *vault.Error
	if errors.As(err, &domain) {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// PutAnalysis stores a recording's analysis and its terms.
func (s *Store) PutAnalysis(ctx context.Context, a vault.Analysis) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("sqlite: cannot store the analysis of recording %q: %w", a.RecordingID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var rid int64
		err := tx.QueryRowContext(ctx, `SELECT rid FROM recordings WHERE tenant = ? AND id = ?`, a.Tenant, a.RecordingID).Scan(&rid)
		if errors.Is(err, sql.ErrNoRows) {
			return vault.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO analyses (rid, status, version, longest_silence_ms, analyzed_ms, doc)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (rid) DO UPDATE SET status = excluded.status, version = excluded.version,
				longest_silence_ms = excluded.longest_silence_ms, analyzed_ms = excluded.analyzed_ms, doc = excluded.doc`,
			rid, a.Status, a.Version, a.Metrics.LongestSilenceMs, toMS(a.AnalyzedAt), doc); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM analysis_terms WHERE rid = ?`, rid); err != nil {
			return err
		}
		for _, t := range vault.AnalysisTerms(a) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO analysis_terms (rid, kind, name, occurrences) VALUES (?, ?, ?, ?)`,
				rid, t.Kind, t.Name, t.Occurrences); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: cannot store the analysis of recording %q of tenant %q: %w", a.RecordingID, a.Tenant, err)
	}
	return nil
}

// Analysis returns a recording's analysis.
func (s *Store) Analysis(ctx context.Context, tenant, recordingID string) (vault.Analysis, error) {
	var doc []byte
	err := s.read.QueryRowContext(ctx, `SELECT a.doc FROM analyses a JOIN recordings r ON r.rid = a.rid
		WHERE r.tenant = ? AND r.id = ?`, tenant, recordingID).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return vault.Analysis{}, fmt.Errorf("sqlite: recording %q of tenant %q has no analysis: %w", recordingID, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.Analysis{}, fmt.Errorf("sqlite: cannot read the analysis of recording %q of tenant %q: %w", recordingID, tenant, err)
	}
	a, err := vault.DecodeAnalysis(doc)
	if err != nil {
		return a, fmt.Errorf("sqlite: cannot read the analysis of recording %q of tenant %q: %w", recordingID, tenant, err)
	}
	a.Tenant, a.RecordingID = tenant, recordingID
	return a, nil
}

// AnalysisTrends counts topics and categories per interval.
func (s *Store) AnalysisTrends(ctx context.Context, tenant string, from, to time.Time, interval time.Duration, access vault.Access) ([]vault.TrendPoint, error) {
	step := interval.Milliseconds()
	if step <= 0 || !from.Before(to) {
		return nil, fmt.Errorf("sqlite: cannot count trends: bad interval")
	}
	accessSQL, accessArgs := accessCondition(access)
	args := append([]any{toMS(from), step, tenant, toMS(from), toMS(to)}, accessArgs...)
	rows, err := s.read.QueryContext(ctx, `SELECT (r.start_ms - ?) / ? AS bucket, x.kind, x.name, count(*), sum(x.occurrences)
		FROM analysis_terms x JOIN recordings r ON r.rid = x.rid
		WHERE r.tenant = ? AND r.start_ms <> 0 AND r.start_ms >= ? AND r.start_ms < ?`+accessSQL+`
		GROUP BY bucket, x.kind, x.name ORDER BY bucket, x.kind, x.name`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot count the trends of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var out []vault.TrendPoint
	for rows.Next() {
		var bucket int64
		var p vault.TrendPoint
		if err := rows.Scan(&bucket, &p.Kind, &p.Name, &p.Recordings, &p.Occurrences); err != nil {
			return nil, fmt.Errorf("sqlite: cannot count the trends of tenant %q: %w", tenant, err)
		}
		p.Start = from.Add(time.Duration(bucket) * interval).UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: cannot count the trends of tenant %q: %w", tenant, err)
	}
	return out, nil
}

// voiceStopped is the condition on recordings r of the analysis backlog:
// stopped since a time, with a voice media file.
const voiceStopped = ` r.tenant = ? AND r.stop_ms <> 0 AND r.stop_ms >= ?
	AND EXISTS (SELECT 1 FROM media m WHERE m.tenant = r.tenant AND m.recording_id = r.id AND m.type LIKE 'audio/%')`

// AnalysisBacklog lists recordings to analyse.
func (s *Store) AnalysisBacklog(ctx context.Context, tenant string, since time.Time, version int64, afterID string, limit int) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT r.id FROM recordings r LEFT JOIN analyses a ON a.rid = r.rid
		WHERE`+voiceStopped+` AND r.id > ? AND (a.rid IS NULL OR a.version < ?)
		ORDER BY r.id LIMIT ?`, tenant, toMS(since), afterID, version, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot list the analysis backlog of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: cannot list the analysis backlog of tenant %q: %w", tenant, err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// CountAnalyzed counts analysed recordings against all to analyse.
func (s *Store) CountAnalyzed(ctx context.Context, tenant string, since time.Time, version int64) (int64, int64, error) {
	var analyzed, all int64
	err := s.read.QueryRowContext(ctx, `SELECT
		coalesce(sum(CASE WHEN a.version >= ? AND a.status <> '`+vault.AnalysisPending+`' THEN 1 ELSE 0 END), 0), count(*)
		FROM recordings r LEFT JOIN analyses a ON a.rid = r.rid WHERE`+voiceStopped,
		version, tenant, toMS(since)).Scan(&analyzed, &all)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: cannot count the analyses of tenant %q: %w", tenant, err)
	}
	return analyzed, all, nil
}
