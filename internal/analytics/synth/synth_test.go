package synth

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Levels of 20 ms windows: pure noise (at the default -60 dBFS) stays under
// quietDBFS; most of the windows of speech are over loudDBFS.
const (
	window    = 20 * time.Millisecond
	quietDBFS = -50
	loudDBFS  = -40
	// loudShare is the least share of loud windows in a line: words have
	// gaps and consonants are soft.
	loudShare = 0.6
	tolerance = 50 * time.Millisecond
)

func TestRenderStereo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	agent := Line{Channel: 0, At: 500 * time.Millisecond, Voice: "slt",
		Text: "Good morning, I see you want to {cancel your subscription} today, is that right?"}
	customer := Line{Channel: 1, Voice: "awb", Text: "Yes, that's right, I'm moving abroad next month."}
	after := Line{Channel: 0, Voice: "kal16", Text: "Okay, I can help with that."}

	// A first render tells how long the lines are, to place them by.
	_, probe, err := Render(ctx, dir, "probe", Spec{Lines: []Line{agent, customer}, SampleRate: 16000, Stereo: true})
	if err != nil {
		t.Fatal(err)
	}
	customer.At = probe[0].End - time.Second
	after.At = customer.At + probe[1].End + 4*time.Second
	spec := Spec{Lines: []Line{agent, customer, after}, SampleRate: 16000, Stereo: true}
	start := time.Now()
	wavPath, placed, err := Render(ctx, dir, "call", spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rendered from the cache in %v", time.Since(start))

	if len(placed) != 3 {
		t.Fatalf("%d placements, want 3", len(placed))
	}
	for i, p := range placed {
		if p.Line != spec.Lines[i] {
			t.Errorf("placement %d is of %+v, want %+v", i, p.Line, spec.Lines[i])
		}
		if p.Start != p.At || p.End <= p.Start+500*time.Millisecond {
			t.Errorf("line %d placed at %v–%v, want from %v and longer than 0.5 s", i, p.Start, p.End, p.At)
		}
	}
	if p := placed[0]; p.PhraseStart <= p.Start+500*time.Millisecond || p.PhraseEnd <= p.PhraseStart+500*time.Millisecond || p.PhraseEnd >= p.End-500*time.Millisecond {
		t.Errorf("phrase placed at %v–%v in a line at %v–%v, want well inside", p.PhraseStart, p.PhraseEnd, p.Start, p.End)
	}
	if p := placed[1]; p.PhraseStart != 0 || p.PhraseEnd != 0 {
		t.Errorf("line without a phrase has one at %v–%v", p.PhraseStart, p.PhraseEnd)
	}

	length := placed[2].End + time.Second
	stream := probeStream(t, wavPath)
	if stream["codec_name"] != "pcm_s16le" || stream["sample_rate"] != "16000" || stream["channels"] != "2" {
		t.Errorf("ffprobe: %s %s Hz %s channels, want pcm_s16le 16000 Hz 2 channels", stream["codec_name"], stream["sample_rate"], stream["channels"])
	}
	format, samples, err := readWAV(wavPath)
	if err != nil {
		t.Fatal(err)
	}
	if format != (wavFormat{rate: 16000, channels: 2}) || durationOf(len(samples)/2, 16000) != length {
		t.Errorf("WAV of %+v lasting %v, want stereo 16 kHz lasting %v", format, durationOf(len(samples)/2, 16000), length)
	}

	crosstalk := Crosstalk(placed, 500*time.Millisecond)
	if len(crosstalk) != 1 || !near(crosstalk[0].Start, placed[1].Start) || !near(crosstalk[0].End-crosstalk[0].Start, time.Second) {
		t.Errorf("cross-talk %v, want 1 s from %v", crosstalk, placed[1].Start)
	}
	silences := Silences(placed, length, 2*time.Second)
	if len(silences) != 1 || !near(silences[0].Start, placed[1].End) || !near(silences[0].End-silences[0].Start, 4*time.Second) {
		t.Errorf("silences %v, want 4 s from %v", silences, placed[1].End)
	}

	checkLevels(t, format, samples, placed)
}

