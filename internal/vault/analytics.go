package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Speech analytics: every recording with voice media and a stop time is
// analysed (voice activity, keyword spotting of the tenant's topics) and
// its result kept beside it, deleted with it.

// Analysis statuses.
const (
	AnalysisPending     = "pending"
	AnalysisDone        = "done"
	AnalysisFailed      = "failed"
	AnalysisUnsupported = "unsupported" // no recogniser model for the tenant's language
)

// Speakers, of a topic, a category or an event. A mono call's speaker is
// unknown.
const (
	SpeakerAgent    = "agent"
	SpeakerCustomer = "customer"
	SpeakerAny      = "any"
	SpeakerUnknown  = "unknown"
)

// Event types.
const (
	EventTopic     = "topic"
	EventSilence   = "silence"
	EventCrosstalk = "crosstalk"
	EventTalk      = "talk" // kept for the waveform's lanes; not in the API's event list
)

// AnalyticsSettings are a tenant's analytics settings.
type AnalyticsSettings struct {
	Language      string `json:"language"`      // BCP 47, e.g. en-US
	AgentChannel  string `json:"agentChannel"`  // left | right (stereo calls)
	SilenceMs     int    `json:"silenceMs"`     // a silence event is at least this long
	ReanalyzeDays int    `json:"reanalyzeDays"` // a topic change re-analyses recordings stopped this recently
}

// DefaultAnalyticsSettings are a tenant's settings until changed.
func DefaultAnalyticsSettings() AnalyticsSettings {
	return AnalyticsSettings{Language: "en-US", AgentChannel: "left", SilenceMs: 3000, ReanalyzeDays: 30}
}

// Phrase is one way of saying a topic. Strictness, when set, overrides
// the topic's.
type Phrase struct {
	Text       string `json:"text"`
	Strictness *int   `json:"strictness,omitempty"`
}

