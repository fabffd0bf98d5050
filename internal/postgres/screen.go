package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"callvault/internal/vault"

	"github.com/jackc/pgx/v5"
)

// keepCommands is how many of an agent's latest commands are kept: srs
// asks for those after the last one it saw, so a short history is enough.
const keepCommands = 100

// ScreenSettings returns a tenant's screen-recording settings.
func (s *Store) ScreenSettings(ctx context.Context, tenant string) (vault.ScreenSettings, error) {
	var ss vault.ScreenSettings
	err := s.pool.QueryRow(ctx, `SELECT screen_when FROM tenants WHERE name = $1`, tenant).Scan(&ss.RecordingWhen)
	if errors.Is(err, pgx.ErrNoRows) {
		return ss, fmt.Errorf("postgres: cannot find tenant %q: %w", tenant, vault.ErrNotFound)
	}
	if err != nil {
		return ss, fmt.Errorf("postgres: cannot read the screen settings of tenant %q: %w", tenant, err)
	}
	return ss, nil
}

// SetScreenSettings replaces a tenant's screen-recording settings.
func (s *Store) SetScreenSettings(ctx context.Context, tenant string, ss vault.ScreenSettings, fx vault.Effects) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tenants SET screen_when = $1 WHERE name = $2`, ss.RecordingWhen, tenant)
		if err != nil {
			return err
		}
		if err := affectedOne(tag); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return fmt.Errorf("postgres: cannot set the screen settings of tenant %q: %w", tenant, err)
	}
	return nil
}

// TouchScreenAgent records the agent's srs as present at at.
func (s *Store) TouchScreenAgent(ctx context.Context, tenant, userName string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO screen_agents (tenant, user_name, seen_ms) VALUES ($1, $2, $3)
		ON CONFLICT (tenant, user_name) DO UPDATE SET seen_ms = greatest(screen_agents.seen_ms, excluded.seen_ms)`, tenant, userName, toMS(at))
	if err != nil {
		return fmt.Errorf("postgres: cannot record the presence of %s@%s: %w", userName, tenant, err)
	}
	return nil
}

// ScreenAgentSeen is when the agent's srs last asked for commands.
func (s *Store) ScreenAgentSeen(ctx context.Context, tenant, userName string) (time.Time, error) {
	var ms int64
	err := s.pool.QueryRow(ctx, `SELECT seen_ms FROM screen_agents WHERE tenant = $1 AND user_name = $2`, tenant, userName).Scan(&ms)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("postgres: cannot read the presence of %s@%s: %w", userName, tenant, err)
	}
	return fromMS(ms), nil
}

// issueCommand appends a command to the agent's channel in tx.
func issueCommand(ctx context.Context, tx pgx.Tx, tenant, userName, command, recordingID, mediaID string, at time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO screen_agents (tenant, user_name) VALUES ($1, $2)
		ON CONFLICT (tenant, user_name) DO NOTHING`, tenant, userName); err != nil {
		return err
	}
	var seq int64
	if err := tx.QueryRow(ctx, `UPDATE screen_agents SET seq = screen_agents.seq + 1 WHERE tenant = $1 AND user_name = $2 RETURNING seq`,
		tenant, userName).Scan(&seq); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO screen_commands (tenant, user_name, seq, command, recording_id, media_id, issued_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, tenant, userName, seq, command, recordingID, mediaID, toMS(at)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM screen_commands WHERE tenant = $1 AND user_name = $2 AND seq <= $3`,
		tenant, userName, seq-keepCommands)
	return err
}

const captureColumns = `tenant, recording_id, media_id, user_name, started_ms, stopped_ms, reason, paused`

func scanCapture(row interface{ Scan(...any) error }) (vault.ScreenCapture, error) {
	var (
		c                    vault.ScreenCapture
		startedMS, stoppedMS int64
	)
	err := row.Scan(&c.Tenant, &c.RecordingID, &c.MediaID, &c.UserName, &startedMS, &stoppedMS, &c.Reason, &c.Paused)
	c.StartedAt, c.StoppedAt = fromMS(startedMS), fromMS(stoppedMS)
	return c, err
}

