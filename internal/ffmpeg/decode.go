package ffmpeg

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"
)

// PCMFormat is the layout of decoded audio: signed 16-bit little-endian
// samples, Channels interleaved, at Rate samples per second.
type PCMFormat struct {
	Channels int
	Rate     int
}

// ErrUndecodable is returned by DecodePCM when ffmpeg finds no audio it
// can decode in the input.
var ErrUndecodable = errors.New("cannot decode the audio")

// DecodePCM decodes the first audio stream of src (MP3 at any sample
// rate, 8 kHz MPEG-2.5 included; WAV; anything ffmpeg reads from a pipe)
// to 16-bit PCM resampled to rate, mono or stereo as the source (more
// channels are mixed down to stereo), and hands it to fn as it comes. The
// audio travels through pipes only. fn's error, a read error of src or
// ffmpeg's failure (its stderr tail in the error) is returned, the first
// one winning; when fn returns early ffmpeg is stopped.
func DecodePCM(ctx context.Context, ffmpegPath string, src io.Reader, rate int, fn func(PCMFormat, io.Reader) error) error {
	if rate < 8000 || rate > 48000 {
		return fmt.Errorf("cannot decode to %d Hz: give 8000 to 48000", rate)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stderr := newTailBuffer(stderrTailSize)
	cmd := exec.CommandContext(ctx, ffmpegPath, "-nostdin", "-nostats", "-hide_banner", "-loglevel", "error",
		"-i", "pipe:0", "-map", "0:a:0", "-vn", "-sn", "-dn",
		"-af", "aformat=channel_layouts=mono|stereo", "-ar", strconv.Itoa(rate),
		"-c:a", "pcm_s16le", "-f", "wav", "pipe:1")
	cmd.Stdin = src
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("cannot decode: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cannot decode: %w", err)
	}
	br := bufio.NewReaderSize(out, 64<<10)
	format, headerErr := ReadWAVHeader(br)
	var fnErr error
	if headerErr == nil {
		fnErr = fn(format, br)
	}
	if headerErr != nil || fnErr != nil {
		cancel()
	} else {
		_, _ = io.Copy(io.Discard, br) // let ffmpeg finish writing
	}
	waitErr := cmd.Wait()
	switch {
	case fnErr != nil:
		return fnErr
	case ctx.Err() != nil && headerErr == nil:
		return ctx.Err()
	case waitErr != nil:
		return withTail(fmt.Errorf("%w (ffmpeg: %v)", ErrUndecodable, waitErr), stderr)
	case headerErr != nil:
		return withTail(fmt.Errorf("%w: %v", ErrUndecodable, headerErr), stderr)
	}
	return nil
}

// ReadWAVHeader reads a WAV header up to the start of its data: 16-bit
// PCM, 1 or 2 channels. The data's size is not used (a stream's header
// cannot know it): the data runs to the end.
func ReadWAVHeader(r io.Reader) (PCMFormat, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return PCMFormat{}, fmt.Errorf("no WAV header: %w", err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return PCMFormat{}, errors.New("not a WAV stream")
	}
	var format PCMFormat
	haveFormat := false
	for chunks := 0; chunks < 32; chunks++ {
		var head [8]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return PCMFormat{}, fmt.Errorf("WAV header cut short: %w", err)
		}
		id, size := string(head[0:4]), binary.LittleEndian.Uint32(head[4:8])
		if id == "data" {
			if !haveFormat {
				return PCMFormat{}, errors.New("WAV data before its format")
			}
			return format, nil
		}
		if size > 1<<20 {
			return PCMFormat{}, fmt.Errorf("WAV chunk %q of %d bytes is too large for a header", printable(id), size)
		}
		body := make([]byte, size+size&1) // chunks are padded to even sizes
		if _, err := io.ReadFull(r, body); err != nil {
			return PCMFormat{}, fmt.Errorf("WAV header cut short: %w", err)
		}
		if id != "fmt " {
			continue
		}
		if size < 16 {
			return PCMFormat{}, errors.New("WAV format chunk too short")
		}
		tag := binary.LittleEndian.Uint16(body[0:2])
		channels := int(binary.LittleEndian.Uint16(body[2:4]))
		rate := int(binary.LittleEndian.Uint32(body[4:8]))
		bits := binary.LittleEndian.Uint16(body[14:16])
		if tag == 0xFFFE && size >= 40 { // WAVE_FORMAT_EXTENSIBLE: the sub-format's tag
			tag = binary.LittleEndian.Uint16(body[24:26])
		}
		if tag != 1 || bits != 16 {
			return PCMFormat{}, fmt.Errorf("WAV is not 16-bit PCM (format %d, %d bits)", tag, bits)
		}
		if channels < 1 || channels > 2 || rate < 1000 || rate > 192000 {
			return PCMFormat{}, fmt.Errorf("WAV of %d channels at %d Hz is not decoded here", channels, rate)
		}
		format, haveFormat = PCMFormat{Channels: channels, Rate: rate}, true
	}
	return PCMFormat{}, errors.New("WAV header has too many chunks")
}

func printable(s string) string {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("%x", s)
		}
	}
	return s
}
