//go:build !unix && !windows

package srs

import "errors"

// diskSpace is unknown here: the free-disk check is skipped.
func diskSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("free disk space is not known on this system")
}