// TestRenderBoundsExact renders a line over a noise floor at -90 dBFS
// (about one step of 16 bits) to check that sound starts and stops at the
// sample Render reports, for the line and for its phrase.
func TestRenderBoundsExact(t *testing.T) {
	dir := t.TempDir()
	lines := []Line{
		{At: 250 * time.Millisecond, Voice: "rms", Text: "So that is {twenty two Maple Street}, lovely."},
		{At: 250 * time.Millisecond, Voice: "kal", Text: "{Good morning}, this is Sam."},
		{At: 250 * time.Millisecond, Voice: "kal16", Text: "Yes, I would like a {refund}."},
	}
	for _, rate := range []int{16000, 8000} {
		for i, line := range lines {
			wavPath, placed, err := Render(context.Background(), dir, "exact", Spec{Lines: []Line{line}, SampleRate: rate, NoiseDBFS: -90})
			if err != nil {
				t.Fatal(err)
			}
			format, samples, err := readWAV(wavPath)
			if err != nil {
				t.Fatal(err)
			}
			p := placed[0]
			if i == 1 && p.PhraseStart != p.Start || i == 2 && p.PhraseEnd != p.End {
				t.Errorf("%q: phrase at %v–%v of a line at %v–%v, want it to share the line's bound", p.Text, p.PhraseStart, p.PhraseEnd, p.Start, p.End)
			}
			sample := durationOf(1, rate)
			for _, edge := range []struct {
				name           string
				silence, sound Interval
			}{
				{"start", Interval{p.Start - 20*time.Millisecond, p.Start}, Interval{p.Start, p.Start + sample}},
				{"phrase start", Interval{p.PhraseStart - phraseGap, p.PhraseStart}, Interval{p.PhraseStart, p.PhraseStart + sample}},
				{"phrase end", Interval{p.PhraseEnd, p.PhraseEnd + phraseGap}, Interval{p.PhraseEnd - sample, p.PhraseEnd}},
				{"end", Interval{p.End, p.End + 20*time.Millisecond}, Interval{p.End - sample, p.End}},
			} {
				quiet := peakOf(format, samples, 0, edge.silence.Start, edge.silence.End)
				loud := peakOf(format, samples, 0, edge.sound.Start, edge.sound.End)
				if quiet > 10 || loud < 25 {
					t.Errorf("%d Hz, %q, %s: peak %d on the silent side, %d on the sound's first sample; want under 10 and over 25", rate, p.Text, edge.name, quiet, loud)
				}
			}
		}
	}
}

