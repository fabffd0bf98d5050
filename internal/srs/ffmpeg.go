package srs

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"callvault/internal/ffmpeg"
)

// ffmpegCapturer is the real Capturer: internal/ffmpeg's monitor list,
// layout and capture, as config.json configures them.
type ffmpegCapturer struct {
	path     string
	device   string
	display  string
	monitors MonitorSelection
	// list finds the monitors; a field so that a test can stand in for
	// a system srs does not run on.
	list func(ctx context.Context) ([]ffmpeg.Monitor, error)
}

// NewFFmpegCapturer captures the screen with ffmpeg as config.json says
// (ffmpegPath, captureDevice, display, monitors).
func NewFFmpegCapturer(cfg *Config) Capturer {
	c := &ffmpegCapturer{path: cfg.FFmpegPath, device: cfg.CaptureDevice, display: cfg.Display, monitors: cfg.Monitors}
	c.list = c.listMonitors
	return c
}

// listMonitors lists the monitors of the desktop the capture device
// grabs: xrandr's on the X display, user32's on Windows, avfoundation's
// screens on macOS (found with the configured ffmpeg).
func (c *ffmpegCapturer) listMonitors(ctx context.Context) ([]ffmpeg.Monitor, error) {
	return ffmpeg.ListDesktopMonitors(ctx, ffmpeg.Desktop{OS: c.goos(), Display: c.display, FFmpegPath: c.path})
}

// goos is the system whose grabber the capture device is, as
// internal/ffmpeg names it.
func (c *ffmpegCapturer) goos() string {
	switch c.device {
	case DeviceX11Grab:
		return "linux"
	case DeviceGDIGrab:
		return "windows"
	case DeviceAVFoundation:
		return "darwin"
	}
	return runtime.GOOS
}

// plannedLayout keeps what ffmpeg needs beside the Layout the metadata
// shows.
type plannedLayout struct {
	layout ffmpeg.Layout
}

// Plan lists the monitors, selects them as config.json's monitors says
// and lays them out side by side within req.MaxWidth.
func (c *ffmpegCapturer) Plan(ctx context.Context, req CaptureRequest) (Layout, error) {
	monitors, err := c.list(ctx)
	if err != nil {
		return Layout{}, err
	}
	primary := -1
	for i, m := range monitors {
		if m.Primary {
			primary = i
			break
		}
	}
	if primary < 0 && len(monitors) > 0 {
		// xrandr marks none primary on a plain X server (Xvfb, a single
		// output): the first monitor is, for "primary" and the metadata.
		// Windows and macOS always name one.
		primary = 0
		monitors[0].Primary = true
	}
	var selected []int
	switch {
	case c.monitors.Primary:
		selected = []int{primary}
	case c.monitors.Indexes != nil:
		for _, i := range c.monitors.Indexes {
			if i >= len(monitors) {
				return Layout{}, fmt.Errorf("monitors: index %d, but the display has %s", i, plural(len(monitors), "monitor", "monitors"))
			}
		}
		selected = c.monitors.Indexes
	}
	planned, err := ffmpeg.PlanLayout(monitors, selected, req.MaxWidth)
	if err != nil {
		return Layout{}, err
	}
	layout := Layout{
		OriginalWidth: planned.OriginalWidth, OriginalHeight: planned.OriginalHeight,
		Width: planned.Width, Height: planned.Height, planned: &plannedLayout{layout: planned},
	}
	for _, m := range planned.Monitors {
		layout.Monitors = append(layout.Monitors, MonitorLayout{Name: m.Name, Primary: m.Primary, Original: m.Original, Actual: m.Actual})
	}
	return layout, nil
}

// Start starts ffmpeg with a layout Plan made.
func (c *ffmpegCapturer) Start(ctx context.Context, req CaptureRequest, layout Layout) (CaptureProcess, error) {
	spec, err := c.captureSpec(req, layout)
	if err != nil {
		return nil, err
	}
	capture, err := ffmpeg.StartCapture(ctx, c.path, spec)
	if err != nil {
		return nil, err
	}
	return ffmpegProcess{capture}, nil
}

// captureSpec is what ffmpeg captures for a layout Plan made: on macOS
// the avfoundation device of each selected screen, which the monitor
// list gave it.
func (c *ffmpegCapturer) captureSpec(req CaptureRequest, layout Layout) (ffmpeg.CaptureSpec, error) {
	if layout.planned == nil {
		return ffmpeg.CaptureSpec{}, fmt.Errorf("cannot start the capture: the layout was not planned by ffmpeg")
	}
	spec := ffmpeg.CaptureSpec{OS: c.goos(), Display: c.display, Layout: layout.planned.layout, FrameRate: req.FrameRate}
	if spec.OS == "darwin" {
		for _, m := range spec.Layout.Monitors {
			spec.Devices = append(spec.Devices, m.Desktop.Device)
		}
	}
	return spec, nil
}

type ffmpegProcess struct{ c *ffmpeg.Capture }

func (p ffmpegProcess) Output() io.Reader  { return p.c.Output() }
func (p ffmpegProcess) Mask(on bool) error { return p.c.Mask(on) }
func (p ffmpegProcess) Stop() error        { return p.c.Stop() }
func (p ffmpegProcess) Wait() error        { return p.c.Wait() }
