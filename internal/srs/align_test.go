package srs

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"callvault/internal/ffmpeg"
)

// box makes a top-level box of the type with n body bytes (a 64-bit size
// when large is set).
func box(typ string, n int, large bool) []byte {
	if large {
		b := make([]byte, 16+n)
		binary.BigEndian.PutUint32(b, 1)
		copy(b[4:], typ)
		binary.BigEndian.PutUint64(b[8:], uint64(16+n))
		return b
	}
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint32(b, uint32(8+n))
	copy(b[4:], typ)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

// TestBoxAligner: written in pieces of any size, the stream comes out
// whole with a free box after each mdat that ends it on a 16-byte
// boundary, and nothing else added.
func TestBoxAligner(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var in bytes.Buffer
		in.Write(box("ftyp", 20, false))
		in.Write(box("moov", 700, false))
		for range 1 + rng.IntN(6) {
			in.Write(box("moof", rng.IntN(300), false))
			in.Write(box("mdat", rng.IntN(5000), round%7 == 0))
		}
		var out bytes.Buffer
		a := newBoxAligner(&out)
		src := in.Bytes()
		for len(src) > 0 {
			k := min(len(src), 1+rng.IntN(900))
			if n, err := a.Write(src[:k]); err != nil || n != k {
				t.Fatalf("Write = %d, %v", n, err)
			}
			src = src[k:]
		}
		// Walk the output: every mdat is followed by alignment (a free
		// box when needed); removing the free boxes gives the input.
		var stripped bytes.Buffer
		b := out.Bytes()
		pos := 0
		for pos < len(b) {
			size := int(binary.BigEndian.Uint32(b[pos:]))
			if size == 1 {
				size = int(binary.BigEndian.Uint64(b[pos+8:]))
			}
			typ := string(b[pos+4 : pos+8])
			if typ != "free" {
				stripped.Write(b[pos : pos+size])
			}
			pos += size
			if typ == "mdat" {
				if pos%16 != 0 {
					next := string(b[pos+4 : pos+8])
					if next != "free" {
						t.Fatalf("round %d: mdat ends at %d, unaligned, followed by %q", round, pos, next)
					}
				}
			}
			if typ == "free" && pos%16 != 0 {
				t.Fatalf("round %d: the free box ends at %d, unaligned", round, pos)
			}
		}
		if !bytes.Equal(stripped.Bytes(), in.Bytes()) {
			t.Fatalf("round %d: the stream changed beyond free boxes", round)
		}
		var kept bytes.Buffer
		if _, err := ffmpeg.CompleteBoxes(&kept, bytes.NewReader(out.Bytes())); err != nil || kept.Len() != out.Len() {
			t.Fatalf("round %d: CompleteBoxes keeps %d of %d: %v", round, kept.Len(), out.Len(), err)
		}
	}
}

// FuzzBoxAligner: any input passes through whole (free boxes aside), and
// the aligner never panics on what ffmpeg should not write.
func FuzzBoxAligner(f *testing.F) {
	f.Add(append(box("ftyp", 4, false), box("mdat", 33, false)...), uint8(7))
	f.Add([]byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 20, 1, 2, 3, 4}, uint8(3))
	f.Add([]byte{0, 0, 0, 3, 'x', 'x', 'x', 'x', 9, 9}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		var out bytes.Buffer
		a := newBoxAligner(&out)
		step := int(chunk%64) + 1
		for src := data; len(src) > 0; {
			k := min(len(src), step)
			if n, err := a.Write(src[:k]); err != nil || n != k {
				t.Fatalf("Write = %d, %v", n, err)
			}
			src = src[k:]
		}
		if out.Len() < len(data)-16 {
			t.Fatalf("wrote %d of %d bytes", out.Len(), len(data))
		}
	})
}
