package postgres

import (
	"context"
	"fmt"
	"time"
)

// AcquireLease takes or renews the named lease for holder until the given
// time; false while another holder's lease has not expired at now. One
// statement: of replicas racing for a free or expired lease, PostgreSQL
// lets the first upsert through and re-checks the WHERE of the others
// against its committed row, so exactly one wins.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until_ms = EXCLUDED.until_ms
		WHERE leases.holder = EXCLUDED.holder OR leases.until_ms <= $4`,
		name, holder, until.UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("postgres: cannot take lease %q: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}
