package synth

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// wavFormat is the shape of 16-bit PCM audio.
type wavFormat struct {
	rate     int
	channels int
}

const (
	wavTagPCM        = 1
	wavTagExtensible = 0xFFFE
	maxWAVChannels   = 8
	maxWAVRate       = 384000
)

var errNotWAV = errors.New("not a 16-bit PCM WAV")

// readWAV reads a 16-bit PCM WAV file whole: its samples, interleaved.
func readWAV(path string) (wavFormat, []int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return wavFormat{}, nil, fmt.Errorf("cannot read WAV: %w", err)
	}
	defer f.Close()
	format, samples, err := decodeWAV(bufio.NewReader(f), true)
	if err != nil {
		return wavFormat{}, nil, fmt.Errorf("cannot read WAV %s: %w", path, err)
	}
	return format, samples, nil
}

// readWAVFormat reads only the header of a 16-bit PCM WAV file.
func readWAVFormat(path string) (wavFormat, error) {
	f, err := os.Open(path)
	if err != nil {
		return wavFormat{}, fmt.Errorf("cannot read WAV: %w", err)
	}
	defer f.Close()
	format, _, err := decodeWAV(bufio.NewReader(f), false)
	if err != nil {
		return wavFormat{}, fmt.Errorf("cannot read WAV %s: %w", path, err)
	}
	return format, nil
}

// decodeWAV parses a RIFF WAVE stream of 16-bit PCM (plain or
// WAVE_FORMAT_EXTENSIBLE, as flite and sox write them) up to its data
// chunk, and reads the samples of that chunk when withSamples is set.
// Chunks other than "fmt " and "data" are skipped.
func decodeWAV(r io.Reader, withSamples bool) (wavFormat, []int16, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return wavFormat{}, nil, fmt.Errorf("%w: cannot read the RIFF header: %w", errNotWAV, err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return wavFormat{}, nil, fmt.Errorf("%w: no RIFF WAVE header", errNotWAV)
	}
	var format wavFormat
	for {
		var header [8]byte
		if _, err := io.ReadFull(r, header[:]); err != nil {
			return wavFormat{}, nil, fmt.Errorf("%w: no data chunk: %w", errNotWAV, err)
		}
		id, size := string(header[0:4]), int64(binary.LittleEndian.Uint32(header[4:8]))
		switch id {
		case "fmt ":
			f, err := decodeWAVFmt(r, size)
			if err != nil {
				return wavFormat{}, nil, err
			}
			format = f
		case "data":
			if format.rate == 0 {
				return wavFormat{}, nil, fmt.Errorf("%w: data chunk before fmt chunk", errNotWAV)
			}
			if !withSamples {
				return format, nil, nil
			}
			blockAlign := int64(2 * format.channels)
			if size%blockAlign != 0 {
				return wavFormat{}, nil, fmt.Errorf("%w: data chunk of %d bytes is not whole frames", errNotWAV, size)
			}
			// ReadAll grows with what is there, so a lying size cannot
			// make us allocate gigabytes up front.
			data, err := io.ReadAll(io.LimitReader(r, size))
			if err != nil {
				return wavFormat{}, nil, fmt.Errorf("cannot read the data chunk: %w", err)
			}
			if int64(len(data)) != size {
				return wavFormat{}, nil, fmt.Errorf("%w: data chunk truncated at %d of %d bytes", errNotWAV, len(data), size)
			}
			samples := make([]int16, len(data)/2)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
			}
			return format, samples, nil
		default:
			if _, err := io.CopyN(io.Discard, r, size+size%2); err != nil {
				return wavFormat{}, nil, fmt.Errorf("%w: chunk %q truncated: %w", errNotWAV, id, err)
			}
		}
	}
}

