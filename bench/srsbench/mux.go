package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

var errNoMuxLine = errors.New(`serve logged no "screen muxed" line for the recording`)

// muxResult is the server's mux job of one call against ffmpeg alone.
type muxResult struct {
	AudioID string `json:"audioId"`
	// Took is the job's own time, from serve's "screen muxed" line:
	// decrypting both files into ffmpeg, ffmpeg, encrypting and storing
	// its output, the metadata.
	Took    time.Duration `json:"tookNs"`
	TimesRT float64       `json:"timesRealTime"` // video duration ÷ Took
	Queued  time.Duration `json:"putToMuxedNs"`  // from the audio entry's PUT to muxed_mediaIds seen
	// ServeCPU is serve's CPU time and its ffmpeg's over Queued (with the
	// bench's polls of the recording every 200 ms).
	ServeCPU time.Duration `json:"serveCpuNs"`
	MuxedID  string        `json:"muxedId"`
	MuxedMB  float64       `json:"muxedMB"`
	Ref      timedRun      `json:"reference"`    // the brief's ffmpeg command on the plain files
	RefAsJob timedRun      `json:"referenceJob"` // the same with the job's audio settings
}

// timedRun is one ffmpeg run on plain files to /dev/null.
type timedRun struct {
	Args    []string      `json:"args"`
	Wall    time.Duration `json:"wallNs"`
	CPU     time.Duration `json:"cpuNs"`
	TimesRT float64       `json:"timesRealTime"`
}

// mux PUTs an MP3 of the call's length and its mediaFiles entry, waits for
// the mux job and reads its time from serve's log; then times ffmpeg on
// the plain files.
func (b *bench) mux(ctx context.Context, r *callResult, plainVideo string) (*muxResult, error) {
	m := &muxResult{AudioID: r.RecordingID + ".mp3"}
	audio := filepath.Join(b.dir, m.AudioID)
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
		fmt.Sprintf("sine=frequency=440:sample_rate=8000:duration=%.3f", r.CallDuration.Seconds()),
		"-ac", "2", "-c:a", "libmp3lame", "-b:a", "32k", "-f", "mp3", audio).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("making the MP3: %v: %s", err, out)
	}
	defer os.Remove(audio)
	f, err := os.Open(audio)
	if err != nil {
		return nil, err
	}
	err = b.call(ctx, http.MethodPut, "/api/v2/recordings/"+r.RecordingID+"/media/"+m.AudioID, "audio/mp3", f, http.StatusCreated, nil)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("audio upload: %w", err)
	}
	entry, _ := json.Marshal(map[string]any{"id": r.RecordingID, "mediaFiles": []any{map[string]any{
		"mediaId": m.AudioID, "type": "audio/mp3", "channels": 2,
		"startTime": r.StartTime.Format(time.RFC3339Nano), "stopTime": r.StopTime.Format(time.RFC3339Nano)}}})
	cpu0, err := cpuWithChildren(b.vault.pid)
	if err != nil {
		return nil, err
	}
	put := time.Now()
	if err := b.call(ctx, http.MethodPut, "/api/v2/recordings/"+r.RecordingID, "application/json", bytes.NewReader(entry), http.StatusOK, nil); err != nil {
		return nil, fmt.Errorf("audio entry: %w", err)
	}
	if err := waitEvery(ctx, "the mux of "+r.RecordingID, 5*time.Minute, 200*time.Millisecond, func() bool {
		e, err := b.videoEntry(ctx, r.RecordingID)
		if err == nil && e.Parameters["muxed_mediaIds"] != nil {
			m.MuxedID, m.MuxedMB = e.MediaID, float64(e.Size)/1e6
			return true
		}
		return false
	}); err != nil {
		return nil, fmt.Errorf("%w (serve log: %s)", err, b.vault.logPath)
	}
	m.Queued = time.Since(put)
	cpu1, err := cpuWithChildren(b.vault.pid)
	if err != nil {
		return nil, err
	}
	m.ServeCPU = cpu1 - cpu0
	// The line is written just after the entry is replaced.
	if err := waitFor(ctx, "serve's \"screen muxed\" line", 10*time.Second, func() bool {
		took, ok := muxTook(b.vault.logPath, r.RecordingID)
		m.Took = took
		return ok
	}); err != nil {
		return nil, errNoMuxLine
	}
	m.TimesRT = r.VideoDuration.Seconds() / m.Took.Seconds()

	out := []string{"-f", "mp4", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "/dev/null"}
	in := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", plainVideo, "-i", audio, "-map", "0:v", "-map", "1:a", "-c:v", "copy"}
	if m.Ref, err = timeFFmpeg(ctx, append(append(in, "-c:a", "aac"), out...), r.VideoDuration); err != nil {
		return nil, err
	}
	// The job's audio: 48 kHz AAC at 64 kbit/s, padded, cut at the video's end.
	if m.RefAsJob, err = timeFFmpeg(ctx, append(append(in, "-filter:a", "asetpts=PTS-STARTPTS,aresample=48000,apad",
		"-c:a", "aac", "-b:a", "64k", "-ar", "48000", "-shortest"), out...), r.VideoDuration); err != nil {
		return nil, err
	}
	progress("%s muxed in %v (%.0f× real time); ffmpeg alone %v (%.0f×), with the job's audio settings %v (%.0f×)",
		r.RecordingID, m.Took.Round(time.Millisecond), m.TimesRT, m.Ref.Wall.Round(time.Millisecond), m.Ref.TimesRT,
		m.RefAsJob.Wall.Round(time.Millisecond), m.RefAsJob.TimesRT)
	return m, nil
}

func timeFFmpeg(ctx context.Context, args []string, media time.Duration) (timedRun, error) {
	t := timedRun{Args: args}
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	started := time.Now()
	out, err := cmd.CombinedOutput()
	t.Wall = time.Since(started)
	if err != nil {
		return t, fmt.Errorf("ffmpeg %v: %v: %s", args, err, out)
	}
	t.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	t.TimesRT = media.Seconds() / t.Wall.Seconds()
	return t, nil
}

// muxTook reads the job's time from serve's JSON log line "screen muxed"
// of recording id (slog writes durations in nanoseconds).
func muxTook(logPath, id string) (time.Duration, bool) {
	f, err := os.Open(logPath)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			Recording string `json:"recording"`
			Took      int64  `json:"took"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "screen muxed" && line.Recording == id {
			return time.Duration(line.Took), true
		}
	}
	return 0, false
}
