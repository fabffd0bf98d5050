//go:build windows

package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
)

// serviceName is the name `sc.exe create` gives srs (docs/srs.md).
const serviceName = "srs"

// runAsService runs srs as a Windows service when the service control
// manager started it; ok is false otherwise.
func runAsService(args []string) (code int, ok bool) {
	isService, err := svc.IsWindowsService()
	if err != nil || !isService {
		return 0, false
	}
	h := &handler{args: args}
	if err := svc.Run(serviceName, h); err != nil {
		reportEvent(fmt.Sprintf("srs: cannot run as a service: %v", err))
		return exitFailed, true
	}
	return h.code, true
}

type handler struct {
	args []string
	code int
}

// Execute runs srs until the service control manager asks it to stop or
// the system shuts down.
func (h *handler) Execute(_ []string, requests <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	errs := &eventWriter{}
	go func() { done <- run(ctx, h.args, io.Discard, errs) }()
	const accepted = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepted}
	for {
		select {
		case h.code = <-done:
			// srs ended on its own (a bad config.json, a busy port).
			status <- svc.Status{State: svc.StopPending}
			return false, uint32(h.code)
		case r := <-requests:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending}
				cancel()
				h.code = <-done
				return false, uint32(h.code)
			}
		}
	}
}

// eventWriter sends what srs would print on stderr (a bad config.json) to
// the Windows event log, where an administrator looks for it.
type eventWriter struct{}

func (*eventWriter) Write(p []byte) (int, error) {
	reportEvent(string(p))
	return len(p), nil
}

func reportEvent(msg string) {
	l, err := eventlog.Open(serviceName)
	if err != nil {
		fmt.Fprint(os.Stderr, msg)
		return
	}
	defer l.Close()
	_ = l.Error(1, msg)
}
