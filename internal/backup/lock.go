package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LockFile is the lock that stops two instances on one targetDir.
const LockFile = ".rcbs.lock"

// Lock holds targetDir for this process.
type Lock struct{ f *os.File }

// Acquire takes the lock on targetDir at once or fails naming the holder.
// The lock is an flock(2) (LockFileEx on Windows): the kernel drops it
// when the holder dies, even by SIGKILL, so a crash never leaves a stale
// lock behind.
func Acquire(targetDir string, now time.Time) (*Lock, error) {
	if err := os.MkdirAll(targetDir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create targetDir %s: %w", targetDir, err)
	}
	path := filepath.Join(targetDir, LockFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock %s: %w", path, err)
	}
	if err := tryLock(f); err != nil {
		holder, _ := os.ReadFile(path)
		if len(holder) == 0 { // the holder may be writing its name right now
			time.Sleep(100 * time.Millisecond)
			holder, _ = os.ReadFile(path)
		}
		f.Close()
		return nil, fmt.Errorf("another rcbs is using %s (%s)", targetDir, strings.TrimSpace(string(holder)))
	}
	host, _ := os.Hostname()
	f.Truncate(0)
	fmt.Fprintf(f, "pid %d on %s since %s\n", os.Getpid(), host, now.UTC().Format(time.RFC3339))
	f.Sync()
	return &Lock{f: f}, nil
}

// Release lets the next instance in.
func (l *Lock) Release() error {
	l.f.Truncate(0)
	unlock(l.f)
	return l.f.Close()
}
