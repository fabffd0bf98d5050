package cli

import (
	"context"
	"fmt"
)

// estimateMain is "rcbs estimate": the guide's "Disk usage estimation".
// Per day, in MB: calls × (metadata + recording), where a recording takes
// duration × bitrate / 8 / 1024 MB (seconds × kbps) and a metadata file at
// most 1 MB for a voice recording and 8 KB for a screen recording.
type estimateMain struct {
	app                      *App
	calls, screenCalls       int
	duration, screenDuration float64
	bitrate, screenBitrate   float64
	days                     int
}

// The guide's defaults and upper bounds.
const (
	voiceBitrateKbps  = 32
	screenBitrateKbps = 256 // screen plus voice: rcbs downloads muxed files
	voiceMetadataMB   = 1.0
	screenMetadataMB  = 8.0 / 1024
)

func (m *estimateMain) ParseFlags(args []string) error {
	fs := newFlagSet("estimate")
	fs.IntVar(&m.calls, "calls", 0, "recorded calls per day (required)")
	fs.Float64Var(&m.duration, "duration", 0, "average call duration, seconds (required)")
	fs.Float64Var(&m.bitrate, "bitrate", voiceBitrateKbps, "voice recording bitrate, kbps")
	fs.IntVar(&m.screenCalls, "screen-calls", 0, "screen recordings per day")
	fs.Float64Var(&m.screenDuration, "screen-duration", 0, "average screen recording duration, seconds (default: -duration)")
	fs.Float64Var(&m.screenBitrate, "screen-bitrate", screenBitrateKbps, "screen recording bitrate (screen + voice), kbps")
	fs.IntVar(&m.days, "days", 1, "number of days to keep on disk")
	positional, err := m.app.parseFlags(fs, "-calls N -duration SECONDS [-bitrate 32] [-screen-calls N] [-screen-bitrate 256] [-days D]", args)
	if err != nil {
		return err
	}
	if m.screenDuration == 0 {
		m.screenDuration = m.duration
	}
	switch {
	case m.calls <= 0:
		return usagef("-calls must be a positive number of calls per day")
	case m.duration <= 0:
		return usagef("-duration must be a positive number of seconds")
	case m.bitrate <= 0 || m.screenBitrate <= 0:
		return usagef("bitrates must be positive")
	case m.screenCalls < 0 || m.days < 1:
		return usagef("-screen-calls must be 0 or more and -days 1 or more")
	}
	return noPositional(positional)
}

// recordingMB is one recording's size in MB.
func recordingMB(seconds, kbps float64) float64 { return seconds * kbps / 8 / 1024 }

func (m *estimateMain) Run(context.Context) error {
	voice := float64(m.calls) * (voiceMetadataMB + recordingMB(m.duration, m.bitrate))
	screen := float64(m.screenCalls) * (screenMetadataMB + recordingMB(m.screenDuration, m.screenBitrate))
	w := m.app.Stdout
	fmt.Fprintf(w, "voice:  %d calls/day × (%.3f MB metadata + %.3f MB recording) = %.1f MB/day\n",
		m.calls, voiceMetadataMB, recordingMB(m.duration, m.bitrate), voice)
	if m.screenCalls > 0 {
		fmt.Fprintf(w, "screen: %d recordings/day × (%.3f MB metadata + %.3f MB recording) = %.1f MB/day\n",
			m.screenCalls, screenMetadataMB, recordingMB(m.screenDuration, m.screenBitrate), screen)
	}
	total := voice + screen
	fmt.Fprintf(w, "total:  %.1f MB/day (%.2f GB); %d day(s): %.1f MB (%.2f GB)\n",
		total, total/1024, m.days, total*float64(m.days), total*float64(m.days)/1024)
	return nil
}
