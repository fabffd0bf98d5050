package synth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// MP3 encodes a WAV with lame at the given constant bitrate (kbit/s),
// keeping its sample rate and channels: 8 kHz gives an MPEG-2.5 file,
// 16 kHz an MPEG-2 one. It returns the mp3's path, the wav's with .mp3 for
// its extension. A bitrate the MPEG version does not have is an error
// rather than the nearest one lame would pick.
func MP3(ctx context.Context, wavPath string, kbps int) (string, error) {
	format, err := readWAVFormat(wavPath)
	if err != nil {
		return "", fmt.Errorf("cannot encode MP3: %w", err)
	}
	bitrates, ok := mp3Bitrates(format.rate)
	if !ok {
		return "", fmt.Errorf("cannot encode %s as MP3: MP3 has no %d Hz", wavPath, format.rate)
	}
	if !slices.Contains(bitrates, kbps) {
		return "", fmt.Errorf("cannot encode %s as MP3 at %d kbit/s: at %d Hz want one of %v", wavPath, kbps, format.rate, bitrates)
	}
	if format.channels > 2 {
		return "", fmt.Errorf("cannot encode %s as MP3: %d channels", wavPath, format.channels)
	}
	mp3Path := strings.TrimSuffix(wavPath, filepath.Ext(wavPath)) + ".mp3"
	partial := mp3Path + ".partial"
	mode := "m"
	if format.channels == 2 {
		mode = "j"
	}
	// lame chooses its own output rate unless told; --resample to the
	// input's rate keeps it.
	args := []string{"--quiet", "-b", strconv.Itoa(kbps), "-m", mode,
		"--resample", strconv.FormatFloat(float64(format.rate)/1000, 'f', -1, 64),
		wavPath, partial}
	if err := run(ctx, "lame", args...); err != nil {
		os.Remove(partial)
		return "", fmt.Errorf("cannot encode %s as MP3: %w", wavPath, err)
	}
	if err := os.Rename(partial, mp3Path); err != nil {
		os.Remove(partial)
		return "", fmt.Errorf("cannot encode MP3: %w", err)
	}
	return mp3Path, nil
}

// mp3Bitrates returns the layer III bitrates lame encodes at a sample rate.
func mp3Bitrates(rate int) ([]int, bool) {
	switch rate {
	case 32000, 44100, 48000: // MPEG-1
		return []int{32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}, true
	case 16000, 22050, 24000: // MPEG-2
		return []int{8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}, true
	case 8000, 11025, 12000: // MPEG-2.5; lame stops at 64 kbit/s
		return []int{8, 16, 24, 32, 40, 48, 56, 64}, true
	}
	return nil, false
}
