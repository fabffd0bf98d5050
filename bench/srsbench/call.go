package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"callvault/internal/ffmpeg"
)

// callResult is one recorded call.
type callResult struct {
	Kind        string    `json:"kind"`
	Round       int       `json:"round"`
	RecordingID string    `json:"recordingId"`
	MediaID     string    `json:"mediaId"`
	StartTime   time.Time `json:"startTime"`
	StopTime    time.Time `json:"stopTime"`
	// Window is the measurement: from srs saying "recording" for -minutes.
	Window *window `json:"window"`
	// CPUPercent is srs + ffmpeg, in % of one core.
	CPUPercent float64 `json:"cpuPercent"`
	// PeakRSSMB is the sum of the two peaks (MB, 10^6 B): an upper bound of
	// the peak together; SampledPeakMB the highest sum sampled.
	PeakRSSMB     float64 `json:"peakRssMB"`
	SampledPeakMB float64 `json:"sampledPeakRssMB"`

	StoredBytes   int64         `json:"storedBytes"`   // the CMS file, as stored
	PlainBytes    int64         `json:"plainBytes"`    // the MP4 inside
	VideoDuration time.Duration `json:"videoDuration"` // ffprobe's, of the plaintext
	CallDuration  time.Duration `json:"callDuration"`
	MBPerHour     float64       `json:"mbPerHour"` // stored bytes over the video's duration

	// StopToLog is from the PUT with stopTime to the upload's last line in
	// GSR.log; StopToStopped from that PUT to srs's "stopped recording"
	// line; Upload from that line to "uploaded" (GSR.log's milliseconds).
	StopToLog      time.Duration `json:"stopToLogNs"`
	StopToStopped  time.Duration `json:"stopToStoppedNs"`
	Upload         time.Duration `json:"uploadNs"`
	StopToLogMBps  float64       `json:"stopToLogMBps"`
	UploadOnlyMBps float64       `json:"uploadOnlyMBps"`

	Mux *muxResult `json:"mux,omitempty"`
}

// baselineResult is plain ffmpeg with srs's arguments.
type baselineResult struct {
	Kind        string   `json:"kind"`
	Round       int      `json:"round"`
	NoTHP       bool     `json:"noTransparentHugePages"`
	Args        []string `json:"args"`
	Window      *window  `json:"window"`
	OutputBytes int64    `json:"outputBytes"`
	MBPerHour   float64  `json:"mbPerHour"`
}

