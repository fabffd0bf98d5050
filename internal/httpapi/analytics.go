package httpapi

import (
	"net/http"
	"time"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// analyticsRoutes are speech analytics: the tenant's settings, topics and
// categories, each recording's result, and the trends.
func (s *Server) analyticsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v2/settings/analytics", s.authed(s.getAnalyticsSettings))
	mux.HandleFunc("PUT /api/v2/settings/analytics", s.authed(s.putAnalyticsSettings))
	topics := func(c vault.AnalyticsConfig) []vault.Topic { return c.Topics }
	categories := func(c vault.AnalyticsConfig) []vault.Category { return c.Categories }
	mux.HandleFunc("GET /api/v2/analytics/topics", s.authed(listNamed(s, "topics", topics)))
	mux.HandleFunc("POST /api/v2/analytics/topics", s.authed(s.putTopic(true)))
	mux.HandleFunc("POST /api/v2/analytics/topics/check", s.authed(s.checkTopic))
	mux.HandleFunc("GET /api/v2/analytics/topics/{name}", s.authed(getNamed(s, "topic", topics, func(t vault.Topic) string { return t.Name })))
	mux.HandleFunc("PUT /api/v2/analytics/topics/{name}", s.authed(s.putTopic(false)))
	mux.HandleFunc("DELETE /api/v2/analytics/topics/{name}", s.authed(s.deleteTopic))
	mux.HandleFunc("GET /api/v2/analytics/categories", s.authed(listNamed(s, "categories", categories)))
	mux.HandleFunc("POST /api/v2/analytics/categories", s.authed(s.putCategory(true)))
	mux.HandleFunc("GET /api/v2/analytics/categories/{name}", s.authed(getNamed(s, "category", categories, func(c vault.Category) string { return c.Name })))
	mux.HandleFunc("PUT /api/v2/analytics/categories/{name}", s.authed(s.putCategory(false)))
	mux.HandleFunc("DELETE /api/v2/analytics/categories/{name}", s.authed(s.deleteCategory))
	mux.HandleFunc("GET /api/v2/analytics/trends", s.authed(s.analyticsTrends))
	mux.HandleFunc("GET /api/v2/recordings/{id}/analytics", s.authed(s.recordingAnalytics))
}

// listNamed answers one list of the configuration, {kind: [...], version}.
func listNamed[T any](s *Server, kind string, list func(vault.AnalyticsConfig) []T) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u *vault.User) {
		c, err := s.Svc.AnalyticsConfig(r.Context(), u)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{kind: list(c), "version": c.Version})
	}
}

// getNamed answers the item of a list of the configuration named in the path.
func getNamed[T any](s *Server, kind string, list func(vault.AnalyticsConfig) []T, name func(T) string) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u *vault.User) {
		c, err := s.Svc.AnalyticsConfig(r.Context(), u)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, item := range list(c) {
			if name(item) == r.PathValue("name") {
				writeJSON(w, http.StatusOK, item)
				return
			}
		}
		s.writeError(w, r, vault.Errorf(vault.ENOTFOUND, "no %s %q", kind, r.PathValue("name")))
	}
}

// analyticsBodyLimit bounds a topic, a category or the settings.
const analyticsBodyLimit = 64 << 10

// settingsRequest is PUT /settings/analytics: fields left out keep their
// value.
type settingsRequest struct {
	Language      *string `json:"language"`
	AgentChannel  *string `json:"agentChannel"`
	SilenceMs     *int    `json:"silenceMs"`
	ReanalyzeDays *int    `json:"reanalyzeDays"`
}

type changeJSON struct {
	Version  int64    `json:"version"`
	Warnings []string `json:"warnings"`
	JobID    int64    `json:"jobId,omitempty"`
}

func changeOf(c *service.TopicChange) changeJSON {
	return changeJSON{Version: c.Config.Version, Warnings: c.Warnings, JobID: c.JobID}
}

func (s *Server) getAnalyticsSettings(w http.ResponseWriter, r *http.Request, u *vault.User) {
	c, err := s.Svc.AnalyticsConfig(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c.Settings)
}

func (s *Server) putAnalyticsSettings(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in settingsRequest
	if err := decodeJSON(r, analyticsBodyLimit, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	c, err := s.Svc.AnalyticsConfig(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st := c.Settings
	if in.Language != nil {
		st.Language = *in.Language
	}
	if in.AgentChannel != nil {
		st.AgentChannel = *in.AgentChannel
	}
	if in.SilenceMs != nil {
		st.SilenceMs = *in.SilenceMs
	}
	if in.ReanalyzeDays != nil {
		st.ReanalyzeDays = *in.ReanalyzeDays
	}
	change, err := s.Svc.SetAnalyticsSettings(r.Context(), u, st)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		vault.AnalyticsSettings
		changeJSON
	}{change.Config.Settings, changeOf(change)})
}

// topicRequest is a topic as given: strictness may be left out (50).
type topicRequest struct {
	Name       string         `json:"name"`
	Phrases    []vault.Phrase `json:"phrases"`
	Strictness *int           `json:"strictness"`
	Speaker    string         `json:"speaker"`
}

func (t topicRequest) topic() (vault.Topic, bool) {
	out := vault.Topic{Name: t.Name, Phrases: t.Phrases, Speaker: t.Speaker}
	if t.Strictness != nil {
		out.Strictness = *t.Strictness
	}
	return out, t.Strictness != nil
}

