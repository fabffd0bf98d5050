package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// prSetTHPDisable is prctl's PR_SET_THP_DISABLE (Linux ≥ 3.15): no
// transparent huge pages for the process and, across fork and exec, its
// children. libx264 asks for them (madvise MADV_HUGEPAGE on its large
// buffers), which the kernel's "madvise" mode grants.
const prSetTHPDisable = 41

// execWithoutTHP is the hidden mode `srsbench -exec-nothp PROGRAM ARGS…`:
// it turns transparent huge pages off and becomes PROGRAM.
func execWithoutTHP(args []string) {
	if len(args) == 0 {
		fatalf("-exec-nothp: no program")
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTHPDisable, 1, 0); errno != 0 {
		fatalf("prctl(PR_SET_THP_DISABLE): %v", errno)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fatalf("-exec-nothp: %v", err)
	}
	err = syscall.Exec(path, args, os.Environ())
	fmt.Fprintln(os.Stderr, "srsbench: exec:", err)
	os.Exit(1)
}