// srsCall records one call of b.o.window, then muxes it.
func (b *bench) srsCall(ctx context.Context, kind string, round int) (*callResult, error) {
	r := &callResult{Kind: kind, Round: round, RecordingID: fmt.Sprintf("%s-%d", kind, round)}
	r.StartTime = time.Now().UTC()
	if err := b.putCall(ctx, r.RecordingID, r.StartTime, time.Time{}); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, "srs recording "+r.RecordingID, 30*time.Second, func() bool {
		state, rec, media := b.desk.status(ctx)
		r.MediaID = media
		return state == "recording" && rec == r.RecordingID
	}); err != nil {
		return nil, fmt.Errorf("%w\nGSR.log:\n%s", err, tail(b.srsLog, 2000))
	}
	var ffmpegPID int
	if err := waitFor(ctx, "srs's ffmpeg child", 10*time.Second, func() bool {
		pid, ok := childNamed(b.srsProc.pid, "ffmpeg")
		ffmpegPID = pid
		return ok
	}); err != nil {
		return nil, err
	}
	if err := sleep(ctx, warmUp); err != nil {
		return nil, err
	}
	procs := b.contextProcs()
	procs["srs"], procs["ffmpeg"] = b.srsProc.pid, ffmpegPID
	w, err := b.measure(ctx, procs, []string{"srs", "ffmpeg"}, b.o.window)
	if err != nil {
		return nil, err
	}
	r.Window = w
	srs, ff := w.Procs["srs"], w.Procs["ffmpeg"]
	r.CPUPercent = srs.CPUPercent + ff.CPUPercent
	r.PeakRSSMB = kibToMB(srs.PeakRSSKiB + ff.PeakRSSKiB)
	r.SampledPeakMB = kibToMB(w.SampledSumMaxKiB)

	uploads := countLines(b.srsLog, uploadLogLine)
	r.StopTime = time.Now().UTC()
	if err := b.putCall(ctx, r.RecordingID, r.StartTime, r.StopTime); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, "the upload of "+r.MediaID, 5*time.Minute, func() bool { return countLines(b.srsLog, uploadLogLine) > uploads }); err != nil {
		return nil, fmt.Errorf("%w\nGSR.log:\n%s", err, tail(b.srsLog, 2000))
	}
	r.StopToLog = time.Since(r.StopTime)
	r.CallDuration = r.StopTime.Sub(r.StartTime)
	if stopped, ok := logTime(b.srsLog, "Recorder: stopped recording "+r.MediaID+" "); ok {
		r.StopToStopped = stopped.Sub(r.StopTime)
		if uploaded, ok := logTime(b.srsLog, "Uploader: uploaded "+r.MediaID+" "); ok {
			r.Upload = uploaded.Sub(stopped)
		}
	}

	entry, err := b.videoEntry(ctx, r.RecordingID)
	if err != nil {
		return nil, err
	}
	if entry.MediaID != r.MediaID {
		return nil, fmt.Errorf("recording %s holds screen file %s, srs recorded %s", r.RecordingID, entry.MediaID, r.MediaID)
	}
	r.StoredBytes = entry.Size
	r.StopToLogMBps = float64(r.StoredBytes) / 1e6 / r.StopToLog.Seconds()
	if r.Upload > 0 {
		r.UploadOnlyMBps = float64(r.StoredBytes) / 1e6 / r.Upload.Seconds()
	}
	enc := filepath.Join(b.dir, r.RecordingID+".bin")
	plain := filepath.Join(b.dir, r.RecordingID+".mp4")
	if err := b.download(ctx, r.RecordingID, r.MediaID, enc); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "openssl", "cms", "-decrypt", "-inform", "DER", "-binary",
		"-inkey", b.keyPath, "-in", enc, "-out", plain).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("openssl cms -decrypt: %v: %s", err, out)
	}
	os.Remove(enc)
	probe, err := probeFile(ctx, plain)
	if err != nil {
		return nil, err
	}
	if v, ok := probe.Stream("video"); !ok || v.CodecName != "h264" || v.Width != screenWidth || v.Height != screenHeight {
		return nil, fmt.Errorf("the screen file is not H.264 at %dx%d: %+v", screenWidth, screenHeight, probe)
	}
	r.VideoDuration = probe.Duration
	if info, err := os.Stat(plain); err == nil {
		r.PlainBytes = info.Size()
	}
	r.MBPerHour = float64(r.StoredBytes) / 1e6 / r.VideoDuration.Hours()
	progress("%s: %.1f %% CPU (srs %.1f, ffmpeg %.1f), peak %.1f MB, %.1f MB/h, stop → uploaded %v",
		r.RecordingID, r.CPUPercent, srs.CPUPercent, ff.CPUPercent, r.PeakRSSMB, r.MBPerHour, r.StopToLog.Round(time.Millisecond))

	if r.Mux, err = b.mux(ctx, r, plain); err != nil {
		return nil, err
	}
	os.Remove(plain)
	return r, nil
}

// contextProcs are the processes that are not measured against an aim but
// use the same CPUs: the X server and the test content.
func (b *bench) contextProcs() map[string]int {
	procs := map[string]int{}
	if pid := xvfbPID(b.display); pid > 0 {
		procs["xvfb"] = pid
	}
	if pid, ok := childNamed(os.Getpid(), "ffplay"); ok {
		procs["content"] = pid
	}
	return procs
}

// putCall PUTs a call of the agent: in progress when stop is zero.
func (b *bench) putCall(ctx context.Context, id string, start, stop time.Time) error {
	doc := map[string]any{"id": id, "startTime": start.Format(time.RFC3339Nano), "callerPhoneNumber": "+15551234567",
		"eventHistory": []any{map[string]any{"occurredAt": start.Format(time.RFC3339Nano), "event": "Joined", "calluuid": id,
			"contact": map[string]any{"type": "User", "userName": agentName, "firstName": "Ann", "lastName": "Agent"}}}}
	if !stop.IsZero() {
		doc["stopTime"] = stop.Format(time.RFC3339Nano)
	}
	body, _ := json.Marshal(doc)
	return b.call(ctx, http.MethodPut, "/api/v2/recordings/"+id, "application/json", bytes.NewReader(body), http.StatusOK, nil)
}

