package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"callvault/internal/vault"
)

// testAnalytics pins down vault.AnalyticsStore, each part on a store of
// its own. Besides what the interface documents, it pins down:
//   - a new tenant's configuration is the defaults at version 0, with
//     empty (not nil) topics and categories; fn is not called for an
//     unknown tenant;
//   - a failing fn, or effects that fail, leave the configuration, the
//     audit and the jobs as they were; fn's error comes back as it gave it;
//   - an analysis read back has its tenant and recording id, and empty
//     (not nil) events and categories;
//   - searches by topic and by category are by kind: a topic does not
//     match a category of the same name; MinSilenceMs matches a longest
//     silence equal to it; recordings without an analysis match none;
//   - trend points come in order of interval start, kind, name; intervals
//     are half-open and start at from plus whole intervals; recordings
//     without a start time count in none;
//   - a recording made again with a deleted one's id has no analysis.
func testAnalytics(t *testing.T, fresh func(t *testing.T) (vault.Store, *fakeQueue)) {
	t.Run("Config", func(t *testing.T) { testAnalyticsConfig(t, fresh) })
	t.Run("ConcurrentConfig", func(t *testing.T) {
		s, _ := fresh(t)
		testAnalyticsConcurrentConfig(t, s)
	})
	t.Run("Results", func(t *testing.T) {
		s, _ := fresh(t)
		testAnalysisResults(t, s)
	})
	t.Run("Search", func(t *testing.T) {
		s, _ := fresh(t)
		testAnalysisSearch(t, s)
	})
	t.Run("Trends", func(t *testing.T) {
		s, _ := fresh(t)
		testAnalysisTrends(t, s)
	})
	t.Run("Backlog", func(t *testing.T) {
		s, _ := fresh(t)
		testAnalysisBacklog(t, s)
	})
	t.Run("DeleteRecording", func(t *testing.T) {
		s, _ := fresh(t)
		testAnalysisDeleted(t, s)
	})
}

// analysisOf is a done analysis of a recording that found each of topics
// once per mention (a topic named twice occurs twice), the categories,
// and a longest silence of silenceMs.
func analysisOf(tenant, id string, version, silenceMs int64, categories []string, topics ...string) vault.Analysis {
	a := vault.Analysis{
		Tenant: tenant, RecordingID: id, Status: vault.AnalysisDone, Engine: "pocketsphinx", Language: "en-US",
		MediaID: "a1", Channels: 2, Version: version, Categories: categories,
		Metrics:    vault.AnalysisMetrics{DurationMs: 60000, SilenceMs: silenceMs, LongestSilenceMs: silenceMs},
		AnalyzedAt: base.Add(time.Hour),
	}
	for i, topic := range topics {
		at := int64(i) * 1000
		a.Events = append(a.Events, vault.Event{Type: vault.EventTopic, Name: topic, Phrase: topic + " phrase",
			Speaker: vault.SpeakerCustomer, StartMs: at, EndMs: at + 800, Confidence: 0.75})
	}
	if silenceMs > 0 {
		a.Events = append(a.Events, vault.Event{Type: vault.EventSilence, StartMs: 50000, EndMs: 50000 + silenceMs})
	}
	return a
}

func putAnalysis(t *testing.T, s vault.Store, a vault.Analysis) {
	t.Helper()
	if err := s.PutAnalysis(t.Context(), a); err != nil {
		t.Fatalf("PutAnalysis(%q, %q): %v", a.Tenant, a.RecordingID, err)
	}
}

// asJSON is v's JSON, to compare documents whole.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func analyticsConfig(t *testing.T, s vault.Store, tenant string) vault.AnalyticsConfig {
	t.Helper()
	c, err := s.AnalyticsConfig(t.Context(), tenant)
	if err != nil {
		t.Fatalf("AnalyticsConfig(%q): %v", tenant, err)
	}
	return c
}

