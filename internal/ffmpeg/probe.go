package ffmpeg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"time"
)

// ProbeResult is what ffprobe says about a media stream read from a pipe.
type ProbeResult struct {
	FormatName string        // ffprobe's format_name, for example "mov,mp4,m4a,3gp,3g2,mj2"
	Duration   time.Duration // from the first packet's start to the last packet's end, over all streams
	Streams    []ProbeStream
}

// ProbeStream is one stream of a ProbeResult.
type ProbeStream struct {
	Index      int
	CodecType  string // "video", "audio", …
	CodecName  string // "h264", "aac", "mp3", …
	Width      int    // video only
	Height     int    // video only
	SampleRate int    // audio only
	Channels   int    // audio only
	Packets    int
	StartTime  time.Duration // the first packet's presentation time
	Duration   time.Duration // from this stream's packets
}

// maxProbeOutput bounds ffprobe's JSON (about 80 bytes a packet): hours of video fit.
const maxProbeOutput = 64 << 20

// Probe runs ffprobe on the media read from r. Durations are computed from the packets, since
// ffprobe reading a fragmented MP4 from a pipe has no index to take them from and otherwise
// guesses from the first fragment.
func Probe(ctx context.Context, r io.Reader) (ProbeResult, error) {
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-of", "json", "-show_streams", "-show_format",
		"-show_entries", "packet=stream_index,pts_time,duration_time", "-i", "pipe:0")
	cmd.Stdin = r
	stdout := &cappedBuffer{limit: maxProbeOutput}
	stderr := newTailBuffer(stderrTailSize)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return ProbeResult{}, withTail(fmt.Errorf("cannot probe: ffprobe: %w", err), stderr)
	}
	var parsed struct {
		Format struct {
			FormatName string `json:"format_name"`
		} `json:"format"`
		Streams []struct {
			Index      int    `json:"index"`
			CodecType  string `json:"codec_type"`
			CodecName  string `json:"codec_name"`
			Width      int    `json:"width"`
			Height     int    `json:"height"`
			SampleRate string `json:"sample_rate"`
			Channels   int    `json:"channels"`
		} `json:"streams"`
		Packets []struct {
			StreamIndex  int    `json:"stream_index"`
			PTSTime      string `json:"pts_time"`
			DurationTime string `json:"duration_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &parsed); err != nil {
		return ProbeResult{}, fmt.Errorf("cannot probe: ffprobe's JSON: %w", err)
	}
	result := ProbeResult{FormatName: parsed.Format.FormatName}
	type span struct {
		start, end float64
		packets    int
	}
	spans := map[int]*span{}
	all := span{start: math.Inf(1), end: math.Inf(-1)}
	for _, p := range parsed.Packets {
		pts, err := strconv.ParseFloat(p.PTSTime, 64)
		if err != nil {
			continue // "N/A": a packet without a timestamp says nothing about the span
		}
		duration, _ := strconv.ParseFloat(p.DurationTime, 64)
		s := spans[p.StreamIndex]
		if s == nil {
			s = &span{start: math.Inf(1), end: math.Inf(-1)}
			spans[p.StreamIndex] = s
		}
		s.packets++
		s.start, s.end = math.Min(s.start, pts), math.Max(s.end, pts+duration)
		all.start, all.end = math.Min(all.start, pts), math.Max(all.end, pts+duration)
	}
	seconds := func(s span) time.Duration {
		if s.end < s.start {
			return 0
		}
		return time.Duration((s.end - s.start) * float64(time.Second))
	}
	result.Duration = seconds(all)
	for _, s := range parsed.Streams {
		stream := ProbeStream{Index: s.Index, CodecType: s.CodecType, CodecName: s.CodecName,
			Width: s.Width, Height: s.Height, Channels: s.Channels}
		stream.SampleRate, _ = strconv.Atoi(s.SampleRate)
		if sp := spans[s.Index]; sp != nil {
			stream.Packets = sp.packets
			stream.StartTime = time.Duration(sp.start * float64(time.Second))
			stream.Duration = seconds(*sp)
		}
		result.Streams = append(result.Streams, stream)
	}
	return result, nil
}

// Stream returns the first stream of codecType ("video", "audio") and whether there is one.
func (p ProbeResult) Stream(codecType string) (ProbeStream, bool) {
	for _, s := range p.Streams {
		if s.CodecType == codecType {
			return s, true
		}
	}
	return ProbeStream{}, false
}

// Luma frame size: small enough to be cheap, large enough that a mean is meaningful.
const lumaWidth, lumaHeight = 64, 36

// FrameLuma decodes the video read from r at fps frames a second (0 keeps the video's own
// frames) and returns the mean luma (0 black … 255 white, full range) of each frame, so a test can
// find black, masked, stretches.
func FrameLuma(ctx context.Context, r io.Reader, fps int) ([]float64, error) {
	if fps < 0 || fps > maxFrameRate {
		return nil, fmt.Errorf("cannot measure luma: fps %d is outside 0…%d", fps, maxFrameRate)
	}
	filter := fmt.Sprintf("scale=%d:%d,format=gray", lumaWidth, lumaHeight)
	if fps > 0 {
		filter = fmt.Sprintf("fps=%d,", fps) + filter
	}
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", "pipe:0", "-map", "0:v:0",
		"-vf", filter, "-f", "rawvideo", "pipe:1")
	cmd.Stdin = r
	stderr := newTailBuffer(stderrTailSize)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("cannot measure luma: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot measure luma: %w", err)
	}
	var lumas []float64
	frame := make([]byte, lumaWidth*lumaHeight)
	var readErr error
	for {
		if _, err := io.ReadFull(stdout, frame); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		var sum int
		for _, v := range frame {
			sum += int(v)
		}
		lumas = append(lumas, float64(sum)/float64(len(frame)))
	}
	if err := cmd.Wait(); err != nil {
		return nil, withTail(fmt.Errorf("cannot measure luma: ffmpeg: %w", err), stderr)
	}
	if readErr != nil {
		return nil, fmt.Errorf("cannot measure luma: %w", readErr)
	}
	return lumas, nil
}
