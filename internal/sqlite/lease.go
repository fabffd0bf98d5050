package sqlite

import (
	"context"
	"fmt"
	"time"
)

// AcquireLease takes or renews the named lease for holder until the given
// time; false while another holder's lease has not expired at now.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `INSERT INTO leases (name, holder, until_ms) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
		WHERE leases.holder = excluded.holder OR leases.until_ms <= ?`,
		name, holder, until.UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("sqlite: cannot take lease %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: cannot take lease %q: %w", name, err)
	}
	return n == 1, nil
}