func testAnalyticsConfig(t *testing.T, fresh func(t *testing.T) (vault.Store, *fakeQueue)) {
	ctx := t.Context()
	s, q := fresh(t)
	mustTenants(t, s, "acme", "globex")

	c := analyticsConfig(t, s, "acme")
	if c.Version != 0 || c.Settings != vault.DefaultAnalyticsSettings() || c.Topics == nil || len(c.Topics) != 0 ||
		c.Categories == nil || len(c.Categories) != 0 {
		t.Fatalf("AnalyticsConfig of a new tenant = %+v; want the defaults at version 0, no topics or categories", c)
	}
	_, err := s.AnalyticsConfig(ctx, "nobody")
	checkNotFound(t, "AnalyticsConfig of an unknown tenant", err)
	called := false
	_, err = s.UpdateAnalyticsConfig(ctx, "nobody", func(*vault.AnalyticsConfig) (vault.Effects, error) {
		called = true
		return vault.Effects{}, nil
	})
	checkNotFound(t, "UpdateAnalyticsConfig of an unknown tenant", err)
	if called {
		t.Error("UpdateAnalyticsConfig called fn for an unknown tenant")
	}

	strict := 70
	want := vault.AnalyticsConfig{
		Settings: vault.AnalyticsSettings{Language: "de-DE", AgentChannel: "right", SilenceMs: 5000, ReanalyzeDays: 7},
		Topics: []vault.Topic{{Name: "billing", Phrases: []vault.Phrase{{Text: "my bill"}, {Text: "invoice", Strictness: &strict}},
			Strictness: 50, Speaker: vault.SpeakerCustomer, UpdatedAt: base}},
		Categories: []vault.Category{{Name: "angry billing", All: []string{"billing"}, None: []string{"thanks"}, MinOccurrences: 2,
			Within: &vault.Window{FromSec: 0, ToSec: 60}, Speaker: vault.SpeakerCustomer, UpdatedAt: base}},
		Version: 1,
	}
	got, err := s.UpdateAnalyticsConfig(ctx, "acme", func(c *vault.AnalyticsConfig) (vault.Effects, error) {
		c.Settings, c.Topics, c.Categories = want.Settings, want.Topics, want.Categories
		return vault.Effects{
			Audit: []vault.AuditEntry{entry("acme", "admin", "settings.analytics", "acme", 1)},
			Jobs:  []vault.Job{{Tenant: "acme", Kind: "analytics.reanalyze", Args: json.RawMessage(`{"days":7}`), CreatedBy: "admin"}},
		}, nil
	})
	if err != nil {
		t.Fatalf("UpdateAnalyticsConfig: %v", err)
	}
	if asJSON(t, got) != asJSON(t, want) {
		t.Errorf("UpdateAnalyticsConfig returned %s, want %s", asJSON(t, got), asJSON(t, want))
	}
	if stored := analyticsConfig(t, s, "acme"); asJSON(t, stored) != asJSON(t, want) {
		t.Errorf("AnalyticsConfig after an update = %s, want %s", asJSON(t, stored), asJSON(t, want))
	}
	if other := analyticsConfig(t, s, "globex"); other.Version != 0 || len(other.Topics) != 0 {
		t.Errorf("another tenant's configuration changed: %+v", other)
	}
	entries := scanAll(t, s, "acme")
	if len(entries) != 1 || entries[0].Action != "settings.analytics" || entries[0].Target != "acme" {
		t.Errorf("audit after UpdateAnalyticsConfig = %+v, want its settings.analytics entry", entries)
	}
	verifyChain(t, s, "acme")
	jobs, err := s.JobInfos(ctx, "acme", 0, 10)
	if err != nil || len(jobs) != 1 || jobs[0].Kind != "analytics.reanalyze" || jobs[0].CreatedBy != "admin" {
		t.Errorf("JobInfos after UpdateAnalyticsConfig = %+v, %v; want its analytics.reanalyze job", jobs, err)
	}

	// fn sees what is stored; its error, a domain one or not, undoes
	// what it changed and comes back as it was given.
	refusal := vault.Errorf(vault.EINVALID, "word %q is not in the dictionary", "zyxt")
	for _, fnErr := range []error{refusal, errors.New("plain failure")} {
		_, err = s.UpdateAnalyticsConfig(ctx, "acme", func(c *vault.AnalyticsConfig) (vault.Effects, error) {
			if c.Version != 1 || len(c.Topics) != 1 || c.Topics[0].Name != "billing" || c.Settings.Language != "de-DE" {
				t.Errorf("fn was given %+v, want the stored configuration", c)
			}
			c.Settings.Language = "fr-FR"
			c.Topics = append(c.Topics, vault.Topic{Name: "zyxt", Phrases: []vault.Phrase{{Text: "zyxt"}}})
			return vault.Effects{}.Add(entry("acme", "admin", "settings.analytics", "refused", 2)), fnErr
		})
		if !errors.Is(err, fnErr) {
			t.Errorf("UpdateAnalyticsConfig whose fn failed with %v returned %v", fnErr, err)
		}
	}
	var domain *vault.Error
	if _, err = s.UpdateAnalyticsConfig(ctx, "acme", func(*vault.AnalyticsConfig) (vault.Effects, error) {
		return vault.Effects{}, refusal
	}); !errors.As(err, &domain) || domain.Code != vault.EINVALID || vault.ErrorMessage(err) != `word "zyxt" is not in the dictionary` {
		t.Errorf("fn's *vault.Error came back as %v (code %q)", err, vault.ErrorCode(err))
	}
	// Effects that fail undo the update too.
	q.set(errors.New("queue down"), false)
	if _, err = s.UpdateAnalyticsConfig(ctx, "acme", func(c *vault.AnalyticsConfig) (vault.Effects, error) {
		c.Settings.SilenceMs = 1
		return vault.Effects{Jobs: []vault.Job{{Tenant: "acme", Kind: "analytics.reanalyze", Args: json.RawMessage(`{}`)}}}, nil
	}); err == nil {
		t.Error("UpdateAnalyticsConfig with a failing queue succeeded")
	}
	q.set(nil, false)
	if stored := analyticsConfig(t, s, "acme"); asJSON(t, stored) != asJSON(t, want) {
		t.Errorf("AnalyticsConfig after failed updates = %s, want it unchanged: %s", asJSON(t, stored), asJSON(t, want))
	}
	if entries := scanAll(t, s, "acme"); len(entries) != 1 {
		t.Errorf("failed updates appended to the audit: %+v", entries)
	}
	if jobs, _ := s.JobInfos(ctx, "acme", 0, 10); len(jobs) != 1 {
		t.Errorf("failed updates recorded jobs: %+v", jobs)
	}

	// The next update starts from the stored document.
	got, err = s.UpdateAnalyticsConfig(ctx, "acme", func(c *vault.AnalyticsConfig) (vault.Effects, error) {
		c.Topics = append(c.Topics, vault.Topic{Name: "cancel", Phrases: []vault.Phrase{{Text: "cancel my contract"}}, Speaker: vault.SpeakerAny})
		return vault.Effects{}, nil
	})
	if err != nil || got.Version != 2 || len(got.Topics) != 2 || got.Settings.Language != "de-DE" || len(got.Categories) != 1 {
		t.Fatalf("second UpdateAnalyticsConfig = %+v, %v; want version 2 with both topics", got, err)
	}
	if stored := analyticsConfig(t, s, "acme"); stored.Version != 2 || len(stored.Topics) != 2 || stored.Topics[1].Name != "cancel" {
		t.Errorf("AnalyticsConfig after the second update = %+v", stored)
	}
}