// decodeWAVFmt parses the body of a fmt chunk of size bytes.
func decodeWAVFmt(r io.Reader, size int64) (wavFormat, error) {
	if size < 16 || size > 1024 {
		return wavFormat{}, fmt.Errorf("%w: fmt chunk of %d bytes", errNotWAV, size)
	}
	body := make([]byte, size+size%2)
	if _, err := io.ReadFull(r, body); err != nil {
		return wavFormat{}, fmt.Errorf("%w: fmt chunk truncated: %w", errNotWAV, err)
	}
	tag := binary.LittleEndian.Uint16(body[0:])
	channels := int(binary.LittleEndian.Uint16(body[2:]))
	rate := int(binary.LittleEndian.Uint32(body[4:]))
	blockAlign := int(binary.LittleEndian.Uint16(body[12:]))
	bits := int(binary.LittleEndian.Uint16(body[14:]))
	if tag == wavTagExtensible {
		// The sub-format GUID starts with the plain format tag.
		if size < 40 {
			return wavFormat{}, fmt.Errorf("%w: extensible fmt chunk of %d bytes", errNotWAV, size)
		}
		tag = binary.LittleEndian.Uint16(body[24:])
	}
	switch {
	case tag != wavTagPCM:
		return wavFormat{}, fmt.Errorf("%w: format tag %#x", errNotWAV, tag)
	case bits != 16:
		return wavFormat{}, fmt.Errorf("%w: %d bits per sample", errNotWAV, bits)
	case channels < 1 || channels > maxWAVChannels:
		return wavFormat{}, fmt.Errorf("%w: %d channels", errNotWAV, channels)
	case rate < 1 || rate > maxWAVRate:
		return wavFormat{}, fmt.Errorf("%w: sample rate %d", errNotWAV, rate)
	case blockAlign != 2*channels:
		return wavFormat{}, fmt.Errorf("%w: block align %d for %d channels", errNotWAV, blockAlign, channels)
	}
	return wavFormat{rate: rate, channels: channels}, nil
}

// writeWAV writes interleaved 16-bit samples as a PCM WAV file. It writes
// to a partial file of its own and renames it, so a reader (or another
// Render sharing the piece cache) never sees half a file.
func writeWAV(path string, format wavFormat, samples []int16) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".partial-*")
	if err != nil {
		return fmt.Errorf("cannot write WAV: %w", err)
	}
	partial := f.Name()
	if err := encodeWAV(f, format, samples); err != nil {
		f.Close()
		os.Remove(partial)
		return fmt.Errorf("cannot write WAV %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(partial)
		return fmt.Errorf("cannot write WAV %s: %w", path, err)
	}
	if err := os.Rename(partial, path); err != nil {
		os.Remove(partial)
		return fmt.Errorf("cannot write WAV: %w", err)
	}
	return nil
}

// encodeWAV writes a canonical 44-byte-header PCM WAV stream.
func encodeWAV(w io.Writer, format wavFormat, samples []int16) error {
	dataSize := 2 * len(samples)
	if int64(dataSize) > 0xFFFFFFFF-36 {
		return fmt.Errorf("cannot encode WAV: %d samples do not fit a RIFF file", len(samples))
	}
	bw := bufio.NewWriter(w)
	header := make([]byte, 0, 44)
	header = append(header, "RIFF"...)
	header = binary.LittleEndian.AppendUint32(header, uint32(36+dataSize))
	header = append(header, "WAVEfmt "...)
	header = binary.LittleEndian.AppendUint32(header, 16)
	header = binary.LittleEndian.AppendUint16(header, wavTagPCM)
	header = binary.LittleEndian.AppendUint16(header, uint16(format.channels))
	header = binary.LittleEndian.AppendUint32(header, uint32(format.rate))
	header = binary.LittleEndian.AppendUint32(header, uint32(format.rate*format.channels*2))
	header = binary.LittleEndian.AppendUint16(header, uint16(format.channels*2))
	header = binary.LittleEndian.AppendUint16(header, 16)
	header = append(header, "data"...)
	header = binary.LittleEndian.AppendUint32(header, uint32(dataSize))
	if _, err := bw.Write(header); err != nil {
		return err
	}
	var buf [2]byte
	for _, s := range samples {
		binary.LittleEndian.PutUint16(buf[:], uint16(s))
		if _, err := bw.Write(buf[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
