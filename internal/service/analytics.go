package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"callvault/internal/analytics"
	"callvault/internal/audit"
	"callvault/internal/record"
	"callvault/internal/vault"
)

// Speech analytics job kinds.
const (
	// KindAnalyze analyses one recording's voice file.
	KindAnalyze = "analyze"
	// KindReanalyze queues the analysis of every recording of the last
	// reanalyzeDays after a change of topics, categories or settings,
	// and follows their progress.
	KindReanalyze = "reanalyze"
)

// Analyzer is the speech analytics pipeline (analytics.Engine).
type Analyzer interface {
	Supports(language string) bool
	Dictionary() (*analytics.Dictionary, error)
	Analyze(ctx context.Context, src io.Reader, in analytics.Input) (*analytics.Result, error)
}

// AnalyzeArgs are a KindAnalyze job's arguments. Version is the tenant's
// configuration version it was queued for, so a change while one runs
// queues another.
type AnalyzeArgs struct {
	Tenant      string `json:"tenant"`
	RecordingID string `json:"recordingId"`
	Version     int64  `json:"version"`
}

// ReanalyzeArgs are a KindReanalyze job's arguments.
type ReanalyzeArgs struct {
	Tenant  string    `json:"tenant"`
	Version int64     `json:"version"`
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason"`
}

// analyzeAttempts is how often an analysis is tried before its result
// says failed.
const analyzeAttempts = 5

// AnalysisTimeout bounds one analysis attempt; the queue rescues a job
// running longer than its rescue delay, so this stays below it.
const AnalysisTimeout = 9 * time.Minute

// TopicChange is what a topic or category change answers: the saved
// configuration, warnings about what was accepted, the re-analysis job.
type TopicChange struct {
	Config   vault.AnalyticsConfig `json:"-"`
	Warnings []string              `json:"warnings"`
	JobID    int64                 `json:"jobId,omitempty"`
}

// AnalyticsConfig returns the caller's tenant's configuration; admins and
// supervisors may read it.
func (s *Service) AnalyticsConfig(ctx context.Context, caller *vault.User) (vault.AnalyticsConfig, error) {
	if err := requireRole(caller, vault.RoleAdmin, vault.RoleSupervisor); err != nil {
		return vault.AnalyticsConfig{}, err
	}
	return s.Store.AnalyticsConfig(ctx, caller.Tenant)
}

