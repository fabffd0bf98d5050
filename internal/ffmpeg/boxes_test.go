package ffmpeg

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"testing"
	"testing/iotest"
	"time"
)

func box(boxType string, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, boxType...), body...)
}

func largeBox(boxType string, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, 1)
	b = append(b, boxType...)
	b = binary.BigEndian.AppendUint64(b, uint64(16+len(body)))
	return append(b, body...)
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestCompleteBoxes(t *testing.T) {
	ftyp, moov := box("ftyp", "isom"), box("moov", "header")
	moof, mdat := box("moof", "index"), box("mdat", "samples")
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr error
	}{
		{"whole file", join(ftyp, moov, moof, mdat, box("mfra", "x")), join(ftyp, moov, moof, mdat, box("mfra", "x")), nil},
		{"empty", nil, nil, nil},
		{"cut in a header", join(ftyp, moov, moof, mdat, mdat[:5]), join(ftyp, moov, moof, mdat), nil},
		{"cut in a body", join(ftyp, moov, moof, mdat[:12]), join(ftyp, moov), nil},
		{"moof without its mdat", join(ftyp, moov, moof, mdat, moof), join(ftyp, moov, moof, mdat), nil},
		{"moof followed by another box", join(ftyp, moov, moof, box("free", ""), mdat), join(ftyp, moov, moof, box("free", ""), mdat), nil},
		{"two moofs: the first never got its mdat", join(ftyp, moof, moof), ftyp, nil},
		{"two moofs, then data", join(ftyp, moov, moof, mdat, moof, moof, mdat), join(ftyp, moov, moof, mdat), nil},
		{"64-bit size", join(ftyp, largeBox("mdat", "big samples")), join(ftyp, largeBox("mdat", "big samples")), nil},
		{"64-bit size cut in its header", join(ftyp, largeBox("mdat", "x")[:12]), ftyp, nil},
		{"zero-filled tail (size 0)", join(ftyp, moov, make([]byte, 4096)), join(ftyp, moov), nil},
		{"size 0 box with a type", join(ftyp, []byte{0, 0, 0, 0}, []byte("mdat"), []byte("rest")), ftyp, nil},
		{"size smaller than its header", join(ftyp, []byte{0, 0, 0, 7}, []byte("free")), ftyp, ErrBadBox},
		{"64-bit size smaller than its header", join(ftyp, largeBox("mdat", "")[:8], make([]byte, 7), []byte{15}), ftyp, ErrBadBox},
		{"type is not text", join(ftyp, []byte{0, 0, 0, 8, 0xff, 'o', 'o', 'f'}), ftyp, ErrBadBox},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := CompleteBoxes(&out, bytes.NewReader(tt.in))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(out.Bytes(), tt.want) || n != int64(len(tt.want)) {
				t.Fatalf("wrote %d bytes %q, want %q", n, out.Bytes(), tt.want)
			}
		})
	}
}

func TestCompleteBoxesRefusesHugeBox(t *testing.T) {
	header := binary.BigEndian.AppendUint32(nil, MaxBoxSize+1)
	header = append(header, "mdat"...)
	// The body never comes: the size alone is refused, nothing is allocated for it.
	n, err := CompleteBoxes(io.Discard, io.MultiReader(bytes.NewReader(box("ftyp", "isom")), bytes.NewReader(header)))
	if err == nil || n != 12 {
		t.Fatalf("n = %d, err = %v; want 12 (the ftyp) and an error", n, err)
	}
	header = binary.BigEndian.AppendUint32(nil, 1)
	header = append(header, "mdat"...)
	header = binary.BigEndian.AppendUint64(header, 1<<62)
	if _, err := CompleteBoxes(io.Discard, bytes.NewReader(header)); err == nil {
		t.Fatal("a 64-bit size of 2^62 is accepted")
	}
}

func TestCompleteBoxesStreamsASizeThatLies(t *testing.T) {
	// A header promising 200 MiB followed by 1 KiB: the cost is the kilobyte, not the promise.
	header := binary.BigEndian.AppendUint32(nil, 200<<20)
	header = append(header, "mdat"...)
	n, err := CompleteBoxes(io.Discard, io.MultiReader(bytes.NewReader(header), bytes.NewReader(make([]byte, 1024))))
	if err != nil || n != 0 {
		t.Fatalf("n = %d, err = %v", n, err)
	}
}