func (s *Server) putTopic(create bool) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u *vault.User) {
		var in topicRequest
		if err := decodeJSON(r, analyticsBodyLimit, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		t, given := in.topic()
		change, err := s.Svc.PutTopic(r.Context(), u, r.PathValue("name"), t, given, create)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if create {
			status = http.StatusCreated
		}
		for _, saved := range change.Config.Topics {
			if saved.Name == t.Name {
				writeJSON(w, status, struct {
					vault.Topic
					changeJSON
				}{saved, changeOf(change)})
				return
			}
		}
		writeJSON(w, status, changeOf(change))
	}
}

// checkTopic validates a topic without saving it: the UI's check as one
// types, and a script's before it saves.
func (s *Server) checkTopic(w http.ResponseWriter, r *http.Request, u *vault.User) {
	if _, err := s.Svc.AnalyticsConfig(r.Context(), u); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in topicRequest
	if err := decodeJSON(r, analyticsBodyLimit, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	t, given := in.topic()
	if t.Name == "" {
		t.Name = "unsaved"
	}
	warnings, err := s.Svc.CheckTopic(&t, given)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if warnings == nil {
		warnings = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": t, "warnings": warnings})
}

func (s *Server) deleteTopic(w http.ResponseWriter, r *http.Request, u *vault.User) {
	change, err := s.Svc.DeleteTopic(r.Context(), u, r.PathValue("name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, changeOf(change))
}

// categoryRequest is a category as given.
type categoryRequest struct {
	Name           string        `json:"name"`
	All            []string      `json:"all"`
	Any            []string      `json:"any"`
	None           []string      `json:"none"`
	MinOccurrences int           `json:"minOccurrences"`
	Within         *vault.Window `json:"within"`
	Speaker        string        `json:"speaker"`
}

func (c categoryRequest) category() vault.Category {
	return vault.Category{Name: c.Name, All: c.All, Any: c.Any, None: c.None, MinOccurrences: c.MinOccurrences,
		Within: c.Within, Speaker: c.Speaker}
}

func (s *Server) putCategory(create bool) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u *vault.User) {
		var in categoryRequest
		if err := decodeJSON(r, analyticsBodyLimit, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		cat := in.category()
		change, err := s.Svc.PutCategory(r.Context(), u, r.PathValue("name"), cat, create)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		status := http.StatusOK
		if create {
			status = http.StatusCreated
		}
		for _, saved := range change.Config.Categories {
			if saved.Name == cat.Name {
				writeJSON(w, status, struct {
					vault.Category
					changeJSON
				}{saved, changeOf(change)})
				return
			}
		}
		writeJSON(w, status, changeOf(change))
	}
}

func (s *Server) deleteCategory(w http.ResponseWriter, r *http.Request, u *vault.User) {
	change, err := s.Svc.DeleteCategory(r.Context(), u, r.PathValue("name"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, changeOf(change))
}

// recordingAnalytics is GET /recordings/{id}/analytics[?peaks=true]: the
// waveform's peaks only when asked (a player wants them, a report not).
func (s *Server) recordingAnalytics(w http.ResponseWriter, r *http.Request, u *vault.User) {
	q := r.URL.Query()
	for k := range q {
		if k != "peaks" {
			s.writeError(w, r, vault.Errorf(vault.EINVALID, "unknown parameter %q", k))
			return
		}
	}
	withPeaks := q.Get("peaks") == "true"
	if v := q.Get("peaks"); v != "" && v != "true" && v != "false" {
		s.writeError(w, r, vault.Errorf(vault.EINVALID, "peaks must be true or false"))
		return
	}
	a, err := s.Svc.RecordingAnalysis(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !withPeaks {
		a.Peaks, a.PeakWindowMs = nil, 0
	}
	writeJSON(w, http.StatusOK, a)
}

// trendIntervals are the intervals trends count in.
var trendIntervals = map[string]time.Duration{"hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour}

// analyticsTrends is GET /analytics/trends?from&to&interval=day: from and
// to as RFC 3339 or epoch ms (default: the last 30 days, whole UTC days).
func (s *Server) analyticsTrends(w http.ResponseWriter, r *http.Request, u *vault.User) {
	q := r.URL.Query()
	for k := range q {
		if k != "from" && k != "to" && k != "interval" {
			s.writeError(w, r, vault.Errorf(vault.EINVALID, "unknown parameter %q", k))
			return
		}
	}
	name := q.Get("interval")
	if name == "" {
		name = "day"
	}
	interval, ok := trendIntervals[name]
	if !ok {
		s.writeError(w, r, vault.Errorf(vault.EINVALID, "interval must be hour, day or week"))
		return
	}
	to := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	from := to.AddDate(0, 0, -30)
	var err error
	if v := q.Get("to"); v != "" {
		if to, err = parseTimeParam("to", v); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if v := q.Get("from"); v != "" {
		if from, err = parseTimeParam("from", v); err != nil {
			s.writeError(w, r, err)
			return
		}
	} else if q.Get("to") != "" {
		from = to.AddDate(0, 0, -30)
	}
	points, err := s.Svc.AnalyticsTrends(r.Context(), u, from, to, interval)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "interval": name, "points": points})
}