// testAnalyticsConcurrentConfig runs updaters side by side, each adding a
// topic: none may be lost, and each must see the version the one before
// it saved.
func testAnalyticsConcurrentConfig(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	const updaters = 8
	var wg sync.WaitGroup
	versions := make(chan int64, updaters)
	for i := range updaters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.UpdateAnalyticsConfig(ctx, "acme", func(c *vault.AnalyticsConfig) (vault.Effects, error) {
				c.Topics = append(c.Topics, vault.Topic{Name: fmt.Sprintf("topic%d", i), Phrases: []vault.Phrase{{Text: "hello"}}})
				return vault.Effects{}.Add(entry("acme", fmt.Sprintf("admin%d", i), "settings.analytics", "acme", i)), nil
			})
			if err != nil {
				t.Errorf("concurrent UpdateAnalyticsConfig %d: %v", i, err)
				return
			}
			versions <- c.Version
		}()
	}
	wg.Wait()
	close(versions)
	var got []int64
	for v := range versions {
		got = append(got, v)
	}
	slices.Sort(got)
	if want := []int64{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Errorf("concurrent updates saved versions %v, want %v", got, want)
	}
	c := analyticsConfig(t, s, "acme")
	var names []string
	for _, topic := range c.Topics {
		names = append(names, topic.Name)
	}
	slices.Sort(names)
	var want []string
	for i := range updaters {
		want = append(want, fmt.Sprintf("topic%d", i))
	}
	if c.Version != updaters || !slices.Equal(names, want) {
		t.Errorf("after %d concurrent updates: version %d, topics %q; want version %d, %q", updaters, c.Version, names, updaters, want)
	}
	if n := verifyChain(t, s, "acme"); n != updaters {
		t.Errorf("the audit has %d entries after %d concurrent updates", n, updaters)
	}
}

