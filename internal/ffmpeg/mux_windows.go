//go:build windows

package ffmpeg

import (
	"context"
	"io"
	"time"
)

// Mux is not available on Windows: it returns ErrMuxUnsupported. See the Unix build for what it
// does.
func Mux(ctx context.Context, ffmpegPath string, video, audio io.Reader, audioOffset time.Duration, out io.Writer) error {
	return ErrMuxUnsupported
}