func TestRenderMono8kAndMP3(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	lines := []Line{
		{At: 300 * time.Millisecond, Voice: "kal", Text: "Hello, you're through to billing, how can I help?"},
		{At: 4500 * time.Millisecond, Voice: "rms", Text: "Hi, I'd like a {refund} for last month, please."},
	}
	for _, stereo := range []bool{false, true} {
		name := "mono"
		if stereo {
			name = "stereo"
			lines[1].Channel = 1
		}
		t.Run(name, func(t *testing.T) {
			channels := 1 + lines[1].Channel
			spec := Spec{Lines: lines, SampleRate: 8000, Stereo: stereo, NoiseDBFS: -60, Length: 9 * time.Second}
			wavPath, placed, err := Render(ctx, dir, name, spec)
			if err != nil {
				t.Fatal(err)
			}
			stream := probeStream(t, wavPath)
			if stream["codec_name"] != "pcm_s16le" || stream["sample_rate"] != "8000" || stream["channels"] != strconv.Itoa(channels) {
				t.Errorf("ffprobe: %s %s Hz %s channels, want pcm_s16le 8000 Hz %d channels", stream["codec_name"], stream["sample_rate"], stream["channels"], channels)
			}
			format, samples, err := readWAV(wavPath)
			if err != nil {
				t.Fatal(err)
			}
			if got := durationOf(len(samples)/channels, 8000); got != spec.Length {
				t.Errorf("WAV lasts %v, want %v", got, spec.Length)
			}
			checkLevels(t, format, samples, placed)

			mp3Path, err := MP3(ctx, wavPath, 32)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(wavPath, ".wav") + ".mp3"; mp3Path != want {
				t.Errorf("MP3 at %s, want %s", mp3Path, want)
			}
			stream = probeStream(t, mp3Path)
			if stream["codec_name"] != "mp3" || stream["sample_rate"] != "8000" || stream["channels"] != strconv.Itoa(channels) {
				t.Errorf("ffprobe: %s %s Hz %s channels, want mp3 8000 Hz (MPEG-2.5) %d channels", stream["codec_name"], stream["sample_rate"], stream["channels"], channels)
			}
			pcm, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", mp3Path, "-f", "s16le", "-").Output()
			if err != nil {
				t.Fatalf("ffmpeg cannot decode %s: %v", mp3Path, err)
			}
			if got := durationOf(len(pcm)/2/channels, 8000); got < spec.Length-200*time.Millisecond || got > spec.Length+200*time.Millisecond {
				t.Errorf("MP3 decodes to %v, want %v ± 0.2 s", got, spec.Length)
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	ctx := context.Background()
	line := Line{Text: "Hello."}
	for _, tc := range []struct {
		name string
		spec Spec
		want string
	}{
		{"rate", Spec{Lines: []Line{line}, SampleRate: 44100}, "sample rate"},
		{"channel", Spec{Lines: []Line{{Channel: 1, Text: "Hello."}}, SampleRate: 8000}, "channel 1"},
		{"voice", Spec{Lines: []Line{{Text: "Hello.", Voice: "kevin"}}, SampleRate: 8000}, "unknown voice"},
		{"two phrases", Spec{Lines: []Line{{Text: "{Hello} {there}"}}, SampleRate: 8000}, "at most one"},
		{"empty phrase", Spec{Lines: []Line{{Text: "Hello {}"}}, SampleRate: 8000}, "empty"},
		{"nothing said", Spec{Lines: []Line{{Text: " ... "}}, SampleRate: 8000}, "says nothing"},
		{"noise", Spec{Lines: []Line{line}, SampleRate: 8000, NoiseDBFS: -120}, "noise level"},
		{"before the call", Spec{Lines: []Line{{At: -time.Second, Text: "Hello."}}, SampleRate: 8000}, "before the call"},
		{"past the end", Spec{Lines: []Line{{At: 2 * time.Second, Text: "Hello."}}, SampleRate: 8000, Length: 2 * time.Second}, "after the call's length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Render(ctx, t.TempDir(), "call", tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "cannot ") {
				t.Errorf("error %v, want one starting with cannot and saying %q", err, tc.want)
			}
		})
	}
}

func TestMissingTools(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A WAV to encode, written before the tools go away.
	wavPath := dir + "/quiet.wav"
	if err := writeWAV(wavPath, wavFormat{rate: 8000, channels: 1}, make([]int16, 8000)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, _, err := Render(ctx, dir, "call", Spec{Lines: []Line{{Text: "Hello."}}, SampleRate: 8000}); err == nil || !strings.Contains(err.Error(), "flite") {
		t.Errorf("Render without flite: error %v, want one naming flite", err)
	}
	if _, err := MP3(ctx, wavPath, 32); err == nil || !strings.Contains(err.Error(), "lame") {
		t.Errorf("MP3 without lame: error %v, want one naming lame", err)
	}
	if _, err := MP3(ctx, wavPath, 128); err == nil || !strings.Contains(err.Error(), "kbit/s") {
		t.Errorf("MP3 at 128 kbit/s of 8 kHz: error %v, want one about the bitrate", err)
	}
}

// checkLevels checks the sound of each channel against the placements:
// loud enough inside the lines of the channel, noise alone outside.
func checkLevels(t *testing.T, format wavFormat, samples []int16, placed []Placed) {
	t.Helper()
	length := durationOf(len(samples)/format.channels, format.rate)
	for ch, talk := range Talk(placed, format.channels) {
		inside := func(from, to time.Duration) bool {
			for _, span := range talk {
				if from >= span.Start && to <= span.End {
					return true
				}
			}
			return false
		}
		outside := func(from, to time.Duration) bool {
			for _, span := range talk {
				if from < span.End && to > span.Start {
					return false
				}
			}
			return true
		}
		var loud, speech, quiet, loudest = 0, 0, 0, -200.0
		for from := time.Duration(0); from+window <= length; from += window {
			level := windowDBFS(format, samples, ch, from, from+window)
			switch {
			case inside(from, from+window):
				speech++
				if level > loudDBFS {
					loud++
				}
			case outside(from, from+window):
				quiet++
				loudest = max(loudest, level)
			}
		}
		if speech == 0 || float64(loud) < loudShare*float64(speech) {
			t.Errorf("channel %d: %d of %d windows of speech over %d dBFS, want at least %.0f %%", ch, loud, speech, loudDBFS, 100*loudShare)
		}
		if quiet == 0 || loudest > quietDBFS {
			t.Errorf("channel %d: the loudest of %d windows outside speech at %.1f dBFS, want under %d", ch, quiet, loudest, quietDBFS)
		}
		t.Logf("channel %d: %d/%d windows of speech loud, outside at most %.1f dBFS", ch, loud, speech, loudest)
	}
}

// windowDBFS returns the RMS level of channel ch from..to, in dBFS.
func windowDBFS(format wavFormat, samples []int16, ch int, from, to time.Duration) float64 {
	first, last := samplesOf(from, format.rate), samplesOf(to, format.rate)
	var sum float64
	for i := first; i < last; i++ {
		v := float64(samples[i*format.channels+ch])
		sum += v * v
	}
	return 20 * math.Log10(math.Sqrt(sum/float64(last-first))/32768)
}

// peakOf returns the largest magnitude of channel ch from..to.
func peakOf(format wavFormat, samples []int16, ch int, from, to time.Duration) int {
	peak := 0
	for i := samplesOf(from, format.rate); i < samplesOf(to, format.rate); i++ {
		peak = max(peak, abs(int(samples[i*format.channels+ch])))
	}
	return peak
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func near(got, want time.Duration) bool {
	return got >= want-tolerance && got <= want+tolerance
}

// probeStream returns the key=value pairs ffprobe -show_streams gives the
// first stream of a file.
func probeStream(t *testing.T, path string) map[string]string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_streams", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	stream := map[string]string{}
	scanner := bufio.NewScanner(bytes.NewReader(out))
	for scanner.Scan() {
		if scanner.Text() == "[/STREAM]" {
			break
		}
		if key, value, ok := strings.Cut(scanner.Text(), "="); ok {
			stream[key] = value
		}
	}
	return stream
}