// mediaEntry is what the bench reads of a mediaFiles entry.
type mediaEntry struct {
	MediaID    string         `json:"mediaId"`
	Type       string         `json:"type"`
	Size       int64          `json:"size"`
	StartTime  string         `json:"startTime"`
	Parameters map[string]any `json:"parameters"`
}

// videoEntry is the recording's one video/mp4 entry.
func (b *bench) videoEntry(ctx context.Context, id string) (mediaEntry, error) {
	var rec struct {
		MediaFiles []mediaEntry `json:"mediaFiles"`
	}
	if err := b.call(ctx, http.MethodGet, "/api/v2/recordings/"+id, "", nil, http.StatusOK, &rec); err != nil {
		return mediaEntry{}, err
	}
	var found []mediaEntry
	for _, m := range rec.MediaFiles {
		if m.Type == "video/mp4" {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		return mediaEntry{}, fmt.Errorf("recording %s has %d video/mp4 entries, want 1", id, len(found))
	}
	return found[0], nil
}

// baselineRun is plain ffmpeg with the arguments srs gives it for the
// display's one monitor, for b.o.window.
// With noTHP it runs through `srsbench -exec-nothp`, without transparent
// huge pages.
func (b *bench) baselineRun(ctx context.Context, kind string, round int, noTHP bool) (*baselineResult, error) {
	monitors, err := ffmpeg.ListMonitors(ctx, b.display)
	if err != nil {
		return nil, err
	}
	layout, err := ffmpeg.PlanLayout(monitors, nil, screenWidth)
	if err != nil {
		return nil, err
	}
	args, err := ffmpeg.CaptureArgs(ffmpeg.CaptureSpec{OS: "linux", Display: b.display, Layout: layout, FrameRate: frameRate})
	if err != nil {
		return nil, err
	}
	r := &baselineResult{Kind: kind, Round: round, NoTHP: noTHP, Args: args}
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	if noTHP {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd = exec.CommandContext(ctx, self, append([]string{"-exec-nothp", "ffmpeg"}, args...)...)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	counted := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, stdout)
		counted <- n
	}()
	started := time.Now()
	var w *window
	if err = sleep(ctx, warmUp); err == nil {
		procs := b.contextProcs()
		procs["baseline"] = cmd.Process.Pid
		w, err = b.measure(ctx, procs, []string{"baseline"}, b.o.window)
	}
	io.WriteString(stdin, "q")
	stdin.Close()
	captured := time.Since(started)
	r.OutputBytes = <-counted
	werr := cmd.Wait()
	if err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, fmt.Errorf("ffmpeg: %v: %s", werr, stderr.Bytes())
	}
	r.Window = w
	r.MBPerHour = float64(r.OutputBytes) / 1e6 / captured.Hours()
	if noTHP {
		kind += " without huge pages"
	}
	progress("baseline %s-%d: %.1f %% CPU, peak %.1f MB, %.1f MB/h", kind, round, w.Procs["baseline"].CPUPercent,
		kibToMB(w.Procs["baseline"].PeakRSSKiB), r.MBPerHour)
	return r, nil
}

func probeFile(ctx context.Context, path string) (ffmpeg.ProbeResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return ffmpeg.ProbeResult{}, err
	}
	defer f.Close()
	return ffmpeg.Probe(ctx, f)
}

func countLines(path, substr string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte(substr))
}

// logTime is the time stamp of the last GSR.log line that holds substr.
func logTime(path, substr string) (time.Time, bool) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	var at time.Time
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, substr) || len(line) < len(guideLogLayout) {
			continue
		}
		if t, err := time.ParseInLocation(guideLogLayout, line[:len(guideLogLayout)], time.Local); err == nil {
			at, found = t, true
		}
	}
	return at, found
}

// warmUp is how long after ffmpeg's start a measurement begins, in srs
// and in the baseline alike: x264's start-up is not what a call costs.
const warmUp = 3 * time.Second

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func kibToMB(k int64) float64 { return float64(k) * 1024 / 1e6 }
