package srs

import "syscall"

// prSetTHPDisable is prctl's PR_SET_THP_DISABLE (Linux 3.15 and later).
const prSetTHPDisable = 41

// DisableHugePages turns transparent huge pages off for srs and, across
// fork and exec, the ffmpeg it starts. libx264 asks for huge pages for its
// frame buffers (madvise), which costs about 8 MB of resident memory at
// 1920×1080 and no measurable CPU (bench/srsbench, docs/PERFORMANCE.md):
// on an agent's desktop memory is what is short. An error (an old kernel)
// changes nothing else.
func DisableHugePages() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTHPDisable, 1, 0); errno != 0 {
		return errno
	}
	return nil
}
