package synth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// voiceRates are the flite voices Render accepts and the rate flite
// synthesises each at. flite falls back to its default voice, silently,
// for a name it does not know, so the names are checked here.
var voiceRates = map[string]int{
	"slt":   16000,
	"kal16": 16000,
	"awb":   16000,
	"rms":   16000,
	"kal":   8000,
}

// trimThreshold is the sample magnitude above which audio counts as sound:
// 0.1 % of full scale, the threshold sox's silence effect is usually given.
const trimThreshold = 33

// run runs one of the audio tools. A tool that is not installed is an
// error naming it: the tests must fail, not skip, without it.
func run(ctx context.Context, tool string, args ...string) error {
	path, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("cannot find %s (Debian package %s): %w", tool, tool, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("cannot run %s: %w", tool, ctxErr)
		}
		return fmt.Errorf("cannot run %s: %w: %s", tool, err, lastLine(stderr.String()))
	}
	return nil
}

// lastLine returns the last non-empty line of a tool's stderr, where the
// reason for a failure usually is.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// pieceKey names one synthesised piece of speech.
type pieceKey struct {
	voice, text string
	rate        int
}

// cachePath is where the piece is kept in cacheDir: the hash keeps
// arbitrary text out of file names.
func (k pieceKey) cachePath(cacheDir string) string {
	sum := sha256.Sum256([]byte(k.voice + "\x00" + strconv.Itoa(k.rate) + "\x00" + k.text))
	return filepath.Join(cacheDir, fmt.Sprintf("%s-%d-%s.wav", k.voice, k.rate, hex.EncodeToString(sum[:12])))
}

// piece returns the speech of k, mono at k.rate with its leading and
// trailing silence trimmed away, from cacheDir or else synthesised with
// flite (and resampled with sox) and then kept in cacheDir.
func piece(ctx context.Context, cacheDir string, k pieceKey) ([]int16, error) {
	cached := k.cachePath(cacheDir)
	// Anything unreadable there is made again and replaced.
	if format, samples, err := readWAV(cached); err == nil && format == (wavFormat{rate: k.rate, channels: 1}) && len(samples) > 0 {
		return samples, nil
	}
	work, err := os.MkdirTemp(cacheDir, "piece-")
	if err != nil {
		return nil, fmt.Errorf("cannot synthesise speech: %w", err)
	}
	defer os.RemoveAll(work)
	synthesised := filepath.Join(work, "flite.wav")
	if err := run(ctx, "flite", "-voice", k.voice, "-t", k.text, "-o", synthesised); err != nil {
		return nil, fmt.Errorf("cannot synthesise %q with voice %s: %w", k.text, k.voice, err)
	}
	if voiceRates[k.voice] != k.rate {
		resampled := filepath.Join(work, "resampled.wav")
		if err := run(ctx, "sox", synthesised, "-r", strconv.Itoa(k.rate), "-b", "16", "-c", "1", resampled); err != nil {
			return nil, fmt.Errorf("cannot resample %q to %d Hz: %w", k.text, k.rate, err)
		}
		synthesised = resampled
	}
	format, samples, err := readWAV(synthesised)
	if err != nil {
		return nil, fmt.Errorf("cannot synthesise %q: %w", k.text, err)
	}
	if format != (wavFormat{rate: k.rate, channels: 1}) {
		return nil, fmt.Errorf("cannot synthesise %q: got %d channels at %d Hz, want mono at %d", k.text, format.channels, format.rate, k.rate)
	}
	samples = trimSilence(samples)
	if len(samples) == 0 {
		return nil, fmt.Errorf("cannot synthesise %q with voice %s: the speech is silent", k.text, k.voice)
	}
	if err := writeWAV(cached, format, samples); err != nil {
		return nil, fmt.Errorf("cannot cache speech: %w", err)
	}
	return samples, nil
}

// trimSilence returns samples from the first to the last whose magnitude
// exceeds trimThreshold, so a piece starts and ends with sound.
func trimSilence(samples []int16) []int16 {
	loud := func(s int16) bool { return s > trimThreshold || s < -trimThreshold }
	first := 0
	for first < len(samples) && !loud(samples[first]) {
		first++
	}
	last := len(samples)
	for last > first && !loud(samples[last-1]) {
		last--
	}
	return samples[first:last]
}
