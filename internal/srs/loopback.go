package srs

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"callvault/internal/httpx"
)

// LoopbackCookie is the session cookie of the loopback API, set at login;
// /ping and the other calls take it instead of Basic credentials.
const LoopbackCookie = "srs_session"

const maxLoginBody = 64 << 10

type peerKey struct{}

type peerInfo struct {
	uid int
	err error
}

// connContext notes, on Linux, which local user owns the client end of a
// new connection.
func (s *Service) connContext(ctx context.Context, c net.Conn) context.Context {
	if !peerChecked {
		return ctx
	}
	uid, err := connOwner(c)
	return context.WithValue(ctx, peerKey{}, peerInfo{uid: uid, err: err})
}

// Handler is the loopback API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /version", s.handleVersion)
	mux.HandleFunc("GET /api/v2/me", s.handleLogin)
	mux.HandleFunc("POST /api/v2/me", s.handleLogin)
	mux.HandleFunc("DELETE /api/v2/me", s.handleLogout)
	mux.HandleFunc("GET /ping", s.handlePing)
	mux.HandleFunc("GET /api/v2/me/recording", s.handleStatus)
	mux.HandleFunc("POST /api/v2/me/recording/pause", s.handleMask(true))
	mux.HandleFunc("POST /api/v2/me/recording/resume", s.handleMask(false))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("no %s %s here", r.Method, r.URL.Path))
	})
	return s.guard(mux)
}

// guard refuses, before any route: a client of another local user
// (Linux), a Host that is not a loopback address (DNS rebinding), and an
// Origin not in allowedOrigins; it answers CORS preflights for allowed
// origins. Requests without Origin come from local tools, not browsers
// pages, and pass.
func (s *Service) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info, ok := r.Context().Value(peerKey{}).(peerInfo); ok {
			if info.err != nil {
				writeError(w, http.StatusForbidden, "UNKNOWN_USER", "cannot tell which local user connected: "+info.err.Error())
				return
			}
			if info.uid != s.desktopUID {
				writeError(w, http.StatusForbidden, "OTHER_USER", "this service records the desktop of another local user")
				return
			}
		}
		if !loopbackHost(r.Host) {
			writeError(w, http.StatusForbidden, "BAD_HOST", fmt.Sprintf("Host %q is not a loopback address of this service", r.Host))
			return
		}
		h := w.Header()
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !slices.Contains(s.cfg.AllowedOrigins, strings.ToLower(origin)) {
				writeError(w, http.StatusForbidden, "FORBIDDEN_ORIGIN", fmt.Sprintf("origin %q is not in allowedOrigins", origin))
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			if origin == "" {
				writeError(w, http.StatusForbidden, "FORBIDDEN_ORIGIN", "a CORS preflight needs an Origin in allowedOrigins")
				return
			}
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			// Chrome asks before a public page may call a loopback address.
			if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
				h.Set("Access-Control-Allow-Private-Network", "true")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost accepts a Host header naming a loopback IPv4 address or
// localhost, with or without a port.
func loopbackHost(host string) bool {
	if host == "" {
		return true // HTTP/1.0
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Is4() && addr.As4()[0] == 127
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpx.WriteJSON(w, status, map[string]string{"code": code, "message": msg})
}

func (s *Service) handleVersion(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"version": s.opts.Version})
}

// authorize is the current session when r carries its cookie or the
// Basic credentials it was opened with; nil otherwise.
func (s *Service) authorize(r *http.Request) *agentSession {
	sess := s.session()
	if sess == nil {
		return nil
	}
	if c, err := r.Cookie(LoopbackCookie); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(sess.id)) == 1 {
		return sess
	}
	if user, password, ok := r.BasicAuth(); ok && user == sess.loginName && hmac.Equal(s.credMAC(user, password), sess.credMAC) {
		return sess
	}
	return nil
}

// handleLogin is GET and POST /api/v2/me: the desktop logs the agent in
// with Basic credentials (POST also sends the desktop's configuration).
// A GET with only the loopback cookie answers the logged-in user.
func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	server := s.cfg.Server
	var desktop *DesktopConfig
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "BAD_REQUEST", "the configuration is larger than 64 KiB")
			return
		}
		cfgServer, dc, err := ParseDesktopConfig(body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
			return
		}
		if cfgServer != "" {
			server = cfgServer
		}
		desktop = &dc
	}
	user, password, ok := r.BasicAuth()
	if !ok {
		if sess := s.authorize(r); sess != nil && r.Method == http.MethodGet {
			s.ping(sess)
			writeRawJSON(w, sess.meRaw)
			return
		}
		writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "log in with the agent's user name (user@tenant) and password as HTTP Basic credentials")
		return
	}
	if user == "" || password == "" {
		writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "the Basic credentials need a user name (user@tenant) and a password")
		return
	}
	if server == "" {
		writeError(w, http.StatusBadRequest, "NO_SERVER", "no server to log in to: set server in config.json or send it in the login's configuration")
		return
	}
	sess, err := s.login(r.Context(), user, password, server, desktop)
	if err != nil {
		var le *loginError
		if errors.As(err, &le) {
			writeError(w, le.Status, le.Code, le.Message)
			return
		}
		writeError(w, http.StatusInternalServerError, "INTERNAL", err.Error())
		return
	}
	s.setCookie(w, sess.id, false)
	writeRawJSON(w, sess.meRaw)
}

