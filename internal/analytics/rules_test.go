package analytics

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"callvault/internal/vault"
)

func TestThresholdExponent(t *testing.T) {
	for _, phones := range []int{3, 8, 14, 30} {
		last := 1 << 30
		for s := 0; s <= 100; s += 10 {
			n := ThresholdExponent(phones, s)
			if n > last || n < 1 || n > maxExponent {
				t.Errorf("phones %d, strictness %d: exponent %d after %d (must fall as strictness rises, within 1..%d)", phones, s, n, last, maxExponent)
			}
			last = n
		}
	}
	if ThresholdExponent(14, 50) <= ThresholdExponent(4, 50) {
		t.Error("a longer phrase must get a more lenient threshold at the same strictness")
	}
	if ThresholdExponent(10, -5) != ThresholdExponent(10, 0) || ThresholdExponent(10, 500) != ThresholdExponent(10, 100) {
		t.Error("strictness is clamped to 0..100")
	}
}

var testDict = func() *Dictionary {
	d, err := ReadDictionary(strings.NewReader(`cancel K AE N S AH L
my M AY
subscription S AH B S K R IH P SH AH N
refund R IH F AH N D
refund(2) R IY F AH N D
no N OW
`))
	if err != nil {
		panic(err)
	}
	return d
}()

func TestCheckTopic(t *testing.T) {
	good := vault.Topic{Name: "churn", Phrases: []vault.Phrase{{Text: "Cancel, my  SUBSCRIPTION!"}, {Text: "refund"}}}
	warnings, err := CheckTopic(&good, testDict, false)
	if err != nil {
		t.Fatal(err)
	}
	if good.Strictness != DefaultStrictness || good.Speaker != vault.SpeakerAny || good.Phrases[0].Text != "cancel my subscription" {
		t.Errorf("not normalised: %+v", good)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"refund" is short (6 phones)`) {
		t.Errorf("warnings %q, want one for refund (6 phones)", warnings)
	}
	short := vault.Topic{Name: "no", Phrases: []vault.Phrase{{Text: "no"}}}
	if w, err := CheckTopic(&short, testDict, false); err != nil || len(w) != 1 || !strings.Contains(w[0], `"no" is short`) {
		t.Errorf("short phrase: %q, %v", w, err)
	}
	eleven := 11
	for name, tc := range map[string]struct {
		topic vault.Topic
		want  string
	}{
		"unknown word":     {vault.Topic{Name: "x", Phrases: []vault.Phrase{{Text: "cancel my frobnication"}}}, `the word "frobnication" is not in the recogniser's dictionary`},
		"no phrases":       {vault.Topic{Name: "x"}, "give 1 to 50 phrases"},
		"empty phrase":     {vault.Topic{Name: "x", Phrases: []vault.Phrase{{Text: " ,. "}}}, "give 1 to 8 words"},
		"too long":         {vault.Topic{Name: "x", Phrases: []vault.Phrase{{Text: strings.Repeat("my ", 9)}}}, "give 1 to 8 words"},
		"twice":            {vault.Topic{Name: "x", Phrases: []vault.Phrase{{Text: "refund"}, {Text: "Refund"}}}, "given twice"},
		"bad strictness":   {vault.Topic{Name: "x", Strictness: 101, Phrases: []vault.Phrase{{Text: "refund"}}}, "strictness must be from 0 to 100"},
		"phrase strict":    {vault.Topic{Name: "x", Phrases: []vault.Phrase{{Text: "refund", Strictness: func() *int { v := -1; return &v }()}}}, "strictness must be from 0 to 100"},
		"bad speaker":      {vault.Topic{Name: "x", Speaker: "boss", Phrases: []vault.Phrase{{Text: "refund"}}}, "speaker must be agent, customer or any"},
		"no name":          {vault.Topic{Phrases: []vault.Phrase{{Text: "refund"}}}, "a topic name is 1 to 64 characters"},
		"control char":     {vault.Topic{Name: "a\x00b", Phrases: []vault.Phrase{{Text: "refund"}}}, "printable"},
		"spaces around":    {vault.Topic{Name: " x", Phrases: []vault.Phrase{{Text: "refund"}}}, "without surrounding spaces"},
		"strictness given": {vault.Topic{Name: "x", Strictness: eleven * 10, Phrases: []vault.Phrase{{Text: "refund"}}}, "strictness must be from 0 to 100"},
	} {
		topic := tc.topic
		_, err := CheckTopic(&topic, testDict, true)
		var ve *vault.Error
		if !errors.As(err, &ve) || ve.Code != vault.EINVALID || !strings.Contains(ve.Message, tc.want) {
			t.Errorf("%s: %v, want EINVALID with %q", name, err, tc.want)
		}
	}
}