func testAnalysisResults(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	put(t, s, vault.Recording{Tenant: "acme", ID: "r1", StartTime: base})

	_, err := s.Analysis(ctx, "acme", "r1")
	checkNotFound(t, "Analysis before any", err)
	checkNotFound(t, "PutAnalysis of a missing recording", s.PutAnalysis(ctx, analysisOf("acme", "nope", 1, 0, nil, "billing")))
	checkNotFound(t, "PutAnalysis of another tenant's recording", s.PutAnalysis(ctx, analysisOf("globex", "r1", 1, 0, nil, "billing")))

	first := analysisOf("acme", "r1", 3, 4000, []string{"angry", "billing issue"}, "billing", "cancel", "billing")
	first.Events = append(first.Events, vault.Event{Type: vault.EventCrosstalk, Speaker: vault.SpeakerAny, StartMs: 7000, EndMs: 7400})
	first.Talk = []vault.Event{{Type: vault.EventTalk, Speaker: vault.SpeakerAgent, StartMs: 0, EndMs: 3000},
		{Type: vault.EventTalk, Speaker: vault.SpeakerCustomer, StartMs: 3000, EndMs: 9000}}
	first.Metrics = vault.AnalysisMetrics{DurationMs: 60000, AgentTalkMs: 3000, CustomerTalkMs: 6000, SilenceMs: 4000,
		CrosstalkMs: 400, LongestSilenceMs: 4000}
	putAnalysis(t, s, first)
	got, err := s.Analysis(ctx, "acme", "r1")
	if err != nil {
		t.Fatalf("Analysis: %v", err)
	}
	if got.Tenant != "acme" || got.RecordingID != "r1" || asJSON(t, got) != asJSON(t, first) {
		t.Errorf("Analysis = %+v (tenant %q),\nwant %s", asJSON(t, got), got.Tenant, asJSON(t, first))
	}
	_, err = s.Analysis(ctx, "globex", "r1")
	checkNotFound(t, "another tenant's Analysis", err)
	if found := search(t, s, "acme", vault.SearchFilter{Topic: "billing"}, all); !slices.Equal(found, []string{"r1"}) {
		t.Errorf("search by topic after PutAnalysis = %q", found)
	}

	// A later analysis replaces the first, terms and all.
	failed := vault.Analysis{Tenant: "acme", RecordingID: "r1", Status: vault.AnalysisFailed, Error: "cannot decode",
		Version: 4, AnalyzedAt: base.Add(2 * time.Hour)}
	putAnalysis(t, s, failed)
	got, err = s.Analysis(ctx, "acme", "r1")
	if err != nil || got.Status != vault.AnalysisFailed || got.Error != "cannot decode" || got.Version != 4 ||
		got.Events == nil || len(got.Events) != 0 || got.Categories == nil || len(got.Categories) != 0 ||
		got.Metrics != (vault.AnalysisMetrics{}) || !got.AnalyzedAt.Equal(base.Add(2*time.Hour)) {
		t.Errorf("Analysis after a replacement = %+v, %v; want the failed one with empty lists", got, err)
	}
	for what, f := range map[string]vault.SearchFilter{
		"its topic": {Topic: "billing"}, "its category": {Category: "angry"}, "a silence": {MinSilenceMs: 1},
	} {
		if found := search(t, s, "acme", f, all); len(found) != 0 {
			t.Errorf("search by %s of the replaced analysis = %q, want none", what, found)
		}
	}
}