// Topic is what customers or agents talk about, as a list of phrases
// (SpeechMiner's model). Strictness 0–100: higher finds fewer, surer hits.
type Topic struct {
	Name       string    `json:"name"`
	Phrases    []Phrase  `json:"phrases"`
	Strictness int       `json:"strictness"`
	Speaker    string    `json:"speaker"` // agent | customer | any
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Window limits a category to part of a call: from fromSec to toSec
// seconds after the start, or before the end when FromEnd. ToSec 0 means
// the end of the call (or its start, from the end).
type Window struct {
	FromSec int  `json:"fromSec"`
	ToSec   int  `json:"toSec"`
	FromEnd bool `json:"fromEnd,omitempty"`
}

// Category is a rule over topics: every topic of All, at least one of
// Any, none of None, each counted MinOccurrences times (default 1), by
// Speaker, within Window.
type Category struct {
	Name           string    `json:"name"`
	All            []string  `json:"all,omitempty"`
	Any            []string  `json:"any,omitempty"`
	None           []string  `json:"none,omitempty"`
	MinOccurrences int       `json:"minOccurrences,omitempty"`
	Within         *Window   `json:"within,omitempty"`
	Speaker        string    `json:"speaker,omitempty"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// AnalyticsConfig is a tenant's whole analytics configuration. Version
// grows by one with every change; an analysis records the version it
// was made with.
type AnalyticsConfig struct {
	Settings   AnalyticsSettings `json:"settings"`
	Topics     []Topic           `json:"topics"`
	Categories []Category        `json:"categories"`
	Version    int64             `json:"version"`
}

// Event is one thing found in a call.
type Event struct {
	Type       string  `json:"type"`             // topic | silence | crosstalk
	Name       string  `json:"name,omitempty"`   // the topic
	Phrase     string  `json:"phrase,omitempty"` // the phrase heard
	Speaker    string  `json:"speaker,omitempty"`
	StartMs    int64   `json:"startMs"`
	EndMs      int64   `json:"endMs"`
	Confidence float64 `json:"confidence,omitempty"`
}

// AnalysisMetrics are a call's talk and silence totals.
type AnalysisMetrics struct {
	DurationMs       int64 `json:"durationMs"`
	AgentTalkMs      int64 `json:"agentTalkMs"`
	CustomerTalkMs   int64 `json:"customerTalkMs"`
	UnknownTalkMs    int64 `json:"unknownTalkMs"` // mono calls
	SilenceMs        int64 `json:"silenceMs"`
	CrosstalkMs      int64 `json:"crosstalkMs"`
	LongestSilenceMs int64 `json:"longestSilenceMs"`
}

// Analysis is one recording's speech analytics result.
type Analysis struct {
	Tenant      string `json:"-"`
	RecordingID string `json:"recordingId"`
	Status      string `json:"status"`
	Error       string `json:"error,omitempty"` // why failed or unsupported
	Engine      string `json:"engine,omitempty"`
	Language    string `json:"language,omitempty"`
	MediaID     string `json:"mediaId,omitempty"` // the voice file analysed
	Channels    int    `json:"channels,omitempty"`
	// AgentChannel is the tenant's agentChannel the analysis was made
	// with (stereo calls): which channel is whose.
	AgentChannel string `json:"agentChannel,omitempty"`
	Version      int64  `json:"configVersion"` // of the tenant's AnalyticsConfig
	// Recognised is a digest of what the events depend on (the topics and
	// the settings); when a change leaves it, only the categories are
	// decided again.
	Recognised string          `json:"recognised,omitempty"`
	Events     []Event         `json:"events"`
	Talk       []Event         `json:"talk,omitempty"` // talk spans per speaker, for the player
	Categories []string        `json:"categories"`
	Metrics    AnalysisMetrics `json:"metrics"`
	AnalyzedAt time.Time       `json:"analyzedAt"`
	// Peaks are each channel's waveform for the player: one value 0–100
	// (of full scale) per PeakWindowMs. The API leaves them out unless
	// asked (?peaks=true).
	Peaks        []Peaks `json:"peaks,omitempty"`
	PeakWindowMs int     `json:"peakWindowMs,omitempty"`
}

// Peaks is one channel's waveform; it encodes as a JSON list of numbers
// (not base64, as a []byte would).
type Peaks []uint8

// MarshalJSON writes the list of numbers.
func (p Peaks) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, 1+4*len(p))
	out = append(out, '[')
	for i, v := range p {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendUint(out, uint64(v), 10)
	}
	return append(out, ']'), nil
}

// UnmarshalJSON reads a list of numbers 0–255.
func (p *Peaks) UnmarshalJSON(b []byte) error {
	var list []uint8
	var ints []int
	if err := json.Unmarshal(b, &ints); err != nil {
		return err
	}
	for _, v := range ints {
		list = append(list, uint8(max(0, min(255, v))))
	}
	*p = list
	return nil
}

// TrendPoint counts one topic or category in one interval: the recordings
// it was found in and its occurrences.
type TrendPoint struct {
	Start       time.Time `json:"start"`
	Kind        string    `json:"kind"` // topic | category
	Name        string    `json:"name"`
	Recordings  int64     `json:"recordings"`
	Occurrences int64     `json:"occurrences"`
}

// AnalyticsStore is the part of the metadata store that keeps speech
// analytics: each tenant's configuration and each recording's result.
type AnalyticsStore interface {
	// AnalyticsConfig returns a tenant's configuration (defaults and
	// version 0 when never set); ErrNotFound for an unknown tenant.
	AnalyticsConfig(ctx context.Context, tenant string) (AnalyticsConfig, error)
	// UpdateAnalyticsConfig reads the configuration, lets fn change it
	// and return the effects (audit, jobs) to write with it, and saves
	// it with Version one higher, in one transaction that concurrent
	// updates wait for. fn's error aborts and is returned.
	UpdateAnalyticsConfig(ctx context.Context, tenant string, fn func(c *AnalyticsConfig) (Effects, error)) (AnalyticsConfig, error)

	// PutAnalysis stores a recording's analysis, replacing the one
	// before, with its topic and category terms for search and trends;
	// ErrNotFound when the recording is gone.
	PutAnalysis(ctx context.Context, a Analysis) error
	// Analysis returns a recording's analysis; ErrNotFound when it has
	// none (the caller checks access to the recording first).
	Analysis(ctx context.Context, tenant, recordingID string) (Analysis, error)
	// AnalysisTrends counts, per interval of the given length from
	// from (UTC), the topics and categories found in recordings
	// started in [from, to) that access may see.
	AnalysisTrends(ctx context.Context, tenant string, from, to time.Time, interval time.Duration, access Access) ([]TrendPoint, error)
	// AnalysisBacklog lists up to limit ids, after afterID in id order,
	// of recordings stopped at or after since that have a voice media
	// file and either no analysis or one made with a config version
	// below version (version 0: only those without one).
	AnalysisBacklog(ctx context.Context, tenant string, since time.Time, version int64, afterID string, limit int) ([]string, error)
	// CountAnalyzed counts recordings stopped at or after since with
	// voice media whose analysis was made with version or later (any
	// status but pending), and those with voice media in all.
	CountAnalyzed(ctx context.Context, tenant string, since time.Time, version int64) (analyzed, total int64, err error)
}

// DecodeAnalyticsConfig reads a stored configuration: "" is the defaults
// at version 0; settings missing from an older document are defaulted.
func DecodeAnalyticsConfig(doc []byte) (AnalyticsConfig, error) {
	c := AnalyticsConfig{Settings: DefaultAnalyticsSettings()}
	if len(doc) > 0 {
		if err := json.Unmarshal(doc, &c); err != nil {
			return AnalyticsConfig{}, fmt.Errorf("cannot read the analytics configuration: %w", err)
		}
	}
	d := DefaultAnalyticsSettings()
	if c.Settings.Language == "" {
		c.Settings.Language = d.Language
	}
	if c.Settings.AgentChannel == "" {
		c.Settings.AgentChannel = d.AgentChannel
	}
	if c.Topics == nil {
		c.Topics = []Topic{}
	}
	if c.Categories == nil {
		c.Categories = []Category{}
	}
	return c, nil
}

// DecodeAnalysis reads a stored analysis.
func DecodeAnalysis(doc []byte) (Analysis, error) {
	var a Analysis
	if err := json.Unmarshal(doc, &a); err != nil {
		return Analysis{}, fmt.Errorf("cannot read the analysis: %w", err)
	}
	if a.Events == nil {
		a.Events = []Event{}
	}
	if a.Categories == nil {
		a.Categories = []string{}
	}
	return a, nil
}

// AnalysisTerm is one topic or category found in a recording, with how
// often: what search and trends use.
type AnalysisTerm struct {
	Kind        string // topic | category
	Name        string
	Occurrences int64
}

// AnalysisTerms lists a's topics (by occurrences) and categories, sorted.
func AnalysisTerms(a Analysis) []AnalysisTerm {
	counts := map[string]int64{}
	for _, e := range a.Events {
		if e.Type == EventTopic && e.Name != "" {
			counts[e.Name]++
		}
	}
	var out []AnalysisTerm
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, AnalysisTerm{Kind: EventTopic, Name: name, Occurrences: counts[name]})
	}
	for _, name := range slices.Compact(slices.Sorted(slices.Values(a.Categories))) {
		if name != "" {
			out = append(out, AnalysisTerm{Kind: "category", Name: name, Occurrences: 1})
		}
	}
	return out
}
