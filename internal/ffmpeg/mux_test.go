//go:build !windows

package ffmpeg

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// makeMP3 encodes a lavfi audio source to MP3 through a pipe, as a call recording would be.
func makeMP3(t testing.TB, source string, channels int) []byte {
	t.Helper()
	return runFFmpeg(t, nil, "-f", "lavfi", "-i", source, "-ac", strconv.Itoa(channels), "-ar", "8000", "-c:a", "libmp3lame", "-f", "mp3", "pipe:1")
}

// makeVideo encodes a lavfi test picture the way a capture does.
func makeVideo(t testing.TB, size string, seconds int) []byte {
	t.Helper()
	args := []string{"-f", "lavfi", "-i", "testsrc2=size=" + size + ":rate=5", "-t", strconv.Itoa(seconds)}
	args = append(args, encodeArgs(DefaultFrameRate)...)
	args = append(args, fragmentArgs()...)
	return runFFmpeg(t, nil, append(args, "pipe:1")...)
}

func TestMuxCapturedVideo(t *testing.T) {
	video, _ := sampleCapture(t)
	audio := makeMP3(t, "sine=frequency=440:sample_rate=8000:duration=6", 1)
	ctx := context.Background()
	var out bytes.Buffer
	started := time.Now()
	if err := Mux(ctx, "ffmpeg", bytes.NewReader(video), bytes.NewReader(audio), 0, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("muxed %d + %d bytes into %d in %s", len(video), len(audio), out.Len(), time.Since(started))
	decodesCleanly(t, out.Bytes())
	in, err := Probe(ctx, bytes.NewReader(video))
	if err != nil {
		t.Fatal(err)
	}
	muxed, err := Probe(ctx, bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	v, hasVideo := muxed.Stream("video")
	a, hasAudio := muxed.Stream("audio")
	if !hasVideo || !hasAudio || v.CodecName != "h264" || a.CodecName != "aac" || v.Width != 960 || a.SampleRate != 48000 || a.Channels != 1 {
		t.Fatalf("streams %+v, want h264 960 wide and aac 48 kHz mono", muxed.Streams)
	}
	inVideo, _ := in.Stream("video")
	if v.Packets != inVideo.Packets {
		t.Errorf("%d video packets, the input had %d: not a copy", v.Packets, inVideo.Packets)
	}
	// The 6 s of audio is cut to the video's length.
	if diff := (muxed.Duration - in.Duration).Abs(); diff > 100*time.Millisecond {
		t.Errorf("muxed lasts %s, the video %s", muxed.Duration, in.Duration)
	}
}

// TestMuxAligns puts a tone at a known time in the audio and finds it in the muxed output,
// for audio that began before, with and after the screen; and audio shorter than the video.
func TestMuxAligns(t *testing.T) {
	video := makeVideo(t, "320x240", 4)
	// Silence with a 1 kHz tone from 1.0 s; stereo, as a two-channel call is.
	audio := makeMP3(t, `aevalsrc=exprs='if(between(t\,1\,1.5)\,0.5*sin(2*PI*1000*t)\,0)':s=8000:d=2.5`, 2)
	// The MP3's own onset: piped MP3 has no LAME tag, so its encoder delay is in the samples.
	reference := toneOnset(t, runFFmpeg(t, audio, "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "48000", "pipe:1"))
	ctx := context.Background()
	for _, offset := range []time.Duration{0, 500 * time.Millisecond, -700 * time.Millisecond} {
		var out bytes.Buffer
		if err := Mux(ctx, "ffmpeg", bytes.NewReader(video), bytes.NewReader(audio), offset, &out); err != nil {
			t.Fatal(err)
		}
		muxed, err := Probe(ctx, bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := muxed.Stream("video")
		a, _ := muxed.Stream("audio")
		if a.Channels != 2 || muxed.Duration < 4*time.Second || muxed.Duration > 4100*time.Millisecond {
			t.Fatalf("offset %s: %+v, duration %s; want stereo audio and the video's 4 s", offset, muxed.Streams, muxed.Duration)
		}
		samples := runFFmpeg(t, out.Bytes(), "-i", "pipe:0", "-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "48000", "pipe:1")
		got := toneOnset(t, samples) + a.StartTime - v.StartTime
		want := reference - offset
		t.Logf("offset %s: tone at %s, want %s", offset, got, want)
		if (got - want).Abs() > 5*time.Millisecond {
			t.Errorf("offset %s: tone at %s of the video, want %s", offset, got, want)
		}
	}
}

// toneOnset is the time of the first sample louder than a quarter of full scale in s16le mono
// at 48 kHz.
func toneOnset(t testing.TB, samples []byte) time.Duration {
	t.Helper()
	for i := 0; i+1 < len(samples); i += 2 {
		if math.Abs(float64(int16(binary.LittleEndian.Uint16(samples[i:])))) > 8192 {
			return time.Duration(i/2) * time.Second / 48000
		}
	}
	t.Fatal("no tone in the audio")
	return 0
}

func TestMuxFailures(t *testing.T) {
	video := makeVideo(t, "160x120", 2)
	audio := makeMP3(t, "sine=frequency=440:sample_rate=8000:duration=2", 1)
	boom := errors.New("boom")
	ctx := context.Background()
	goroutines := runtime.NumGoroutine()
	tests := []struct {
		name    string
		video   io.Reader
		audio   io.Reader
		out     io.Writer
		wantErr string
		wantIs  error
	}{
		{"video reader fails", io.MultiReader(bytes.NewReader(video[:len(video)/2]), iotest.ErrReader(boom)), bytes.NewReader(audio), io.Discard, "cannot read video", boom},
		{"audio reader fails", bytes.NewReader(video), iotest.ErrReader(boom), io.Discard, "cannot read audio", boom},
		{"output fails", bytes.NewReader(video), bytes.NewReader(audio), failingWriter{boom}, "cannot write output", boom},
		{"video is not a video", strings.NewReader(strings.Repeat("not an mp4 ", 1000)), bytes.NewReader(audio), io.Discard, "ffmpeg", nil},
		{"audio is empty", bytes.NewReader(video), strings.NewReader(""), io.Discard, "ffmpeg", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Mux(ctx, "ffmpeg", tt.video, tt.audio, 0, tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
			t.Log(err)
		})
	}
	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		// A video that never ends: ffmpeg waits for it until the context ends.
		pipeReader, pipeWriter := io.Pipe()
		go func() {
			_, _ = pipeWriter.Write(video[:len(video)/2])
			<-ctx.Done()
			pipeWriter.CloseWithError(ctx.Err())
		}()
		time.AfterFunc(300*time.Millisecond, cancel)
		err := Mux(ctx, "ffmpeg", pipeReader, bytes.NewReader(audio), 0, io.Discard)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
	})
	t.Run("program missing", func(t *testing.T) {
		if err := Mux(ctx, "/nonexistent/ffmpeg", bytes.NewReader(video), bytes.NewReader(audio), 0, io.Discard); err == nil {
			t.Fatal("no error")
		}
	})
	// Every goroutine Mux started has ended.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after the failures, %d before", n, goroutines)
	}
}

// BenchmarkMux muxes 5 min of 1920x1080 5 fps video (testsrc2, every frame moving: the most
// bytes a screen video has) with 8 kHz mono MP3, and reports the speed in multiples of real time.
// Making the inputs takes about a minute and is not timed.
func BenchmarkMux(b *testing.B) {
	const seconds = 300
	video := makeVideo(b, "1920x1080", seconds)
	audio := makeMP3(b, "sine=frequency=440:sample_rate=8000:duration=300", 1)
	b.ResetTimer()
	started := time.Now()
	for range b.N {
		if err := Mux(context.Background(), "ffmpeg", bytes.NewReader(video), bytes.NewReader(audio), 1500*time.Millisecond, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(started) / time.Duration(b.N)
	b.ReportMetric(float64(seconds*time.Second)/float64(elapsed), "x_realtime")
	b.ReportMetric(float64(len(video))/1e6, "video_MB")
}