func testAnalysisSearch(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	for i, r := range []vault.Recording{
		{ID: "r1", Agents: []string{"ann"}, Groups: []string{"/sales"}},
		{ID: "r2", Agents: []string{"bob"}, Groups: []string{"/support"}},
		{ID: "r3", Agents: []string{"ann"}, Groups: []string{"/sales"}},
		{ID: "r4", Agents: []string{"ann"}, Groups: []string{"/sales"}}, // never analysed
		{ID: "r5", Agents: []string{"ann"}, Groups: []string{"/support"}},
	} {
		r.Tenant, r.StartTime = "acme", base.Add(time.Duration(i)*time.Minute)
		put(t, s, r)
	}
	put(t, s, vault.Recording{Tenant: "globex", ID: "g1", StartTime: base})
	putAnalysis(t, s, analysisOf("acme", "r1", 1, 5000, []string{"churn"}, "billing", "billing", "cancel"))
	putAnalysis(t, s, analysisOf("acme", "r2", 1, 4999, nil, "billing"))
	putAnalysis(t, s, analysisOf("acme", "r3", 1, 5001, []string{"churn"}, "cancel"))
	putAnalysis(t, s, analysisOf("acme", "r5", 1, 5000, []string{"churn"}, "billing"))
	putAnalysis(t, s, analysisOf("globex", "g1", 1, 9000, []string{"churn"}, "billing"))

	ann, bob, sales := vault.Access{UserName: "ann"}, vault.Access{UserName: "bob"}, vault.Access{Groups: []string{"/sales"}}
	for _, tc := range []struct {
		name   string
		f      vault.SearchFilter
		access vault.Access
		want   []string
	}{
		{"topic", vault.SearchFilter{Topic: "billing"}, all, []string{"r1", "r2", "r5"}},
		{"another topic", vault.SearchFilter{Topic: "cancel"}, all, []string{"r1", "r3"}},
		{"unknown topic", vault.SearchFilter{Topic: "refund"}, all, nil},
		{"a category is not a topic", vault.SearchFilter{Topic: "churn"}, all, nil},
		{"category", vault.SearchFilter{Category: "churn"}, all, []string{"r1", "r3", "r5"}},
		{"a topic is not a category", vault.SearchFilter{Category: "billing"}, all, nil},
		{"silence equal to the minimum", vault.SearchFilter{MinSilenceMs: 5000}, all, []string{"r1", "r3", "r5"}},
		{"silence above", vault.SearchFilter{MinSilenceMs: 5001}, all, []string{"r3"}},
		{"any silence", vault.SearchFilter{MinSilenceMs: 1}, all, []string{"r1", "r2", "r3", "r5"}},
		{"topic and category", vault.SearchFilter{Topic: "billing", Category: "churn"}, all, []string{"r1", "r5"}},
		{"topic and silence", vault.SearchFilter{Topic: "billing", MinSilenceMs: 5000}, all, []string{"r1", "r5"}},
		{"topic and agent", vault.SearchFilter{Topic: "cancel", UserName: "ann"}, all, []string{"r1", "r3"}},
		{"topic and start time", vault.SearchFilter{Topic: "billing", StartFrom: base.Add(time.Minute)}, all, []string{"r2", "r5"}},
		{"topic seen by an agent", vault.SearchFilter{Topic: "billing"}, bob, []string{"r2"}},
		{"topic seen by another agent", vault.SearchFilter{Topic: "billing"}, ann, []string{"r1", "r5"}},
		{"topic seen by a group", vault.SearchFilter{Topic: "billing"}, sales, []string{"r1"}},
		{"category seen by a group", vault.SearchFilter{Category: "churn"}, sales, []string{"r1", "r3"}},
		{"silence seen by an agent", vault.SearchFilter{MinSilenceMs: 5000}, bob, nil},
		{"topic seen by an agent of none", vault.SearchFilter{Topic: "billing"}, vault.Access{UserName: "carl"}, nil},
		{"topic seen by nobody", vault.SearchFilter{Topic: "billing"}, vault.Access{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == nil {
				want = []string{}
			}
			if got := search(t, s, "acme", tc.f, tc.access); !slices.Equal(got, want) {
				t.Errorf("SearchRecordings = %q, want %q", got, want)
			}
			for _, limit := range []int{1, 2} {
				f := tc.f
				f.Limit = limit
				if got := ids(pageAll(t, s, "acme", f, tc.access, nil)); !slices.Equal(got, want) {
					t.Errorf("SearchRecordings in pages of %d = %q, want %q", limit, got, want)
				}
			}
		})
	}
	if n, err := s.CountRecordings(ctx, "acme", vault.SearchFilter{Topic: "billing", Category: "churn"}); err != nil || n != 2 {
		t.Errorf("CountRecordings by topic and category = %d, %v; want 2", n, err)
	}
	if got := search(t, s, "globex", vault.SearchFilter{Topic: "billing", Category: "churn", MinSilenceMs: 5000}, all); !slices.Equal(got, []string{"g1"}) {
		t.Errorf("another tenant's search = %q, want its own g1", got)
	}
}