// CheckSettings validates analytics settings.
func CheckSettings(st vault.AnalyticsSettings) error {
	if st.Language == "" || len(st.Language) > 16 || strings.IndexFunc(st.Language, func(r rune) bool {
		return !(r == '-' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	}) >= 0 {
		return vault.Errorf(vault.EINVALID, "language must be a language tag such as en-US")
	}
	if st.AgentChannel != "left" && st.AgentChannel != "right" {
		return vault.Errorf(vault.EINVALID, "agentChannel must be left or right")
	}
	if st.SilenceMs < 500 || st.SilenceMs > 600000 {
		return vault.Errorf(vault.EINVALID, "silenceMs must be from 500 to 600000")
	}
	if st.ReanalyzeDays < 0 || st.ReanalyzeDays > 3650 {
		return vault.Errorf(vault.EINVALID, "reanalyzeDays must be from 0 to 3650")
	}
	return nil
}

// SetAnalyticsSettings replaces the settings; a change of what analyses
// depend on (language, channel, silence) queues a re-analysis.
func (s *Service) SetAnalyticsSettings(ctx context.Context, caller *vault.User, st vault.AnalyticsSettings) (*TopicChange, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	if err := CheckSettings(st); err != nil {
		return nil, err
	}
	return s.changeAnalytics(ctx, caller, func(c *vault.AnalyticsConfig) (string, string, any, bool, error) {
		old := c.Settings
		c.Settings = st
		redo := old.Language != st.Language || old.AgentChannel != st.AgentChannel || old.SilenceMs != st.SilenceMs
		return "settings.analytics", caller.Tenant, map[string]any{"from": old, "to": st}, redo, nil
	}, nil)
}

// PutTopic creates (create) or replaces a topic, checked against the
// recogniser's dictionary, and queues a re-analysis.
func (s *Service) PutTopic(ctx context.Context, caller *vault.User, name string, t vault.Topic, strictnessGiven, create bool) (*TopicChange, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	if !create && t.Name == "" {
		t.Name = name
	}
	if !create && t.Name != name {
		return nil, vault.Errorf(vault.EINVALID, "the topic's name %q is not the one in the path, %q", t.Name, name)
	}
	warnings, err := s.CheckTopic(&t, strictnessGiven)
	if err != nil {
		return nil, err
	}
	t.UpdatedAt = s.now()
	return s.changeAnalytics(ctx, caller, func(c *vault.AnalyticsConfig) (string, string, any, bool, error) {
		i := slices.IndexFunc(c.Topics, func(o vault.Topic) bool { return o.Name == t.Name })
		switch {
		case create && i >= 0:
			return "", "", nil, false, vault.Errorf(vault.ECONFLICT, "there is a topic %q already", t.Name)
		case !create && i < 0:
			return "", "", nil, false, vault.Errorf(vault.ENOTFOUND, "no topic %q", t.Name)
		case i >= 0:
			c.Topics[i] = t
		default:
			if len(c.Topics) >= analytics.MaxTopics {
				return "", "", nil, false, vault.Errorf(vault.ECONFLICT, "a tenant has at most %d topics", analytics.MaxTopics)
			}
			c.Topics = append(c.Topics, t)
		}
		return "analytics.topic.put", t.Name, t, true, nil
	}, warnings)
}

// CheckTopic validates a topic with the recogniser's dictionary.
func (s *Service) CheckTopic(t *vault.Topic, strictnessGiven bool) ([]string, error) {
	if s.Analytics == nil {
		return nil, vault.Errorf(vault.EUNAVAILABLE, "this server has no speech recogniser")
	}
	dict, err := s.Analytics.Dictionary()
	if err != nil {
		return nil, vault.Wrap(vault.EUNAVAILABLE, err, "cannot check the topic: the recogniser's dictionary is not available")
	}
	return analytics.CheckTopic(t, dict, strictnessGiven)
}

// DeleteTopic removes a topic no category uses.
func (s *Service) DeleteTopic(ctx context.Context, caller *vault.User, name string) (*TopicChange, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	return s.changeAnalytics(ctx, caller, func(c *vault.AnalyticsConfig) (string, string, any, bool, error) {
		i := slices.IndexFunc(c.Topics, func(o vault.Topic) bool { return o.Name == name })
		if i < 0 {
			return "", "", nil, false, vault.Errorf(vault.ENOTFOUND, "no topic %q", name)
		}
		if used := analytics.UsedBy(c.Categories, name); len(used) > 0 {
			return "", "", nil, false, vault.Errorf(vault.ECONFLICT, "topic %q is used by the categories %s; change them first", name, strings.Join(used, ", "))
		}
		c.Topics = slices.Delete(c.Topics, i, i+1)
		return "analytics.topic.delete", name, nil, true, nil
	}, nil)
}

// PutCategory creates or replaces a category; recordings are categorised
// again from their stored events (no new recognition).
func (s *Service) PutCategory(ctx context.Context, caller *vault.User, name string, cat vault.Category, create bool) (*TopicChange, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	if !create && cat.Name == "" {
		cat.Name = name
	}
	if !create && cat.Name != name {
		return nil, vault.Errorf(vault.EINVALID, "the category's name %q is not the one in the path, %q", cat.Name, name)
	}
	cat.UpdatedAt = s.now()
	return s.changeAnalytics(ctx, caller, func(c *vault.AnalyticsConfig) (string, string, any, bool, error) {
		if err := analytics.CheckCategory(&cat, c.Topics); err != nil {
			return "", "", nil, false, err
		}
		i := slices.IndexFunc(c.Categories, func(o vault.Category) bool { return o.Name == cat.Name })
		switch {
		case create && i >= 0:
			return "", "", nil, false, vault.Errorf(vault.ECONFLICT, "there is a category %q already", cat.Name)
		case !create && i < 0:
			return "", "", nil, false, vault.Errorf(vault.ENOTFOUND, "no category %q", cat.Name)
		case i >= 0:
			c.Categories[i] = cat
		default:
			if len(c.Categories) >= analytics.MaxCategories {
				return "", "", nil, false, vault.Errorf(vault.ECONFLICT, "a tenant has at most %d categories", analytics.MaxCategories)
			}
			c.Categories = append(c.Categories, cat)
		}
		return "analytics.category.put", cat.Name, cat, true, nil
	}, nil)
}

// DeleteCategory removes a category.
func (s *Service) DeleteCategory(ctx context.Context, caller *vault.User, name string) (*TopicChange, error) {
	if err := requireRole(caller, vault.RoleAdmin); err != nil {
		return nil, err
	}
	return s.changeAnalytics(ctx, caller, func(c *vault.AnalyticsConfig) (string, string, any, bool, error) {
		i := slices.IndexFunc(c.Categories, func(o vault.Category) bool { return o.Name == name })
		if i < 0 {
			return "", "", nil, false, vault.Errorf(vault.ENOTFOUND, "no category %q", name)
		}
		c.Categories = slices.Delete(c.Categories, i, i+1)
		return "analytics.category.delete", name, nil, true, nil
	}, nil)
}

// changeAnalytics applies one change to the configuration in one
// transaction with its audit entry and, when redo, the re-analysis job.
func (s *Service) changeAnalytics(ctx context.Context, caller *vault.User,
	change func(c *vault.AnalyticsConfig) (action, target string, details any, redo bool, err error), warnings []string) (*TopicChange, error) {
	out := &TopicChange{Warnings: warnings}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	saved, err := s.Store.UpdateAnalyticsConfig(ctx, caller.Tenant, func(c *vault.AnalyticsConfig) (vault.Effects, error) {
		action, target, details, redo, err := change(c)
		if err != nil {
			return vault.Effects{}, err
		}
		d := map[string]any{"version": c.Version + 1}
		if details != nil {
			d["value"] = details
		}
		fx := vault.Effects{}.Add(s.entry(ctx, "", caller, action, target, vault.OutcomeOK, audit.Canonical(d)))
		if redo && s.Queue != nil {
			args, _ := json.Marshal(ReanalyzeArgs{Tenant: caller.Tenant, Version: c.Version + 1,
				Since: s.now().AddDate(0, 0, -c.Settings.ReanalyzeDays), Reason: action})
			fx.Jobs = append(fx.Jobs, vault.Job{Tenant: caller.Tenant, Kind: KindReanalyze, Args: args, MaxAttempts: 5})
			fx.Queued = func(ids []int64) { out.JobID = ids[0] }
		}
		return s.effects(fx), nil
	})
	if err != nil {
		return nil, err
	}
	out.Config = saved
	s.log().Info("analytics configuration changed", "tenant", caller.Tenant, "by", caller.Name, "version", saved.Version, "job", out.JobID)
	return out, nil
}

// voiceMedia picks the voice file an analysis is of: the recording's
// first stored audio file by its entry's start time (then media id).
func voiceMedia(rec *vault.Recording, media []vault.Media) (vault.Media, bool) {
	entries, _ := record.MediaEntries(rec.Doc)
	var best *vault.Media
	var bestStart time.Time
	for i := range media {
		m := &media[i]
		if !strings.HasPrefix(m.Type, "audio/") {
			continue
		}
		var start time.Time
		if j := slices.IndexFunc(entries, func(e record.MediaEntry) bool { return e.MediaID == m.MediaID }); j >= 0 {
			start = entries[j].StartTime
		}
		if best == nil || (!start.IsZero() && (bestStart.IsZero() || start.Before(bestStart))) {
			best, bestStart = m, start
		}
	}
	if best == nil {
		return vault.Media{}, false
	}
	return *best, true
}

// queueAnalysis queues the analysis of a recording that has its voice
// file and stop time, unless it is analysed for the current configuration
// already. Like queueMux, it runs after the change is stored, and errors
// are logged; the retention sweep's pass over the backlog catches a job
// lost between the two (a crash in between).
func (s *Service) queueAnalysis(ctx context.Context, tenant, recordingID string) {
	if s.Analytics == nil || s.Queue == nil {
		return
	}
	rec, media, err := s.Store.Recording(ctx, tenant, recordingID, vault.Access{All: true})
	if err != nil || rec.StopTime.IsZero() {
		return
	}
	if _, ok := voiceMedia(&rec, media); !ok {
		return
	}
	cfg, err := s.Store.AnalyticsConfig(ctx, tenant)
	if err != nil {
		return
	}
	if a, err := s.Store.Analysis(ctx, tenant, recordingID); err == nil && a.Version >= cfg.Version {
		return
	}
	args, _ := json.Marshal(AnalyzeArgs{Tenant: tenant, RecordingID: recordingID, Version: cfg.Version})
	fx := vault.Effects{Jobs: []vault.Job{{Tenant: tenant, Kind: KindAnalyze, Args: args, Unique: true, MaxAttempts: analyzeAttempts}}}
	if err := s.Store.Commit(ctx, fx); err != nil {
		s.log().Warn("cannot queue the analysis", "tenant", tenant, "recording", recordingID, "err", err)
	}
}

// analyzeJob analyses one recording and stores the result. What is wrong
// with the input (an undecodable file, a language without a model) is a
// result (failed, unsupported), not a job failure; what may pass (a
// store, the recogniser missing on this replica) fails the attempt so the
// queue retries.
func (s *Service) analyzeJob(ctx context.Context, run JobRun, a AnalyzeArgs) error {
	rec, media, err := s.Store.Recording(ctx, a.Tenant, a.RecordingID, vault.Access{All: true})
	if errors.Is(err, vault.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	voice, ok := voiceMedia(&rec, media)
	if !ok || rec.StopTime.IsZero() {
		return s.Store.SetJobProgress(ctx, run.ID, vault.JobProgress{Done: 1, Total: 1, Summary: "nothing to analyse"})
	}
	cfg, err := s.Store.AnalyticsConfig(ctx, a.Tenant)
	if err != nil {
		return err
	}
	digest := recognitionDigest(cfg)
	old, err := s.Store.Analysis(ctx, a.Tenant, a.RecordingID)
	if err == nil && old.MediaID == voice.MediaID && old.Status != vault.AnalysisPending {
		switch {
		case old.Version >= cfg.Version:
			return s.Store.SetJobProgress(ctx, run.ID, vault.JobProgress{Done: 1, Total: 1, Summary: "analysed already"})
		case old.Status == vault.AnalysisDone && old.Recognised == digest:
			// Only categories changed: decide them again from the events.
			old.Tenant, old.Version, old.AnalyzedAt = a.Tenant, cfg.Version, s.now()
			old.Categories = analytics.Categorize(cfg.Categories, old.Events, old.Metrics.DurationMs)
			if err := s.Store.PutAnalysis(ctx, old); err != nil && !errors.Is(err, vault.ErrNotFound) {
				return err
			}
			return s.Store.SetJobProgress(ctx, run.ID, vault.JobProgress{Done: 1, Total: 1, Summary: "categorised again"})
		}
	}
	result := vault.Analysis{Tenant: a.Tenant, RecordingID: a.RecordingID, Engine: analytics.EngineName,
		Language: cfg.Settings.Language, MediaID: voice.MediaID, Version: cfg.Version, AnalyzedAt: s.now(),
		Recognised: digest, Events: []vault.Event{}, Categories: []string{}}
	if s.Analytics == nil {
		return errors.New("this server has no speech recogniser")
	}
	started := s.now()
	if !s.Analytics.Supports(cfg.Settings.Language) {
		result.Status, result.Error = vault.AnalysisUnsupported, fmt.Sprintf("no recogniser model for %q", cfg.Settings.Language)
	} else {
		ctx, cancel := context.WithTimeout(ctx, AnalysisTimeout)
		defer cancel()
		src, err := s.openPlaintext(ctx, voice)
		if err != nil {
			return err
		}
		res, err := s.Analytics.Analyze(ctx, src, analytics.Input{Settings: cfg.Settings, Topics: cfg.Topics, Categories: cfg.Categories})
		src.Close()
		switch {
		case errors.Is(err, analytics.ErrUndecodable):
			result.Status, result.Error = vault.AnalysisFailed, "the voice file cannot be decoded"
			s.log().Warn("analysis failed", "tenant", a.Tenant, "recording", a.RecordingID, "media", voice.MediaID, "err", err)
		case errors.Is(err, analytics.ErrUnsupported):
			result.Status, result.Error = vault.AnalysisUnsupported, err.Error()
		case errors.Is(err, analytics.ErrNoRecogniser):
			if run.Attempt < analyzeAttempts {
				return err // perhaps only this replica lacks it
			}
			result.Status, result.Error = vault.AnalysisFailed, "the speech recogniser is not installed on the server"
		case err != nil:
			return fmt.Errorf("cannot analyse recording %s: %w", a.RecordingID, err)
		default:
			result.Status = vault.AnalysisDone
			result.Channels, result.Events, result.Talk = res.Channels, res.Events, res.Talk
			if res.Channels == 2 {
				result.AgentChannel = cfg.Settings.AgentChannel
			}
			result.Categories, result.Metrics = res.Categories, res.Metrics
			result.PeakWindowMs = analytics.PeakWindowMs
			for _, p := range res.Peaks {
				result.Peaks = append(result.Peaks, vault.Peaks(p))
			}
		}
	}
	if err := s.Store.PutAnalysis(ctx, result); err != nil {
		if errors.Is(err, vault.ErrNotFound) {
			return nil
		}
		return err
	}
	s.log().Info("recording analysed", "tenant", a.Tenant, "recording", a.RecordingID, "media", voice.MediaID,
		"status", result.Status, "events", len(result.Events), "categories", len(result.Categories),
		"audioMs", result.Metrics.DurationMs, "took", s.now().Sub(started))
	return s.Store.SetJobProgress(ctx, run.ID, vault.JobProgress{Done: 1, Total: 1, Summary: result.Status})
}

// reanalyzeBatch is how many analysis jobs one pass queues at a time.
const reanalyzeBatch = 500

// reanalyzeJob queues the analysis of every recording stopped since
// a.Since whose analysis is older than a.Version, then follows them
// until all are analysed, in slices. A newer change's job supersedes it.
func (s *Service) reanalyzeJob(ctx context.Context, run JobRun, a ReanalyzeArgs) error {
	cfg, err := s.Store.AnalyticsConfig(ctx, a.Tenant)
	if err != nil {
		return err
	}
	if cfg.Version > a.Version {
		return s.Store.SetJobProgress(ctx, run.ID, vault.JobProgress{Summary: fmt.Sprintf("superseded by version %d", cfg.Version)})
	}
	after := ""
	for {
		ids, err := s.Store.AnalysisBacklog(ctx, a.Tenant, a.Since, a.Version, after, reanalyzeBatch)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			break
		}
		var fx vault.Effects
		for _, id := range ids {
			args, _ := json.Marshal(AnalyzeArgs{Tenant: a.Tenant, RecordingID: id, Version: a.Version})
			fx.Jobs = append(fx.Jobs, vault.Job{Tenant: a.Tenant, Kind: KindAnalyze, Args: args, Unique: true, MaxAttempts: analyzeAttempts})
		}
		if err := s.Store.Commit(ctx, fx); err != nil {
			return err
		}
		after = ids[len(ids)-1]
	}
	for {
		done, total, err := s.Store.CountAnalyzed(ctx, a.Tenant, a.Since, a.Version)
		if err != nil {
			return err
		}
		s.setProgress(ctx, run.ID, vault.JobProgress{Done: done, Total: total}, fmt.Sprintf("%d of %d recordings analysed", done, total))
		if done >= total {
			return nil
		}
		if c, err := s.Store.AnalyticsConfig(ctx, a.Tenant); err == nil && c.Version > a.Version {
			return nil // a newer change's job follows from here
		}
		if !run.Until.IsZero() && s.now().After(run.Until) {
			return ErrContinue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// queueAnalysisBacklog queues what a tenant has never had analysed among
// recordings stopped in the last reanalyzeDays (at least one): the
// retention sweep runs it, catching a job that was lost.
func (s *Service) queueAnalysisBacklog(ctx context.Context, tenant string) error {
	if s.Analytics == nil || s.Queue == nil {
		return nil
	}
	cfg, err := s.Store.AnalyticsConfig(ctx, tenant)
	if err != nil {
		return err
	}
	since := s.now().AddDate(0, 0, -max(1, cfg.Settings.ReanalyzeDays))
	ids, err := s.Store.AnalysisBacklog(ctx, tenant, since, 0, "", reanalyzeBatch)
	if err != nil || len(ids) == 0 {
		return err
	}
	var fx vault.Effects
	for _, id := range ids {
		args, _ := json.Marshal(AnalyzeArgs{Tenant: tenant, RecordingID: id, Version: cfg.Version})
		fx.Jobs = append(fx.Jobs, vault.Job{Tenant: tenant, Kind: KindAnalyze, Args: args, Unique: true, MaxAttempts: analyzeAttempts})
	}
	return s.Store.Commit(ctx, fx)
}

// RecordingAnalysis returns a recording's analysis to a caller who may
// see the recording (pending while its job has not run), with its audit
// entry.
func (s *Service) RecordingAnalysis(ctx context.Context, caller *vault.User, id string) (*vault.Analysis, error) {
	a, err := s.ViewedRecordingAnalysis(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, s.entry(ctx, "", caller, "recording.analytics", id, vault.OutcomeOK, nil)); err != nil {
		return nil, err
	}
	return a, nil
}

// ViewedRecordingAnalysis is RecordingAnalysis for a page that has
// written the recording's view to the audit trail already.
func (s *Service) ViewedRecordingAnalysis(ctx context.Context, caller *vault.User, id string) (*vault.Analysis, error) {
	rec, media, err := s.recording(ctx, caller, id)
	if err != nil {
		return nil, err
	}
	a, err := s.Store.Analysis(ctx, caller.Tenant, id)
	if errors.Is(err, vault.ErrNotFound) {
		voice, ok := voiceMedia(rec, media)
		if !ok {
			return nil, vault.Errorf(vault.ENOTFOUND, "recording %q has no voice file to analyse", id)
		}
		cfg, err := s.Store.AnalyticsConfig(ctx, caller.Tenant)
		if err != nil {
			return nil, err
		}
		a = vault.Analysis{RecordingID: id, Status: vault.AnalysisPending, Engine: analytics.EngineName,
			Language: cfg.Settings.Language, MediaID: voice.MediaID, Events: []vault.Event{}, Categories: []string{}}
	} else if err != nil {
		return nil, err
	}
	return &a, nil
}

// MaxTrendBuckets bounds a trends answer.
const MaxTrendBuckets = 400

// AnalyticsTrends counts topics and categories per interval over the
// recordings the caller may see.
func (s *Service) AnalyticsTrends(ctx context.Context, caller *vault.User, from, to time.Time, interval time.Duration) ([]vault.TrendPoint, error) {
	acc, err := viewer(caller)
	if err != nil {
		return nil, err
	}
	if !from.Before(to) {
		return nil, vault.Errorf(vault.EINVALID, "from must be before to")
	}
	if interval <= 0 || to.Sub(from)/interval > MaxTrendBuckets {
		return nil, vault.Errorf(vault.EINVALID, "give at most %d intervals", MaxTrendBuckets)
	}
	points, err := s.Store.AnalysisTrends(ctx, caller.Tenant, from, to, interval, acc)
	if err != nil {
		return nil, err
	}
	if points == nil {
		points = []vault.TrendPoint{}
	}
	return points, nil
}

// recognitionDigest names what an analysis's events depend on: the
// settings and topics (not the categories, not reanalyzeDays).
func recognitionDigest(c vault.AnalyticsConfig) string {
	type phrase struct {
		Text       string
		Strictness *int
	}
	type topic struct {
		Name, Speaker string
		Strictness    int
		Phrases       []phrase
	}
	in := struct {
		Engine, Language, AgentChannel string
		SilenceMs                      int
		Topics                         []topic
	}{analytics.EngineName + " " + analytics.EngineRevision, c.Settings.Language, c.Settings.AgentChannel, c.Settings.SilenceMs, nil}
	for _, t := range c.Topics {
		out := topic{Name: t.Name, Speaker: t.Speaker, Strictness: t.Strictness}
		for _, p := range t.Phrases {
			out.Phrases = append(out.Phrases, phrase{p.Text, p.Strictness})
		}
		in.Topics = append(in.Topics, out)
	}
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// analysisGaveUp records the last attempt's failure as the analysis's
// result, so the recording says failed rather than pending for ever; the
// job's own errors say why (the result does not repeat them: they may
// name storage paths).
func (s *Service) analysisGaveUp(ctx context.Context, a AnalyzeArgs, run JobRun) {
	cfg, err := s.Store.AnalyticsConfig(ctx, a.Tenant)
	if err != nil {
		return
	}
	result := vault.Analysis{Tenant: a.Tenant, RecordingID: a.RecordingID, Status: vault.AnalysisFailed,
		Error: fmt.Sprintf("the analysis failed %d times; job %d says why", run.Attempt, run.ID), Engine: analytics.EngineName,
		Language: cfg.Settings.Language, Version: cfg.Version, AnalyzedAt: s.now(), Events: []vault.Event{}, Categories: []string{}}
	if err := s.Store.PutAnalysis(ctx, result); err != nil && !errors.Is(err, vault.ErrNotFound) {
		s.log().Warn("cannot record a failed analysis", "tenant", a.Tenant, "recording", a.RecordingID, "err", err)
	}
}
