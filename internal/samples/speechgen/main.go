// Command speechgen writes internal/samples/demo-speech.mp3, the demo's
// call for speech analytics: synth.SampleCall at 16 kHz (flite voices,
// mixed over a faint noise floor) as a 96 kbit/s stereo MP3 (lame).
//
//	go run ./internal/samples/speechgen
package main

import (
	"context"
	"fmt"
	"os"

	"callvault/internal/analytics/synth"
)

func main() {
	dir, err := os.MkdirTemp("", "speechgen-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	wav, _, err := synth.Render(context.Background(), dir, "demo-speech", synth.SampleCall(16000))
	if err != nil {
		fail(err)
	}
	mp3, err := synth.MP3(context.Background(), wav, 96)
	if err != nil {
		fail(err)
	}
	data, err := os.ReadFile(mp3)
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile("internal/samples/demo-speech.mp3", data, 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("internal/samples/demo-speech.mp3: %d bytes\n", len(data))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "speechgen:", err)
	os.Exit(1)
}