func testAnalysisTrends(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	day := 24 * time.Hour
	from := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(3 * day)
	for _, r := range []vault.Recording{
		{ID: "early", StartTime: from.Add(time.Hour), Agents: []string{"ann"}},
		{ID: "late", StartTime: from.Add(day - time.Millisecond), Agents: []string{"bob"}}, // the last instant of day 1
		{ID: "day3", StartTime: from.Add(2 * day), Agents: []string{"ann"}},                // the first of day 3
		{ID: "before", StartTime: from.Add(-time.Millisecond), Agents: []string{"ann"}},
		{ID: "at-end", StartTime: to, Agents: []string{"ann"}},
		{ID: "unstarted", Agents: []string{"ann"}},
	} {
		r.Tenant = "acme"
		put(t, s, r)
		if r.ID != "early" && r.ID != "day3" {
			putAnalysis(t, s, analysisOf("acme", r.ID, 1, 0, nil, "billing"))
		}
	}
	putAnalysis(t, s, analysisOf("acme", "early", 1, 0, []string{"churn"}, "billing", "cancel", "billing"))
	putAnalysis(t, s, analysisOf("acme", "day3", 1, 0, []string{"churn"}, "billing", "billing", "billing"))
	put(t, s, vault.Recording{Tenant: "globex", ID: "g1", StartTime: from.Add(time.Hour)})
	putAnalysis(t, s, analysisOf("globex", "g1", 1, 0, []string{"churn"}, "billing"))

	point := func(start time.Time, kind, name string, recordings, occurrences int64) vault.TrendPoint {
		return vault.TrendPoint{Start: start, Kind: kind, Name: name, Recordings: recordings, Occurrences: occurrences}
	}
	day1, day3 := from, from.Add(2*day)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		access   vault.Access
		want     []vault.TrendPoint
	}{
		{"all", from, to, all, []vault.TrendPoint{
			point(day1, "category", "churn", 1, 1),
			point(day1, vault.EventTopic, "billing", 2, 3),
			point(day1, vault.EventTopic, "cancel", 1, 1),
			point(day3, "category", "churn", 1, 1),
			point(day3, vault.EventTopic, "billing", 1, 3),
		}},
		{"an agent", from, to, vault.Access{UserName: "bob"}, []vault.TrendPoint{
			point(day1, vault.EventTopic, "billing", 1, 1),
		}},
		{"another agent", from, to, vault.Access{UserName: "ann"}, []vault.TrendPoint{
			point(day1, "category", "churn", 1, 1),
			point(day1, vault.EventTopic, "billing", 1, 2),
			point(day1, vault.EventTopic, "cancel", 1, 1),
			point(day3, "category", "churn", 1, 1),
			point(day3, vault.EventTopic, "billing", 1, 3),
		}},
		{"nobody", from, to, vault.Access{}, nil},
		// Intervals count from from, not from midnight.
		{"from noon", from.Add(12 * time.Hour), to, all, []vault.TrendPoint{
			point(from.Add(12*time.Hour), vault.EventTopic, "billing", 1, 1),
			point(from.Add(36*time.Hour), "category", "churn", 1, 1),
			point(from.Add(36*time.Hour), vault.EventTopic, "billing", 1, 3),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AnalysisTrends(ctx, "acme", tc.from, tc.to, day, tc.access)
			if err != nil {
				t.Fatalf("AnalysisTrends: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("AnalysisTrends = %+v,\nwant %+v", got, tc.want)
			}
			for i := range got {
				checkTime(t, fmt.Sprintf("point %d's start", i), got[i].Start, tc.want[i].Start)
				if g, w := got[i], tc.want[i]; g.Kind != w.Kind || g.Name != w.Name || g.Recordings != w.Recordings || g.Occurrences != w.Occurrences {
					t.Errorf("point %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
	if got, err := s.AnalysisTrends(ctx, "globex", from, to, day, all); err != nil || len(got) != 2 {
		t.Errorf("another tenant's trends = %+v, %v; want its own two points", got, err)
	}
	if _, err := s.AnalysisTrends(ctx, "acme", from, to, 0, all); err == nil {
		t.Error("AnalysisTrends with a zero interval succeeded")
	}
}

func testAnalysisBacklog(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme", "globex")
	since := base
	voice := func(tenant, id, mediaType string) {
		putMedia(t, s, vault.Media{Tenant: tenant, RecordingID: id, MediaID: "m-" + mediaType[:5], Type: mediaType, BlobKey: tenant + "/" + id + "/" + mediaType})
	}
	for _, r := range []struct {
		id      string
		stop    time.Time
		media   []string
		version int64 // of its analysis; 0: none
		status  string
	}{
		{"b1", since.Add(time.Hour), []string{"audio/wav"}, 0, ""},
		{"b2", since.Add(time.Hour), []string{"video/mp4"}, 0, ""},         // no voice
		{"b3", since.Add(-time.Millisecond), []string{"audio/wav"}, 0, ""}, // stopped before since
		{"b4", time.Time{}, []string{"audio/wav"}, 0, ""},                  // not stopped
		{"b5", since, []string{"audio/mp3"}, 0, ""},                        // stopped at since
		{"b6", since.Add(2 * time.Hour), []string{"audio/wav"}, 2, vault.AnalysisDone},
		{"b7", since.Add(2 * time.Hour), []string{"audio/wav"}, 3, vault.AnalysisDone},
		{"b8", since.Add(2 * time.Hour), []string{"video/mp4", "audio/mp3"}, 1, vault.AnalysisPending},
		{"b9", since.Add(time.Hour), nil, 0, ""}, // no media at all
	} {
		put(t, s, vault.Recording{Tenant: "acme", ID: r.id, StartTime: since.Add(-time.Hour), StopTime: r.stop})
		for _, m := range r.media {
			voice("acme", r.id, m)
		}
		if r.version > 0 {
			a := analysisOf("acme", r.id, r.version, 0, nil)
			a.Status = r.status
			putAnalysis(t, s, a)
		}
	}
	put(t, s, vault.Recording{Tenant: "globex", ID: "g1", StopTime: since.Add(time.Hour)})
	voice("globex", "g1", "audio/wav")

	backlog := func(tenant string, since time.Time, version int64, afterID string, limit int) []string {
		t.Helper()
		got, err := s.AnalysisBacklog(ctx, tenant, since, version, afterID, limit)
		if err != nil {
			t.Fatalf("AnalysisBacklog: %v", err)
		}
		return append([]string{}, got...)
	}
	for _, tc := range []struct {
		name    string
		since   time.Time
		version int64
		afterID string
		limit   int
		want    []string
	}{
		{"below version 3", since, 3, "", 100, []string{"b1", "b5", "b6", "b8"}},
		{"below version 2", since, 2, "", 100, []string{"b1", "b5", "b8"}},
		{"version 0: without an analysis", since, 0, "", 100, []string{"b1", "b5"}},
		{"limit", since, 3, "", 2, []string{"b1", "b5"}},
		{"after an id", since, 3, "b5", 2, []string{"b6", "b8"}},
		{"after the last", since, 3, "b8", 2, []string{}},
		{"after an id not listed", since, 3, "b2", 100, []string{"b5", "b6", "b8"}},
		{"a later since", since.Add(90 * time.Minute), 3, "", 100, []string{"b6", "b8"}},
	} {
		if got := backlog("acme", tc.since, tc.version, tc.afterID, tc.limit); !slices.Equal(got, tc.want) {
			t.Errorf("AnalysisBacklog %s = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := backlog("globex", since, 3, "", 100); !slices.Equal(got, []string{"g1"}) {
		t.Errorf("another tenant's backlog = %q, want its own g1", got)
	}

	counted := func(since time.Time, version, wantAnalyzed, wantTotal int64) {
		t.Helper()
		analyzed, total, err := s.CountAnalyzed(ctx, "acme", since, version)
		if err != nil || analyzed != wantAnalyzed || total != wantTotal {
			t.Errorf("CountAnalyzed(since %v, version %d) = %d of %d, %v; want %d of %d", since, version, analyzed, total, err, wantAnalyzed, wantTotal)
		}
	}
	counted(since, 3, 1, 5)                     // b7 of b1 b5 b6 b7 b8
	counted(since, 1, 2, 5)                     // b6 b7: b8's is pending
	counted(since, 0, 2, 5)                     // the same
	counted(since.Add(90*time.Minute), 3, 1, 3) // b7 of b6 b7 b8
	counted(since.Add(3*time.Hour), 3, 0, 0)    // nothing stopped since
	if analyzed, total, err := s.CountAnalyzed(ctx, "globex", since, 0); err != nil || analyzed != 0 || total != 1 {
		t.Errorf("another tenant's CountAnalyzed = %d of %d, %v; want 0 of 1", analyzed, total, err)
	}

	// Any status but pending counts as analysed.
	b1 := analysisOf("acme", "b1", 3, 0, nil)
	b1.Status = vault.AnalysisFailed
	putAnalysis(t, s, b1)
	b5 := analysisOf("acme", "b5", 3, 0, nil)
	b5.Status = vault.AnalysisUnsupported
	putAnalysis(t, s, b5)
	counted(since, 3, 3, 5)
	if got := backlog("acme", since, 3, "", 100); !slices.Equal(got, []string{"b6", "b8"}) {
		t.Errorf("AnalysisBacklog after b1 and b5 were analysed = %q, want b6 b8", got)
	}
}

// testAnalysisDeleted deletes an analysed recording: its analysis and its
// terms go with it, also from a recording made again with its id.
func testAnalysisDeleted(t *testing.T, s vault.Store) {
	ctx := t.Context()
	mustTenants(t, s, "acme")
	put(t, s, vault.Recording{Tenant: "acme", ID: "r1", StartTime: base})
	put(t, s, vault.Recording{Tenant: "acme", ID: "r2", StartTime: base.Add(time.Minute)})
	putAnalysis(t, s, analysisOf("acme", "r1", 1, 6000, []string{"churn"}, "billing", "cancel"))
	putAnalysis(t, s, analysisOf("acme", "r2", 1, 1000, nil, "billing"))
	if _, err := s.DeleteRecording(ctx, "acme", "r1"); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		_, err := s.Analysis(ctx, "acme", "r1")
		checkNotFound(t, "Analysis "+when, err)
		for _, tc := range []struct {
			what string
			f    vault.SearchFilter
			want []string
		}{
			{"a shared topic", vault.SearchFilter{Topic: "billing"}, []string{"r2"}},
			{"its own topic", vault.SearchFilter{Topic: "cancel"}, []string{}},
			{"its category", vault.SearchFilter{Category: "churn"}, []string{}},
			{"a silence", vault.SearchFilter{MinSilenceMs: 1}, []string{"r2"}},
		} {
			if got := search(t, s, "acme", tc.f, all); !slices.Equal(got, tc.want) {
				t.Errorf("search by %s %s = %q, want %q", tc.what, when, got, tc.want)
			}
		}
		trends, err := s.AnalysisTrends(ctx, "acme", base.Add(-time.Hour), base.Add(time.Hour), time.Hour, all)
		if err != nil || len(trends) != 1 || trends[0].Name != "billing" || trends[0].Recordings != 1 {
			t.Errorf("AnalysisTrends %s = %+v, %v; want r2's billing alone", when, trends, err)
		}
	}
	check("after DeleteRecording")
	checkNotFound(t, "PutAnalysis of a deleted recording", s.PutAnalysis(ctx, analysisOf("acme", "r1", 1, 0, nil, "billing")))
	put(t, s, vault.Recording{Tenant: "acme", ID: "r1", StartTime: base})
	check("once the id is used again")
}
