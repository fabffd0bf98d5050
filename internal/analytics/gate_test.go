package analytics

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// pcm makes 16 kHz samples: faint noise, with a loud tone in the given
// seconds.
func pcm(seconds float64, tones [][2]float64) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	n := int(seconds * 16000)
	out := make([]byte, 0, 2*n)
	for i := range n {
		t := float64(i) / 16000
		v := rng.NormFloat64() * 30 // about -60 dBFS
		for _, tone := range tones {
			if t >= tone[0] && t < tone[1] {
				v += 8000 * math.Sin(2*math.Pi*440*t)
			}
		}
		out = binary.LittleEndian.AppendUint16(out, uint16(int16(v)))
	}
	return out
}

func TestGateDropsPausesAndMapsTime(t *testing.T) {
	audio := pcm(12, [][2]float64{{2, 3}, {7, 8}})
	var fed bytes.Buffer
	g := newGate(&fed, 16000, false)
	for len(audio) > 0 { // odd-sized writes, as reads come
		n := min(len(audio), 777)
		if err := g.write(audio[:n]); err != nil {
			t.Fatal(err)
		}
		audio = audio[n:]
	}
	if err := g.close(); err != nil {
		t.Fatal(err)
	}
	// Each tone passes with its pre-roll and hangover: 2 × (0.4 + 1 + 0.6) s
	fedSec := float64(fed.Len()) / 32000
	if fedSec < 3.9 || fedSec > 4.6 {
		t.Errorf("fed %.2f s of 12, want about 4", fedSec)
	}
	// Where the second tone starts in the fed audio maps to 7 s.
	samples := fed.Bytes()
	second := -1
	inTone := false
	tones := 0
	for i := 0; i+640 <= len(samples); i += 640 { // 20 ms frames
		loud := frameLevel(samples[i:i+640]) > -30
		if loud && !inTone {
			tones++
			if tones == 2 {
				second = i / 32 // ms in the fed audio
			}
		}
		inTone = loud
	}
	if second < 0 {
		t.Fatalf("the second tone was not fed (%d tones)", tones)
	}
	if got := g.callMs(int64(second)); got < 6980 || got > 7020 {
		t.Errorf("the second tone at %d ms fed maps to %d ms, want 7000", second, got)
	}
	if got := g.callMs(0); got != 1600 {
		t.Errorf("the fed audio starts at %d ms of the call, want 1600 (the first tone's pre-roll)", got)
	}
	if share := g.passedShare(); share > 0.4 {
		t.Errorf("passed %.2f of the audio", share)
	}
}

func TestGateDisabledPassesAll(t *testing.T) {
	audio := pcm(3, nil)
	var fed bytes.Buffer
	g := newGate(&fed, 16000, true)
	if err := g.write(audio); err != nil || g.close() != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fed.Bytes(), audio) || g.callMs(1234) != 1234 {
		t.Error("a disabled gate changed the audio or the time")
	}
}
