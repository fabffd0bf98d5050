package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"callvault/internal/service"
	"callvault/internal/vault"
)

// screenRoutes are the server's side of screen recording: what srs asks
// (settings, the command channel, a capture it stopped), the tenant's
// setting, and the explicit start/stop/pause/resume of a recording's
// screen capture.
func (s *Server) screenRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v2/me/settings/screen-recording", s.authed(s.screenClientSettings))
	mux.HandleFunc("GET /api/v2/me/screen-recording/commands", s.authed(s.screenCommands))
	mux.HandleFunc("POST /api/v2/me/screen-recording/stopped", s.authed(s.screenStopped))
	mux.HandleFunc("GET /api/v2/settings/screen-recording", s.authed(s.getScreenSettings))
	mux.HandleFunc("PUT /api/v2/settings/screen-recording", s.authed(s.putScreenSettings))
	mux.HandleFunc("GET /api/v2/recordings/{id}/screen", s.authed(s.listScreenCaptures))
	mux.HandleFunc("POST /api/v2/recordings/{id}/screen/start", s.authed(s.startScreen))
	mux.HandleFunc("POST /api/v2/recordings/{id}/screen/stop", s.authed(s.stopScreen))
	mux.HandleFunc("POST /api/v2/recordings/{id}/screen/pause", s.authed(s.pauseScreen(true)))
	mux.HandleFunc("POST /api/v2/recordings/{id}/screen/resume", s.authed(s.pauseScreen(false)))
}

func (s *Server) screenClientSettings(w http.ResponseWriter, r *http.Request, u *vault.User) {
	out, err := s.Svc.ScreenSettingsForAgent(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// screenCommands is the long poll: ?after=SEQ&wait=SECONDS (≤ 30, default
// 25); without after, the current state at once.
func (s *Server) screenCommands(w http.ResponseWriter, r *http.Request, u *vault.User) {
	q := r.URL.Query()
	for k := range q {
		if k != "after" && k != "wait" {
			s.writeError(w, r, vault.Errorf(vault.EINVALID, "unknown parameter %q", k))
			return
		}
	}
	after := int64(-1)
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, vault.Errorf(vault.EINVALID, "after must be the seq of the last command seen (0 or more)"))
			return
		}
		after = n
	}
	wait := 25 * time.Second
	if v := q.Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > service.MaxScreenWait {
			s.writeError(w, r, vault.Errorf(vault.EINVALID, "wait must be 0 to %d seconds", int(service.MaxScreenWait/time.Second)))
			return
		}
		wait = time.Duration(n) * time.Second
	}
	page, err := s.Svc.ScreenCommands(r.Context(), u, after, wait)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

type screenStoppedRequest struct {
	RecordingID string `json:"recordingId"`
	MediaID     string `json:"mediaId"`
	Reason      string `json:"reason"`
}

func (s *Server) screenStopped(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in screenStoppedRequest
	if err := decodeJSON(r, 16<<10, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Svc.ScreenStopped(r.Context(), u, in.RecordingID, in.MediaID, in.Reason); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getScreenSettings(w http.ResponseWriter, r *http.Request, u *vault.User) {
	ss, err := s.Svc.ScreenSettings(r.Context(), u)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ss)
}

func (s *Server) putScreenSettings(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in vault.ScreenSettings
	if err := decodeJSON(r, 16<<10, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Svc.SetScreenSettings(r.Context(), u, in); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

type screenCaptureJSON struct {
	RecordingID string     `json:"recordingId"`
	MediaID     string     `json:"mediaId"`
	UserName    string     `json:"userName"`
	StartedAt   time.Time  `json:"startedAt"`
	StoppedAt   *time.Time `json:"stoppedAt,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Paused      bool       `json:"paused"`
}

func captureJSON(c vault.ScreenCapture) screenCaptureJSON {
	out := screenCaptureJSON{RecordingID: c.RecordingID, MediaID: c.MediaID, UserName: c.UserName, StartedAt: c.StartedAt, Reason: c.Reason, Paused: c.Paused}
	if !c.StoppedAt.IsZero() {
		at := c.StoppedAt
		out.StoppedAt = &at
	}
	return out
}

func (s *Server) listScreenCaptures(w http.ResponseWriter, r *http.Request, u *vault.User) {
	list, err := s.Svc.ScreenCapturesOf(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]screenCaptureJSON, 0, len(list))
	for _, c := range list {
		out = append(out, captureJSON(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"captures": out})
}

type startScreenRequest struct {
	UserName string `json:"userName"`
}

func (s *Server) startScreen(w http.ResponseWriter, r *http.Request, u *vault.User) {
	var in startScreenRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, 16<<10, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	c, err := s.Svc.StartScreen(r.Context(), u, r.PathValue("id"), in.UserName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, captureJSON(*c))
}

func (s *Server) stopScreen(w http.ResponseWriter, r *http.Request, u *vault.User) {
	n, err := s.Svc.StopScreen(r.Context(), u, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"stopped": n})
}

func (s *Server) pauseScreen(paused bool) handlerWithUser {
	return func(w http.ResponseWriter, r *http.Request, u *vault.User) {
		n, err := s.Svc.PauseScreen(r.Context(), u, r.PathValue("id"), paused)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"changed": n, "paused": paused})
	}
}
