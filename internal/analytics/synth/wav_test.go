package synth

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"slices"
	"testing"
)

func TestWAVRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wav")
	samples := []int16{0, 1, -1, 32767, -32768, 1234, -4321, 7}
	if err := writeWAV(path, wavFormat{rate: 8000, channels: 2}, samples[:8]); err != nil {
		t.Fatal(err)
	}
	format, got, err := readWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if format != (wavFormat{rate: 8000, channels: 2}) || !slices.Equal(got, samples) {
		t.Errorf("read %+v %v, want stereo 8 kHz %v", format, got, samples)
	}
}

// TestWAVExtensible reads the WAVE_FORMAT_EXTENSIBLE header sox writes
// for some outputs, with a chunk to skip before the data.
func TestWAVExtensible(t *testing.T) {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(0))
	b.WriteString("WAVEfmt ")
	le(uint32(40))
	le([]uint16{wavTagExtensible, 1})
	le([]uint32{16000, 32000})
	le([]uint16{2, 16, 22, 16})
	le(uint32(4))                                     // channel mask
	le([]uint16{wavTagPCM, 0, 0, 0x10})               // sub-format GUID 00000001-0000-0010-…
	le([]byte{0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71}) // …8000-00aa00389b71
	b.WriteString("LIST")
	le(uint32(3))
	b.WriteString("abc\x00") // odd size, padded
	b.WriteString("data")
	le(uint32(4))
	le([]int16{-2, 300})
	format, samples, err := decodeWAV(&b, true)
	if err != nil {
		t.Fatal(err)
	}
	if format != (wavFormat{rate: 16000, channels: 1}) || !slices.Equal(samples, []int16{-2, 300}) {
		t.Errorf("read %+v %v", format, samples)
	}
}

func FuzzDecodeWAV(f *testing.F) {
	var b bytes.Buffer
	encodeWAV(&b, wavFormat{rate: 16000, channels: 1}, []int16{1, -2, 3})
	f.Add(b.Bytes())
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		format, samples, err := decodeWAV(bytes.NewReader(data), true)
		if err != nil {
			return
		}
		if format.channels < 1 || format.rate < 1 || len(samples)%format.channels != 0 {
			t.Fatalf("decoded %+v with %d samples", format, len(samples))
		}
		// What decodes encodes to the same audio.
		var again bytes.Buffer
		if err := encodeWAV(&again, format, samples); err != nil {
			t.Fatal(err)
		}
		format2, samples2, err := decodeWAV(&again, true)
		if err != nil || format2 != format || !slices.Equal(samples, samples2) {
			t.Fatalf("round trip: %+v %v, %v", format2, err, len(samples2))
		}
	})
}
