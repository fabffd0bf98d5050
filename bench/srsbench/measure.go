package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"callvault/bench/internal/benchkit"
)

// usage is what one process used during a measured window.
type usage struct {
	PID        int           `json:"pid"`
	CPU        time.Duration `json:"cpuNs"`      // user + system during the window
	CPUPercent float64       `json:"cpuPercent"` // of one core
	// PeakRSS is VmHWM at the end of the window, reset at its start when
	// the kernel allows (PeakReset); else the highest VmRSS sampled.
	PeakRSSKiB    int64 `json:"peakRssKiB"`
	PeakReset     bool  `json:"peakReset"`
	SampledMaxKiB int64 `json:"sampledMaxRssKiB"`
	// LifePeakKiB is VmHWM before the reset: the process's peak from its
	// start (ffmpeg's start, srs's login) to the window's.
	LifePeakKiB int64 `json:"lifePeakRssKiB"`
	// End is what the RSS held at the window's end (/proc/PID/status and
	// smaps_rollup): anonymous memory (of it, transparent huge pages),
	// file-backed pages (the program and its shared libraries, shared
	// with other processes that map them), shared memory (x11grab's
	// segment, shared with the X server), and the proportional share.
	End rssParts `json:"end"`
}

type rssParts struct {
	AnonKiB      int64 `json:"anonKiB"`
	AnonHugeKiB  int64 `json:"anonHugePagesKiB"`
	FileKiB      int64 `json:"fileKiB"`
	ShmemKiB     int64 `json:"shmemKiB"`
	PssKiB       int64 `json:"pssKiB"`
	PrivateDirty int64 `json:"privateDirtyKiB"`
}

// readRSSParts reads the parts of pid's RSS; what cannot be read stays 0.
func readRSSParts(pid int) rssParts {
	var r rssParts
	r.AnonKiB, _ = benchkit.ProcStatus(pid, "RssAnon")
	r.FileKiB, _ = benchkit.ProcStatus(pid, "RssFile")
	r.ShmemKiB, _ = benchkit.ProcStatus(pid, "RssShmem")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return r
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Pss:":
			r.PssKiB = v
		case "AnonHugePages:":
			r.AnonHugeKiB = v
		case "Private_Dirty:":
			r.PrivateDirty = v
		}
	}
	return r
}

// window is one measurement over a set of processes.
type window struct {
	Wall time.Duration `json:"wallNs"`
	// Procs by role: srs, ffmpeg, xvfb, content (ffplay), baseline.
	Procs map[string]*usage `json:"procs"`
	// SampledSumMaxKiB is the highest sum of the VmRSS of the procs listed
	// in sum, sampled together.
	SampledSumMaxKiB int64 `json:"sampledSumMaxRssKiB"`
	// MachineBusy is the whole machine's CPU in use (/proc/stat), in % of
	// one core (200 % = both cores busy).
	MachineBusy float64 `json:"machineBusyPercentOfOneCore"`
}

// measure watches procs (role → pid) for d: CPU time before and after,
// VmHWM reset at the start and read at the end, VmRSS sampled every
// b.o.sample (sum: the roles whose VmRSS is summed). It returns early,
// with an error, if ctx ends or a process of sum goes away.
func (b *bench) measure(ctx context.Context, procs map[string]int, sum []string, d time.Duration) (*window, error) {
	w := &window{Procs: map[string]*usage{}}
	cpu0 := map[string]time.Duration{}
	for role, pid := range procs {
		u := &usage{PID: pid}
		u.LifePeakKiB, _ = benchkit.ProcStatus(pid, "VmHWM")
		u.PeakReset = benchkit.ResetPeakRSS(pid) == nil
		user, sys, err := benchkit.ProcCPU(pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", role, err)
		}
		cpu0[role] = user + sys
		w.Procs[role] = u
	}
	busy0, total0 := machineCPU()
	started := time.Now()
	ticker := time.NewTicker(b.o.sample)
	defer ticker.Stop()
	sampleRSS := func() error {
		var s int64
		for role, u := range w.Procs {
			rss, err := benchkit.ProcStatus(u.PID, "VmRSS")
			if err != nil {
				for _, r := range sum {
					if r == role {
						return fmt.Errorf("%s (pid %d) went away during the measurement: %w", role, u.PID, err)
					}
				}
				continue
			}
			u.SampledMaxKiB = max(u.SampledMaxKiB, rss)
			for _, r := range sum {
				if r == role {
					s += rss
				}
			}
		}
		w.SampledSumMaxKiB = max(w.SampledSumMaxKiB, s)
		return nil
	}
	if err := sampleRSS(); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			break loop
		case <-ticker.C:
			if err := sampleRSS(); err != nil {
				return nil, err
			}
		}
	}
	if err := sampleRSS(); err != nil {
		return nil, err
	}
	w.Wall = time.Since(started)
	busy1, total1 := machineCPU()
	if total1 > total0 {
		// /proc/stat counts all cores; × cores gives % of one core.
		w.MachineBusy = 100 * float64(busy1-busy0) / float64(total1-total0) * float64(cores())
	}
	for role, u := range w.Procs {
		user, sys, err := benchkit.ProcCPU(u.PID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", role, err)
		}
		u.CPU = user + sys - cpu0[role]
		u.CPUPercent = 100 * u.CPU.Seconds() / w.Wall.Seconds()
		u.End = readRSSParts(u.PID)
		if u.PeakReset {
			u.PeakRSSKiB, _ = benchkit.ProcStatus(u.PID, "VmHWM")
		}
		if !u.PeakReset || u.PeakRSSKiB == 0 {
			u.PeakReset, u.PeakRSSKiB = false, u.SampledMaxKiB
		}
	}
	return w, nil
}

// cpuWithChildren is pid's user + system time and that of its children
// it has waited for (cutime, cstime: the server's ffmpeg of a mux job).
func cpuWithChildren(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:15] { // utime stime cutime cstime, in USER_HZ = 100
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// machineCPU is /proc/stat's busy and total jiffies over all cores.
func machineCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		v, _ := strconv.ParseInt(s, 10, 64)
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total
}

func cores() int {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 1
	}
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if len(line) > 3 && strings.HasPrefix(line, "cpu") && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return max(n, 1)
}

// childNamed finds a child of parent whose command name is name, through
// /proc/PID/task/*/children, else by scanning /proc for its PPid.
func childNamed(parent int, name string) (int, bool) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && comm(pid) == name {
				return pid, true
			}
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || comm(pid) != name {
			continue
		}
		if ppid, err := benchkit.ProcStatus(pid, "PPid"); err == nil && int(ppid) == parent {
			return pid, true
		}
	}
	return 0, false
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// xvfbPID is the X server of display, from its lock file.
func xvfbPID(display string) int {
	b, _ := os.ReadFile("/tmp/.X" + strings.TrimPrefix(display, ":") + "-lock")
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
