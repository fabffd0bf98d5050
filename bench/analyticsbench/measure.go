package main

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cpuNow is the CPU time (user + system) of this process and of its
// children that have been waited for.
func cpuNow() time.Duration {
	return rusageCPU(syscall.RUSAGE_SELF) + rusageCPU(syscall.RUSAGE_CHILDREN)
}

func rusageCPU(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPU is the calling OS thread's CPU time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memSample is what the sampler saw during one analysis.
type memSample struct {
	// ChildrenPeakKiB is the highest sum of the VmRSS of this process's
	// children (ffmpeg and the recognisers) seen at one sample.
	ChildrenPeakKiB int64 `json:"childrenPeakKiB"`
	// ChildHWMKiB is the highest VmHWM of one child seen.
	ChildHWMKiB int64         `json:"childHWMKiB"`
	Children    int           `json:"maxChildren"` // the most children seen at once
	Samples     int           `json:"samples"`
	CPU         time.Duration `json:"samplerCPUNs"` // the sampler's own thread
}

// sampler samples the children's RSS every interval on a thread of its
// own, so that its CPU time can be taken out of the process's.
type sampler struct {
	stop chan struct{}
	done chan memSample
}

func startSampler(every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan memSample, 1)}
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start := threadCPU()
		scan := newChildScanner()
		var m memSample
		sample := func() {
			sum, hwm, n := scan.rss()
			m.ChildrenPeakKiB = max(m.ChildrenPeakKiB, sum)
			m.ChildHWMKiB = max(m.ChildHWMKiB, hwm)
			m.Children = max(m.Children, n)
			m.Samples++
		}
		sample()
		close(ready)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				sample()
			case <-s.stop:
				sample()
				m.CPU = threadCPU() - start
				s.done <- m
				return
			}
		}
	}()
	<-ready
	return s
}

func (s *sampler) finish() memSample {
	close(s.stop)
	return <-s.done
}

// childScanner finds this process's children in /proc and reads their
// memory. A process's parent is read once, when its PID first appears in
// a listing (a process of someone else never becomes our child); our
// children's status is read at every sample.
type childScanner struct {
	self     int
	name     string       // our comm: a child still showing it has not exec'd yet
	children map[int]bool // by PID, of the last listing: whether it is our child
	buf      []byte
}

func newChildScanner() *childScanner {
	c := &childScanner{self: os.Getpid(), children: map[int]bool{}, buf: make([]byte, 8192)}
	c.name, _, _ = c.status(c.self)
	return c
}

// rss sums the VmRSS of the children, and returns the highest VmHWM
// among them and how many there are. A child between fork and exec is
// left out: it still shares this process's memory, and its VmRSS would
// be ours.
func (c *childScanner) rss() (sumKiB, hwmKiB int64, n int) {
	dir, err := os.Open("/proc")
	if err != nil {
		return 0, 0, 0
	}
	names, _ := dir.Readdirnames(-1)
	dir.Close()
	listed := make(map[int]bool, len(names))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		child, seen := c.children[pid]
		if !seen {
			child = c.parentOf(pid) == c.self
		}
		listed[pid] = child
		if !child {
			continue
		}
		comm, rss, hwm := c.status(pid)
		if comm == "" || comm == c.name || rss == 0 {
			continue // gone, a zombie, or not exec'd yet
		}
		sumKiB += rss
		hwmKiB = max(hwmKiB, hwm)
		n++
	}
	c.children = listed
	return sumKiB, hwmKiB, n
}

// read reads a small /proc file into the scanner's buffer.
func (c *childScanner) read(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	n, _ := io.ReadFull(f, c.buf)
	return c.buf[:n]
}

// status reads a process's Name, VmRSS and VmHWM (KiB) from
// /proc/PID/status.
func (c *childScanner) status(pid int) (name string, rssKiB, hwmKiB int64) {
	b := c.read("/proc/" + strconv.Itoa(pid) + "/status")
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(value), []byte("kB")))
		switch string(key) {
		case "Name":
			name = string(value)
		case "VmRSS":
			rssKiB, _ = strconv.ParseInt(string(value), 10, 64)
		case "VmHWM":
			hwmKiB, _ = strconv.ParseInt(string(value), 10, 64)
		}
	}
	return name, rssKiB, hwmKiB
}

// parentOf reads a process's parent from /proc/PID/stat, -1 when it
// cannot.
func (c *childScanner) parentOf(pid int) int {
	b := c.read("/proc/" + strconv.Itoa(pid) + "/stat")
	// The command name may hold spaces: fields count from after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return -1
	}
	return ppid
}

// heapSample is the Go heap during one analysis run with no RSS sampler.
type heapSample struct {
	Call string `json:"call"`
	// InuseDelta is runtime.MemStats.HeapInuse after the analysis minus
	// before it (after a GC).
	InuseDelta int64 `json:"heapInuseDeltaBytes"`
	// PeakDelta is the highest heap (live and not yet swept objects)
	// sampled during the analysis minus what it was at the start.
	PeakDelta int64 `json:"heapPeakDeltaBytes"`
	Allocated int64 `json:"allocatedBytes"` // TotalAlloc after − before
	// DictionaryBytes is what loading the recogniser's dictionary kept
	// on the heap (once per engine, before any analysis).
	DictionaryBytes int64 `json:"dictionaryBytes"`
}

// heapPoller samples the Go heap without allocating.
type heapPoller struct {
	stop chan struct{}
	done chan uint64
}

func startHeapPoller(every time.Duration) (*heapPoller, uint64) {
	read := func(s []metrics.Sample) uint64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[0].Value.Uint64()
	}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	start := read(samples)
	p := &heapPoller{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		peak := start
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				peak = max(peak, read(samples))
			case <-p.stop:
				p.done <- max(peak, read(samples))
				return
			}
		}
	}()
	return p, start
}

func (p *heapPoller) finish() uint64 {
	close(p.stop)
	return <-p.done
}
