package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"callvault/internal/vault"
)

// termCategory is the kind of analysis_terms rows of categories (topics
// are vault.EventTopic), as vault.AnalysisTerms names them.
const termCategory = "category"

// AnalyticsConfig returns a tenant's analytics configuration.
func (s *Store) AnalyticsConfig(ctx context.Context, tenant string) (vault.AnalyticsConfig, error) {
	var text string
	err := s.pool.QueryRow(ctx, `SELECT analytics FROM tenants WHERE name = $1`, tenant).Scan(&text)
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.AnalyticsConfig{}, fmt.Errorf("postgres: cannot find tenant %q: %w", tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.AnalyticsConfig{}, fmt.Errorf("postgres: cannot read the analytics configuration of tenant %q: %w", tenant, err)
	}
	c, err := vault.DecodeAnalyticsConfig([]byte(text))
	if err != nil {
		return vault.AnalyticsConfig{}, fmt.Errorf("postgres: tenant %q: %w", tenant, err)
	}
	return c, nil
}

// UpdateAnalyticsConfig changes a tenant's configuration in one
// transaction that holds the tenant row's lock from the read to the
// commit, so concurrent updates, from any replica, run one after the
// other and none is lost. The lock is FOR NO KEY UPDATE, which the
// UPDATE takes anyway: it leaves the key-share locks of foreign keys
// free, so the tenant's uploads and users do not wait for fn. When
// PostgreSQL aborts the transaction (a deadlock) it runs again, fn
// included: fn must depend only on what it is given. fn's error is
// returned as it gave it.
func (s *Store) UpdateAnalyticsConfig(ctx context.Context, tenant string, fn func(c *vault.AnalyticsConfig) (vault.Effects, error)) (vault.AnalyticsConfig, error) {
	var (
		saved vault.AnalyticsConfig
		fnErr error
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		fnErr = nil
		var text string
		err := tx.QueryRow(ctx, `SELECT analytics FROM tenants WHERE name = $1 FOR NO KEY UPDATE`, tenant).Scan(&text)
		if errors.Is(err, pgx.ErrNoRows) {
			return vault.ErrNotFound
		}
		if err != nil {
			return err
		}
		c, err := vault.DecodeAnalyticsConfig([]byte(text))
		if err != nil {
			return err
		}
		fx, err := fn(&c)
		if err != nil {
			fnErr = err
			return err
		}
		c.Version++
		doc, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tenants SET analytics = $1 WHERE name = $2`, string(doc), tenant); err != nil {
			return err
		}
		saved = c
		return s.applyEffects(ctx, tx, fx)
	})
	if fnErr != nil {
		return vault.AnalyticsConfig{}, fnErr
	}
	if err != nil {
		return vault.AnalyticsConfig{}, fmt.Errorf("postgres: cannot change the analytics configuration of tenant %q: %w", tenant, err)
	}
	return saved, nil
}

// PutAnalysis stores a recording's analysis and its terms. The upsert of
// the analyses row comes first: its row lock orders two PutAnalysis of one
// recording, so the terms left are those of the analysis stored last. A
// recording deleted meanwhile fails the foreign key: ErrNotFound.
func (s *Store) PutAnalysis(ctx context.Context, a vault.Analysis) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("postgres: cannot store the analysis of recording %q: %w", a.RecordingID, err)
	}
	terms := vault.AnalysisTerms(a)
	kinds, names, occurrences := make([]string, len(terms)), make([]string, len(terms)), make([]int64, len(terms))
	for i, t := range terms {
		kinds[i], names[i], occurrences[i] = t.Kind, t.Name, t.Occurrences
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var rid int64
		err := tx.QueryRow(ctx, `SELECT rid FROM recordings WHERE tenant = $1 AND id = $2`, a.Tenant, a.RecordingID).Scan(&rid)
		if errors.Is(err, pgx.ErrNoRows) {
			return vault.ErrNotFound
		}
		if err != nil {
			return err
		}
		var batch pgx.Batch
		batch.Queue(`INSERT INTO analyses (rid, status, version, longest_silence_ms, analyzed_ms, doc)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (rid) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version,
				longest_silence_ms = EXCLUDED.longest_silence_ms, analyzed_ms = EXCLUDED.analyzed_ms, doc = EXCLUDED.doc`,
			rid, a.Status, a.Version, a.Metrics.LongestSilenceMs, toMS(a.AnalyzedAt), doc)
		batch.Queue(`DELETE FROM analysis_terms WHERE rid = $1`, rid)
		if len(terms) > 0 {
			batch.Queue(`INSERT INTO analysis_terms (rid, kind, name, occurrences)
				SELECT $1, t.kind, t.name, t.occurrences FROM unnest($2::text[], $3::text[], $4::bigint[]) AS t (kind, name, occurrences)`,
				rid, kinds, names, occurrences)
		}
		return tx.SendBatch(ctx, &batch).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot store the analysis of recording %q of tenant %q: %w", a.RecordingID, a.Tenant, classify(err))
	}
	return nil
}

// Analysis returns a recording's analysis.
func (s *Store) Analysis(ctx context.Context, tenant, recordingID string) (vault.Analysis, error) {
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT a.doc FROM analyses a JOIN recordings r ON r.rid = a.rid
		WHERE r.tenant = $1 AND r.id = $2`, tenant, recordingID).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return vault.Analysis{}, fmt.Errorf("postgres: recording %q of tenant %q has no analysis: %w", recordingID, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return vault.Analysis{}, fmt.Errorf("postgres: cannot read the analysis of recording %q of tenant %q: %w", recordingID, tenant, err)
	}
	a, err := vault.DecodeAnalysis(doc)
	if err != nil {
		return a, fmt.Errorf("postgres: cannot read the analysis of recording %q of tenant %q: %w", recordingID, tenant, err)
	}
	a.Tenant, a.RecordingID = tenant, recordingID
	return a, nil
}

