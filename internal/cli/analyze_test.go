package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"callvault/internal/analytics/synth"
)

// TestAnalyze: callvault analyze on a plain MP3 and, with -inkey, on the
// same call encrypted as the vault stores it, prints the same events;
// bad topics and bad audio give one line and a non-zero exit.
func TestAnalyze(t *testing.T) {
	dir := t.TempDir()
	wav, _, err := synth.Render(context.Background(), dir, "call", synth.SampleCall(16000))
	if err != nil {
		t.Fatal(err)
	}
	mp3, err := synth.MP3(context.Background(), wav, 96)
	if err != nil {
		t.Fatal(err)
	}
	topics := filepath.Join(dir, "topics.json")
	os.WriteFile(topics, []byte(`{"topics":[
		{"name":"cancellation","phrases":[{"text":"cancel my subscription"}],"speaker":"customer"},
		{"name":"greeting","phrases":[{"text":"thank you for calling"}],"speaker":"agent"},
		{"name":"refunds","phrases":[{"text":"a full refund"}]}],
		"categories":[{"name":"churn","all":["cancellation"]}]}`), 0o600)

	r := run(t, "analyze", "-in", mp3, "-topics", topics)
	wantSuccess(t, r)
	for _, want := range []string{"2 channel(s)", `cancellation         customer "cancel my subscription"`, `greeting             agent    "thank you for calling"`,
		"silence", "crosstalk", "categories: churn"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "refunds") {
		t.Errorf("a phrase never said was found:\n%s", r.stdout)
	}

	// The stored form: encrypted for a certificate, opened with its key.
	keys := certgen(t, dir, "tenant")
	enc := filepath.Join(dir, "call.mp3.cms")
	wantSuccess(t, run(t, "encrypt", "-in", mp3, "-out", enc, "-recip", keys.cert))
	j := run(t, "analyze", "-in", enc, "-inkey", keys.key, "-topics", topics, "-json")
	wantSuccess(t, j)
	var out struct {
		Channels   int
		Events     []struct{ Type, Name, Speaker string }
		Categories []string
	}
	if err := json.Unmarshal([]byte(j.stdout), &out); err != nil {
		t.Fatalf("-json: %v: %s", err, j.stdout)
	}
	if out.Channels != 2 || len(out.Categories) != 1 || out.Categories[0] != "churn" {
		t.Errorf("-json of the encrypted call: %+v", out)
	}

	// Bad input: one line each.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{"name":"billing","phrases":[{"text":"my invoize"}]}]`), 0o600)
	wantFailure(t, run(t, "analyze", "-in", mp3, "-topics", bad), 1, `the word "invoize" is not in the recogniser's dictionary`)
	os.WriteFile(bad, []byte(`{"topics":[{"name":"x","phrases":[{"text":"a full refund"}]}],"categories":[{"name":"c","all":["y"]}]}`), 0o600)
	wantFailure(t, run(t, "analyze", "-in", mp3, "-topics", bad), 1, `there is no topic "y"`)
	os.WriteFile(bad, []byte(`{"topics":`), 0o600)
	wantFailure(t, run(t, "analyze", "-in", mp3, "-topics", bad), 1, "cannot read the topics")
	wantFailure(t, run(t, "analyze", "-in", topics, "-topics", topics), 1, "cannot decode the audio")
	wantFailure(t, run(t, "analyze", "-in", mp3, "-agent-channel", "up"), 2, "agentChannel must be left or right")
	wantFailure(t, run(t, "analyze"), 2, "-in is required")
	wantFailure(t, run(t, "analyze", "-in", mp3, "-topics", topics, "-pocketsphinx", filepath.Join(dir, "none")), 1, "the speech recogniser is not installed")
}
