package ffmpeg

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrMuxUnsupported is returned by Mux where ffmpeg cannot be given its inputs as extra pipe
// descriptors (Windows).
var ErrMuxUnsupported = errors.New("cannot mux: muxing needs a Unix server (ffmpeg reads its inputs from extra pipe descriptors)")

// maxAudioOffset bounds the alignment: no call and screen recording lie a day apart, and a
// bound keeps the filter arguments sane.
const maxAudioOffset = 24 * time.Hour

// The audio is encoded at 48 kHz whatever the MP3's rate: AAC's encoder delay, which a
// fragmented MP4 without edit list makes every player play, is 1024 samples (21 ms at 48 kHz,
// 128 ms at 8 kHz), and -shortest stops within an AAC frame of the video's end. It was also
// faster than 8 kHz (57× against 100× real time for 5 min). 64 kbit/s is ample for speech.
const (
	muxSampleRate   = 48000
	muxAudioBitrate = "64k"
	aacPriming      = 1024 // samples the AAC encoder puts before the first input sample
)

// muxArgs are ffmpeg's arguments for Mux: video on descriptor 3, MP3 audio on 4, fragmented MP4
// on standard output.
//
// audioOffset = screen start − audio start. Positive: the audio began earlier, its first
// audioOffset is cut (atrim). Negative: the audio began later, it is delayed (adelay, silence
// first). The AAC encoder delay is taken off the same way, so the audio plays in time. Then the
// audio is padded with silence (apad) and -shortest ends the output with the video: the result
// has the video's length whatever the audio's.
func muxArgs(audioOffset time.Duration) ([]string, error) {
	if audioOffset > maxAudioOffset || audioOffset < -maxAudioOffset {
		return nil, fmt.Errorf("cannot mux: audio offset %s is beyond ±%s", audioOffset, maxAudioOffset)
	}
	// In samples at muxSampleRate, rounded to the nearest: exact for the filters below.
	skip := (int64(audioOffset)*muxSampleRate+int64(time.Second)/2)/int64(time.Second) + aacPriming
	if audioOffset < 0 {
		skip = (int64(audioOffset)*muxSampleRate-int64(time.Second)/2)/int64(time.Second) + aacPriming
	}
	// The MP3 demuxer's first timestamp is not always 0; align from the first sample.
	audioFilter := "asetpts=PTS-STARTPTS,aresample=" + strconv.Itoa(muxSampleRate)
	switch {
	case skip > 0:
		audioFilter += ",atrim=start_sample=" + strconv.FormatInt(skip, 10) + ",asetpts=PTS-STARTPTS"
	case skip < 0:
		audioFilter += ",adelay=delays=" + strconv.FormatInt(-skip, 10) + "S:all=1"
	}
	audioFilter += ",apad"
	args := []string{"-nostdin", "-nostats", "-hide_banner", "-loglevel", "error",
		"-f", "mov", "-i", "pipe:3",
		"-f", "mp3", "-i", "pipe:4",
		"-map", "0:v:0", "-map", "1:a:0",
		"-c:v", "copy",
		"-filter:a", audioFilter, "-c:a", "aac", "-b:a", muxAudioBitrate, "-ar", strconv.Itoa(muxSampleRate),
		"-shortest"}
	args = append(args, fragmentArgs()...)
	return append(args, "pipe:1"), nil
}