func (s *Service) setCookie(w http.ResponseWriter, value string, clear bool) {
	c := &http.Cookie{Name: LoopbackCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if s.tls != nil {
		// The desktop's page is on the vault's origin: only a Secure
		// SameSite=None cookie travels with its calls to the loopback.
		c.Secure, c.SameSite = true, http.SameSiteNoneMode
	}
	if clear {
		c.Value, c.MaxAge = "", -1
	}
	http.SetCookie(w, c)
}

func writeRawJSON(w http.ResponseWriter, raw json.RawMessage) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(raw)
}

// ParseDesktopConfig reads the configuration the desktop sends with
// POST /api/v2/me: [{"name":"server","value":"https://vault/api/v2"},
// {"name":"peer_server",…},{"name":"place",…},{"name":"devices","value":
// [{"dn":…,"switch":…}]}]. Other names are ignored (desktops send more
// than srs uses); a bad server URL is an error.
func ParseDesktopConfig(body []byte) (server string, dc DesktopConfig, err error) {
	var entries []struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &entries); err != nil {
		return "", DesktopConfig{}, fmt.Errorf("the configuration is not a JSON array of {\"name\", \"value\"}: %v", err)
	}
	str := func(name string, raw json.RawMessage) (string, error) {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", fmt.Errorf("configuration %s: not a string", name)
		}
		return v, nil
	}
	for _, e := range entries {
		switch e.Name {
		case "server":
			v, err := str(e.Name, e.Value)
			if err != nil {
				return "", DesktopConfig{}, err
			}
			if v != "" {
				if server, err = CheckServerURL(v); err != nil {
					return "", DesktopConfig{}, fmt.Errorf("configuration server: %v", err)
				}
			}
		case "peer_server":
			if dc.PeerServer, err = str(e.Name, e.Value); err != nil {
				return "", DesktopConfig{}, err
			}
		case "place":
			if dc.Place, err = str(e.Name, e.Value); err != nil {
				return "", DesktopConfig{}, err
			}
		case "devices":
			if err := json.Unmarshal(e.Value, &dc.Devices); err != nil {
				return "", DesktopConfig{}, errors.New(`configuration devices: not an array of {"dn", "switch"}`)
			}
		}
	}
	return server, dc, nil
}

// handleLogout is DELETE /api/v2/me.
func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	sess := s.authorize(r)
	if sess == nil {
		writeError(w, http.StatusUnauthorized, "LOGGED_OUT", "not logged in (or not with these credentials)")
		return
	}
	s.logout(r.Context(), sess)
	s.setCookie(w, "", true)
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "logged out"})
}

// handlePing is GET /ping: 200 while the agent is logged in, 401 once the
// desktop was silent too long or the server session is gone.
func (s *Service) handlePing(w http.ResponseWriter, r *http.Request) {
	sess := s.authorize(r)
	if sess == nil || !s.ping(sess) {
		writeError(w, http.StatusUnauthorized, "LOGGED_OUT", "srs is not logged in: log in with GET /api/v2/me")
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "userName": sess.userName})
}

// handleMask is POST /api/v2/me/recording/pause and /resume.
func (s *Service) handleMask(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.authorize(r)
		if sess == nil {
			writeError(w, http.StatusUnauthorized, "LOGGED_OUT", "not logged in (or not with these credentials)")
			return
		}
		s.ctl.Lock()
		var err error
		if s.session() != sess {
			err = errNotRecording
		} else {
			err = s.maskLocked(on)
		}
		s.ctl.Unlock()
		switch {
		case errors.Is(err, errNotRecording):
			writeError(w, http.StatusConflict, "NOT_RECORDING", err.Error())
		case err != nil:
			s.setLastError("Recorder: cannot mask the capture: %v", err)
			writeError(w, http.StatusInternalServerError, "MASK_FAILED", "cannot mask the capture: "+err.Error())
		default:
			httpx.WriteJSON(w, http.StatusOK, s.Status())
		}
	}
}

// Status is what GET /api/v2/me/recording answers.
type Status struct {
	Version       string         `json:"version"`
	LoggedIn      bool           `json:"loggedIn"`
	UserName      string         `json:"userName,omitempty"`
	Server        string         `json:"server,omitempty"`
	LoggedInSince *time.Time     `json:"loggedInSince,omitempty"`
	Desktop       *DesktopConfig `json:"desktop,omitempty"`
	RecordingWhen string         `json:"recordingWhen,omitempty"`
	Certificates  []string       `json:"certificates,omitempty"`
	State         string         `json:"state"` // idle, recording, paused
	RecordingID   string         `json:"recordingId,omitempty"`
	MediaID       string         `json:"mediaId,omitempty"`
	Since         *time.Time     `json:"since,omitempty"` // start of the capture in progress
	Queue         QueueStatus    `json:"queue"`
	LastError     string         `json:"lastError,omitempty"`
}

// QueueStatus counts the upload folder.
type QueueStatus struct {
	Items int   `json:"items"`
	Bytes int64 `json:"bytes"`
}

// Status says what srs is doing.
func (s *Service) Status() Status {
	items, bytes := s.queueStats()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Version: s.opts.Version, State: s.recState.State, RecordingID: s.recState.RecordingID, MediaID: s.recState.MediaID,
		Queue: QueueStatus{Items: items, Bytes: bytes}, LastError: s.lastError,
	}
	if st.State == "" {
		st.State = "idle"
	}
	if !s.recState.Since.IsZero() {
		since := s.recState.Since.UTC()
		st.Since = &since
	}
	if sess := s.sess; sess != nil {
		since := sess.since.UTC()
		desktop := sess.desktop
		st.LoggedIn, st.UserName, st.Server, st.LoggedInSince = true, sess.userName, sess.server, &since
		st.Desktop = &desktop
		st.RecordingWhen, st.Certificates = sess.settings.RecordingWhen, sess.aliases
	}
	return st
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, s.Status())
}