func TestCategorize(t *testing.T) {
	topic := func(name, speaker string, startMs int64) vault.Event {
		return vault.Event{Type: vault.EventTopic, Name: name, Speaker: speaker, StartMs: startMs, EndMs: startMs + 800}
	}
	events := []vault.Event{
		topic("greeting", vault.SpeakerAgent, 1000),
		topic("cancel", vault.SpeakerCustomer, 30000),
		topic("cancel", vault.SpeakerCustomer, 95000),
		topic("price", vault.SpeakerAgent, 50000),
		{Type: vault.EventSilence, StartMs: 60000, EndMs: 70000},
	}
	const length = 100000 // 100 s
	for _, tc := range []struct {
		cat  vault.Category
		want bool
	}{
		{vault.Category{All: []string{"cancel"}}, true},
		{vault.Category{All: []string{"cancel", "price"}}, true},
		{vault.Category{All: []string{"cancel", "refund"}}, false},
		{vault.Category{Any: []string{"refund", "price"}}, true},
		{vault.Category{Any: []string{"refund"}}, false},
		{vault.Category{None: []string{"refund"}}, true},
		{vault.Category{All: []string{"cancel"}, None: []string{"price"}}, false},
		{vault.Category{All: []string{"cancel"}, MinOccurrences: 2}, true},
		{vault.Category{All: []string{"cancel"}, MinOccurrences: 3}, false},
		{vault.Category{Any: []string{"cancel", "price"}, MinOccurrences: 2}, true},
		{vault.Category{All: []string{"greeting"}, Within: &vault.Window{FromSec: 0, ToSec: 10}}, true},
		{vault.Category{None: []string{"greeting"}, Within: &vault.Window{FromSec: 0, ToSec: 10}}, false},
		{vault.Category{All: []string{"greeting"}, Within: &vault.Window{FromSec: 10, ToSec: 0}}, false},             // from 10 s to the end
		{vault.Category{All: []string{"cancel"}, Within: &vault.Window{FromSec: 0, ToSec: 10, FromEnd: true}}, true}, // last 10 s: 95 s
		{vault.Category{All: []string{"cancel"}, Within: &vault.Window{FromSec: 0, ToSec: 10, FromEnd: true}, MinOccurrences: 2}, false},
		{vault.Category{All: []string{"price"}, Within: &vault.Window{FromSec: 10, ToSec: 60, FromEnd: true}}, true}, // 40–90 s
		{vault.Category{All: []string{"cancel"}, Speaker: vault.SpeakerAgent}, false},
		{vault.Category{All: []string{"cancel"}, Speaker: vault.SpeakerCustomer}, true},
		{vault.Category{Any: []string{"cancel", "price"}, Speaker: vault.SpeakerAgent}, true},
		{vault.Category{All: []string{"cancel"}, Speaker: vault.SpeakerAny}, true},
	} {
		tc.cat.Name = "c"
		got := slices.Equal(Categorize([]vault.Category{tc.cat}, events, length), []string{"c"})
		if got != tc.want {
			t.Errorf("%+v (within %+v): %v, want %v", tc.cat, tc.cat.Within, got, tc.want)
		}
	}
	// A mono call's unknown speaker counts for either.
	mono := []vault.Event{topic("cancel", vault.SpeakerUnknown, 1000)}
	if got := Categorize([]vault.Category{{Name: "c", All: []string{"cancel"}, Speaker: vault.SpeakerCustomer}}, mono, length); len(got) != 1 {
		t.Errorf("unknown speaker: %q", got)
	}
}

