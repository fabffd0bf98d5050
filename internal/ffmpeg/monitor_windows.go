//go:build windows

package ffmpeg

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The user32 glue is kept to the calls themselves; what they find becomes Monitors in
// gdiMonitors, which is tested on every OS.
var (
	user32                            = windows.NewLazySystemDLL("user32.dll")
	procEnumDisplayMonitors           = user32.NewProc("EnumDisplayMonitors")
	procGetMonitorInfoW               = user32.NewProc("GetMonitorInfoW")
	procSetProcessDpiAwarenessContext = user32.NewProc("SetProcessDpiAwarenessContext") // Windows 10 1703 and later
	procSetProcessDPIAware            = user32.NewProc("SetProcessDPIAware")
)

// dpiAwarenessContextPerMonitorAwareV2 is DPI_AWARENESS_CONTEXT_PER_MONITOR_AWARE_V2, the
// handle value -4.
const dpiAwarenessContextPerMonitorAwareV2 = ^uintptr(3)

// monitorInfo is user32's MONITORINFO.
type monitorInfo struct {
	Size    uint32
	Monitor windows.Rect
	Work    windows.Rect
	Flags   uint32
}

var (
	// A process that is not DPI aware gets its monitors scaled to 96 DPI, while gdigrab grabs
	// physical pixels: the process becomes per-monitor aware once, before the first listing.
	// srs shows no window, so nothing else of it changes.
	beDPIAware = sync.OnceFunc(func() {
		if procSetProcessDpiAwarenessContext.Find() == nil {
			if ok, _, _ := procSetProcessDpiAwarenessContext.Call(dpiAwarenessContextPerMonitorAwareV2); ok != 0 {
				return
			}
		}
		if procSetProcessDPIAware.Find() == nil {
			_, _, _ = procSetProcessDPIAware.Call()
		}
	})

	// Windows never frees a callback (and allows only so many), so there is one, made once;
	// it appends to enumFound, which enumMu keeps to one listing at a time.
	enumCallback = sync.OnceValue(func() uintptr { return windows.NewCallback(enumMonitor) })
	enumMu       sync.Mutex
	enumFound    []gdiMonitor
	enumErr      error
)

// enumMonitor is EnumDisplayMonitors' MONITORENUMPROC: it returns 1 to go on, 0 to stop.
func enumMonitor(monitor, _, _, _ uintptr) uintptr {
	info := monitorInfo{Size: uint32(unsafe.Sizeof(monitorInfo{}))}
	if ok, _, err := procGetMonitorInfoW.Call(monitor, uintptr(unsafe.Pointer(&info))); ok == 0 {
		enumErr = fmt.Errorf("GetMonitorInfoW: %w", err)
		return 0
	}
	enumFound = append(enumFound, gdiMonitor{
		Left: info.Monitor.Left, Top: info.Monitor.Top, Right: info.Monitor.Right, Bottom: info.Monitor.Bottom, Flags: info.Flags,
	})
	if len(enumFound) > maxMonitors {
		return 0 // gdiMonitors refuses so many
	}
	return 1
}

// listWindowsMonitors lists the monitors of the desktop srs runs on with EnumDisplayMonitors.
func listWindowsMonitors() ([]Monitor, error) {
	for _, proc := range []*windows.LazyProc{procEnumDisplayMonitors, procGetMonitorInfoW} {
		if err := proc.Find(); err != nil {
			return nil, fmt.Errorf("cannot list the monitors: %w", err)
		}
	}
	beDPIAware()
	enumMu.Lock()
	defer enumMu.Unlock()
	enumFound, enumErr = nil, nil
	ok, _, callErr := procEnumDisplayMonitors.Call(0, 0, enumCallback(), 0)
	found, err := enumFound, enumErr
	enumFound, enumErr = nil, nil
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot list the monitors: %w", err)
	case ok == 0 && len(found) <= maxMonitors:
		return nil, fmt.Errorf("cannot list the monitors: EnumDisplayMonitors: %w", callErr)
	}
	return gdiMonitors(found)
}