// OpenScreenCapture opens c and issues its start command, unless the agent
// has a capture open already.
func (s *Store) OpenScreenCapture(ctx context.Context, c vault.ScreenCapture, fx vault.Effects) (vault.ScreenCapture, bool, error) {
	out, opened := c, false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The agent's row serialises opens: without it two could both
		// find none open, and one would fail on the unique index.
		if _, err := tx.Exec(ctx, `INSERT INTO screen_agents (tenant, user_name) VALUES ($1, $2)
			ON CONFLICT (tenant, user_name) DO NOTHING`, c.Tenant, c.UserName); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM screen_agents WHERE tenant = $1 AND user_name = $2 FOR UPDATE`, c.Tenant, c.UserName); err != nil {
			return err
		}
		open, err := scanCapture(tx.QueryRow(ctx, `SELECT `+captureColumns+` FROM screen_captures
			WHERE tenant = $1 AND user_name = $2 AND stopped_ms = 0`, c.Tenant, c.UserName))
		switch {
		case err == nil:
			out = open
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM recordings WHERE tenant = $1 AND id = $2`, c.Tenant, c.RecordingID).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return vault.ErrNotFound
			}
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO screen_captures (`+captureColumns+`) VALUES ($1, $2, $3, $4, $5, 0, '', $6)`,
			c.Tenant, c.RecordingID, c.MediaID, c.UserName, toMS(c.StartedAt), c.Paused); err != nil {
			return err
		}
		if err := issueCommand(ctx, tx, c.Tenant, c.UserName, vault.ScreenStart, c.RecordingID, c.MediaID, c.StartedAt); err != nil {
			return err
		}
		opened = true
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return out, false, fmt.Errorf("postgres: cannot open a screen capture for %s@%s: %w", c.UserName, c.Tenant, err)
	}
	return out, opened, nil
}

// CloseScreenCapture closes an open capture and, when issue is true,
// issues its stop command.
func (s *Store) CloseScreenCapture(ctx context.Context, tenant, recordingID, mediaID, reason string, at time.Time, issue bool) (bool, error) {
	closed := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c, err := scanCapture(tx.QueryRow(ctx, `SELECT `+captureColumns+` FROM screen_captures
			WHERE tenant = $1 AND recording_id = $2 AND media_id = $3`, tenant, recordingID, mediaID))
		if errors.Is(err, pgx.ErrNoRows) {
			return vault.ErrNotFound
		}
		if err != nil || !c.StoppedAt.IsZero() {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE screen_captures SET stopped_ms = $1, reason = $2
			WHERE tenant = $3 AND recording_id = $4 AND media_id = $5`, max(toMS(at), 1), reason, tenant, recordingID, mediaID); err != nil {
			return err
		}
		closed = true
		if !issue {
			return nil
		}
		return issueCommand(ctx, tx, tenant, c.UserName, vault.ScreenStop, recordingID, mediaID, at)
	})
	if err != nil {
		return false, fmt.Errorf("postgres: cannot close screen capture %s of recording %s: %w", mediaID, recordingID, err)
	}
	return closed, nil
}