// AnalysisTrends counts topics and categories per interval: bucket n
// holds recordings started in [from + n×interval, from + (n+1)×interval).
func (s *Store) AnalysisTrends(ctx context.Context, tenant string, from, to time.Time, interval time.Duration, access vault.Access) ([]vault.TrendPoint, error) {
	step := interval.Milliseconds()
	if step <= 0 || !from.Before(to) {
		return nil, fmt.Errorf("postgres: cannot count trends: bad interval")
	}
	var a args
	fromArg := a.add(toMS(from))
	query := `SELECT (r.start_ms - ` + fromArg + `) / ` + a.add(step) + ` AS bucket, x.kind, x.name, count(*), sum(x.occurrences)::bigint
		FROM analysis_terms x JOIN recordings r ON r.rid = x.rid
		WHERE r.tenant = ` + a.add(tenant) + ` AND r.start_ms <> 0 AND r.start_ms >= ` + fromArg + ` AND r.start_ms < ` + a.add(toMS(to)) +
		accessCondition(access, &a) + `
		GROUP BY bucket, x.kind, x.name ORDER BY bucket, x.kind, x.name`
	rows, err := s.pool.Query(ctx, query, a...)
	var out []vault.TrendPoint
	if err == nil {
		out, err = collect(rows, func(row scanner) (vault.TrendPoint, error) {
			var (
				p      vault.TrendPoint
				bucket int64
			)
			err := row.Scan(&bucket, &p.Kind, &p.Name, &p.Recordings, &p.Occurrences)
			p.Start = from.Add(time.Duration(bucket) * interval).UTC()
			return p, err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot count the trends of tenant %q: %w", tenant, err)
	}
	return out, nil
}

// voiceStopped is the condition on recordings r of the analysis backlog:
// of tenant $1, stopped at or after $2, with a voice media file.
const voiceStopped = ` r.tenant = $1 AND r.stop_ms <> 0 AND r.stop_ms >= $2
	AND EXISTS (SELECT 1 FROM media m WHERE m.tenant = r.tenant AND m.recording_id = r.id AND m.type LIKE 'audio/%')`

// AnalysisBacklog lists recordings to analyse (a negative limit is none).
func (s *Store) AnalysisBacklog(ctx context.Context, tenant string, since time.Time, version int64, afterID string, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.id FROM recordings r LEFT JOIN analyses a ON a.rid = r.rid
		WHERE`+voiceStopped+` AND r.id > $3 AND (a.rid IS NULL OR a.version < $4)
		ORDER BY r.id LIMIT $5`, tenant, toMS(since), afterID, version, limitArg(limit))
	if err == nil {
		var ids []string
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err == nil {
			return ids, nil
		}
	}
	return nil, fmt.Errorf("postgres: cannot list the analysis backlog of tenant %q: %w", tenant, err)
}

// CountAnalyzed counts analysed recordings against all to analyse.
func (s *Store) CountAnalyzed(ctx context.Context, tenant string, since time.Time, version int64) (int64, int64, error) {
	var analyzed, all int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE a.version >= $3 AND a.status <> '`+vault.AnalysisPending+`'), count(*)
		FROM recordings r LEFT JOIN analyses a ON a.rid = r.rid WHERE`+voiceStopped,
		tenant, toMS(since), version).Scan(&analyzed, &all)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres: cannot count the analyses of tenant %q: %w", tenant, err)
	}
	return analyzed, all, nil
}
