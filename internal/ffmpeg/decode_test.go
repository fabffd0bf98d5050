package ffmpeg

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func wavHeader(channels, rate, bits, tag int, extra []byte) []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(0xFFFFFFFF))
	b.WriteString("WAVE")
	b.WriteString("fmt ")
	binary.Write(&b, binary.LittleEndian, uint32(16))
	binary.Write(&b, binary.LittleEndian, uint16(tag))
	binary.Write(&b, binary.LittleEndian, uint16(channels))
	binary.Write(&b, binary.LittleEndian, uint32(rate))
	binary.Write(&b, binary.LittleEndian, uint32(rate*channels*bits/8))
	binary.Write(&b, binary.LittleEndian, uint16(channels*bits/8))
	binary.Write(&b, binary.LittleEndian, uint16(bits))
	b.Write(extra)
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(0xFFFFFFFF))
	return b.Bytes()
}

func TestReadWAVHeader(t *testing.T) {
	list := append([]byte("LIST"), 5, 0, 0, 0, 'a', 'b', 'c', 'd', 'e', 0)
	for _, tc := range []struct {
		header []byte
		want   PCMFormat
		ok     bool
	}{
		{wavHeader(2, 16000, 16, 1, nil), PCMFormat{2, 16000}, true},
		{wavHeader(1, 8000, 16, 1, list), PCMFormat{1, 8000}, true},
		{wavHeader(3, 16000, 16, 1, nil), PCMFormat{}, false},
		{wavHeader(1, 16000, 8, 1, nil), PCMFormat{}, false},
		{wavHeader(1, 16000, 16, 3, nil), PCMFormat{}, false},
		{[]byte("RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"), PCMFormat{}, false},
		{[]byte("ID3\x03 not a wav at all"), PCMFormat{}, false},
	} {
		got, err := ReadWAVHeader(bytes.NewReader(tc.header))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v ok=%v", tc.header[:min(20, len(tc.header))], got, err, tc.want, tc.ok)
		}
	}
}

func FuzzReadWAVHeader(f *testing.F) {
	f.Add(wavHeader(2, 16000, 16, 1, nil))
	f.Add(wavHeader(1, 8000, 16, 0xFFFE, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		format, err := ReadWAVHeader(bytes.NewReader(data))
		if err == nil && (format.Channels < 1 || format.Channels > 2 || format.Rate < 1000) {
			t.Fatalf("accepted %+v", format)
		}
	})
}
