package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"callvault/internal/analytics"
	"callvault/internal/cms"
	"callvault/internal/service"
	"callvault/internal/vault"
)

// analyzeMain is "callvault analyze": the speech analytics pipeline on a
// plain (or, with -inkey, encrypted) audio file, printing what it finds,
// for tuning topics before they are saved.
type analyzeMain struct {
	app          *App
	in           string
	topics       string
	inkey        string
	passin       string
	agentChannel string
	silenceMs    int
	language     string
	asJSON       bool
	ffmpeg       string
	recogniser   string
	model        string
}

func (m *analyzeMain) ParseFlags(args []string) error {
	fs := newFlagSet("analyze")
	fs.StringVar(&m.in, "in", "", `the call's audio (MP3, WAV, … or "-" for stdin) (required)`)
	fs.StringVar(&m.topics, "topics", "", `topics (and categories) as JSON: {"topics": [...], "categories": [...]} or a list of topics, as the API takes them`)
	fs.StringVar(&m.inkey, "inkey", "", "private key, PEM, when -in is a stored (CMS-encrypted) file")
	fs.StringVar(&m.passin, "passin", "", "private key password source: pass:PASSWORD, env:VAR, file:PATH, fd:N or stdin")
	fs.StringVar(&m.agentChannel, "agent-channel", "left", "the agent's channel of a stereo call: left or right")
	fs.IntVar(&m.silenceMs, "silence-ms", 3000, "a silence event is at least this long")
	fs.StringVar(&m.language, "language", "en-US", "the call's language")
	fs.BoolVar(&m.asJSON, "json", false, "print the result as JSON (as GET /recordings/{id}/analytics gives its events)")
	fs.StringVar(&m.ffmpeg, "ffmpeg", "ffmpeg", "the ffmpeg program that decodes the audio")
	fs.StringVar(&m.recogniser, "pocketsphinx", "pocketsphinx_continuous", "the recogniser")
	fs.StringVar(&m.model, "pocketsphinx-model", analytics.DefaultModelDir, "the recogniser's en-US model directory")
	positional, err := m.app.parseFlags(fs, "-in CALL.mp3 [-topics TOPICS.json] [-agent-channel left|right] [-json]", args)
	if err != nil {
		return err
	}
	switch {
	case m.in == "":
		return usagef("-in is required")
	case m.in == "-" && m.passin == "stdin":
		return usagef("-in - and -passin stdin cannot both read stdin")
	}
	if err := checkPassSource(m.passin); err != nil {
		return err
	}
	if err := service.CheckSettings(m.settings()); err != nil {
		return usagef("%s", vault.ErrorMessage(err))
	}
	return noPositional(positional)
}

func (m *analyzeMain) settings() vault.AnalyticsSettings {
	return vault.AnalyticsSettings{Language: m.language, AgentChannel: m.agentChannel, SilenceMs: m.silenceMs}
}

// topicsFile is what -topics holds.
type topicsFile struct {
	Topics     []json.RawMessage `json:"topics"`
	Categories []vault.Category  `json:"categories"`
}

// readTopics reads and checks the topics as the API would.
func (m *analyzeMain) readTopics(engine *analytics.Engine) ([]vault.Topic, []vault.Category, error) {
	if m.topics == "" {
		return nil, nil, nil
	}
	data, err := os.ReadFile(m.topics)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the topics %s: %w", m.topics, pathless(err))
	}
	var file topicsFile
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &file.Topics)
	} else {
		err = json.Unmarshal(trimmed, &file)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the topics in %s: %w", m.topics, err)
	}
	dict, err := engine.Dictionary()
	if err != nil {
		return nil, nil, err
	}
	var topics []vault.Topic
	for i, raw := range file.Topics {
		var in struct {
			Name       string         `json:"name"`
			Phrases    []vault.Phrase `json:"phrases"`
			Strictness *int           `json:"strictness"`
			Speaker    string         `json:"speaker"`
		}
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, nil, fmt.Errorf("cannot read topic %d in %s: %w", i+1, m.topics, err)
		}
		t := vault.Topic{Name: in.Name, Phrases: in.Phrases, Speaker: in.Speaker}
		if in.Strictness != nil {
			t.Strictness = *in.Strictness
		}
		warnings, err := analytics.CheckTopic(&t, dict, in.Strictness != nil)
		if err != nil {
			return nil, nil, errors.New(vault.ErrorMessage(err))
		}
		for _, w := range warnings {
			fmt.Fprintf(m.app.Stderr, "warning: %s\n", w)
		}
		topics = append(topics, t)
	}
	for i := range file.Categories {
		if err := analytics.CheckCategory(&file.Categories[i], topics); err != nil {
			return nil, nil, errors.New(vault.ErrorMessage(err))
		}
	}
	return topics, file.Categories, nil
}

func (m *analyzeMain) Run(ctx context.Context) error {
	engine := analytics.NewEngine(m.recogniser, m.ffmpeg, m.model)
	topics, categories, err := m.readTopics(engine)
	if err != nil {
		return err
	}
	src, _, closeSrc, err := m.app.openInput(m.in)
	if err != nil {
		return err
	}
	defer closeSrc()
	audio := io.Reader(bufio.NewReaderSize(ctxReader{ctx, src}, bufSize))
	if m.inkey != "" {
		key, err := (&decryptMain{app: m.app, inkey: m.inkey, passin: m.passin}).readKey()
		if err != nil {
			return err
		}
		pr, pw := io.Pipe()
		encrypted := audio
		go func() {
			_, err := cms.Decrypt(pw, encrypted, key, nil)
			pw.CloseWithError(err)
		}()
		defer pr.Close()
		audio = pr
	}
	res, err := engine.Analyze(ctx, audio, analytics.Input{Settings: m.settings(), Topics: topics, Categories: categories})
	if err != nil {
		return fmt.Errorf("cannot analyse %s: %w", m.in, err)
	}
	if m.asJSON {
		enc := json.NewEncoder(m.app.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Channels   int                   `json:"channels"`
			Events     []vault.Event         `json:"events"`
			Categories []string              `json:"categories"`
			Metrics    vault.AnalysisMetrics `json:"metrics"`
		}{res.Channels, res.Events, res.Categories, res.Metrics})
	}
	w := bufio.NewWriter(m.app.Stdout)
	fmt.Fprintf(w, "%s: %d channel(s), %s long\n", m.in, res.Channels, clock(res.Metrics.DurationMs))
	for _, e := range res.Events {
		line := fmt.Sprintf("%9s–%-9s %-9s", clock(e.StartMs), clock(e.EndMs), e.Type)
		if e.Type == vault.EventTopic {
			line += fmt.Sprintf(" %-20s %-8s %q %.2f", e.Name, e.Speaker, e.Phrase, e.Confidence)
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	cats := "none"
	if len(res.Categories) > 0 {
		cats = strings.Join(res.Categories, ", ")
	}
	mt := res.Metrics
	fmt.Fprintf(w, "categories: %s\n", cats)
	fmt.Fprintf(w, "talk: agent %s, customer %s, unknown %s; silence %s (longest %s); cross-talk %s\n",
		clock(mt.AgentTalkMs), clock(mt.CustomerTalkMs), clock(mt.UnknownTalkMs), clock(mt.SilenceMs), clock(mt.LongestSilenceMs), clock(mt.CrosstalkMs))
	return w.Flush()
}

// clock formats milliseconds as m:ss.cc.
func clock(ms int64) string {
	return fmt.Sprintf("%d:%05.2f", ms/60000, float64(ms%60000)/1000)
}