func TestCheckCategory(t *testing.T) {
	topics := []vault.Topic{{Name: "cancel"}, {Name: "price"}}
	ok := vault.Category{Name: "churn", All: []string{"cancel"}, Within: &vault.Window{ToSec: 30}}
	if err := CheckCategory(&ok, topics); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cat  vault.Category
		want string
	}{
		"empty":       {vault.Category{Name: "c"}, "give topics in all, any or none"},
		"unknown":     {vault.Category{Name: "c", Any: []string{"refund"}}, `there is no topic "refund"`},
		"window":      {vault.Category{Name: "c", All: []string{"cancel"}, Within: &vault.Window{FromSec: 30, ToSec: 10}}, "within"},
		"negative":    {vault.Category{Name: "c", All: []string{"cancel"}, Within: &vault.Window{FromSec: -1}}, "within"},
		"occurrences": {vault.Category{Name: "c", All: []string{"cancel"}, MinOccurrences: -2}, "minOccurrences"},
		"speaker":     {vault.Category{Name: "c", All: []string{"cancel"}, Speaker: "boss"}, "speaker"},
	} {
		cat := tc.cat
		err := CheckCategory(&cat, topics)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if used := UsedBy([]vault.Category{ok}, "cancel"); !slices.Equal(used, []string{"churn"}) {
		t.Errorf("UsedBy = %q", used)
	}
}

func TestSpans(t *testing.T) {
	a := []Span{{0, 1000}, {5000, 9000}}
	b := []Span{{800, 1200}, {7000, 12000}}
	if got := overlaps(a, b, 300); !slices.Equal(got, []Span{{7000, 9000}}) {
		t.Errorf("overlaps = %v", got)
	}
	if got := gaps(union(a, b), 20000, 3000); !slices.Equal(got, []Span{{1200, 5000}, {12000, 20000}}) {
		t.Errorf("gaps = %v", got)
	}
}

func TestParseHits(t *testing.T) {
	out := "refund  cancel my subscription \nrefund  6.160 6.640 0.883986\ncancel my subscription  3.720 5.220 0.936217\nother words 1.0 2.0 0.5\nrefund -1 2 0.5\nrefund 3 2 0.5\nrefund NaN 2 0.5"
	hits, err := parseHits(strings.NewReader(out), map[string]bool{"refund": true, "cancel my subscription": true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Hit{{"refund", 6160, 6640, 0.883986}, {"cancel my subscription", 3720, 5220, 0.936217}}
	if !slices.Equal(hits, want) {
		t.Errorf("hits = %+v", hits)
	}
}

func FuzzParseHits(f *testing.F) {
	f.Add("refund  6.160 6.640 0.883986\ncancel my subscription  3.720 5.220 0.936217\n")
	f.Add("refund 1e300 1e301 2\n\x00\xff refund 1 2 3")
	known := map[string]bool{"refund": true, "cancel my subscription": true}
	f.Fuzz(func(t *testing.T, out string) {
		hits, _ := parseHits(strings.NewReader(out), known)
		for _, h := range hits {
			if !known[h.Phrase] || h.StartMs < 0 || h.EndMs < h.StartMs || h.Confidence < 0 || h.Confidence > 1 {
				t.Fatalf("bad hit %+v", h)
			}
		}
	})
}

func FuzzReadDictionary(f *testing.F) {
	f.Add("cancel K AE N S AH L\nrefund(2) R IY F AH N D\n;; comment\n")
	f.Fuzz(func(t *testing.T, text string) {
		d, err := ReadDictionary(strings.NewReader(text))
		if err != nil {
			return
		}
		for w := range d.phones {
			if n, ok := d.Phones(w); !ok || n < 1 {
				t.Fatalf("word %q with %d phones", w, n)
			}
		}
		_ = d.subset(Words(text))
	})
}

// FuzzCheckTopic: a topic as a client sends it (name, phrases,
// strictness, speaker) is refused with a domain error or accepted
// normalised, never a panic.
func FuzzCheckTopic(f *testing.F) {
	f.Add("churn", "cancel my subscription", "refund", 50, "customer")
	f.Add("", "\x00", "my  my", -1, "boss")
	f.Fuzz(func(t *testing.T, name, phrase1, phrase2 string, strictness int, speaker string) {
		topic := vault.Topic{Name: name, Strictness: strictness, Speaker: speaker, Phrases: []vault.Phrase{{Text: phrase1}, {Text: phrase2, Strictness: &strictness}}}
		_, err := CheckTopic(&topic, testDict, true)
		if err != nil {
			var ve *vault.Error
			if !errors.As(err, &ve) || ve.Code != vault.EINVALID {
				t.Fatalf("not a domain error: %v", err)
			}
			return
		}
		for _, p := range topic.Phrases {
			for _, w := range strings.Fields(p.Text) {
				if _, ok := testDict.Phones(w); !ok {
					t.Fatalf("accepted %q with a word not in the dictionary", p.Text)
				}
			}
		}
	})
}
