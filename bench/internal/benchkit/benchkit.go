// Package benchkit holds what the benchmark programs under bench/ share:
// a work directory and what Linux's /proc says of a process.
package benchkit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WorkDir makes dir (new or empty; "" gives a new one under the system's
// temporary directory named for prog) and returns its absolute path and a
// function that removes it, or when keep says so, names it on stderr.
func WorkDir(prog, dir string, keep bool) (string, func() error, error) {
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", prog+"-"); err != nil {
			return "", nil, err
		}
	} else {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, err
		}
		if entries, err := os.ReadDir(dir); err != nil {
			return "", nil, err
		} else if len(entries) > 0 {
			return "", nil, fmt.Errorf("-dir %s is not empty; give a new or empty directory", dir)
		}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", nil, err
	}
	done := func() error {
		if keep {
			fmt.Fprintf(os.Stderr, "%s: kept %s\n", prog, dir)
			return nil
		}
		return os.RemoveAll(dir)
	}
	return dir, done, nil
}

// ProcStatus reads one "Field: N kB" line of /proc/PID/status, in KiB.
func ProcStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// ResetPeakRSS sets VmHWM back to the current RSS (Linux ≥ 4.0: writing 5
// to clear_refs), so that VmHWM afterwards is the peak of what follows.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// ProcCPU is a process's user and system time from /proc/PID/stat (in
// USER_HZ = 100 ticks per second, as on every Linux/amd64).
func ProcCPU(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces: fields count from after ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut) * 10 * time.Millisecond, time.Duration(st) * 10 * time.Millisecond, nil
}
