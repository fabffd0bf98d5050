package srs

import (
	"context"
	"io"
)

// CaptureRequest is what a capture is asked for: the limits of config.json
// and of the tenant's settings, whichever is lower.
type CaptureRequest struct {
	FrameRate int
	MaxWidth  int
}

// Capturer starts screen captures. The real one is ffmpeg's (see
// NewFFmpegCapturer); tests may use any source of fragmented MP4.
type Capturer interface {
	// Plan finds the monitors the configuration selects and lays them out
	// side by side within the request's width.
	Plan(ctx context.Context, req CaptureRequest) (Layout, error)
	// Start captures the screen with the layout Plan gave. The process
	// ends when ctx ends, after Stop, or on its own (an error).
	Start(ctx context.Context, req CaptureRequest, layout Layout) (CaptureProcess, error)
}

// CaptureProcess is one running capture.
type CaptureProcess interface {
	// Output is the fragmented MP4 as it is made; it ends (io.EOF) after
	// Stop, once the last fragment is out.
	Output() io.Reader
	// Mask blacks the picture out (true) or shows it again (false)
	// without breaking the timeline.
	Mask(on bool) error
	// Stop asks the capture to finish its file; Wait waits for the end
	// and says why it ended.
	Stop() error
	Wait() error
}
