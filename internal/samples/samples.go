// Package samples holds the guide's two metadata examples (repaired from the
// PDF text, see README.md) and synthetic media to go with them: a
// speech-synthesised MP3 (espeak-ng + lame) and a test-pattern MP4
// (ffmpeg testsrc). The demo ingests them; tests load them.
package samples

import (
	_ "embed"
	"encoding/json"
)

var (
	//go:embed guide-example-1.json
	guideExample1 []byte
	//go:embed guide-example-2.json
	guideExample2 []byte
	//go:embed demo.mp3
	demoMP3 []byte
	//go:embed demo-speech.mp3
	demoSpeech []byte
	//go:embed demo.mp4
	demoMP4 []byte
)

// Recording is one sample: its metadata in the guide's format and media
// for each of its mediaFiles.
type Recording struct {
	ID       string
	Metadata []byte
	Media    []Media
}

// Media is one synthetic media file.
type Media struct {
	MediaID string
	Type    string
	Data    []byte
}

// GuideExamples returns the two metadata records of the guide, as JSON.
func GuideExamples() [][]byte {
	return [][]byte{guideExample1, guideExample2}
}

// Recordings returns the guide's examples with synthetic media under the
// media ids and types the examples name.
func Recordings() []Recording {
	var out []Recording
	for _, doc := range GuideExamples() {
		var rec struct {
			ID         string `json:"id"`
			MediaFiles []struct {
				MediaID string `json:"mediaId"`
				Type    string `json:"type"`
			} `json:"mediaFiles"`
		}
		if err := json.Unmarshal(doc, &rec); err != nil {
			panic("samples: embedded example does not parse: " + err.Error())
		}
		r := Recording{ID: rec.ID, Metadata: doc}
		for _, m := range rec.MediaFiles {
			data := demoMP3
			if m.Type == "video/mp4" {
				data = demoMP4
			}
			r.Media = append(r.Media, Media{MediaID: m.MediaID, Type: m.Type, Data: data})
		}
		out = append(out, r)
	}
	return out
}

// ScreenVideo is the synthetic screen recording (46 s of test pattern,
// H.264 in MP4 with its index first, so it can be read from a pipe).
func ScreenVideo() []byte { return demoMP4 }

// CallAudio is the synthetic call audio (MP3).
func CallAudio() []byte { return demoMP3 }

// SpeechCall is a 32 s stereo call in speech (16 kHz MP3: the agent on the
// left, the customer on the right), for the demo's speech analytics; made
// by ./speechgen from synth.SampleCall.
func SpeechCall() []byte { return demoSpeech }