func TestCompleteBoxesErrors(t *testing.T) {
	boom := errors.New("boom")
	in := join(box("ftyp", "isom"), box("moov", "header"))
	if _, err := CompleteBoxes(io.Discard, io.MultiReader(bytes.NewReader(in), iotest.ErrReader(boom))); !errors.Is(err, boom) {
		t.Errorf("read error: %v", err)
	}
	if _, err := CompleteBoxes(failingWriter{boom}, bytes.NewReader(in)); !errors.Is(err, boom) {
		t.Errorf("write error: %v", err)
	}
	// One byte at a time must give the same boxes.
	var out bytes.Buffer
	if _, err := CompleteBoxes(&out, iotest.OneByteReader(bytes.NewReader(in))); err != nil || !bytes.Equal(out.Bytes(), in) {
		t.Errorf("one byte at a time: %q, %v", out.Bytes(), err)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write(p []byte) (int, error) { return 0, w.err }

// TestCompleteBoxesOnCutMP4 cuts a real fragmented MP4 from ffmpeg at many points: what
// CompleteBoxes keeps decodes without an error and lasts until within a fragment (1 s) of the
// media at the cut.
func TestCompleteBoxesOnCutMP4(t *testing.T) {
	args := []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=5", "-t", "10"}
	args = append(args, encodeArgs(DefaultFrameRate)...)
	args = append(args, fragmentArgs()...)
	video := runFFmpeg(t, nil, append(args, "pipe:1")...)

	// Where each packet's data lies in the file, and when it plays.
	probe := runFFprobe(t, video, "-show_entries", "packet=pts_time,duration_time,pos")
	var parsed struct {
		Packets []struct {
			PTS      string `json:"pts_time"`
			Duration string `json:"duration_time"`
			Pos      string `json:"pos"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(probe, &parsed); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cut := range []int{len(video) / 7, len(video) / 3, len(video) / 2, len(video) * 2 / 3, len(video) - 100, len(video)} {
		// The media time at the cut: the end of the last packet whose data had begun.
		var cutTime float64
		for _, p := range parsed.Packets {
			pos, _ := strconv.Atoi(p.Pos)
			pts, _ := strconv.ParseFloat(p.PTS, 64)
			duration, _ := strconv.ParseFloat(p.Duration, 64)
			if pos < cut {
				cutTime = max(cutTime, pts+duration)
			}
		}
		var salvaged bytes.Buffer
		if _, err := CompleteBoxes(&salvaged, bytes.NewReader(video[:cut])); err != nil {
			t.Fatal(err)
		}
		decodesCleanly(t, salvaged.Bytes())
		result, err := Probe(ctx, bytes.NewReader(salvaged.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		got := result.Duration.Seconds()
		t.Logf("cut at %d of %d bytes (%.1f s): %.1f s kept", cut, len(video), cutTime, got)
		if got < cutTime-1.2 || got > cutTime+0.01 {
			t.Errorf("cut at %d (%.2f s): kept %.2f s, want within a fragment before", cut, cutTime, got)
		}
	}
	if d, _ := Probe(ctx, bytes.NewReader(video)); d.Duration != 10*time.Second {
		t.Errorf("whole video lasts %s, want 10s", d.Duration)
	}
}

// runFFprobe runs ffprobe on data with extra arguments, JSON out.
func runFFprobe(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	out, err := runTool(context.Background(), "ffprobe", data, append([]string{"-v", "error", "-of", "json"}, append(args, "-i", "pipe:0")...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func FuzzCompleteBoxes(f *testing.F) {
	ftyp, moov := box("ftyp", "isom"), box("moov", "header")
	moof, mdat := box("moof", "index"), box("mdat", "samples")
	f.Add(join(ftyp, moov, moof, mdat))
	f.Add(join(ftyp, moov, moof, mdat, moof))
	f.Add(join(ftyp, moov, moof, mdat[:9]))
	f.Add(join(ftyp, largeBox("mdat", "big")))
	f.Add(join(ftyp, make([]byte, 16)))
	f.Add([]byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		n, _ := CompleteBoxes(&out, bytes.NewReader(in))
		kept := out.Bytes()
		if n != int64(len(kept)) || !bytes.HasPrefix(in, kept) {
			t.Fatalf("output of %d bytes (n = %d) is not a prefix of the input", len(kept), n)
		}
		// Whole boxes, none of them a moof left last: a second pass keeps everything.
		var again bytes.Buffer
		if _, err := CompleteBoxes(&again, bytes.NewReader(kept)); err != nil || !bytes.Equal(again.Bytes(), kept) {
			t.Fatalf("second pass kept %d of %d bytes (%v)", again.Len(), len(kept), err)
		}
	})
}