// PauseScreenCapture pauses or resumes an open capture.
func (s *Store) PauseScreenCapture(ctx context.Context, tenant, recordingID, mediaID string, paused bool, at time.Time) (bool, error) {
	changed := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c, err := scanCapture(tx.QueryRow(ctx, `SELECT `+captureColumns+` FROM screen_captures
			WHERE tenant = $1 AND recording_id = $2 AND media_id = $3`, tenant, recordingID, mediaID))
		if errors.Is(err, pgx.ErrNoRows) {
			return vault.ErrNotFound
		}
		if err != nil || !c.StoppedAt.IsZero() || c.Paused == paused {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE screen_captures SET paused = $1 WHERE tenant = $2 AND recording_id = $3 AND media_id = $4`,
			paused, tenant, recordingID, mediaID); err != nil {
			return err
		}
		command := vault.ScreenResume
		if paused {
			command = vault.ScreenPause
		}
		changed = true
		return issueCommand(ctx, tx, tenant, c.UserName, command, recordingID, mediaID, at)
	})
	if err != nil {
		return false, fmt.Errorf("postgres: cannot pause screen capture %s of recording %s: %w", mediaID, recordingID, err)
	}
	return changed, nil
}

// OpenScreenCaptureOf returns the agent's open capture.
func (s *Store) OpenScreenCaptureOf(ctx context.Context, tenant, userName string) (vault.ScreenCapture, error) {
	c, err := scanCapture(s.pool.QueryRow(ctx, `SELECT `+captureColumns+` FROM screen_captures
		WHERE tenant = $1 AND user_name = $2 AND stopped_ms = 0`, tenant, userName))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("postgres: %s@%s has no screen capture open: %w", userName, tenant, vault.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("postgres: cannot read the screen capture of %s@%s: %w", userName, tenant, err)
	}
	return c, nil
}

// ScreenCapture returns one capture.
func (s *Store) ScreenCapture(ctx context.Context, tenant, recordingID, mediaID string) (vault.ScreenCapture, error) {
	c, err := scanCapture(s.pool.QueryRow(ctx, `SELECT `+captureColumns+` FROM screen_captures
		WHERE tenant = $1 AND recording_id = $2 AND media_id = $3`, tenant, recordingID, mediaID))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("postgres: no screen capture %s of recording %s: %w", mediaID, recordingID, vault.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("postgres: cannot read screen capture %s of recording %s: %w", mediaID, recordingID, err)
	}
	return c, nil
}

// ScreenCaptures lists a recording's captures by start time.
func (s *Store) ScreenCaptures(ctx context.Context, tenant, recordingID string) ([]vault.ScreenCapture, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+captureColumns+` FROM screen_captures
		WHERE tenant = $1 AND recording_id = $2 ORDER BY started_ms, media_id`, tenant, recordingID)
	if err != nil {
		return nil, fmt.Errorf("postgres: cannot list the screen captures of recording %s: %w", recordingID, err)
	}
	defer rows.Close()
	var out []vault.ScreenCapture
	for rows.Next() {
		c, err := scanCapture(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: cannot list the screen captures of recording %s: %w", recordingID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ScreenCommands returns the agent's commands after afterSeq and the
// latest seq.
func (s *Store) ScreenCommands(ctx context.Context, tenant, userName string, afterSeq int64, limit int) ([]vault.ScreenCommand, int64, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: cannot read the commands of %s@%s: %w", userName, tenant, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only: nothing to undo
	var latest int64
	err = tx.QueryRow(ctx, `SELECT seq FROM screen_agents WHERE tenant = $1 AND user_name = $2`, tenant, userName).Scan(&latest)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: cannot read the commands of %s@%s: %w", userName, tenant, err)
	}
	rows, err := tx.Query(ctx, `SELECT seq, command, recording_id, media_id, issued_ms FROM screen_commands
		WHERE tenant = $1 AND user_name = $2 AND seq > $3 ORDER BY seq LIMIT $4`, tenant, userName, afterSeq, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("postgres: cannot read the commands of %s@%s: %w", userName, tenant, err)
	}
	defer rows.Close()
	var out []vault.ScreenCommand
	for rows.Next() {
		var (
			c  vault.ScreenCommand
			ms int64
		)
		if err := rows.Scan(&c.Seq, &c.Command, &c.RecordingID, &c.MediaID, &ms); err != nil {
			return nil, 0, err
		}
		c.IssuedAt = fromMS(ms)
		out = append(out, c)
	}
	return out, latest, rows.Err()
}

// DeleteMedia removes one media file's row with fx.
func (s *Store) DeleteMedia(ctx context.Context, tenant, recordingID, mediaID string, fx vault.Effects) (vault.Media, error) {
	var m vault.Media
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		m, err = scanMedia(tx.QueryRow(ctx, `SELECT `+mediaColumns+` FROM media
			WHERE tenant = $1 AND recording_id = $2 AND media_id = $3`, tenant, recordingID, mediaID))
		if errors.Is(err, pgx.ErrNoRows) {
			return vault.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM media WHERE tenant = $1 AND recording_id = $2 AND media_id = $3`,
			tenant, recordingID, mediaID); err != nil {
			return err
		}
		return s.applyEffects(ctx, tx, fx)
	})
	if err != nil {
		return m, fmt.Errorf("postgres: cannot delete media %s of recording %s: %w", mediaID, recordingID, err)
	}
	return m, nil
}
